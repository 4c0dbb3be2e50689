"""Helpers shared by the order services: errors, money, statuses and their history."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit.service import Actor
from patron.errors import Conflict, InvalidInput
from patron.kit.contact import CENT
from patron.models import Order, OrderLine
from patron.orders import repository
from patron.timeline.service import add_entry

STATUS_LABELS = {
    "pending": "pending",
    "authorized": "authorized",
    "partially_paid": "partially paid",
    "paid": "paid",
    "succeeded": "succeeded",
    "partially_refunded": "partially refunded",
    "refunded": "refunded",
    "voided": "voided",
    "unfulfilled": "unfulfilled",
    "partial": "partially fulfilled",
    "fulfilled": "fulfilled",
    "in_transit": "in transit",
    "out_for_delivery": "out for delivery",
    "delivered": "delivered",
    "failed": "failed",
    "returned": "returned to sender",
    "requested": "requested",
    "approved": "approved",
    "rejected": "rejected",
    "received": "received",
}


def invalid(field: str, message: str, code: str) -> InvalidInput:
    return InvalidInput(message, code=code, details=[{"field": field, "message": message}])


def money(amount: Decimal, currency: str) -> str:
    return f"{amount.quantize(CENT)} {currency}"


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT)


def aware(moment: datetime | None) -> datetime | None:
    """Naive times are taken as UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, uuid.UUID | Decimal):
            out[key] = str(value)
        elif isinstance(value, datetime):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out


def refuse_if_cancelled(order: Order) -> None:
    if order.cancelled_at is not None:
        raise Conflict(f"Order {order.number} is cancelled.", code="order_cancelled")


def check_quantity(quantity: int, *, field: str) -> int:
    if quantity <= 0:
        raise invalid(field, "The quantity must be greater than 0.", "invalid_quantity")
    return quantity


def check_amount(amount: Decimal, *, field: str = "amount") -> Decimal:
    if not amount.is_finite() or amount <= 0:
        raise invalid(field, "The amount must be greater than 0.", "invalid_amount")
    return cents(amount)


def check_currency(order: Order, currency: str | None, *, field: str = "currency") -> str:
    chosen = (currency or order.currency).strip().upper()
    if chosen != order.currency:
        raise invalid(
            field,
            f"The order is in {order.currency}; amounts must be in {order.currency} too.",
            "currency_mismatch",
        )
    return chosen


def lines_by_id(lines: list[OrderLine]) -> dict[uuid.UUID, OrderLine]:
    return {line.id: line for line in lines}


def line_of(lines: Mapping[uuid.UUID, OrderLine], line_id: uuid.UUID, *, field: str) -> OrderLine:
    line = lines.get(line_id)
    if line is None:
        raise invalid(field, "This order has no such line.", "unknown_order_line")
    return line


async def _record_status(
    db: AsyncSession, order: Order, *, actor: Actor, field: str, new: str
) -> None:
    old = getattr(order, field)
    if old == new:
        return
    setattr(order, field, new)
    label = "payment status" if field == "financial_status" else "fulfilment status"
    await add_entry(
        db,
        customer_id=order.customer_id,
        order_id=order.id,
        kind="order_status",
        summary=f"Order {order.number}: {label} {STATUS_LABELS[old]} → {STATUS_LABELS[new]}",
        actor=actor,
        data={"field": field, "from": old, "to": new, "number": order.number},
    )


def derive_financial_status(order: Order, totals: repository.PaymentTotals) -> str:
    refunded = order.refunded_total
    if refunded > 0:
        return "refunded" if refunded >= totals.paid else "partially_refunded"
    if totals.paid > 0:
        return "paid" if totals.paid >= order.total else "partially_paid"
    if totals.authorized > 0:
        return "authorized"
    if order.total == 0:
        return "paid"
    if totals.count and totals.voided == totals.count:
        return "voided"
    return "pending"


async def refresh_financial_status(
    db: AsyncSession, order: Order, *, actor: Actor, totals: repository.PaymentTotals | None = None
) -> None:
    """Derive the status from the order's payments: ``totals`` when the caller knows them
    (just computed), else counted from the database."""
    if totals is None:
        totals = await repository.payment_totals(db, order.id)
    await _record_status(
        db, order, actor=actor, field="financial_status", new=derive_financial_status(order, totals)
    )


def shipped_quantities(shipments: list[Any]) -> dict[uuid.UUID, int]:
    shipped: dict[uuid.UUID, int] = {}
    for shipment in shipments:
        for entry in shipment.lines:
            line_id = uuid.UUID(entry["order_line_id"])
            shipped[line_id] = shipped.get(line_id, 0) + int(entry["quantity"])
    return shipped


async def refresh_fulfillment_status(db: AsyncSession, order: Order, *, actor: Actor) -> None:
    lines = await repository.lines_of(db, order.id)
    shipped = shipped_quantities(await repository.shipments_of(db, order.id))
    if lines and all(shipped.get(line.id, 0) >= line.quantity for line in lines):
        status = "fulfilled"
    elif any(shipped.values()):
        status = "partial"
    else:
        status = "unfulfilled"
    await _record_status(db, order, actor=actor, field="fulfillment_status", new=status)
