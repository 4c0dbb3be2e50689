"""The customer and cohort rollups: kept equal to a recomputation from the orders through
random order changes, and answering every figure exactly as the orders themselves do."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics import customer_rollups, rollups, staff_rollups
from patron.analytics import customers_repository as repository
from patron.analytics.customers_repository import OrderScope
from patron.analytics.period import ReportPeriod
from patron.auth.principal import Principal
from patron.config import Settings
from patron.customers import metrics
from patron.db.engine import Database
from patron.models import CustomerMetrics, Order
from patron.models.reports import ALL_CHANNELS
from patron.worker.app import set_runtime
from tests.conftest import IsolatedDatabase, MakeUser, make_settings, principal_for
from tests.test_reports_customers import Shop, at
from tests.test_reports_sales import rollup_examples

DAY_ZERO = date(2024, 1, 1)
PEOPLE = 5

_FACTS = "channel_key, day, prev_day, seq, first_day, month_first, net"
FACTS_STORED = text(f"SELECT {_FACTS} FROM customer_order_fact ORDER BY 1, 2, 3, 4, 5, 6, 7")
FACTS_RECOMPUTED = text(
    f"SELECT {_FACTS} FROM ({customer_rollups.facts_sql('true')})"
    " f(channel_key, order_id, customer_id, day, prev_day, seq, first_day, month_first, net)"
    " ORDER BY 1, 2, 3, 4, 5, 6, 7"
)
DAILY_STORED = text(
    "SELECT channel_key, day, prev_day, seq, orders, net FROM customer_orders_daily"
    " WHERE orders <> 0 OR net <> 0 ORDER BY 1, 2, 3, 4"
)
DAILY_RECOMPUTED = text(
    "SELECT channel_key, day, prev_day, seq, count(*), sum(net) FROM customer_order_fact"
    " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
)
COHORT_STORED = text(
    "SELECT channel_key, first_day, day, customers, month_customers, net"
    " FROM customer_cohort_daily"
    " WHERE customers <> 0 OR month_customers <> 0 OR net <> 0 ORDER BY 1, 2, 3"
)
COHORT_RECOMPUTED = text(
    "SELECT channel_key, first_day, day, count(*) FILTER (WHERE seq = 1),"
    " count(*) FILTER (WHERE month_first), sum(net) FROM customer_order_fact"
    " GROUP BY 1, 2, 3 HAVING count(*) FILTER (WHERE seq = 1) <> 0"
    " OR count(*) FILTER (WHERE month_first) <> 0 OR sum(net) <> 0 ORDER BY 1, 2, 3"
)

PENDING = text("SELECT count(*) FROM customer_rollup_change")
QUEUED_JOBS = text(
    "SELECT count(*) FROM procrastinate_jobs"
    " WHERE task_name = 'reports.rollup_queued' AND status = 'todo'"
)

order_strategy = st.tuples(
    st.integers(0, PEOPLE - 1),  # whose
    st.integers(0, 500),  # day
    st.sampled_from(["web", "pos"]),
    st.sampled_from(["10.00", "25.50", "99.99"]),
)
change_strategy = st.one_of(
    st.tuples(st.just("add"), order_strategy),
    st.tuples(st.just("cancel"), st.integers(0, 99)),
    st.tuples(st.just("uncancel"), st.integers(0, 99)),
    st.tuples(st.just("move"), st.integers(0, 99), st.integers(0, 500)),  # an older order
    st.tuples(st.just("refund"), st.integers(0, 99), st.sampled_from(["0", "5.00"])),
    st.tuples(st.just("reassign"), st.integers(0, 99), st.integers(0, PEOPLE - 1)),
    st.tuples(st.just("merge"), st.integers(0, PEOPLE - 1), st.integers(0, PEOPLE - 1)),
    st.tuples(st.just("delete"), st.integers(0, 99)),
    st.tuples(st.just("fold"), st.integers(1, 4)),  # the job, a few changes at a time
)


@pytest.fixture(name="admin")
async def admin_fixture(db: AsyncSession, make_user: MakeUser) -> Principal:
    return await principal_for(db, (await make_user("admin")).user)


async def apply(shop: Shop, orders: list[Order], change: tuple[Any, ...]) -> None:
    """One order change, then the customers' refresh every real change makes."""
    db, kind = shop.db, change[0]
    names = list(shop.customers)
    if kind == "add":
        whose, day, channel, total = change[1]
        placed = (DAY_ZERO + timedelta(days=day)).isoformat()
        orders.append(await shop.order(names[whose], placed, total, channel=channel))
        touched = {orders[-1].customer_id}
    elif kind == "fold":  # each of the job's folds takes a batch
        await customer_rollups.fold_changes(db, limit=change[1])
        await staff_rollups.fold_changes(db, limit=change[1])
        return
    elif kind == "merge":  # as a merge: the orders move, the survivor alone is refreshed
        merged, survivor = shop.customers[names[change[1]]], shop.customers[names[change[2]]]
        for order in orders:
            if order.customer_id == merged.id:
                order.customer_id = survivor.id
        if merged is not survivor:
            await db.execute(
                delete(CustomerMetrics).where(CustomerMetrics.customer_id == merged.id)
            )
        touched = {survivor.id}
    elif not orders:
        return
    else:
        order = orders[change[1] % len(orders)]
        touched = {order.customer_id}
        if kind == "cancel":
            order.cancelled_at = order.placed_at + timedelta(hours=1)
        elif kind == "uncancel":
            order.cancelled_at = None
        elif kind == "move":
            order.placed_at = at((DAY_ZERO + timedelta(days=change[2])).isoformat())
        elif kind == "refund":
            order.refunded_total = Decimal(change[2])
        elif kind == "reassign":
            order.customer_id = shop.customers[names[change[2]]].id
            touched.add(order.customer_id)
        else:
            orders.remove(order)
            await db.delete(order)
    await db.flush()
    await metrics.refresh(db, shop.settings, touched)


async def figures(db: AsyncSession, scope: OrderScope, period: ReportPeriod) -> list[Any]:
    """Every figure the customers and cohorts reports read, through one path."""
    first_month, last_month = period.start.replace(day=1), period.end.replace(day=1)
    return [
        sorted(await repository.activity_by_bucket(db, scope, period), key=lambda b: b.bucket),
        await repository.period_customers(db, scope, period, period.previous()),
        await repository.spend_by(db, scope, period.until, period.previous().until),
        await repository.spend_by_cohort(db, scope, period),
        await repository.cohort_activity(db, scope, first_month, last_month),
        await repository.churned_customers(db, scope),
    ]


@rollup_examples(30)
@given(
    first_orders=st.lists(order_strategy, max_size=8),
    changes=st.lists(change_strategy, max_size=8),
    start=st.integers(0, 500),
    days=st.integers(1, 200),
    grain=st.sampled_from(["day", "week", "month"]),
    channel=st.sampled_from([None, "web"]),
)
async def test_the_rollups_equal_a_recomputation_and_the_raw_figures_after_random_changes(
    first_orders: list[tuple[int, int, str, str]],
    changes: list[tuple[Any, ...]],
    start: int,
    days: int,
    grain: str,
    channel: str | None,
    db: AsyncSession,
    settings: Settings,
    admin: Principal,
) -> None:
    savepoint = await db.begin_nested()
    try:
        shop = Shop(db, settings)
        await shop.channel("web")
        await shop.channel("pos")
        for number in range(PEOPLE):
            await shop.customer(f"P{number}")
        orders: list[Order] = []
        for change in [("add", order) for order in first_orders] + changes:
            await apply(shop, orders, change)
        for number, customer in enumerate(shop.customers.values()):  # some churned by hand
            customer.lifecycle_stage = "churned" if number % 2 else "customer"
        await db.flush()
        await customer_rollups.fold_changes(db, limit=10_000)  # what the job has left
        assert await db.scalar(PENDING) == 0

        assert (await db.execute(FACTS_STORED)).all() == (await db.execute(FACTS_RECOMPUTED)).all()
        assert (await db.execute(DAILY_STORED)).all() == (await db.execute(DAILY_RECOMPUTED)).all()
        assert (await db.execute(COHORT_STORED)).all() == (
            await db.execute(COHORT_RECOMPUTED)
        ).all()

        first = DAY_ZERO + timedelta(days=start)
        period = ReportPeriod(first, first + timedelta(days=days - 1), grain)  # type: ignore[arg-type]
        channel_id = shop.channels["web"].id if channel else None
        rolled = OrderScope(admin, channel_id)
        assert rolled.rolled_up
        raw = replace(rolled, rollups=False)
        assert await figures(db, rolled, period) == await figures(db, raw, period)
    finally:
        await savepoint.rollback()


async def ann_with_an_order(db: AsyncSession, settings: Settings) -> Shop:
    """A shop with one customer, Ann, and her first order (on the web, 2025-03-01)."""
    shop = Shop(db, settings)
    await shop.customer("Ann")
    await shop.order("Ann", "2025-03-01", "40.00")
    return shop


async def test_a_rebuild_repairs_rollups_that_drifted(
    db: AsyncSession, settings: Settings, admin: Principal
) -> None:
    shop = await ann_with_an_order(db, settings)
    await shop.order("Ann", "2025-04-02", "60.00", channel="pos")
    await shop.refresh()
    period = ReportPeriod(date(2025, 3, 1), date(2025, 4, 30), "month")
    scope = OrderScope(admin)
    right = await figures(db, scope, period)
    await db.execute(text("UPDATE customer_orders_daily SET orders = orders + 7, net = 1"))
    await db.execute(text("DELETE FROM customer_cohort_daily"))
    assert await figures(db, scope, period) != right

    # an order change whose customer rollup changes the job has not added up yet
    await shop.order("Ann", "2025-04-20", "10.00")
    await metrics.refresh(db, settings, [shop.customers["Ann"].id])
    assert await db.scalar(PENDING) == 2

    assert await customer_rollups.rebuild(db) == 6  # three orders, each overall and in its channel
    assert await db.scalar(PENDING) == 0  # counted by the rebuild: the job adds nothing more
    assert await customer_rollups.fold_changes(db, limit=10) == 0
    await sums_equal_a_recomputation(db)
    assert await figures(db, scope, period) == await figures(
        db, replace(scope, rollups=False), period
    )
    assert right[1][0] == repository.PeriodCustomers(
        ordered=1, new=1, returning=0, repeat=1, orders=2
    )


async def sums_equal_a_recomputation(db: AsyncSession) -> None:
    assert (await db.execute(DAILY_STORED)).all() == (await db.execute(DAILY_RECOMPUTED)).all()
    assert (await db.execute(COHORT_STORED)).all() == (await db.execute(COHORT_RECOMPUTED)).all()


async def test_an_order_change_waits_for_the_job_and_a_replayed_refresh_appends_nothing(
    db: AsyncSession, settings: Settings, admin: Principal
) -> None:
    shop = await ann_with_an_order(db, settings)
    await metrics.refresh(db, settings, [shop.customers["Ann"].id])
    assert await db.scalar(PENDING) == 2  # the order overall and in its channel
    assert await db.scalar(QUEUED_JOBS) == 1  # the rollup job, to add them up
    period = ReportPeriod(date(2025, 3, 1), date(2025, 3, 31), "month")
    [customers] = await repository.period_customers(db, OrderScope(admin), period)
    assert customers.orders == 0  # not in the sums before the job

    await metrics.refresh(db, settings, [shop.customers["Ann"].id])  # nothing changed
    assert await db.scalar(PENDING) == 2
    assert await customer_rollups.fold_changes(db, limit=10) == 2
    [customers] = await repository.period_customers(db, OrderScope(admin), period)
    assert customers == repository.PeriodCustomers(
        ordered=1, new=1, returning=0, repeat=0, orders=1
    )


async def _committed_orders(database: Database, settings: Settings, names: list[str]) -> None:
    """One order each for new customers, committed with their rollup changes pending."""
    async with database.transaction() as db:
        shop = Shop(db, settings)
        for number, name in enumerate(names):
            await shop.customer(name)
            await shop.order(name, f"2025-03-{number % 28 + 1:02d}", "25.00")
        await metrics.refresh(db, settings, [c.id for c in shop.customers.values()])


async def fold(db: AsyncSession) -> int:
    return await customer_rollups.fold_changes(db, limit=10)


async def test_a_change_taken_by_two_job_runs_at_once_is_added_once(
    isolated_database: IsolatedDatabase, tmp_path: Path
) -> None:
    settings = make_settings(isolated_database.url, tmp_path)
    set_runtime(settings, isolated_database.database)
    database = isolated_database.database
    await _committed_orders(database, settings, ["Ann", "Bob"])

    # two batches at once: the second skips the changes the first is adding up, without
    # waiting for it; a batch that rolls back leaves them pending
    async with database.transaction() as first:
        assert await customer_rollups.fold_changes(first, limit=10) == 4
        async with database.transaction() as second:
            assert await asyncio.wait_for(fold(second), timeout=5) == 0
        await first.rollback()
    async with database.transaction() as first:
        assert await customer_rollups.fold_changes(first, limit=10) == 4
        async with database.transaction() as second:
            assert await asyncio.wait_for(fold(second), timeout=5) == 0
    async with database.transaction() as db:
        assert await customer_rollups.fold_changes(db, limit=10) == 0  # taken once
        await sums_equal_a_recomputation(db)

    # whole job runs at once, in small batches: every change added once
    await _committed_orders(database, settings, [f"P{number}" for number in range(12)])
    batch, rollups.QUEUE_BATCH = rollups.QUEUE_BATCH, 5
    try:
        runs = await asyncio.gather(rollups.refresh_queued(), rollups.refresh_queued())
    finally:
        rollups.QUEUE_BATCH = batch
    assert sum(runs) == 12 * 2  # both facts of each order (overall and in its channel)
    async with database.transaction() as db:
        assert await db.scalar(PENDING) == 0
        await sums_equal_a_recomputation(db)
        [(orders,)] = (
            await db.execute(
                text("SELECT sum(orders) FROM customer_orders_daily WHERE channel_key = :all"),
                {"all": ALL_CHANNELS},
            )
        ).all()
    assert orders == 14
