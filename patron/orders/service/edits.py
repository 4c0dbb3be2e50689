"""Editing an order's lines after it was placed (a store's order edit): lines are matched by
their position, so the order keeps the identity of every line it still has."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics import rollups
from patron.audit import service as audit
from patron.audit.service import Actor
from patron.catalog.service import restock, take_stock
from patron.config import Settings
from patron.customers import metrics
from patron.errors import Conflict
from patron.models import Channel, Order, OrderLine
from patron.orders import repository
from patron.orders.service.common import (
    cents,
    invalid,
    jsonable,
    money,
    refresh_financial_status,
    refresh_fulfillment_status,
    refuse_if_cancelled,
    shipped_quantities,
)
from patron.orders.service.orders import STORE_MANAGED_STOCK, LineRequest, build_lines
from patron.timeline.service import add_entry

SNAPSHOT = ("title", "variant_title", "sku", "unit_price", "quantity", "discount_total")


@dataclass(frozen=True)
class Charges:
    """The order's amounts beyond its lines, as the store now states them."""

    shipping_total: Decimal
    tax_total: Decimal
    order_discount: Decimal


def _charge_changes(order: Order, order_discount: Decimal, charges: Charges) -> list[str]:
    """What a store's edit changed in shipping, tax and the order-level discount."""
    pairs = (
        ("shipping", order.shipping_total, charges.shipping_total),
        ("tax", order.tax_total, charges.tax_total),
        ("order discount", order_discount, charges.order_discount),
    )
    return [
        f"{label} {money(old, order.currency)} → {money(new, order.currency)}"
        for label, old, new in pairs
        if old != new
    ]


def _describe(old: OrderLine | None, new: OrderLine | None) -> str:
    if old is None:
        return f"added {new.quantity} × {new.title}" if new is not None else ""
    if new is None:
        return f"removed {old.quantity} × {old.title}"
    if old.quantity != new.quantity:
        return f"{new.title}: quantity {old.quantity} → {new.quantity}"
    return f"{new.title}: price or discount changed"


def _check_not_below_handled(
    order: Order, line: OrderLine, quantity: int, handled: dict[uuid.UUID, int]
) -> None:
    if quantity < handled.get(line.id, 0):
        raise Conflict(
            f"Order {order.number}: {line.title} has {handled[line.id]} unit(s) shipped or "
            f"returned, more than the edited quantity {quantity}.",
            code="edit_below_shipped",
        )


async def edit_lines(
    db: AsyncSession,
    settings: Settings,
    order: Order,
    *,
    actor: Actor,
    lines: Sequence[LineRequest],
    channel: Channel | None = None,
    occurred_at: datetime | None = None,
    charges: Charges | None = None,
) -> list[str]:
    """Make the order's lines those of ``lines`` (matched by ``position``) and, when given,
    its shipping, tax and order-level discount those of ``charges``; recompute its amounts and
    return what changed (nothing when the order is already so). Without ``charges`` those
    three stay as they were."""
    await repository.lock_order(db, order)
    refuse_if_cancelled(order)
    wanted = await build_lines(db, lines, currency=order.currency)
    current = {line.position: line for line in await repository.lines_of(db, order.id)}
    if len({line.position for line in wanted}) != len(wanted):
        raise invalid("lines", "Two lines have the same position.", "invalid_line")
    handled = shipped_quantities(await repository.shipments_of(db, order.id))
    for line_id, quantity in (await repository.returned_quantities(db, order.id)).items():
        handled[line_id] = max(handled.get(line_id, 0), quantity)
    order_discount = order.discount_total - sum(
        (line.discount_total for line in current.values()), Decimal("0")
    )
    changes: list[str] = []
    stock: dict[uuid.UUID, int] = {}
    kept: list[OrderLine] = []
    for line in wanted:
        old = current.pop(line.position, None)
        if old is not None and all(getattr(old, f) == getattr(line, f) for f in SNAPSHOT):
            kept.append(old)
            continue
        changes.append(_describe(old, line))
        if old is None:
            line.order_id = order.id
            db.add(line)
            kept.append(line)
        else:
            _check_not_below_handled(order, old, line.quantity, handled)
            if old.variant_id is not None:
                stock[old.variant_id] = stock.get(old.variant_id, 0) - old.quantity
            for field in (*SNAPSHOT, "product_id", "variant_id", "total"):
                setattr(old, field, getattr(line, field))
            kept.append(old)
        if line.variant_id is not None:
            stock[line.variant_id] = stock.get(line.variant_id, 0) + line.quantity
    for old in current.values():
        _check_not_below_handled(order, old, 0, handled)
        changes.append(_describe(old, None))
        if old.variant_id is not None:
            stock[old.variant_id] = stock.get(old.variant_id, 0) - old.quantity
        await db.delete(old)
    if charges is not None:
        changes.extend(_charge_changes(order, order_discount, charges))
    if not changes:
        return []
    shipping, tax = order.shipping_total, order.tax_total
    if charges is not None:
        shipping, tax, order_discount = (
            charges.shipping_total,
            charges.tax_total,
            charges.order_discount,
        )
    before = {"total": order.total, "items": order.items_count}
    subtotal = cents(sum((line.unit_price * line.quantity for line in kept), Decimal("0")))
    discount_total = sum((line.discount_total for line in kept), Decimal("0")) + order_discount
    total = subtotal - discount_total + shipping + tax
    if total < 0:
        raise invalid(
            "lines", "The discounts exceed the edited order's value.", "discount_exceeds_subtotal"
        )
    if total < order.refunded_total:
        raise Conflict(
            f"Order {order.number}: the edited total {total} is below what was refunded "
            f"({order.refunded_total}).",
            code="edit_below_refunds",
        )
    order.subtotal, order.discount_total, order.total = subtotal, discount_total, total
    order.shipping_total, order.tax_total = shipping, tax
    order.items_count = sum(line.quantity for line in kept)
    if channel is None or channel.kind not in STORE_MANAGED_STOCK:
        await take_stock(db, {key: qty for key, qty in stock.items() if qty > 0})
        await restock(db, {key: -qty for key, qty in stock.items() if qty < 0})
    await db.flush()
    await db.refresh(order, ["updated_at"])
    await add_entry(
        db,
        customer_id=order.customer_id,
        order_id=order.id,
        kind="order_edited",
        summary=f"Edited order {order.number}: {'; '.join(changes)} — now "
        f"{money(order.total, order.currency)}",
        actor=actor,
        data=jsonable(
            {
                "number": order.number,
                "changes": changes,
                "total_before": before["total"],
                "total": order.total,
                "items_before": before["items"],
                "items": order.items_count,
            }
        ),
        occurred_at=occurred_at,
    )
    await audit.record(
        db,
        action="order.lines_edited",
        actor=actor,
        object_type="order",
        object_id=order.id,
        details=jsonable({"changes": changes, "total_before": before["total"], "total": total}),
    )
    await refresh_financial_status(db, order, actor=actor)
    await refresh_fulfillment_status(db, order, actor=actor)
    await metrics.refresh(db, settings, [order.customer_id])
    await rollups.refresh_orders(db, [order.id])
    return changes
