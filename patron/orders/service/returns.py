"""Returns (RMA): requested → approved → received → refunded, or rejected."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics import rollups
from patron.audit import service as audit
from patron.audit.service import Actor
from patron.catalog.service import restock
from patron.config import Settings
from patron.customers import metrics
from patron.errors import Conflict
from patron.kit.time import utcnow
from patron.models import Order, OrderReturn, ReturnLine
from patron.orders import repository
from patron.orders.service.common import (
    STATUS_LABELS,
    cents,
    check_quantity,
    invalid,
    line_of,
    lines_by_id,
    money,
)
from patron.orders.service.payments import record_refund, refundable
from patron.timeline.service import add_entry

RETURN_TRANSITIONS = {
    "requested": {"approved", "rejected"},
    "approved": {"received", "rejected"},
    "received": {"refunded"},
    "rejected": set(),
    "refunded": set(),
}


@dataclass
class ReturnLineRequest:
    order_line_id: uuid.UUID
    quantity: int
    reason: str = ""


def return_number(sequence_value: int) -> str:
    return f"RMA-{sequence_value:06d}"


async def create_return(
    db: AsyncSession,
    settings: Settings,
    order: Order,
    *,
    actor: Actor,
    lines: Sequence[ReturnLineRequest],
    reason: str = "",
    note: str = "",
    restock_items: bool = True,
    refund_amount: Decimal | None = None,
) -> OrderReturn:
    """Open a return for units that were bought and not already being returned."""
    await repository.lock_order(db, order)
    if not lines:
        raise invalid("lines", "Name the lines to return.", "invalid_return")
    if refund_amount is not None and refund_amount < 0:
        raise invalid("refund_amount", "The refund cannot be negative.", "negative_amount")
    order_lines = lines_by_id(await repository.lines_of(db, order.id))
    returned = await repository.returned_quantities(db, order.id)
    wanted: dict[uuid.UUID, int] = {}
    for index, request in enumerate(lines):
        line = line_of(order_lines, request.order_line_id, field=f"lines.{index}.order_line_id")
        check_quantity(request.quantity, field=f"lines.{index}.quantity")
        wanted[line.id] = wanted.get(line.id, 0) + request.quantity
        left = line.quantity - returned.get(line.id, 0)
        if wanted[line.id] > left:
            raise invalid(
                f"lines.{index}.quantity",
                f"Only {left} units of {line.title!r} can still be returned.",
                "return_exceeds_purchased",
            )
    order_return = OrderReturn(
        order_id=order.id,
        number=return_number(await repository.next_return_number(db)),
        reason=reason.strip()[:200],
        note=note,
        restock=restock_items,
        refund_amount=cents(refund_amount) if refund_amount is not None else None,
    )
    db.add(order_return)
    await db.flush()
    db.add_all(
        ReturnLine(
            return_id=order_return.id,
            order_line_id=request.order_line_id,
            quantity=request.quantity,
            reason=request.reason.strip()[:200],
        )
        for request in lines
    )
    await db.flush()
    await add_entry(
        db,
        customer_id=order.customer_id,
        order_id=order.id,
        kind="return",
        summary=f"Return {order_return.number} requested for order {order.number}"
        + (f": {order_return.reason}" if order_return.reason else ""),
        actor=actor,
        data={
            "return_id": str(order_return.id),
            "number": order_return.number,
            "status": "requested",
            "units": sum(wanted.values()),
        },
    )
    await audit.record(
        db,
        action="order.return_created",
        actor=actor,
        object_type="order",
        object_id=order.id,
        details={"return_id": str(order_return.id), "number": order_return.number},
    )
    await metrics.refresh(db, settings, [order.customer_id])
    await rollups.refresh_orders(db, [order.id])
    return order_return


async def _value_of(db: AsyncSession, order: Order, order_return: OrderReturn) -> Decimal:
    """The returned units at what the customer paid for them, within what is refundable."""
    order_lines = lines_by_id(await repository.lines_of(db, order.id))
    value = Decimal("0")
    for line in (await repository.return_lines_of(db, [order_return.id]))[order_return.id]:
        bought = order_lines[line.order_line_id]
        value += bought.total * line.quantity / bought.quantity
    return min(cents(value), await refundable(db, order))


async def _restock_return(db: AsyncSession, order: Order, order_return: OrderReturn) -> None:
    order_lines = lines_by_id(await repository.lines_of(db, order.id))
    quantities: dict[uuid.UUID, int] = {}
    for line in (await repository.return_lines_of(db, [order_return.id]))[order_return.id]:
        variant_id = order_lines[line.order_line_id].variant_id
        if variant_id is not None:
            quantities[variant_id] = quantities.get(variant_id, 0) + line.quantity
    await restock(db, quantities)


async def transition_return(
    db: AsyncSession,
    settings: Settings,
    order: Order,
    order_return: OrderReturn,
    *,
    actor: Actor,
    status: str,
    refund_amount: Decimal | None = None,
    note: str | None = None,
) -> OrderReturn:
    """Move a return on; *refunded* records the refund (and restocks when chosen)."""
    await repository.lock_order(db, order)
    await db.refresh(order_return)
    previous = order_return.status
    if status not in RETURN_TRANSITIONS.get(previous, set()):
        raise Conflict(
            f"A {previous} return cannot become {status}.",
            code="invalid_transition",
            details=[{"field": "status", "message": f"{previous} → {status}"}],
        )
    now = utcnow()
    if note is not None:
        order_return.note = note
    if status == "approved":
        order_return.approved_at = now
    elif status == "received":
        order_return.received_at = now
    else:
        order_return.resolved_at = now
    if status == "refunded":
        amount = refund_amount if refund_amount is not None else order_return.refund_amount
        if amount is None:
            amount = await _value_of(db, order, order_return)
        if amount < 0:
            raise invalid("refund_amount", "The refund cannot be negative.", "negative_amount")
        order_return.refund_amount = cents(amount)
        if amount > 0:
            order_lines = [
                (line.order_line_id, line.quantity)
                for line in (await repository.return_lines_of(db, [order_return.id]))[
                    order_return.id
                ]
            ]
            await record_refund(
                db,
                settings,
                order,
                actor=actor,
                amount=amount,
                reason=f"Return {order_return.number}",
                restock_items=order_return.restock,
                lines=order_lines,
                return_id=order_return.id,
            )
        elif order_return.restock:
            await _restock_return(db, order, order_return)
    order_return.status = status
    await db.flush()
    await db.refresh(order_return, ["updated_at"])
    refunded = (
        f" — {money(order_return.refund_amount, order.currency)} refunded"
        if status == "refunded" and order_return.refund_amount
        else ""
    )
    await add_entry(
        db,
        customer_id=order.customer_id,
        order_id=order.id,
        kind="return",
        summary=f"Return {order_return.number} for order {order.number}: "
        f"{STATUS_LABELS[previous]} → {STATUS_LABELS[status]}{refunded}",
        actor=actor,
        data={
            "return_id": str(order_return.id),
            "number": order_return.number,
            "from": previous,
            "to": status,
        },
    )
    await audit.record_change(
        db,
        action="order.return_updated",
        actor=actor,
        object_type="order",
        object_id=order.id,
        before={"return_id": str(order_return.id), "status": previous},
        after={"return_id": str(order_return.id), "status": status},
    )
    await metrics.refresh(db, settings, [order.customer_id])
    await rollups.refresh_orders(db, [order.id])
    return order_return
