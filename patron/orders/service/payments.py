"""Payments and refunds; the order's financial status follows from them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
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
from patron.models import Order, Payment, Refund
from patron.orders import repository
from patron.orders.service.common import (
    STATUS_LABELS,
    aware,
    check_amount,
    check_currency,
    check_quantity,
    invalid,
    jsonable,
    line_of,
    lines_by_id,
    money,
    refresh_financial_status,
    refuse_if_cancelled,
)
from patron.timeline.service import add_entry

# a payment's status moves forward only
PAYMENT_TRANSITIONS = {
    "pending": {"authorized", "succeeded", "failed", "voided"},
    "authorized": {"succeeded", "failed", "voided"},
    "succeeded": set(),
    "failed": set(),
    "voided": set(),
}


def _captures(kind: str, status: str) -> bool:
    return status == "succeeded" and kind in ("sale", "capture")


def _check_balance(order: Order, paid: Decimal, amount: Decimal, *, field: str) -> None:
    if paid + amount > order.total:
        raise invalid(
            field,
            f"Only {money(order.total - paid, order.currency)} is still due on this order.",
            "payment_exceeds_balance",
        )


async def record_payment(
    db: AsyncSession,
    order: Order,
    *,
    actor: Actor,
    gateway: str,
    amount: Decimal,
    currency: str | None = None,
    status: str = "succeeded",
    kind: str = "sale",
    reference: str = "",
    external_id: str | None = None,
    processed_at: datetime | None = None,
    field_prefix: str = "",
) -> Payment:
    await repository.lock_order(db, order)
    refuse_if_cancelled(order)
    amount = check_amount(amount, field=f"{field_prefix}amount")
    chosen_currency = check_currency(order, currency, field=f"{field_prefix}currency")
    if not gateway.strip():
        raise invalid(f"{field_prefix}gateway", "Name the payment gateway.", "invalid_gateway")
    totals = await repository.payment_totals(db, order.id)
    if _captures(kind, status):
        _check_balance(order, totals.paid, amount, field=f"{field_prefix}amount")
    payment = Payment(
        order_id=order.id,
        gateway=gateway.strip(),
        kind=kind,
        status=status,
        amount=amount,
        currency=chosen_currency,
        reference=reference.strip(),
        external_id=external_id,
        processed_at=aware(processed_at) or utcnow(),
    )
    db.add(payment)
    await db.flush()
    await add_entry(
        db,
        customer_id=order.customer_id,
        order_id=order.id,
        kind="payment",
        summary=(
            f"Payment of {money(amount, order.currency)} for order {order.number} "
            f"via {payment.gateway} ({status})"
        ),
        actor=actor,
        data=jsonable(
            {
                "payment_id": payment.id,
                "amount": amount,
                "currency": order.currency,
                "gateway": payment.gateway,
                "status": status,
                "kind": kind,
            }
        ),
        occurred_at=payment.processed_at,
    )
    await audit.record(
        db,
        action="order.payment_recorded",
        actor=actor,
        object_type="order",
        object_id=order.id,
        details=jsonable(
            {"payment_id": payment.id, "amount": amount, "status": status, "kind": kind}
        ),
    )
    await refresh_financial_status(
        db, order, actor=actor, totals=totals.plus(kind=kind, status=status, amount=amount)
    )
    return payment


async def change_payment_status(
    db: AsyncSession, order: Order, payment: Payment, *, actor: Actor, status: str
) -> Payment:
    """Move a payment forward (pending → authorized → succeeded, or failed / voided)."""
    await repository.lock_order(db, order)
    if status == payment.status:
        return payment
    if status not in PAYMENT_TRANSITIONS[payment.status]:
        raise Conflict(
            f"A {payment.status} payment cannot become {status}.",
            code="invalid_transition",
            details=[{"field": "status", "message": f"{payment.status} → {status}"}],
        )
    if _captures(payment.kind, status):
        paid = (await repository.payment_totals(db, order.id)).paid
        _check_balance(order, paid, payment.amount, field="status")
    previous = payment.status
    payment.status = status
    await db.flush()
    await add_entry(
        db,
        customer_id=order.customer_id,
        order_id=order.id,
        kind="payment",
        summary=(
            f"Payment of {money(payment.amount, order.currency)} for order {order.number}: "
            f"{STATUS_LABELS[previous]} → {STATUS_LABELS[status]}"
        ),
        actor=actor,
        data={"payment_id": str(payment.id), "from": previous, "to": status},
    )
    await audit.record_change(
        db,
        action="order.payment_updated",
        actor=actor,
        object_type="order",
        object_id=order.id,
        before={"payment_id": str(payment.id), "status": previous},
        after={"payment_id": str(payment.id), "status": status},
    )
    await refresh_financial_status(db, order, actor=actor)
    return payment


async def refundable(db: AsyncSession, order: Order) -> Decimal:
    """What can still be refunded: captured payments less earlier refunds."""
    paid = (await repository.payment_totals(db, order.id)).paid
    return max(paid - order.refunded_total, Decimal("0"))


async def record_refund(
    db: AsyncSession,
    settings: Settings,
    order: Order,
    *,
    actor: Actor,
    amount: Decimal,
    currency: str | None = None,
    reason: str = "",
    note: str = "",
    restock_items: bool = False,
    lines: Sequence[tuple[uuid.UUID, int]] = (),
    return_id: uuid.UUID | None = None,
    external_id: str | None = None,
    processed_at: datetime | None = None,
) -> Refund:
    """Give money back (at most what was paid and not yet refunded); optionally restock
    the given ``(order_line_id, quantity)`` pairs."""
    await repository.lock_order(db, order)
    amount = check_amount(amount)
    check_currency(order, currency)
    available = await refundable(db, order)
    if amount > available:
        raise invalid(
            "amount",
            f"At most {money(available, order.currency)} can be refunded on this order.",
            "refund_exceeds_paid",
        )
    order_lines = lines_by_id(await repository.lines_of(db, order.id))
    quantities: dict[uuid.UUID, int] = {}
    for index, (line_id, quantity) in enumerate(lines):
        line = line_of(order_lines, line_id, field=f"lines.{index}.order_line_id")
        check_quantity(quantity, field=f"lines.{index}.quantity")
        if quantity > line.quantity:
            raise invalid(
                f"lines.{index}.quantity",
                f"The line has only {line.quantity} units.",
                "refund_exceeds_purchased",
            )
        if line.variant_id is not None:
            quantities[line.variant_id] = quantities.get(line.variant_id, 0) + quantity
    refund = Refund(
        order_id=order.id,
        return_id=return_id,
        amount=amount,
        currency=order.currency,
        reason=reason.strip()[:200],
        note=note,
        restock=restock_items,
        external_id=external_id,
        processed_at=aware(processed_at) or utcnow(),
    )
    db.add(refund)
    order.refunded_total = order.refunded_total + amount
    if restock_items:
        await restock(db, quantities)
    await db.flush()
    await add_entry(
        db,
        customer_id=order.customer_id,
        order_id=order.id,
        kind="refund",
        summary=f"Refunded {money(amount, order.currency)} on order {order.number}"
        + (f": {refund.reason}" if refund.reason else ""),
        actor=actor,
        data=jsonable(
            {
                "refund_id": refund.id,
                "amount": amount,
                "currency": order.currency,
                "reason": refund.reason,
                "restock": restock_items,
                "return_id": return_id,
            }
        ),
        occurred_at=refund.processed_at,
    )
    await audit.record(
        db,
        action="order.refunded",
        actor=actor,
        object_type="order",
        object_id=order.id,
        details=jsonable({"refund_id": refund.id, "amount": amount, "restock": restock_items}),
    )
    await refresh_financial_status(db, order, actor=actor)
    await db.flush()
    await db.refresh(order, ["updated_at"])
    await metrics.refresh(db, settings, [order.customer_id])
    await rollups.refresh_orders(db, [order.id])
    return refund
