"""Shopify order edits (orders/updated with changed line items): the order's lines, its
amounts, the customer's figures, the daily sales, segment marks and the timeline follow the
newest version of the order, and an older version arriving late changes nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.config import Settings
from patron.models import (
    CustomerMetrics,
    Order,
    OrderLine,
    SalesDaily,
    SegmentChangedCustomer,
    StoreConnection,
    TimelineEntry,
)
from tests.test_integrations_helpers import (
    MUGS,
    NOTEBOOK,
    connect_shop,
    line_item,
    order_payload,
    receive,
    refund_payload,
    work,
)
from tests.test_reports_sales import rolled_up

POSTER = line_item(1003, "Difference Engine Poster", "POSTER-1", 1, "12.00")


def _mugs(current: int) -> dict[str, Any]:
    return {**MUGS, "current_quantity": current}


def _notebook(current: int) -> dict[str, Any]:
    return {**NOTEBOOK, "current_quantity": current}


async def _placed(db: AsyncSession, settings: Settings) -> StoreConnection:
    """The order as placed: 2 mugs at 19.99 and a notebook at 45.00 → 95.48."""
    connection = await connect_shop(db, settings)
    await receive(db, connection, "orders/create", order_payload())
    await work(db, settings)
    await db.execute(delete(SegmentChangedCustomer))
    return connection


async def _edit(
    db: AsyncSession,
    settings: Settings,
    connection: StoreConnection,
    amounts: dict[str, Any] | None = None,
    **payload: Any,
) -> None:
    """Deliver orders/updated; ``amounts`` overrides the payload's shipping, tax, … fields."""
    await receive(db, connection, "orders/updated", {**order_payload(**payload), **(amounts or {})})
    receipts = await work(db, settings)
    assert [r.status for r in receipts] == ["processed"] * len(receipts), [
        r.error for r in receipts
    ]


async def _order(db: AsyncSession) -> Order:
    order = await db.scalar(select(Order).where(Order.external_id == "450789469"))
    assert order is not None
    await db.refresh(order)
    return order


async def _lines(db: AsyncSession, order: Order) -> list[tuple[str, int, Decimal]]:
    rows = await db.scalars(
        select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.position)
    )
    return [(line.sku, line.quantity, line.total) for line in rows]


async def _figures(db: AsyncSession, order: Order) -> tuple[int, Decimal, int, Decimal]:
    """The customer's items bought and total spent, the day's units and gross revenue."""
    metrics = await db.get(CustomerMetrics, order.customer_id)
    assert metrics is not None
    await db.refresh(metrics)
    await rolled_up(db)  # the rollup job's work once the edit is committed
    day = await db.scalar(select(SalesDaily).where(SalesDaily.day == order.placed_at.date()))
    assert day is not None
    await db.refresh(day)
    return metrics.items_bought, metrics.total_spent, day.units, day.gross_revenue


async def _edits(db: AsyncSession, order: Order) -> list[str]:
    rows = await db.scalars(
        select(TimelineEntry)
        .where(TimelineEntry.order_id == order.id, TimelineEntry.kind == "order_edited")
        .order_by(TimelineEntry.occurred_at)
    )
    return [entry.summary for entry in rows]


async def _marked(db: AsyncSession, order: Order) -> bool:
    mark = await db.get(SegmentChangedCustomer, order.customer_id)
    return mark is not None


async def test_an_added_line_joins_the_order_and_every_figure_that_counts_it(
    db: AsyncSession, settings: Settings
) -> None:
    connection = await _placed(db, settings)
    await _edit(db, settings, connection, minutes=10, lines=[MUGS, NOTEBOOK, POSTER])
    order = await _order(db)
    assert await _lines(db, order) == [
        ("MUG-BLUE", 2, Decimal("39.98")),
        ("NOTE-1", 1, Decimal("45.00")),
        ("POSTER-1", 1, Decimal("12.00")),
    ]
    assert (order.subtotal, order.total, order.items_count) == (
        Decimal("96.98"),
        Decimal("107.48"),
        4,
    )
    assert await _figures(db, order) == (4, Decimal("107.48"), 4, Decimal("107.48"))
    assert await _edits(db, order) == [
        "Edited order #9469: added 1 × Difference Engine Poster — now 107.48 USD"
    ]
    assert await _marked(db, order)


async def test_a_removed_line_leaves_the_order_though_shopify_still_lists_it(
    db: AsyncSession, settings: Settings
) -> None:
    connection = await _placed(db, settings)
    await _edit(db, settings, connection, minutes=10, lines=[_mugs(2), _notebook(0)])
    order = await _order(db)
    assert await _lines(db, order) == [("MUG-BLUE", 2, Decimal("39.98"))]
    assert (order.total, order.items_count) == (Decimal("50.48"), 2)
    assert await _figures(db, order) == (2, Decimal("50.48"), 2, Decimal("50.48"))
    assert await _edits(db, order) == [
        "Edited order #9469: removed 1 × Punch Card Notebook — now 50.48 USD"
    ]
    assert await _marked(db, order)


async def test_a_changed_quantity_changes_the_line_and_the_totals(
    db: AsyncSession, settings: Settings
) -> None:
    connection = await _placed(db, settings)
    await _edit(db, settings, connection, minutes=10, lines=[_mugs(1), _notebook(1)])
    order = await _order(db)
    assert await _lines(db, order) == [
        ("MUG-BLUE", 1, Decimal("19.99")),
        ("NOTE-1", 1, Decimal("45.00")),
    ]
    assert (order.total, order.items_count) == (Decimal("75.49"), 2)
    assert await _figures(db, order) == (2, Decimal("75.49"), 2, Decimal("75.49"))
    assert await _edits(db, order) == [
        "Edited order #9469: Analytical Engine Mug: quantity 2 → 1 — now 75.49 USD"
    ]


async def test_an_older_edit_arriving_late_is_ignored(db: AsyncSession, settings: Settings) -> None:
    connection = await _placed(db, settings)
    await _edit(db, settings, connection, minutes=10, lines=[_mugs(1), _notebook(0)])
    await _edit(db, settings, connection, minutes=5, lines=[MUGS, NOTEBOOK, POSTER])
    order = await _order(db)
    assert await _lines(db, order) == [("MUG-BLUE", 1, Decimal("19.99"))]
    assert (order.total, order.items_count) == (Decimal("30.49"), 1)
    assert await _figures(db, order) == (1, Decimal("30.49"), 1, Decimal("30.49"))
    assert len(await _edits(db, order)) == 1


async def test_the_same_edit_delivered_again_changes_nothing(
    db: AsyncSession, settings: Settings
) -> None:
    connection = await _placed(db, settings)
    edited: dict[str, Any] = {"minutes": 10, "lines": [MUGS, NOTEBOOK, POSTER]}
    await _edit(db, settings, connection, **edited)
    await db.execute(delete(SegmentChangedCustomer))
    await _edit(db, settings, connection, **edited)
    order = await _order(db)
    assert len(await _lines(db, order)) == 3
    assert len(await _edits(db, order)) == 1
    assert not await _marked(db, order)


async def test_units_refunded_with_money_stay_on_the_order_beside_their_refund(
    db: AsyncSession, settings: Settings
) -> None:
    # Shopify's current_quantity also drops for refunded units; the refund carries the money
    connection = await _placed(db, settings)
    await _edit(
        db,
        settings,
        connection,
        minutes=30,
        financial_status="partially_refunded",
        lines=[_mugs(1), _notebook(1)],
        refunds=[refund_payload()],
        # Shopify's current amounts drop with the refund too: the refund's money says it
        amounts={"current_total_tax": "6.00", "current_total_discounts": "2.50"},
    )
    order = await _order(db)
    assert await _lines(db, order) == [
        ("MUG-BLUE", 2, Decimal("39.98")),
        ("NOTE-1", 1, Decimal("45.00")),
    ]
    assert (order.total, order.refunded_total) == (Decimal("95.48"), Decimal("20.00"))
    assert (order.tax_total, order.discount_total) == (Decimal("8.00"), Decimal("5.00"))
    assert await _edits(db, order) == []


async def test_before_current_quantity_a_removal_came_as_a_refund_without_money(
    db: AsyncSession, settings: Settings
) -> None:
    connection = await _placed(db, settings)
    removal = refund_payload(amount="0.00")
    removal["refund_line_items"] = [{"line_item_id": 1002, "quantity": 1, "restock_type": "cancel"}]
    await _edit(db, settings, connection, minutes=10, refunds=[removal])
    order = await _order(db)
    assert await _lines(db, order) == [("MUG-BLUE", 2, Decimal("39.98"))]
    assert order.total == Decimal("50.48")


async def test_an_edit_of_shipping_and_tax_changes_the_order_and_its_figures(
    db: AsyncSession, settings: Settings
) -> None:
    connection = await _placed(db, settings)
    shipping = [
        {"title": "Standard", "price": "7.50", "is_removed": True},
        {"title": "Express", "price": "12.00"},
    ]
    amounts = {"shipping_lines": shipping, "current_total_tax": "6.40"}
    await _edit(db, settings, connection, amounts, minutes=10)
    order = await _order(db)
    assert len(await _lines(db, order)) == 2
    assert (order.shipping_total, order.tax_total, order.total) == (
        Decimal("12.00"),
        Decimal("6.40"),
        Decimal("98.38"),
    )
    assert await _figures(db, order) == (3, Decimal("98.38"), 3, Decimal("98.38"))
    assert await _edits(db, order) == [
        "Edited order #9469: shipping 7.50 USD → 12.00 USD; tax 8.00 USD → 6.40 USD — now 98.38 USD"
    ]
    assert await _marked(db, order)


async def test_a_removed_line_takes_its_tax_and_its_share_of_the_order_discount(
    db: AsyncSession, settings: Settings
) -> None:
    connection = await _placed(db, settings)
    amounts = {"current_total_tax": "3.20", "current_total_discounts": "2.00"}
    await _edit(db, settings, connection, amounts, minutes=10, lines=[_mugs(2), _notebook(0)])
    order = await _order(db)
    assert (order.subtotal, order.discount_total, order.tax_total, order.total) == (
        Decimal("39.98"),
        Decimal("2.00"),
        Decimal("3.20"),
        Decimal("48.68"),
    )
    assert await _edits(db, order) == [
        "Edited order #9469: removed 1 × Punch Card Notebook; tax 8.00 USD → 3.20 USD;"
        " order discount 5.00 USD → 2.00 USD — now 48.68 USD"
    ]


async def test_an_edit_whose_discounts_exceed_the_order_fails_and_changes_nothing(
    db: AsyncSession, settings: Settings
) -> None:
    connection = await _placed(db, settings)
    payload = {**order_payload(minutes=10), "current_total_discounts": "500.00"}
    await receive(db, connection, "orders/updated", payload)
    [receipt] = await work(db, settings)
    assert (receipt.status, receipt.error_code) == ("failed", "discount_exceeds_subtotal")
    order = await _order(db)
    assert (order.discount_total, order.total) == (Decimal("5.00"), Decimal("95.48"))
    assert await _edits(db, order) == []
