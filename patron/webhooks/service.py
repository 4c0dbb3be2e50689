"""Managing webhook subscriptions: create, change, enable, disable, rotate, test, re-deliver.

Services only flush; the request or job owns the transaction.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.audit.service import Actor
from patron.config import Settings
from patron.errors import InvalidInput, NotFound
from patron.kit.crypto import SecretBox
from patron.kit.ids import new_id
from patron.kit.outbound import OutboundRefused, check_url, is_public
from patron.kit.time import utcnow
from patron.models import OutboundDelivery, WebhookSubscription
from patron.webhooks import repository
from patron.webhooks.catalogue import EVENT_TYPES, TEST_EVENT
from patron.webhooks.outbox import forget_subscriptions, payload, queue_delivery
from patron.webhooks.signing import new_secret

MAX_URL = 2000
MAX_KEEP_OLD_HOURS = 72


@dataclass(frozen=True)
class Created:
    subscription: WebhookSubscription
    secret: str


def _invalid(field: str, message: str, code: str) -> InvalidInput:
    return InvalidInput(message, code=code, details=[{"field": field, "message": message}])


def check_target(settings: Settings, url: str) -> str:
    """A subscription URL: http(s), https in production, no literal private address."""
    url = url.strip()
    if not url or len(url) > MAX_URL:
        raise _invalid("url", f"Give a URL of at most {MAX_URL} characters.", "invalid_url")
    try:
        scheme, host, _ = check_url(url)
    except OutboundRefused as error:
        raise _invalid(
            "url", "Give an http:// or https:// URL with a host.", "invalid_url"
        ) from error
    if settings.is_production and scheme != "https":
        raise _invalid("url", "Webhook URLs must use https.", "https_required")
    if not settings.webhooks_allow_private:
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if host.lower() == "localhost" or (literal is not None and not is_public(literal)):
            raise _invalid(
                "url",
                "That address is private or local; webhooks may only call public addresses.",
                "address_not_allowed",
            )
    return url


def check_event_types(chosen: Iterable[str]) -> list[str]:
    types = sorted(set(chosen))
    if not types:
        raise _invalid("event_types", "Choose at least one event type.", "no_event_types")
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise InvalidInput(
            f"Unknown event type: {', '.join(unknown)}.",
            code="unknown_event_type",
            details=[{"field": "event_types", "message": t} for t in unknown],
        )
    return types


async def get_subscription(db: AsyncSession, subscription_id: uuid.UUID) -> WebhookSubscription:
    subscription = await db.get(WebhookSubscription, subscription_id)
    if subscription is None:
        raise NotFound("No such webhook subscription.")
    return subscription


async def get_delivery(
    db: AsyncSession, subscription: WebhookSubscription, delivery_id: uuid.UUID
) -> OutboundDelivery:
    delivery = await repository.delivery_of(db, subscription.id, delivery_id)
    if delivery is None:
        raise NotFound("No such delivery.")
    return delivery


async def _audit(
    db: AsyncSession,
    action: str,
    actor: Actor,
    subscription: WebhookSubscription,
    details: Mapping[str, Any] | None = None,
) -> None:
    await audit.record(
        db,
        action=f"webhook.{action}",
        actor=actor,
        object_type="webhook",
        object_id=subscription.id,
        details={"url": subscription.url, **(details or {})},
    )


async def create_subscription(
    db: AsyncSession,
    settings: Settings,
    *,
    actor: Actor,
    owner_id: uuid.UUID,
    url: str,
    event_types: Iterable[str],
    name: str = "",
) -> Created:
    """A new active subscription; its secret is returned here and never shown again."""
    secret = new_secret()
    subscription = WebhookSubscription(
        name=name.strip()[:200],
        url=check_target(settings, url),
        event_types=check_event_types(event_types),
        secret_encrypted=SecretBox(settings).encrypt(secret),
        owner_id=owner_id,
    )
    db.add(subscription)
    await db.flush()
    forget_subscriptions(db)
    await _audit(db, "created", actor, subscription, {"event_types": subscription.event_types})
    return Created(subscription, secret)


async def update_subscription(
    db: AsyncSession,
    settings: Settings,
    subscription: WebhookSubscription,
    *,
    actor: Actor,
    changes: Mapping[str, Any],
) -> WebhookSubscription:
    before = {"url": subscription.url, "event_types": list(subscription.event_types)}
    url, types, name = (changes.get(key) for key in ("url", "event_types", "name"))
    # every value is checked before any is set, so a refused change leaves the row as it was
    url = check_target(settings, url) if url is not None else subscription.url
    types = check_event_types(types) if types is not None else subscription.event_types
    subscription.url, subscription.event_types = url, types
    if name is not None:
        subscription.name = str(name).strip()[:200]
    await db.flush()
    forget_subscriptions(db)
    after = {"url": subscription.url, "event_types": list(subscription.event_types)}
    await audit.record_change(
        db,
        action="webhook.updated",
        actor=actor,
        object_type="webhook",
        object_id=subscription.id,
        before=before,
        after=after,
    )
    return subscription


async def disable(
    db: AsyncSession, subscription: WebhookSubscription, *, actor: Actor, reason: str
) -> None:
    subscription.active = False
    subscription.disabled_reason = reason[:500]
    subscription.disabled_at = utcnow()
    await db.flush()
    forget_subscriptions(db)
    await _audit(db, "disabled", actor, subscription, {"reason": subscription.disabled_reason})


async def enable(db: AsyncSession, subscription: WebhookSubscription, *, actor: Actor) -> None:
    subscription.active = True
    subscription.disabled_reason = ""
    subscription.disabled_at = None
    subscription.consecutive_failures = 0
    subscription.failing_since = None
    await db.flush()
    forget_subscriptions(db)
    await _audit(db, "enabled", actor, subscription)


async def delete(db: AsyncSession, subscription: WebhookSubscription, *, actor: Actor) -> None:
    await _audit(db, "deleted", actor, subscription)
    await db.delete(subscription)
    await db.flush()
    forget_subscriptions(db)


async def rotate_secret(
    db: AsyncSession,
    settings: Settings,
    subscription: WebhookSubscription,
    *,
    actor: Actor,
    keep_old_hours: int = 0,
) -> str:
    """A new secret signs every delivery from now on; for ``keep_old_hours`` the old one signs
    too (a second ``v1=`` signature), so receivers can switch without refusing deliveries."""
    if not 0 <= keep_old_hours <= MAX_KEEP_OLD_HOURS:
        raise _invalid(
            "keep_old_hours",
            f"Keep the old secret for 0 to {MAX_KEEP_OLD_HOURS} hours.",
            "invalid_grace_period",
        )
    secret = new_secret()
    now = utcnow()
    if keep_old_hours:
        subscription.previous_secret_encrypted = subscription.secret_encrypted
        subscription.previous_secret_expires_at = now + timedelta(hours=keep_old_hours)
    else:
        subscription.previous_secret_encrypted = None
        subscription.previous_secret_expires_at = None
    subscription.secret_encrypted = SecretBox(settings).encrypt(secret)
    subscription.secret_rotated_at = now
    await db.flush()
    await _audit(db, "secret_rotated", actor, subscription, {"keep_old_hours": keep_old_hours})
    return secret


async def send_test(
    db: AsyncSession, subscription: WebhookSubscription, *, actor: Actor
) -> OutboundDelivery:
    body = payload(
        new_id(),
        TEST_EVENT,
        {"subscription_id": str(subscription.id), "message": "A test event from Patron."},
    )
    delivery = await queue_delivery(db, subscription.id, body)
    await _audit(db, "test_sent", actor, subscription, {"delivery_id": str(delivery.id)})
    return delivery


async def redeliver(
    db: AsyncSession,
    subscription: WebhookSubscription,
    delivery: OutboundDelivery,
    *,
    actor: Actor,
) -> OutboundDelivery:
    """Send a delivery once more now, whatever its state (even a disabled subscription's)."""
    from patron.webhooks.tasks import deliver_webhook
    from patron.worker.enqueue import enqueue

    delivery.status = "pending"
    delivery.next_attempt_at = utcnow()
    await db.flush()
    await enqueue(
        db,
        deliver_webhook,
        delivery_id=str(delivery.id),
        attempt=delivery.attempts + 1,
        manual=True,
    )
    await _audit(db, "redelivered", actor, subscription, {"delivery_id": str(delivery.id)})
    return delivery
