"""Queries for Stripe: payments by their Stripe id, orders named in metadata, candidates for
a payment matched by customer, and the timeline rows of payments without an order."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.models import Order, Payment, Refund, TimelineEntry

GATEWAY = "stripe"
UNPAID = ("pending", "authorized")


async def payments(db: AsyncSession, external_id: str) -> list[Payment]:
    rows = await db.scalars(
        select(Payment)
        .where(Payment.gateway == GATEWAY, Payment.external_id == external_id)
        .order_by(Payment.created_at, Payment.id)
    )
    return list(rows)


async def orders_by_number(db: AsyncSession, numbers: list[str]) -> list[Order]:
    """At most two: more than one means the number is ambiguous across channels."""
    rows = await db.scalars(select(Order).where(Order.number.in_(numbers)).limit(2))
    return list(rows)


async def orders_by_external_id(
    db: AsyncSession, external_id: str, *, prefer_channel: uuid.UUID
) -> list[Order]:
    """The order with this external id in the connection's channel, else in any channel (at
    most two, to tell an ambiguous id)."""
    own = await db.scalar(
        select(Order).where(Order.channel_id == prefer_channel, Order.external_id == external_id)
    )
    if own is not None:
        return [own]
    rows = await db.scalars(select(Order).where(Order.external_id == external_id).limit(2))
    return list(rows)


async def unpaid_orders(
    db: AsyncSession, customer_id: uuid.UUID, *, total: Decimal, currency: str
) -> list[Order]:
    """The customer's open, unpaid orders of exactly this total (at most two, newest first)."""
    rows = await db.scalars(
        select(Order)
        .where(
            Order.customer_id == customer_id,
            Order.currency == currency,
            Order.total == total,
            Order.cancelled_at.is_(None),
            Order.financial_status.in_(UNPAID),
        )
        .order_by(Order.placed_at.desc())
        .limit(2)
    )
    return list(rows)


async def refunded_so_far(db: AsyncSession, order_id: uuid.UUID, key: str) -> list[str]:
    """External ids of the refunds recorded on the order for one Stripe payment."""
    rows = await db.scalars(
        select(Refund.external_id).where(
            Refund.order_id == order_id, Refund.external_id.startswith(f"{key}:refunded:")
        )
    )
    return [row for row in rows if row]


async def timeline_entries(
    db: AsyncSession, customer_id: uuid.UUID, *, kind: str, key: str
) -> list[TimelineEntry]:
    """The customer's timeline rows about one Stripe payment kept without an order."""
    rows = await db.scalars(
        select(TimelineEntry).where(
            TimelineEntry.customer_id == customer_id,
            TimelineEntry.kind == kind,
            TimelineEntry.data["stripe_payment"].astext == key,
        )
    )
    return list(rows)
