"""Turning changes into pending deliveries, inside the transaction that makes the change.

The audit log's ``record()`` calls :func:`emit_for_audit` for every audited change; an action
that maps to a webhook event writes one delivery row per active subscription and enqueues its
job with the same connection, so a rolled-back change sends nothing and a committed one can
never lose its webhook. With no subscriber, the cost is one query on a tiny table per
transaction (the answer is kept in the session until a subscription changes).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.kit.ids import new_id
from patron.kit.time import utcnow
from patron.models import AuditEvent, Customer, Order, OutboundDelivery, WebhookSubscription
from patron.webhooks.catalogue import AUDIT_ACTIONS

CACHE_KEY = "patron.webhooks.active"
CUSTOMER_FIELDS = (
    "id",
    "email",
    "first_name",
    "last_name",
    "company",
    "country",
    "lifecycle_stage",
    "tags",
    "merged_into_id",
    "created_at",
    "updated_at",
)
ORDER_FIELDS = (
    "id",
    "number",
    "customer_id",
    "channel_id",
    "external_id",
    "placed_at",
    "financial_status",
    "fulfillment_status",
    "cancelled_at",
    "currency",
    "subtotal",
    "discount_total",
    "shipping_total",
    "tax_total",
    "total",
    "refunded_total",
    "items_count",
    "created_at",
    "updated_at",
)


def jsonable(value: Any) -> Any:
    """Payload values: ids and money as strings, times in ISO 8601."""
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    return value


def forget_subscriptions(db: AsyncSession) -> None:
    """Drop the transaction's cached list of active subscriptions (after one changes)."""
    db.info.pop(CACHE_KEY, None)


async def _active(db: AsyncSession) -> list[tuple[uuid.UUID, list[str]]]:
    transaction = db.get_transaction()
    cached = db.info.get(CACHE_KEY)
    if cached is not None and cached[0] is transaction:
        return list(cached[1])
    rows = await db.execute(
        select(WebhookSubscription.id, WebhookSubscription.event_types).where(
            WebhookSubscription.active
        )
    )
    active = [(row.id, list(row.event_types)) for row in rows]
    db.info[CACHE_KEY] = (transaction, active)
    return active


async def _snapshot(
    db: AsyncSession, model: type[Customer] | type[Order], fields: tuple[str, ...], key: str
) -> dict[str, Any] | None:
    try:
        object_id = uuid.UUID(key)
    except ValueError:
        return None
    columns = [getattr(model, field) for field in fields]
    row = (await db.execute(select(*columns).where(model.id == object_id))).first()
    if row is None:
        return None
    return {field: jsonable(value) for field, value in zip(fields, row, strict=True)}


async def _data(db: AsyncSession, event_type: str, event: AuditEvent) -> dict[str, Any] | None:
    object_id = event.object_id or ""
    details = event.details or {}
    if event_type == "customer.deleted":
        return {"id": object_id}
    if event_type.startswith("order."):
        order = await _snapshot(db, Order, ORDER_FIELDS, object_id)
        if order is not None and event_type == "order.updated":
            order["change"] = event.action.removeprefix("order.")
        return order
    customer = await _snapshot(db, Customer, CUSTOMER_FIELDS, object_id)
    if customer is None:
        return None
    if event_type == "consent.changed":
        consent = {key: details.get(key) for key in ("channel", "purpose", "from", "to", "source")}
        return {"customer_id": customer["id"], "email": customer["email"], **consent}
    if event_type == "customer.merged":
        customer["merged_id"] = details.get("merged_id")
    if event_type == "customer.updated":
        customer["change"] = event.action.removeprefix("customer.")
        customer["changed_fields"] = sorted(details.get("changes", {}))
    return customer


def payload(event_id: uuid.UUID, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(event_id),
        "type": event_type,
        "created_at": utcnow().isoformat(),
        "data": data,
    }


async def queue_delivery(
    db: AsyncSession, subscription_id: uuid.UUID, body: dict[str, Any]
) -> OutboundDelivery:
    """Write a pending delivery and enqueue its first attempt in the caller's transaction."""
    from patron.webhooks.tasks import deliver_webhook
    from patron.worker.enqueue import enqueue

    delivery = OutboundDelivery(
        subscription_id=subscription_id,
        event_id=uuid.UUID(body["id"]),
        event_type=body["type"],
        payload=body,
        next_attempt_at=utcnow(),
    )
    db.add(delivery)
    await db.flush()
    await enqueue(db, deliver_webhook, delivery_id=str(delivery.id), attempt=1)
    return delivery


async def emit_for_audit(db: AsyncSession, event: AuditEvent) -> list[OutboundDelivery]:
    """Queue the webhook deliveries an audited change calls for (usually none)."""
    event_type = AUDIT_ACTIONS.get(event.action)
    if event_type is None:
        return []
    subscribers = [sid for sid, types in await _active(db) if event_type in types]
    if not subscribers:
        return []
    data = await _data(db, event_type, event)
    if data is None:
        return []
    body = payload(new_id(), event_type, data)
    return [await queue_delivery(db, sid, body) for sid in subscribers]
