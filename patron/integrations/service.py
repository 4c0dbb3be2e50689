"""Connecting stores, and taking in their webhook deliveries.

Secrets are encrypted with :class:`patron.kit.crypto.SecretBox` and never leave this module
in full: pages and the API show the last characters only. A delivery is stored as it arrived
and its processing job is enqueued in the same transaction, so a crash between the two loses
nothing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.audit.service import Actor
from patron.config import Settings
from patron.errors import Conflict, InvalidInput, NotFound
from patron.integrations import repository
from patron.integrations.stripe.account import account_id
from patron.kit.crypto import SecretBox
from patron.kit.ids import new_id
from patron.kit.time import utcnow
from patron.kit.urls import check_http_url
from patron.models import Channel, StoreConnection, WebhookReceipt
from patron.orders.service import create_channel
from patron.worker.enqueue import enqueue, job_values

SUPPORTED_PROVIDERS = ("shopify", "woocommerce", "stripe")
SHOPIFY_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]{0,60}\.myshopify\.com$")
MIN_SECRET = 8
MAX_SECRET = 500
TAIL = 4
STUCK_AFTER = timedelta(minutes=10)
SWEEP_BATCH = 500


def _invalid(field: str, message: str, code: str) -> InvalidInput:
    return InvalidInput(message, code=code, details=[{"field": field, "message": message}])


def masked(tail: str) -> str:
    return f"••••{tail}" if tail else ""


def _tail(secret: str) -> str:
    return secret[-TAIL:] if len(secret) >= 2 * TAIL else ""


def normalise_domain(provider: str, value: str) -> str:
    value = value.strip()
    if provider == "shopify":
        domain = re.sub(r"^https?://", "", value.lower()).rstrip("/")
        if not SHOPIFY_DOMAIN.match(domain):
            raise _invalid(
                "shop_domain",
                "Give the shop's myshopify.com domain, for example my-shop.myshopify.com.",
                "invalid_shop_domain",
            )
        return domain
    if provider == "stripe":
        return account_id(value)
    return check_http_url(value, field="shop_domain", max_length=255).rstrip("/").lower()


def _secret(value: str, *, field: str) -> str:
    if not MIN_SECRET <= len(value) <= MAX_SECRET or not value.isprintable():
        raise _invalid(
            field,
            f"The secret must be {MIN_SECRET} to {MAX_SECRET} printable characters long.",
            "invalid_secret",
        )
    return value


def _summary(connection: StoreConnection) -> dict[str, Any]:
    return {
        "provider": connection.provider,
        "name": connection.name,
        "shop_domain": connection.shop_domain,
        "channel_id": str(connection.channel_id),
        "status": connection.status,
    }


async def get_connection(db: AsyncSession, connection_id: uuid.UUID) -> StoreConnection:
    connection = await db.get(StoreConnection, connection_id)
    if connection is None:
        raise NotFound("No such store connection.", code="connection_not_found")
    return connection


async def get_receipt(
    db: AsyncSession, connection: StoreConnection, receipt_id: uuid.UUID
) -> WebhookReceipt:
    receipt = await repository.receipt(db, receipt_id)
    if receipt is None or receipt.connection_id != connection.id:
        raise NotFound("No such delivery.", code="receipt_not_found")
    return receipt


async def connect(
    db: AsyncSession,
    box: SecretBox,
    *,
    actor: Actor,
    provider: str,
    name: str,
    shop_domain: str,
    webhook_secret: str,
    access_token: str = "",
    channel_id: uuid.UUID | None = None,
) -> StoreConnection:
    """Connect a store; without a channel, one named after the connection is created."""
    if provider not in SUPPORTED_PROVIDERS:
        raise _invalid(
            "provider",
            f"Choose one of: {', '.join(SUPPORTED_PROVIDERS)}.",
            "provider_not_supported",
        )
    name = name.strip()
    if not name or len(name) > 100:
        raise _invalid("name", "Give a name of 1 to 100 characters.", "invalid_name")
    domain = normalise_domain(provider, shop_domain)
    secret = _secret(webhook_secret, field="webhook_secret")
    token = access_token.strip()
    if token:
        _secret(token, field="access_token")
    if await repository.connection_by_domain(db, provider, domain) is not None:
        raise Conflict(
            "This store is already connected.",
            code="connection_exists",
            details=[{"field": "shop_domain", "message": "already connected"}],
        )
    if channel_id is not None:
        channel = await db.get(Channel, channel_id)
        if channel is None:
            raise _invalid("channel_id", "There is no such channel.", "unknown_channel")
    else:
        channel = await create_channel(db, actor=actor, name=name, kind=provider)
    connection = StoreConnection(
        provider=provider,
        name=name,
        shop_domain=domain,
        channel_id=channel.id,
        status="active",
        webhook_secret=box.encrypt(secret),
        webhook_secret_tail=_tail(secret),
        access_token=box.encrypt(token) if token else None,
        access_token_tail=_tail(token),
    )
    db.add(connection)
    await db.flush()
    await audit.record(
        db,
        action="integration.connected",
        actor=actor,
        object_type="store_connection",
        object_id=connection.id,
        details=_summary(connection),
    )
    return connection


async def update_connection(
    db: AsyncSession,
    box: SecretBox,
    connection: StoreConnection,
    *,
    actor: Actor,
    changes: Mapping[str, Any],
) -> StoreConnection:
    """Rename, pause or resume, or replace a secret (the old webhook secret keeps verifying
    deliveries until the next replacement, so a rotation in the store loses none)."""
    before = _summary(connection)
    if changes.get("name") is not None:
        name = str(changes["name"]).strip()
        if not name or len(name) > 100:
            raise _invalid("name", "Give a name of 1 to 100 characters.", "invalid_name")
        connection.name = name
    if changes.get("status") is not None:
        _check_status(connection, str(changes["status"]))
        connection.status = str(changes["status"])
    secret_changed = False
    if changes.get("webhook_secret"):
        secret = _secret(str(changes["webhook_secret"]), field="webhook_secret")
        connection.previous_webhook_secret = connection.webhook_secret
        connection.webhook_secret = box.encrypt(secret)
        connection.webhook_secret_tail = _tail(secret)
        secret_changed = True
    if changes.get("access_token"):
        token = _secret(str(changes["access_token"]).strip(), field="access_token")
        connection.access_token = box.encrypt(token)
        connection.access_token_tail = _tail(token)
        secret_changed = True
    await db.flush()
    await db.refresh(connection, ["updated_at"])
    await audit.record_change(
        db,
        action="integration.updated",
        actor=actor,
        object_type="store_connection",
        object_id=connection.id,
        before={**before, "secrets": "kept"},
        after={**_summary(connection), "secrets": "replaced" if secret_changed else "kept"},
    )
    return connection


def _check_status(connection: StoreConnection, status: str) -> None:
    if status not in ("active", "paused"):
        raise _invalid("status", "Choose active or paused.", "invalid_status")


async def set_status(
    db: AsyncSession, box: SecretBox, connection: StoreConnection, *, actor: Actor, status: str
) -> StoreConnection:
    return await update_connection(db, box, connection, actor=actor, changes={"status": status})


async def remove_connection(db: AsyncSession, connection: StoreConnection, *, actor: Actor) -> None:
    """Forget the connection and its receipts; the channel and what came through it stay."""
    details = _summary(connection)
    await db.delete(connection)
    await db.flush()
    await audit.record(
        db,
        action="integration.removed",
        actor=actor,
        object_type="store_connection",
        object_id=connection.id,
        details=details,
    )


def webhook_secrets(box: SecretBox, connection: StoreConnection) -> list[bytes]:
    """The secrets a delivery may be signed with: the current one, then the one rotated out."""
    encrypted = [connection.webhook_secret, connection.previous_webhook_secret]
    return [box.decrypt(value).encode() for value in encrypted if value is not None]


async def rotate_secrets(db: AsyncSession, box: SecretBox) -> int:
    """Re-encrypt every stored secret with the current ``PATRON_SECRET_KEY`` (after a key
    rotation, once this has run the old key can leave ``PATRON_OLD_SECRET_KEYS``)."""
    count = 0
    for connection in await db.scalars(select(StoreConnection).with_for_update()):
        connection.webhook_secret = box.rotate(connection.webhook_secret)
        if connection.previous_webhook_secret is not None:
            connection.previous_webhook_secret = box.rotate(connection.previous_webhook_secret)
        if connection.access_token is not None:
            connection.access_token = box.rotate(connection.access_token)
        count += 1
    await db.flush()
    return count


# -- deliveries -----------------------------------------------------------------------------


async def accept_delivery(
    db: AsyncSession,
    *,
    connection: StoreConnection,
    topic: str,
    delivery_id: str,
    event_id: str,
    headers: Mapping[str, str],
    body: bytes,
) -> uuid.UUID | None:
    """Store a verified delivery and enqueue its processing, in one round trip to the
    database; the new receipt's id, or None for a delivery already accepted (the store
    retried, or replayed it)."""
    from patron.integrations.tasks import process_receipt

    receipt_id = new_id()
    accepted = await repository.accept_delivery(
        db,
        receipt_id=receipt_id,
        received_at=utcnow(),
        connection_id=connection.id,
        provider=connection.provider,
        topic=topic[:100],
        delivery_id=delivery_id[:200],
        event_id=event_id[:200],
        headers=dict(headers),
        body=body,
        job=job_values(process_receipt, receipt_id=str(receipt_id)),
    )
    return receipt_id if accepted else None


async def enqueue_processing(db: AsyncSession, receipt_id: uuid.UUID) -> None:
    from patron.integrations.tasks import process_receipt

    await enqueue(db, process_receipt, receipt_id=str(receipt_id))


async def reprocess(
    db: AsyncSession, connection: StoreConnection, receipt: WebhookReceipt, *, actor: Actor
) -> WebhookReceipt:
    """Run a failed (or any finished) delivery through processing again."""
    if receipt.status == "received":
        raise Conflict("This delivery is already waiting to be processed.", code="already_queued")
    previous = receipt.status
    receipt.status = "received"
    await db.flush()
    await enqueue_processing(db, receipt.id)
    await audit.record(
        db,
        action="integration.receipt_reprocessed",
        actor=actor,
        object_type="store_connection",
        object_id=connection.id,
        details={"receipt_id": str(receipt.id), "topic": receipt.topic, "was": previous},
    )
    return receipt


async def purge_old_receipts(
    db: AsyncSession, settings: Settings, *, now: datetime | None = None
) -> int:
    """Forget deliveries older than ``PATRON_WEBHOOK_RECEIPT_KEEP_DAYS``. A replay older than
    that is accepted again, and changes nothing: processing skips versions already applied."""
    cutoff = (now or utcnow()) - timedelta(days=settings.webhook_receipt_keep_days)
    return await repository.purge_receipts(db, before=cutoff)


async def requeue_stuck(db: AsyncSession, *, now: datetime | None = None) -> int:
    """Enqueue again receipts still 'received' long after they arrived (their job was lost,
    for example with a database restored from a backup taken between the two)."""
    rows = await repository.stuck_receipts(
        db, before=(now or utcnow()) - STUCK_AFTER, limit=SWEEP_BATCH
    )
    for receipt_id, _ in rows:
        await enqueue_processing(db, receipt_id)
    return len(rows)


def webhook_url(settings: Settings, connection: StoreConnection) -> str:
    """Where the store sends its webhooks (set up in the store's admin)."""
    return f"{settings.base_url}/webhooks/{connection.provider}/{connection.id}"
