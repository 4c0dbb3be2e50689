"""Property: however Shopify's deliveries for one order arrive — duplicated, replayed, out of
order — the end state equals the state after the same deliveries arrived once, in order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.config import Settings
from patron.models import (
    Customer,
    CustomerMetrics,
    Order,
    OrderLine,
    Payment,
    Refund,
    Shipment,
    TimelineEntry,
)
from tests.test_integrations_helpers import (
    MUGS,
    NOTEBOOK,
    connect_shop,
    fulfillment_payload,
    line_item,
    order_payload,
    receive,
    refund_payload,
    work,
)

FULFILMENT = {
    **fulfillment_payload(minutes=20),
    "line_items": [
        {"id": 1001, "quantity": 1, "title": "Analytical Engine Mug", "sku": "MUG-BLUE"},
        {"id": 1002, "quantity": 1, "title": "Punch Card Notebook", "sku": "NOTE-1"},
    ],
}
REFUND = refund_payload()
POSTER = line_item(1003, "Difference Engine Poster", "POSTER-1", 1, "12.00")
# after the edits: one mug left of two, the poster added then removed again
EDITED = [
    {**MUGS, "current_quantity": 1},
    {**NOTEBOOK, "current_quantity": 1},
    {**POSTER, "current_quantity": 0},
]
# the refunded mug is gone from current_quantity too
REFUNDED = [{**EDITED[0], "current_quantity": 0}, *EDITED[1:]]


def _gift(minutes: int, lines: list[dict[str, Any]] | None = None, **more: Any) -> dict[str, Any]:
    return order_payload(minutes=minutes, note="gift wrap", tags="gift", lines=lines, **more)


# one order's life: created, edited (a note, a line added, then a line removed and a
# quantity lowered), paid, fulfilled, partly refunded; the refund and the fulfilment also
# come as their own topics
DELIVERIES: list[tuple[str, dict[str, Any]]] = [
    ("orders/create", order_payload()),
    ("orders/updated", _gift(2)),
    ("orders/updated", _gift(3, [MUGS, NOTEBOOK, POSTER])),
    ("orders/updated", _gift(4, EDITED)),
    ("orders/paid", _gift(5, EDITED, financial_status="paid")),
    ("fulfillments/create", FULFILMENT),
    ("orders/fulfilled", _gift(20, EDITED, financial_status="paid", fulfillments=[FULFILMENT])),
    ("refunds/create", REFUND),
    (
        "orders/updated",
        order_payload(
            minutes=30,
            financial_status="partially_refunded",
            note="gift wrap, refunded a mug",
            tags="gift, refund",
            fulfillments=[FULFILMENT],
            refunds=[REFUND],
            lines=REFUNDED,
        ),
    ),
]


async def _end_state(db: AsyncSession) -> dict[str, Any]:
    orders = list(await db.scalars(select(Order)))
    assert len(orders) == 1
    order = orders[0]
    await db.refresh(order)
    payments = await db.scalars(select(Payment).where(Payment.order_id == order.id))
    refunds = await db.scalars(select(Refund).where(Refund.order_id == order.id))
    shipments = await db.scalars(select(Shipment).where(Shipment.order_id == order.id))
    lines = await db.scalars(select(OrderLine).where(OrderLine.order_id == order.id))
    metrics = await db.get(CustomerMetrics, order.customer_id)
    assert metrics is not None
    await db.refresh(metrics)
    return {
        "customers": await db.scalar(select(func.count()).select_from(Customer)),
        "order": (
            order.number,
            order.total,
            order.items_count,
            order.financial_status,
            order.fulfillment_status,
            order.refunded_total,
            order.note,
            tuple(order.tags),
            order.cancelled_at is None,
            order.source_updated_at,
        ),
        "payments": sorted((p.amount, p.status, p.external_id) for p in payments),
        "refunds": sorted((r.amount, r.external_id) for r in refunds),
        "shipments": sorted((s.external_id, s.status) for s in shipments),
        "lines": sorted((line.position, line.sku, line.quantity, line.total) for line in lines),
        "metrics": (
            metrics.orders_count,
            metrics.total_spent,
            metrics.refunded_total,
            metrics.items_bought,
        ),
    }


async def _timeline_rows(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(TimelineEntry)) or 0)


async def _play(
    db: AsyncSession, app_settings: Settings, sequence: list[int]
) -> tuple[dict[str, Any], int]:
    """Deliver ``sequence`` (indices into DELIVERIES) inside a savepoint that is undone."""
    savepoint = await db.begin_nested()
    try:
        connection = await connect_shop(db, app_settings)
        for index in sequence:
            topic, payload = DELIVERIES[index]
            await receive(db, connection, topic, payload)
            await work(db, app_settings)  # one at a time: the order deliveries arrive in
        return await _end_state(db), await _timeline_rows(db)
    finally:
        await savepoint.rollback()


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[int], bool]:
    """Every delivery at least once, some again, in any order; and whether the order kept."""
    every = list(range(len(DELIVERIES)))
    extra = draw(st.lists(st.sampled_from(every), max_size=6))
    shuffled = draw(st.booleans())
    sequence = every + extra
    # shuffled, or in order with each delivery possibly repeated
    sequence = draw(st.permutations(sequence)) if shuffled else sorted(sequence)
    return sequence, shuffled


@hypothesis_settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=arrivals())
async def test_duplicate_and_out_of_order_deliveries_end_where_in_order_ones_do(
    case: tuple[list[int], bool], db: AsyncSession, settings: Settings
) -> None:
    sequence, shuffled = case
    expected, expected_timeline = await _play(db, settings, list(range(len(DELIVERIES))))
    assert expected["order"][1:6] == (
        Decimal("75.49"),
        2,
        "partially_refunded",
        "fulfilled",
        Decimal("20.00"),
    )
    assert expected["lines"] == [
        (0, "MUG-BLUE", 1, Decimal("19.99")),
        (1, "NOTE-1", 1, Decimal("45.00")),
    ]
    assert expected["payments"] == [(Decimal("75.49"), "succeeded", "shopify:450789469:paid:75.49")]
    state, timeline = await _play(db, settings, sequence)
    assert state == expected
    if not shuffled:
        # repeats of an in-order stream add nothing at all, not even a timeline row
        assert timeline == expected_timeline
