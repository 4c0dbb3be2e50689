"""The order upsert for shops on a custom platform: create or update by the store's order ID.

A store may deliver versions of an order twice, late or out of order; ``updated_at`` decides.
A version not newer than the one held changes nothing. Lines and amounts are fixed when the
order is created (as for orders entered any other way); later versions bring the note, tags,
addresses, custom fields, new payments and payment statuses (matched by their
``external_id``), and the cancellation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth.principal import Principal
from patron.config import Settings
from patron.errors import InvalidInput
from patron.events.identity import CustomerRef, find_or_create
from patron.events.schemas import OrderUpsert
from patron.models import Channel, Order
from patron.orders import repository as orders
from patron.orders import service as order_service
from patron.orders.service.common import aware
from patron.orders.service.payments import PAYMENT_TRANSITIONS

Outcome = Literal["created", "updated", "unchanged"]
PLACE_FIELDS = {
    "number",
    "placed_at",
    "currency",
    "exchange_rate",
    "shipping_total",
    "tax_total",
    "total",
    "note",
    "tags",
    "custom_fields",
    "billing_address",
    "shipping_address",
}
UPDATE_FIELDS = ("note", "tags", "billing_address", "shipping_address", "custom_fields")


def _check_path(data: OrderUpsert, *, channel: Channel, external_id: str) -> None:
    if data.channel_id not in (None, channel.id) or data.external_id not in (None, external_id):
        raise InvalidInput(
            "The path names the channel and the order's external ID; leave them out of the body.",
            code="path_mismatch",
            details=[{"field": "external_id", "message": "differs from the path"}],
        )


async def _lock(db: AsyncSession, channel: Channel, external_id: str) -> None:
    """Versions of one order delivered at the same time are applied one after the other."""
    key = f"order-external:{channel.id}:{external_id}"
    await db.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


async def _create(
    db: AsyncSession,
    settings: Settings,
    *,
    principal: Principal,
    channel: Channel,
    external_id: str,
    data: OrderUpsert,
) -> Order:
    customer = await find_or_create(
        db,
        settings,
        principal=principal,
        ref=CustomerRef(
            customer_id=data.customer_id,
            email=data.email,
            external_id=data.customer_external_id,
            channel_id=channel.id,
        ),
    )
    fields: dict[str, Any] = data.model_dump(include=PLACE_FIELDS)
    return await order_service.place_order(
        db,
        settings,
        actor=principal.actor,
        customer=customer,
        channel=channel,
        external_id=external_id,
        lines=[order_service.LineRequest(**line.model_dump()) for line in data.lines],
        discounts=[(discount.code, discount.amount) for discount in data.discounts],
        payments=[order_service.PaymentRequest(**p.model_dump()) for p in data.payments],
        **fields,
    )


async def _update(
    db: AsyncSession, *, principal: Principal, order: Order, data: OrderUpsert
) -> None:
    wanted = data.model_dump(include=set(UPDATE_FIELDS))
    current = {key: getattr(order, key) for key in UPDATE_FIELDS}
    current["tags"] = list(order.tags)
    changes = {key: value for key, value in wanted.items() if value != current[key]}
    if changes:
        await order_service.update_order(db, order, actor=principal.actor, changes=changes)
    if order.cancelled_at is not None:
        return
    held = {p.external_id: p for p in await orders.payments_of(db, order.id) if p.external_id}
    for index, payment in enumerate(data.payments):
        existing = held.get(payment.external_id) if payment.external_id else None
        if existing is None and payment.external_id:
            await order_service.record_payment(
                db,
                order,
                actor=principal.actor,
                field_prefix=f"payments.{index}.",
                **payment.model_dump(),
            )
        elif existing is not None and payment.status in PAYMENT_TRANSITIONS[existing.status]:
            await order_service.change_payment_status(
                db, order, existing, actor=principal.actor, status=payment.status
            )


async def upsert_order(
    db: AsyncSession,
    settings: Settings,
    *,
    principal: Principal,
    channel: Channel,
    external_id: str,
    data: OrderUpsert,
) -> tuple[Order, Outcome]:
    external_id = external_id.strip()
    if not external_id or "\x00" in external_id:
        raise InvalidInput(
            "The external ID cannot be blank or hold NUL characters.", code="invalid_external_id"
        )
    _check_path(data, channel=channel, external_id=external_id)
    version: datetime = aware(data.updated_at) or data.updated_at
    await _lock(db, channel, external_id)
    found = await orders.order_by_external_id(db, channel.id, external_id)
    if found is None:
        order = await _create(
            db, settings, principal=principal, channel=channel, external_id=external_id, data=data
        )
        outcome: Outcome = "created"
    else:
        order = await orders.get_order_for(db, principal, found.id)
        if order.source_updated_at is not None and version <= order.source_updated_at:
            return order, "unchanged"
        await _update(db, principal=principal, order=order, data=data)
        outcome = "updated"
    if data.cancelled_at is not None and order.cancelled_at is None:
        await order_service.cancel_order(
            db, settings, order, actor=principal.actor, reason=data.cancel_reason
        )
    order.source_updated_at = version
    await db.flush()
    return order, outcome
