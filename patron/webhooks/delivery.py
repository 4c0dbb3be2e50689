"""One attempt of one delivery: sign, POST through the SSRF guard, log, and plan what follows.

Retries are scheduled here, not by Procrastinate: each failed attempt enqueues the next one
at its backoff (1 min, 5 min, 30 min, 2 h, 6 h, 12 h: seven attempts over about 21 hours), so
the delivery log can show when the next attempt is due. An attempt's job carries the attempt
number it makes; a job that finds that attempt already made (a retried job) sends nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx2
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit.service import SYSTEM
from patron.config import Settings
from patron.kit import outbound
from patron.kit.crypto import SecretBox
from patron.kit.time import utcnow
from patron.mail.service import queue_email
from patron.models import (
    OutboundAttempt,
    OutboundDelivery,
    StaffNotification,
    StaffUser,
    WebhookSubscription,
)
from patron.webhooks import repository, service, signing
from patron.worker.enqueue import enqueue

BACKOFF_SECONDS = (60, 300, 1800, 7200, 21600, 43200)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
FAILING_FOR = timedelta(days=1)
EXCERPT_CHARS = 1000


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    status_code: int | None
    latency_ms: int
    excerpt: str
    error: str


def body_of(delivery: OutboundDelivery) -> bytes:
    return json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()


def signing_secrets(settings: Settings, subscription: WebhookSubscription) -> list[str]:
    """The current secret, and the previous one while its grace period lasts."""
    box = SecretBox(settings)
    secrets = [box.decrypt(subscription.secret_encrypted)]
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret_encrypted and expires and expires > utcnow():
        secrets.append(box.decrypt(subscription.previous_secret_encrypted))
    return secrets


def _printable(text: str) -> str:
    """Text safe to store: PostgreSQL refuses NUL characters, and the log keeps a short part."""
    return text.replace("\x00", "")[:EXCERPT_CHARS]


async def send(
    settings: Settings, subscription: WebhookSubscription, delivery: OutboundDelivery, attempt: int
) -> Outcome:
    started = time.perf_counter()
    status_code: int | None = None
    excerpt = error = ""
    try:
        body = body_of(delivery)
        headers = signing.headers(
            signing_secrets(settings, subscription),
            event_id=str(delivery.event_id),
            event_type=delivery.event_type,
            delivery_id=str(delivery.id),
            attempt=attempt,
            timestamp=int(time.time()),
            body=body,
        )
        response = await outbound.post(
            subscription.url,
            content=body,
            headers=headers,
            timeout_seconds=settings.webhooks_timeout_seconds,
            allow_private=settings.webhooks_allow_private,
        )
        status_code = response.status_code
        excerpt = _printable(response.body[: EXCERPT_CHARS * 4].decode("utf-8", "replace"))
        if not 200 <= status_code < 300:
            error = f"The receiver answered {status_code}."
    except outbound.OutboundRefused as refused:
        error = refused.message
    except TimeoutError:
        error = f"TimeoutError: no complete answer within {settings.webhooks_timeout_seconds} s"
    except (httpx2.HTTPError, ValueError) as failure:
        error = _printable(f"{type(failure).__name__}: {failure}")
    latency = int((time.perf_counter() - started) * 1000)
    return Outcome(not error, status_code, latency, excerpt, error)


async def _notify_owner(
    db: AsyncSession, settings: Settings, subscription: WebhookSubscription
) -> None:
    """A staff notification and an email to whoever created the subscription."""
    owner = await db.get(StaffUser, subscription.owner_id) if subscription.owner_id else None
    if owner is None or not owner.is_active:
        return
    link = f"/admin/webhooks/{subscription.id}"
    db.add(
        StaffNotification(
            user_id=owner.id,
            kind="webhook_disabled",
            message=f"Webhook to {subscription.url[:300]} was disabled: "
            f"{subscription.disabled_reason}"[:500],
            link=link,
        )
    )
    await queue_email(
        db,
        to=owner.email,
        template="webhook_disabled",
        context={
            "name": owner.name or owner.email,
            "url": subscription.url,
            "reason": subscription.disabled_reason,
            "link": settings.base_url + link,
        },
        user_id=owner.id,
    )


async def _after_failure(
    db: AsyncSession,
    settings: Settings,
    subscription: WebhookSubscription,
    delivery: OutboundDelivery,
    attempt: int,
) -> None:
    from patron.webhooks.tasks import deliver_webhook

    now = utcnow()
    if attempt < MAX_ATTEMPTS:
        delivery.status = "pending"
        delivery.next_attempt_at = now + timedelta(seconds=BACKOFF_SECONDS[attempt - 1])
        await enqueue(
            db,
            deliver_webhook,
            scheduled_at=delivery.next_attempt_at,
            delivery_id=str(delivery.id),
            attempt=attempt + 1,
        )
    else:
        delivery.status = "failed"
        delivery.next_attempt_at = None
    counted = await repository.count_failure(db, subscription.id)
    if counted is None or not counted.active:
        return
    if counted.failing_since is None:
        counted.failing_since = now
    limit = settings.webhooks_disable_after_failures
    if counted.consecutive_failures >= limit or now - counted.failing_since >= FAILING_FOR:
        reason = (
            f"{counted.consecutive_failures} deliveries in a row failed since "
            f"{counted.failing_since:%Y-%m-%d %H:%M} UTC; last error: {delivery.last_error}"
        )
        await service.disable(db, counted, actor=SYSTEM, reason=reason)
        await _notify_owner(db, settings, counted)
        if delivery.status == "pending":
            delivery.status = "cancelled"
            delivery.next_attempt_at = None


async def attempt_delivery(
    db: AsyncSession, settings: Settings, delivery_id: object, attempt: int, *, manual: bool
) -> OutboundAttempt | None:
    """Make attempt number ``attempt`` of a delivery, unless it was already made."""
    delivery = await db.get(OutboundDelivery, delivery_id, with_for_update=True)
    if delivery is None or delivery.attempts >= attempt:
        return None
    if delivery.status == "delivered" and not manual:
        return None
    subscription = await db.get(WebhookSubscription, delivery.subscription_id)
    if subscription is None:
        return None
    if not subscription.active and not manual:
        delivery.status = "cancelled"
        delivery.next_attempt_at = None
        delivery.last_error = "The subscription is disabled."
        await db.flush()
        return None
    outcome = await send(settings, subscription, delivery, attempt)
    logged = OutboundAttempt(
        delivery_id=delivery.id,
        number=attempt,
        manual=manual,
        succeeded=outcome.succeeded,
        status_code=outcome.status_code,
        latency_ms=outcome.latency_ms,
        response_excerpt=outcome.excerpt,
        error=outcome.error,
    )
    db.add(logged)
    delivery.attempts = attempt
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    if outcome.succeeded:
        delivery.status = "delivered"
        delivery.delivered_at = utcnow()
        delivery.next_attempt_at = None
        subscription.consecutive_failures = 0
        subscription.failing_since = None
        subscription.last_success_at = delivery.delivered_at
    else:
        await _after_failure(db, settings, subscription, delivery, attempt)
    await db.flush()
    return logged
