"""The products report from its rollups: the product rollup (daily and monthly) kept equal to
the order lines through every change, the same figures from the rollup and from the lines for
any period (whole months, partial ones, month boundaries) and channel, the precomputed pairs
and their window, a rep who sees only their own customers' products, and a database upgraded
with orders that reads the lines until its rollup is first filled."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics import product_rollups, rollups
from patron.analytics.period import ReportPeriod
from patron.analytics.sales import reports, repository
from patron.analytics.sales.repository import Window
from patron.analytics.sales.tasks import rollup_nightly
from patron.config import Settings
from patron.db.migrate import downgrade, upgrade
from patron.kit.time import utcnow
from patron.models import Order, OrderLine, ProductSalesDaily, ProductSalesMonthly
from patron.orders.service import LineRequest
from tests.conftest import (
    IsolatedDatabase,
    MakeKey,
    MakeUser,
    bearer,
    make_settings,
    sign_in,
)
from tests.shop import make_customer
from tests.test_reports_customers import reporting_rep
from tests.test_reports_sales import (
    TODAY,
    Change,
    apply_changes,
    at,
    build_shop,
    changes,
    rolled_up,
    rollup_examples,
    sell,
    week,
)

Rows = dict[tuple[date, uuid.UUID | None, str, str], tuple[Any, ...]]


def _figures(row: Any) -> tuple[Any, ...]:
    return (row.product_id, row.orders_count, row.units, row.revenue, row.returned_units)


async def product_rollup(db: AsyncSession) -> Rows:
    rows = await db.scalars(select(ProductSalesDaily).execution_options(populate_existing=True))
    return {(r.day, r.channel_id, r.currency, r.item_key): _figures(r) for r in rows}


async def product_monthly(db: AsyncSession) -> Rows:
    found = select(ProductSalesMonthly).execution_options(populate_existing=True)
    return {
        (r.month, r.channel_id, r.currency, r.item_key): _figures(r)
        for r in await db.scalars(found)
    }


def by_month(daily: Rows) -> Rows:
    """Daily rows added up per month (keyed by the month's first day)."""
    sums: dict[tuple[date, uuid.UUID | None, str, str], list[Any]] = defaultdict(
        lambda: [None, 0, 0, Decimal(0), 0]
    )
    for (day, channel_id, currency, item), values in daily.items():
        row = sums[(day.replace(day=1), channel_id, currency, item)]
        row[0] = values[0]
        for index in range(1, 5):
            row[index] += values[index]
    return {key: tuple(row) for key, row in sums.items()}


async def product_recomputed(db: AsyncSession) -> Rows:
    """The rollup as a plain reading of the uncancelled orders' lines and their returns."""
    returned: dict[uuid.UUID, int] = dict(
        (
            await db.execute(
                text(
                    "SELECT rl.order_line_id, sum(rl.quantity) FROM return_line rl"
                    " JOIN order_return rt ON rt.id = rl.return_id"
                    " WHERE rt.status <> 'rejected' GROUP BY rl.order_line_id"
                )
            )
        ).all()
    )
    sums: dict[tuple[date, uuid.UUID | None, str, str], list[Any]] = defaultdict(
        lambda: [None, set(), 0, Decimal(0), 0]
    )
    found = await db.execute(
        select(OrderLine, Order)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.cancelled_at.is_(None))
        .execution_options(populate_existing=True)
    )
    for line, order in found:
        item = str(line.product_id) if line.product_id else f"title:{line.title}"
        day = order.placed_at.astimezone(UTC).date()
        row = sums[(day, order.channel_id, order.currency, item)]
        row[0] = line.product_id
        row[1].add(order.id)
        row[2] += line.quantity
        row[3] += line.total * order.exchange_rate
        row[4] += int(returned.get(line.id, 0))
    return {key: (r[0], len(r[1]), r[2], r[3], r[4]) for key, r in sums.items()}


# periods as (days ago of the first day, days ago of the last day), in any order; the
# changes place orders up to 40 days ago, so these cross one to three month boundaries
periods = st.lists(st.tuples(st.integers(0, 75), st.integers(0, 75)), min_size=1, max_size=3)


def _month_windows() -> list[tuple[date, date]]:
    """Periods around the last months: a whole month, one starting on a month's first day,
    one ending on a month's last day, and a long one with partial months at both ends."""
    this_month = TODAY.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    before = (last_month - timedelta(days=1)).replace(day=1)
    return [
        (last_month, this_month - timedelta(days=1)),
        (last_month, TODAY),
        (before + timedelta(days=3), this_month - timedelta(days=1)),
        (before + timedelta(days=9), TODAY - timedelta(days=1)),
    ]


@rollup_examples(20)
@given(steps=changes, spans=periods)
async def test_the_product_rollup_always_equals_a_recomputation_from_the_lines(
    steps: list[Change], spans: list[tuple[int, int]], db: AsyncSession, settings: Settings
) -> None:
    savepoint = await db.begin_nested()
    try:
        await apply_changes(db, settings, steps)
        expected = await product_recomputed(db)
        await rolled_up(db)
        assert await product_rollup(db) == expected
        assert await product_monthly(db) == by_month(expected)
        await rollups.rebuild(db, first=TODAY - timedelta(days=60), last=TODAY)
        assert await product_rollup(db) == expected
        assert await product_monthly(db) == by_month(expected)
        # and every report period reads the same figures from the rollup (its whole months
        # from the monthly rows) as from the lines, for every channel and for each one
        drawn = [
            (TODAY - timedelta(days=max(a, b)), TODAY - timedelta(days=min(a, b))) for a, b in spans
        ]
        channel_ids = [None, *await db.scalars(text("SELECT id FROM channel"))]
        for first, last in [*drawn, *_month_windows()]:
            for channel_id in channel_ids:
                window = Window(*_bounds(first, last), channel_id)
                for sort in ("revenue", "units"):
                    rolled = await _tables(db, window, sort, rolled=True)
                    assert rolled == await _tables(db, window, sort, rolled=False)
    finally:
        await savepoint.rollback()


@given(first_ago=st.integers(0, 800), days=st.integers(1, 800))
def test_a_period_splits_into_days_whole_months_and_days(first_ago: int, days: int) -> None:
    first = TODAY - timedelta(days=first_ago)
    last = first + timedelta(days=days - 1)
    split = product_rollups.split_by_months(first, last)

    def each(start: date, end: date) -> list[date]:
        return [start + timedelta(days=n) for n in range((end - start).days + 1)]

    head, tail = each(*split.head), each(*split.tail)
    months = each(*split.months)
    assert head + months + tail == each(first, last)  # every day once, in order
    if months:
        assert len(head) < 31
        assert len(tail) < 31
        assert split.months[0].day == 1
        assert (split.months[1] + timedelta(days=1)).day == 1
    else:
        assert not tail
        assert head == each(first, last)


def _last(days: int, channel_id: uuid.UUID | None = None) -> Window:
    period = ReportPeriod(TODAY - timedelta(days=days - 1), TODAY)
    return Window(period.since, period.until, channel_id)


async def _tables(db: AsyncSession, window: Window, sort: str, *, rolled: bool) -> Any:
    return await repository.product_tables(db, window, sort=sort, limit=100, rolled=rolled)


async def _top(db: AsyncSession, window: Window, sort: str) -> list[Any]:
    top, _ = await _tables(db, window, sort, rolled=True)
    return list(top)


async def test_the_rollup_and_the_lines_agree_on_the_shop_for_every_filter(
    db: AsyncSession, settings: Settings
) -> None:
    shop = await build_shop(db, settings)
    windows = [
        _last(7),
        _last(7, shop.web.id),
        _last(7, shop.stall.id),
        _last(30),
        _last(1),
        Window(*_bounds(TODAY - timedelta(days=8)), shop.web.id),
    ]
    for window in windows:
        for sort in ("revenue", "units"):
            rolled = await _tables(db, window, sort, rolled=True)
            assert rolled == await _tables(db, window, sort, rolled=False)
    stall = await _top(db, _last(7, shop.stall.id), "revenue")
    assert [(row.title, row.units, row.revenue) for row in stall] == [
        ("Stoneware Mug", 1, Decimal("12.50"))
    ]
    previous_week = await _top(db, Window(*_bounds(TODAY - timedelta(days=8))), "units")
    assert [(row.title, row.orders) for row in previous_week] == [("Linen Shirt", 1)]


def _bounds(day: date, last: date | None = None) -> tuple[Any, Any]:
    period = ReportPeriod(day, last or day)
    return period.since, period.until


async def test_a_period_with_many_orders_shows_the_precomputed_pairs_and_their_window(
    db: AsyncSession, settings: Settings
) -> None:
    shop = await build_shop(db, settings)
    period = ReportPeriod(TODAY - timedelta(days=6), TODAY)
    live = await reports.products_report(db, period, principal=None, currency="USD")
    assert not live.pairs_precomputed
    assert [row.orders for row in live.pairs] == [1]

    # past the threshold, before the nightly count: honest about having nothing yet
    many = await reports.products_report(
        db, period, principal=None, currency="USD", live_pair_orders=0
    )
    assert many.pairs_precomputed
    assert (many.pairs, many.pairs_window) == ([], None)
    assert many.top == live.top  # the top sellers do not depend on it

    # a second order with both products, in the stall: counted the next time pairs are
    await sell(
        db,
        settings,
        await make_customer(db),
        [
            LineRequest(1, variant_id=shop.catalog.shirt.id),
            LineRequest(1, variant_id=shop.catalog.mug.id),
        ],
        when=at(TODAY - timedelta(days=100)),
        channel=shop.stall,
    )
    assert await product_rollups.refresh_pairs(db, today=TODAY) == 3  # every, web, stall
    counted = await reports.products_report(
        db, period, principal=None, currency="USD", live_pair_orders=0
    )
    assert counted.pairs_window is not None
    assert (counted.pairs_window.first, counted.pairs_window.last) == (
        TODAY - timedelta(days=364),
        TODAY,
    )
    [pair] = counted.pairs
    assert pair.orders == 2  # the year's orders, not only the period's
    year = ReportPeriod(TODAY - timedelta(days=364), TODAY)
    assert (
        counted.pairs
        == (await reports.products_report(db, year, principal=None, currency="USD")).pairs
    )
    stall = ReportPeriod(TODAY - timedelta(days=6), TODAY, channel="Market stall")
    in_stall = await reports.products_report(
        db, stall, principal=None, currency="USD", live_pair_orders=0
    )
    assert [row.orders for row in in_stall.pairs] == [1]
    # the recount replaces the rows, it never adds to them
    assert await product_rollups.refresh_pairs(db, today=TODAY) == 3


async def test_the_api_says_where_precomputed_pairs_come_from(
    client: httpx2.AsyncClient,
    db: AsyncSession,
    settings: Settings,
    make_user: MakeUser,
    make_key: MakeKey,
    monkeypatch: Any,
) -> None:
    await build_shop(db, settings)
    await product_rollups.refresh_pairs(db, today=TODAY)
    monkeypatch.setattr(reports, "LIVE_PAIR_ORDERS", 0)
    analyst = await make_user("analyst")
    reader = bearer(await make_key(analyst))
    response = await client.get("/api/v1/reports/products", headers=reader, params=week())
    assert response.status_code == 200, response.text
    window = response.json()["pairs_window"]
    assert window["computed"] is True
    assert window["start"] == str(TODAY - timedelta(days=364))
    assert window["end"] == str(TODAY)
    assert [row["orders"] for row in response.json()["pairs"]] == [1]
    # the page says which days the pairs are of, and when they were counted
    await sign_in(client, analyst)
    page = await client.get("/reports/products", params=week())
    assert page.status_code == 200
    note = page.text.split("data-pairs-window>")[1].split("</p>")[0]
    assert "Too many orders in this period to pair live" in note
    assert (TODAY - timedelta(days=364)).strftime("%d %b %Y") in note
    assert "UTC (counted nightly)" in note


async def test_a_rep_with_own_scope_sees_only_their_customers_products(
    client: httpx2.AsyncClient,
    db: AsyncSession,
    settings: Settings,
    make_user: MakeUser,
    make_key: MakeKey,
) -> None:
    shop = await build_shop(db, settings)  # every order is someone else's customer's
    rep = await reporting_rep(db, make_user)
    mine = await make_customer(db, owner_id=rep.user.id)
    await sell(
        db,
        settings,
        mine,
        [
            LineRequest(3, variant_id=shop.catalog.mug.id),
            LineRequest(1, variant_id=shop.catalog.shirt.id),
        ],
        when=at(TODAY - timedelta(days=1)),
        channel=shop.web,
    )
    await rolled_up(db)  # what the rollup job does once the orders are committed
    headers = bearer(await make_key(rep))
    response = await client.get("/api/v1/reports/products", headers=headers, params=week())
    assert response.status_code == 200, response.text
    result = response.json()
    assert [(r["title"], r["units"], r["revenue"]) for r in result["top"]] == [
        ("Linen Shirt", 1, "40.00"),
        ("Stoneware Mug", 3, "37.50"),
    ]
    assert result["returns"] == []
    assert [r["orders"] for r in result["pairs"]] == [1]
    assert result["pairs_window"] is None
    # the same period for everyone: from the rollup, with the other customers' orders
    everyone = bearer(await make_key(await make_user("analyst")))
    full = (await client.get("/api/v1/reports/products", headers=everyone, params=week())).json()
    assert {r["title"]: r["orders"] for r in full["top"]}["Stoneware Mug"] == 3


def _migrate(url: str, *, down_to: str) -> None:
    """Downgrade to ``down_to``, then upgrade to the head again (as an upgrade from there)."""
    downgrade(url, down_to)
    upgrade(url)


async def _report(db: AsyncSession, first: date, **options: Any) -> tuple[Any, ...]:
    """The products report's tables from ``first`` to today."""
    period = ReportPeriod(first, TODAY, **options)
    report = await reports.products_report(db, period, principal=None, currency="USD")
    return report.top, report.returns, report.pairs


async def test_an_upgraded_database_reads_the_lines_until_the_nightly_job_fills_its_rollup(
    isolated_database: IsolatedDatabase, job_settings: Settings
) -> None:
    """Orders from before migration 0020: the upgrade leaves the product rollup empty, and
    migration 0025 records that it waits for its first fill."""
    settings = job_settings
    long_ago = TODAY - timedelta(days=400)  # the year's whole months come from the monthly rows
    async with isolated_database.database.transaction() as db:
        shop = await build_shop(db, settings)
        await rolled_up(db)
        expected = await product_recomputed(db)
        before = await _report(db, long_ago)
        in_stall = await _report(db, TODAY - timedelta(days=6), channel="Market stall")
        assert before[0]
        await db.execute(text("DELETE FROM product_sales_daily"))
    await isolated_database.database.dispose()
    _migrate(isolated_database.url, down_to="0024")

    async with isolated_database.database.transaction() as db:
        assert await product_monthly(db) == {}
        assert not await product_rollups.filled(db)
        assert await product_rollups.unfilled_since(db) == TODAY - timedelta(days=8)
        # the same tables as before, from the order lines
        assert await _report(db, long_ago) == before
        assert await _report(db, TODAY - timedelta(days=6), channel="Market stall") == in_stall
        # an order meanwhile: its day is rolled up, the rest of the rollup still missing
        await sell(
            db,
            settings,
            await make_customer(db),
            [LineRequest(1, variant_id=shop.catalog.mug.id)],
            when=at(TODAY),
            channel=shop.stall,
        )
        await rolled_up(db)
        expected = await product_recomputed(db)
        assert await product_rollup(db) != expected
        assert not await product_rollups.filled(db)
        now = await _report(db, long_ago)
        assert {row.title: row.orders for row in now[0]}["Stoneware Mug"] == 3

    await rollup_nightly(timestamp=int(utcnow().timestamp()))
    async with isolated_database.database.transaction() as db:
        assert await product_rollup(db) == expected
        assert await product_monthly(db) == by_month(expected)
        assert await product_rollups.filled(db)
        assert await product_rollups.unfilled_since(db) is None
        assert await _report(db, long_ago) == now  # now from the rollup
        assert await repository.pairs_window(db) is not None
        kept = await repository.kept_pairs(db, channel_id=None, limit=10)
        assert [pair.orders for pair in kept] == [1]


async def test_an_upgrade_with_a_filled_rollup_or_no_orders_has_nothing_to_wait_for(
    isolated_database: IsolatedDatabase, tmp_path: Path
) -> None:
    _migrate(isolated_database.url, down_to="0024")  # no orders yet
    async with isolated_database.database.transaction() as db:
        assert await product_rollups.filled(db)
        await build_shop(db, make_settings(isolated_database.url, tmp_path))
        await rolled_up(db)
        expected = await product_recomputed(db)
        await db.execute(text("DELETE FROM product_sales_monthly"))
    await isolated_database.database.dispose()
    _migrate(isolated_database.url, down_to="0024")  # the rollup kept since the first order
    async with isolated_database.database.transaction() as db:
        assert await product_rollups.filled(db)
        assert await product_monthly(db) == by_month(expected)  # filled by the migration
