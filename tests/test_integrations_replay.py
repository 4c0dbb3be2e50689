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
    Payment,
    Refund,
    Shipment,
    TimelineEntry,
)
from tests.test_integrations_helpers import (
    connect_shop,
    fulfillment_payload,
    order_payload,
    receive,
    refund_payload,
    work,
)

FULFILMENT = fulfillment_payload(minutes=20)
REFUND = refund_payload()
# one order's life: created, edited, paid, fulfilled, partly refunded; the refund and the
# fulfilment also come as their own topics
DELIVERIES: list[tuple[str, dict[str, Any]]] = [
    ("orders/create", order_payload()),
    ("orders/updated", order_payload(minutes=2, note="gift wrap", tags="gift")),
    (
        "orders/paid",
        order_payload(minutes=5, financial_status="paid", note="gift wrap", tags="gift"),
    ),
    ("fulfillments/create", FULFILMENT),
    (
        "orders/fulfilled",
        order_payload(
            minutes=20,
            financial_status="paid",
            note="gift wrap",
            tags="gift",
            fulfillments=[FULFILMENT],
        ),
    ),
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
    metrics = await db.get(CustomerMetrics, order.customer_id)
    assert metrics is not None
    await db.refresh(metrics)
    return {
        "customers": await db.scalar(select(func.count()).select_from(Customer)),
        "order": (
            order.number,
            order.total,
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
    assert expected["order"][2:5] == ("partially_refunded", "fulfilled", Decimal("20.00"))
    assert expected["payments"] == [(Decimal("95.48"), "succeeded", "shopify:450789469:paid:95.48")]
    state, timeline = await _play(db, settings, sequence)
    assert state == expected
    if not shuffled:
        # repeats of an in-order stream add nothing at all, not even a timeline row
        assert timeline == expected_timeline
