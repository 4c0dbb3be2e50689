"""Sales and product reports: exact figures on a hand-built shop, the daily rollup kept equal
to the orders through every change, CSV downloads, filters and permissions."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from patron.analytics import customer_rollups, rollups, staff_rollups
from patron.analytics.sales.tasks import rollup_nightly
from patron.audit.service import SYSTEM
from patron.cli import app as cli
from patron.config import Settings, get_settings
from patron.db.engine import Database
from patron.demo_shop.seed import seed_shop
from patron.errors import InvalidInput
from patron.kit.time import utcnow
from patron.models import (
    Channel,
    Customer,
    CustomerEventDay,
    CustomerEventRecent,
    Order,
    OrderReturn,
    Refund,
    SalesDaily,
)
from patron.models.reports import ALL_CHANNELS
from patron.orders import service as orders
from patron.orders.service import LineRequest, ReturnLineRequest
from tests.conftest import IsolatedDatabase, MakeKey, MakeUser, bearer, make_settings, sign_in
from tests.shop import Catalog, make_catalog, make_customer

Json = dict[str, Any]
TODAY = utcnow().date()
MUG = Decimal("12.50")


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


async def sell(
    db: AsyncSession,
    settings: Settings,
    customer: Customer,
    lines: list[LineRequest],
    *,
    when: datetime,
    channel: Channel | None = None,
    currency: str | None = None,
    exchange_rate: Decimal | None = None,
    discounts: tuple[tuple[str, Decimal], ...] = (),
    shipping: str = "0",
    tax: str = "0",
    paid: bool = True,
) -> Order:
    order = await orders.place_order(
        db,
        settings,
        actor=SYSTEM,
        customer=customer,
        lines=lines,
        channel=channel,
        placed_at=when,
        currency=currency,
        exchange_rate=exchange_rate,
        discounts=discounts,
        shipping_total=Decimal(shipping),
        tax_total=Decimal(tax),
    )
    if paid:
        await orders.record_payment(
            db, order, actor=SYSTEM, gateway="stripe", amount=order.total, currency=order.currency
        )
    return order


async def rolled_up(db: AsyncSession) -> None:
    """What the ``reports.rollup_queued`` job does once the changes are committed: recompute
    the rollup rows they queued and add their customer rollup changes to the sums (here in
    the test's own transaction)."""
    await rollups.take_queued(db, limit=10_000)
    await customer_rollups.fold_changes(db, limit=10_000)
    await staff_rollups.fold_changes(db, limit=10_000)


async def channel(db: AsyncSession, name: str) -> Channel:
    return await orders.create_channel(db, actor=SYSTEM, name=name, kind="online_store")


@dataclass
class Shop:
    web: Channel
    stall: Channel
    catalog: Catalog
    shirt_order: Order
    refunded_order: Order


async def build_shop(db: AsyncSession, settings: Settings) -> Shop:
    """Last week (today − 6 to today) in two channels, and one order the week before.

    today − 2: web 2 shirts + 1 mug + 5.00 shipping = 97.50; stall 1 mug − 2.50 = 10.00
    today − 1: web 1 gift card of 20.00 EUR at 1.5 = 30.00; a cancelled web shirt (40.00);
               12.50 refunded on the 97.50 order
    today:     a return of the gift card (1 unit)
    today − 8: web 1 shirt = 40.00 (the previous period)
    """
    web, stall = await channel(db, "Web shop"), await channel(db, "Market stall")
    catalog = await make_catalog(db, settings)
    ada = await make_customer(db)
    shirt, mug = catalog.shirt, catalog.mug
    big = await sell(
        db,
        settings,
        ada,
        [LineRequest(2, variant_id=shirt.id), LineRequest(1, variant_id=mug.id)],
        when=at(TODAY - timedelta(days=2), 10),
        channel=web,
        shipping="5.00",
    )
    await sell(
        db,
        settings,
        ada,
        [LineRequest(1, variant_id=mug.id)],
        when=at(TODAY - timedelta(days=2), 23, 30),
        channel=stall,
        discounts=(("SAVE", Decimal("2.50")),),
    )
    gift = await sell(
        db,
        settings,
        ada,
        [LineRequest(1, title="Gift card", unit_price=Decimal("20.00"))],
        when=at(TODAY - timedelta(days=1), 9),
        channel=web,
        currency="EUR",
        exchange_rate=Decimal("1.5"),
    )
    cancelled = await sell(
        db,
        settings,
        ada,
        [LineRequest(1, variant_id=shirt.id)],
        when=at(TODAY - timedelta(days=1), 11),
        channel=web,
    )
    await orders.cancel_order(db, settings, cancelled, actor=SYSTEM, reason="changed mind")
    await orders.record_refund(
        db,
        settings,
        big,
        actor=SYSTEM,
        amount=Decimal("12.50"),
        processed_at=at(TODAY - timedelta(days=1), 15),
    )
    [gift_line] = (
        await db.execute(text("SELECT id FROM order_line WHERE order_id = :id"), {"id": gift.id})
    ).scalars()
    await orders.create_return(
        db, settings, gift, actor=SYSTEM, lines=[ReturnLineRequest(gift_line, 1)]
    )
    before = await sell(
        db,
        settings,
        ada,
        [LineRequest(1, variant_id=shirt.id)],
        when=at(TODAY - timedelta(days=8)),
        channel=web,
    )
    await rolled_up(db)
    return Shop(web, stall, catalog, before, big)


@pytest.fixture
async def reader(make_user: MakeUser, make_key: MakeKey) -> dict[str, str]:
    return bearer(await make_key(await make_user("analyst")))


def week() -> dict[str, str]:
    return {"from": str(TODAY - timedelta(days=6)), "to": str(TODAY)}


async def report(client: httpx2.AsyncClient, headers: dict[str, str], **params: str) -> Json:
    response = await client.get("/api/v1/reports/sales", headers=headers, params=params)
    assert response.status_code == 200, response.text
    result: Json = response.json()
    return result


def bucket(result: Json, day: date) -> Json:
    found: list[Json] = [b for b in result["buckets"] if b["start"] == str(day)]
    assert len(found) == 1
    return found[0]


# -- the sales report ------------------------------------------------------------------------


async def test_the_sales_report_adds_up_orders_refunds_and_returns_per_day(
    client: httpx2.AsyncClient, reader: dict[str, str], db: AsyncSession, settings: Settings
) -> None:
    await build_shop(db, settings)
    result = await report(client, reader, **week())

    totals = result["totals"]
    assert totals["orders"] == 3  # the cancelled order counts nowhere
    assert totals["gross_sales"] == "135.00"
    assert totals["discounts"] == "2.50"
    assert totals["shipping"] == "5.00"
    assert totals["revenue"] == "137.50"
    assert totals["refunds"] == "12.50"
    assert totals["net_revenue"] == "125.00"
    assert totals["units"] == 5
    assert (totals["returns"], totals["returned_units"]) == (1, 1)
    assert totals["average_order_value"] == "45.83"
    assert result["currency"] == settings.currency

    assert len(result["buckets"]) == 7
    two_days_ago = bucket(result, TODAY - timedelta(days=2))
    assert (two_days_ago["orders"], two_days_ago["revenue"]) == (2, "107.50")
    yesterday = bucket(result, TODAY - timedelta(days=1))
    assert (yesterday["orders"], yesterday["revenue"], yesterday["refunds"]) == (
        1,
        "30.00",
        "12.50",
    )
    assert yesterday["net_revenue"] == "17.50"
    assert bucket(result, TODAY)["returns"] == 1
    quiet = bucket(result, TODAY - timedelta(days=5))
    assert (quiet["orders"], quiet["revenue"], quiet["average_order_value"]) == (0, "0.00", "0.00")


async def test_it_compares_with_the_previous_period_without_dividing_by_zero(
    client: httpx2.AsyncClient, reader: dict[str, str], db: AsyncSession, settings: Settings
) -> None:
    await build_shop(db, settings)
    result = await report(client, reader, **week())

    previous = result["previous_period"]
    assert (previous["from"], previous["to"]) == (
        str(TODAY - timedelta(days=13)),
        str(TODAY - timedelta(days=7)),
    )
    assert result["previous_totals"]["revenue"] == "40.00"
    revenue = result["changes"]["revenue"]
    assert (revenue["absolute"], revenue["percent"], revenue["direction"]) == (
        "97.50",
        "243.8",
        "up",
    )
    assert result["changes"]["orders"]["percent"] == "200.0"
    returns = result["changes"]["returns"]
    assert (returns["previous"], returns["percent"], returns["direction"]) == ("0", None, "up")


async def test_it_breaks_sales_down_by_channel_and_filters_on_one(
    client: httpx2.AsyncClient, reader: dict[str, str], db: AsyncSession, settings: Settings
) -> None:
    shop = await build_shop(db, settings)
    result = await report(client, reader, **week())
    by_name = {row["name"]: row for row in result["channels"]}
    assert [row["name"] for row in result["channels"]] == ["Web shop", "Market stall"]
    assert (by_name["Web shop"]["orders"], by_name["Web shop"]["revenue"]) == (2, "127.50")
    assert (by_name["Market stall"]["orders"], by_name["Market stall"]["revenue"]) == (1, "10.00")

    stall = await report(client, reader, **week(), channel=str(shop.stall.id))
    assert (stall["totals"]["orders"], stall["totals"]["revenue"]) == (1, "10.00")
    assert stall["totals"]["refunds"] == "0.00"
    by_name_only = await report(client, reader, **week(), channel="market STALL")
    assert by_name_only["totals"] == stall["totals"]


async def test_weeks_start_on_monday_and_months_on_the_first_with_empty_ones_as_zero(
    client: httpx2.AsyncClient, reader: dict[str, str], db: AsyncSession, settings: Settings
) -> None:
    catalog = await make_catalog(db, settings)
    ada = await make_customer(db)
    shirt = [LineRequest(1, variant_id=catalog.shirt.id)]
    for day in (date(2026, 1, 7), date(2026, 1, 11), date(2026, 1, 12), date(2026, 2, 3)):
        await sell(db, settings, ada, shirt, when=at(day))
    await rolled_up(db)

    weeks = await report(client, reader, **{"from": "2026-01-07", "to": "2026-01-20"}, grain="week")
    assert [(b["start"], b["orders"]) for b in weeks["buckets"]] == [
        ("2026-01-05", 2),
        ("2026-01-12", 1),
        ("2026-01-19", 0),
    ]
    months = await report(
        client, reader, **{"from": "2026-01-15", "to": "2026-03-10"}, grain="month"
    )
    assert [(b["start"], b["orders"], b["revenue"]) for b in months["buckets"]] == [
        ("2026-01-01", 0, "0.00"),
        ("2026-02-01", 1, "40.00"),
        ("2026-03-01", 0, "0.00"),
    ]


async def test_an_empty_period_reports_zeros(
    client: httpx2.AsyncClient, reader: dict[str, str]
) -> None:
    result = await report(client, reader, **{"from": "2020-02-01", "to": "2020-02-29"})
    assert result["totals"]["orders"] == 0
    assert result["totals"]["revenue"] == "0.00"
    assert len(result["buckets"]) == 29
    assert result["channels"] == []
    assert result["changes"]["revenue"]["percent"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-03-01", "to": "2026-02-01"}, "from"),
        ({"grain": "hour"}, "grain"),
        ({"channel": "nowhere"}, "channel"),
    ],
)
async def test_it_refuses_a_bad_period_with_a_clear_error(
    client: httpx2.AsyncClient, reader: dict[str, str], params: dict[str, str], field: str
) -> None:
    for path in ("/api/v1/reports/sales", "/api/v1/reports/sales.csv", "/api/v1/reports/products"):
        response = await client.get(path, headers=reader, params=params)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_period"
        assert error["details"][0]["field"] == field


async def test_it_refuses_people_without_reports_read(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    support = bearer(await make_key(await make_user("support")))
    for path in ("/api/v1/reports/sales", "/api/v1/reports/products.csv"):
        response = await client.get(path, headers=support)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "missing_scope"


# -- CSV -------------------------------------------------------------------------------------


def rows_of(response: httpx2.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    return list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))


async def test_the_sales_csv_has_one_row_per_bucket_or_channel(
    client: httpx2.AsyncClient, reader: dict[str, str], db: AsyncSession, settings: Settings
) -> None:
    await build_shop(db, settings)
    days = rows_of(await client.get("/api/v1/reports/sales.csv", headers=reader, params=week()))
    assert len(days) == 7
    [row] = [r for r in days if r["day"] == str(TODAY - timedelta(days=2))]
    assert (row["orders"], row["revenue"], row["units"], row["currency"]) == (
        "2",
        "107.50",
        "4",
        settings.currency,
    )
    channels = rows_of(
        await client.get(
            "/api/v1/reports/sales.csv", headers=reader, params={**week(), "table": "channels"}
        )
    )
    assert [(r["channel"], r["net_revenue"]) for r in channels] == [
        ("Web shop", "115.00"),
        ("Market stall", "10.00"),
    ]


# -- products ----------------------------------------------------------------------------------


async def test_the_products_report_ranks_sellers_return_rates_and_pairs(
    client: httpx2.AsyncClient, reader: dict[str, str], db: AsyncSession, settings: Settings
) -> None:
    shop = await build_shop(db, settings)
    response = await client.get("/api/v1/reports/products", headers=reader, params=week())
    assert response.status_code == 200, response.text
    result = response.json()
    assert [(r["title"], r["units"], r["revenue"], r["orders"]) for r in result["top"]] == [
        ("Linen Shirt", 2, "80.00", 1),
        ("Gift card", 1, "30.00", 1),
        ("Stoneware Mug", 2, "25.00", 2),
    ]
    by_units = await client.get(
        "/api/v1/reports/products", headers=reader, params={**week(), "sort": "units"}
    )
    assert [r["title"] for r in by_units.json()["top"]] == [
        "Linen Shirt",
        "Stoneware Mug",
        "Gift card",
    ]
    assert result["returns"] == [
        {"product_id": None, "title": "Gift card", "sold": 1, "returned": 1, "return_rate": "100.0"}
    ]
    [pair] = result["pairs"]
    assert {pair["first_title"], pair["second_title"]} == {"Linen Shirt", "Stoneware Mug"}
    assert pair["orders"] == 1
    assert {pair["first_product_id"], pair["second_product_id"]} == {
        str(shop.catalog.shirt.product_id),
        str(shop.catalog.mug.product_id),
    }


async def test_each_products_table_downloads_as_csv(
    client: httpx2.AsyncClient, reader: dict[str, str], db: AsyncSession, settings: Settings
) -> None:
    await build_shop(db, settings)
    path = "/api/v1/reports/products.csv"
    top = rows_of(await client.get(path, headers=reader, params=week()))
    assert (top[0]["product"], top[0]["units"], top[0]["revenue"]) == (
        "Linen Shirt",
        "2",
        "80.00",
    )
    returns = rows_of(await client.get(path, headers=reader, params={**week(), "table": "returns"}))
    assert [(r["product"], r["return_rate_percent"]) for r in returns] == [("Gift card", "100.0")]
    pairs = rows_of(await client.get(path, headers=reader, params={**week(), "table": "pairs"}))
    assert [r["orders"] for r in pairs] == ["1"]
    wrong = await client.get(path, headers=reader, params={"table": "everything"})
    assert wrong.status_code == 422


async def test_an_empty_products_report_has_empty_tables(
    client: httpx2.AsyncClient, reader: dict[str, str]
) -> None:
    response = await client.get(
        "/api/v1/reports/products",
        headers=reader,
        params={"from": "2020-01-01", "to": "2020-01-31"},
    )
    assert response.json() | {"period": None} == {
        "period": None,
        "currency": "USD",
        "top": [],
        "returns": [],
        "pairs": [],
        "pairs_window": None,
    }


# -- the rollup ------------------------------------------------------------------------------


Figures = dict[tuple[date, uuid.UUID | None, str], tuple[Any, ...]]


async def rollup(db: AsyncSession) -> Figures:
    rows = await db.scalars(select(SalesDaily).execution_options(populate_existing=True))
    return {
        (r.day, r.channel_id, r.currency): (
            r.orders_count,
            r.gross_sales,
            r.discounts,
            r.shipping,
            r.tax,
            r.gross_revenue,
            r.refunds,
            r.net_revenue,
            r.units,
            r.returns_count,
            r.returned_units,
        )
        for r in rows
        if r.orders_count or r.refunds or r.returns_count
    }


async def recomputed(db: AsyncSession) -> Figures:
    """The rollup as a plain reading of the orders, refunds and returns."""
    cent = Decimal("0.01")
    sums: dict[tuple[date, uuid.UUID | None, str], list[Any]] = {}

    def entry(day: date, order: Order) -> list[Any]:
        zero = Decimal(0)
        return sums.setdefault(
            (day, order.channel_id, order.currency),
            [0, zero, zero, zero, zero, zero, zero, zero, 0, 0, 0],
        )

    live = {
        o.id: o
        for o in await db.scalars(
            select(Order)
            .where(Order.cancelled_at.is_(None))
            .execution_options(populate_existing=True)
        )
    }
    for o in live.values():
        row = entry(o.placed_at.astimezone(UTC).date(), o)
        row[0] += 1
        for index, amount in enumerate(
            (o.subtotal, o.discount_total, o.shipping_total, o.tax_total, o.total), start=1
        ):
            row[index] += amount * o.exchange_rate
        row[8] += o.items_count
    for refund in await db.scalars(select(Refund)):
        if refund.order_id in live:
            order = live[refund.order_id]
            entry(refund.processed_at.astimezone(UTC).date(), order)[6] += (
                refund.amount * order.exchange_rate
            )
    units: dict[uuid.UUID, int] = dict(
        (
            await db.execute(
                text("SELECT return_id, sum(quantity) FROM return_line GROUP BY return_id")
            )
        ).all()
    )
    for back in await db.scalars(select(OrderReturn).execution_options(populate_existing=True)):
        if back.order_id in live and back.status != "rejected":
            row = entry(back.created_at.astimezone(UTC).date(), live[back.order_id])
            row[9] += 1
            row[10] += int(units.get(back.id, 0))
    result: Figures = {}
    for key, row in sums.items():
        # PostgreSQL's round() takes halves away from zero
        money = [Decimal(v).quantize(cent, rounding=ROUND_HALF_UP) for v in row[1:8]]
        money[6] = money[4] - money[5]  # net = revenue − refunds, of the rounded figures
        result[key] = (row[0], *money, row[8], row[9], row[10])
    return result


Change = tuple[str, int, int, int]
changes = st.lists(
    st.tuples(
        st.sampled_from(["place", "cancel", "refund", "return", "reject", "refund_return"]),
        st.integers(0, 9),  # which order (of those placed so far)
        st.integers(0, 40),  # days ago
        st.integers(0, 2),  # channel: none, web, stall
    ),
    min_size=1,
    max_size=12,
)


async def apply_changes(db: AsyncSession, settings: Settings, steps: list[Change]) -> None:
    """Place, cancel, refund and return orders as the steps say (shared by the rollup
    property tests)."""
    catalog = await make_catalog(db, settings)
    channels = [None, await channel(db, "Web"), await channel(db, "Stall")]
    customer = await make_customer(db)
    placed: list[Order] = []
    for action, which, days_ago, channel_index in steps:
        if action == "place" or not placed:
            euro = channel_index == 2 and days_ago % 2 == 0
            placed.append(
                await sell(
                    db,
                    settings,
                    customer,
                    [
                        LineRequest(
                            1 + which % 3,
                            variant_id=catalog.shirt.id,
                            unit_price=Decimal("40.00"),
                        ),
                        LineRequest(1, title="Card", unit_price=Decimal("3.33")),
                        *(
                            [LineRequest(1, variant_id=catalog.mug.id, unit_price=MUG)]
                            if which % 2
                            else []
                        ),
                    ],
                    when=at(TODAY - timedelta(days=days_ago), which * 2),
                    channel=channels[channel_index],
                    currency="EUR" if euro else None,
                    exchange_rate=Decimal("1.0833") if euro else None,
                    shipping=str(days_ago % 4),
                )
            )
            continue
        order = placed[which % len(placed)]
        await db.refresh(order)
        if order.cancelled_at is not None:
            continue
        if action == "cancel":
            await orders.cancel_order(db, settings, order, actor=SYSTEM)
        elif action == "refund" and await orders.refundable(db, order) >= 1:
            await orders.record_refund(
                db,
                settings,
                order,
                actor=SYSTEM,
                amount=Decimal("1.00"),
                processed_at=at(TODAY - timedelta(days=days_ago % 3)),
            )
        elif action in ("return", "reject", "refund_return"):
            line_id = await db.scalar(
                text("SELECT id FROM order_line WHERE order_id = :id ORDER BY position"),
                {"id": order.id},
            )
            try:
                async with db.begin_nested():
                    back = await orders.create_return(
                        db,
                        settings,
                        order,
                        actor=SYSTEM,
                        lines=[ReturnLineRequest(line_id, 1)],
                    )
            except InvalidInput:  # every unit already on its way back
                continue
            if action == "reject":
                await orders.transition_return(
                    db, settings, order, back, actor=SYSTEM, status="rejected"
                )
            elif action == "refund_return":
                for status in ("approved", "received", "refunded"):
                    await orders.transition_return(
                        db, settings, order, back, actor=SYSTEM, status=status
                    )


def rollup_examples(count: int) -> examples:
    """Hypothesis settings of the rollup property tests (a database per example is slow)."""
    return examples(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
    )


@rollup_examples(25)
@given(steps=changes)
async def test_the_rollup_always_equals_a_recomputation_from_the_orders(
    steps: list[Change],
    db: AsyncSession,
    settings: Settings,
) -> None:
    savepoint = await db.begin_nested()
    try:
        await apply_changes(db, settings, steps)
        expected = await recomputed(db)
        await rolled_up(db)
        assert await rollup(db) == expected
        # a rebuild of the whole range changes nothing: recomputing is idempotent
        await rollups.rebuild(db, first=TODAY - timedelta(days=60), last=TODAY)
        assert await rollup(db) == expected
    finally:
        await savepoint.rollback()


async def test_a_rebuild_repairs_a_damaged_rollup_and_zeroes_days_without_sales(
    db: AsyncSession, settings: Settings
) -> None:
    await build_shop(db, settings)
    good = await rollup(db)
    await db.execute(text("UPDATE sales_daily SET orders_count = orders_count + 5, refunds = 99"))
    await db.execute(
        text(
            "INSERT INTO sales_daily (day, currency, orders_count, gross_revenue)"
            " VALUES (:day, 'USD', 4, 100)"
        ),
        {"day": TODAY - timedelta(days=20)},
    )
    await rollups.rebuild(db, first=TODAY - timedelta(days=30), last=TODAY)
    assert await rollup(db) == good


async def test_a_database_with_orders_but_no_rollup_is_filled_from_its_first_order(
    db: AsyncSession, settings: Settings
) -> None:
    assert await rollups.unfilled_since(db) is None
    await build_shop(db, settings)
    await db.execute(text("DELETE FROM sales_daily"))
    assert await rollups.unfilled_since(db) == TODAY - timedelta(days=8)
    await rollups.rebuild(db, first=TODAY - timedelta(days=8), last=TODAY)
    assert await rollups.unfilled_since(db) is None
    assert sum(row[0] for row in (await rollup(db)).values()) == 4


# -- the nightly job and the CLI ---------------------------------------------------------------


async def _shop_without_rollup(target: IsolatedDatabase, settings: Settings) -> Figures:
    """Orders in a database, then the rollup emptied as if they predated it; returns what
    the rollup should say."""
    async with target.database.transaction() as db:
        await build_shop(db, settings)
        expected = await rollup(db)
        await db.execute(text("DELETE FROM sales_daily"))
    return expected


async def _rollup_of(target: IsolatedDatabase) -> Figures:
    async with target.database.transaction() as db:
        return await rollup(db)


async def test_the_nightly_job_fills_a_rollup_that_predates_the_orders_and_repairs_recent_days(
    isolated_database: IsolatedDatabase, job_settings: Settings
) -> None:
    settings = job_settings
    expected = await _shop_without_rollup(isolated_database, settings)

    await rollup_nightly(timestamp=int(utcnow().timestamp()))
    assert await _rollup_of(isolated_database) == expected

    async with isolated_database.database.transaction() as db:
        await db.execute(
            text("UPDATE sales_daily SET orders_count = 99 WHERE day >= :recent"),
            {"recent": TODAY - timedelta(days=6)},
        )
    await rollup_nightly(timestamp=int(utcnow().timestamp()))
    assert await _rollup_of(isolated_database) == expected


def test_patron_reports_rebuild_recomputes_a_range_and_refuses_bad_dates(
    isolated_database: IsolatedDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(isolated_database.url, tmp_path)
    expected = asyncio.run(_shop_without_rollup(isolated_database, settings))
    monkeypatch.setenv("PATRON_DATABASE_URL", isolated_database.url)
    monkeypatch.setenv("PATRON_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PATRON_SECRET_KEY", "cli-secret-key-" + "x" * 40)
    get_settings.cache_clear()
    try:
        refused = CliRunner().invoke(cli, ["reports", "rebuild", "--from", "2026-02-30"])
        assert refused.exit_code == 1
        assert "write from as YYYY-MM-DD. (invalid_period)" in refused.output

        one_day = str(TODAY - timedelta(days=2))
        result = CliRunner().invoke(cli, ["reports", "rebuild", "--from", one_day, "--to", one_day])
        assert result.exit_code == 0, result.output
        assert (
            "Rebuilt 2 day, channel and currency row(s) of the sales and product" in result.output
        )
        assert set(asyncio.run(_rollup_of(isolated_database))) == {
            key for key in expected if key[0] == TODAY - timedelta(days=2)
        }

        asyncio.run(_stray_event_rollups(isolated_database))
        everything = CliRunner().invoke(cli, ["reports", "rebuild"])
        assert everything.exit_code == 0, everything.output
        assert "Rebuilt the event rollups" in everything.output
    finally:
        get_settings.cache_clear()
    assert asyncio.run(_rollup_of(isolated_database)) == expected
    assert asyncio.run(_stray_event_rollups(isolated_database, add=False)) == 0


async def _stray_event_rollups(target: IsolatedDatabase, *, add: bool = True) -> int:
    """Event rollup rows of a customer without events (added, or counted after a rebuild)."""
    stray = uuid.UUID(int=7)
    async with target.database.transaction() as db:
        if add:
            await db.execute(
                insert(CustomerEventDay).values(name="x", day=TODAY, customer_id=stray, n=3)
            )
            await db.execute(
                insert(CustomerEventRecent).values(name="x", customer_id=stray, recent=[utcnow()])
            )
        found = 0
        for table in (CustomerEventDay, CustomerEventRecent):
            query = select(func.count()).select_from(table).where(table.customer_id == stray)
            found += int(await db.scalar(query) or 0)
        return found


async def test_the_demo_shop_comes_with_its_rollup_filled(
    db: AsyncSession, settings: Settings
) -> None:
    summary = await seed_shop(db, settings, customers=40, seed=5)
    assert summary.created
    expected = await recomputed(db)
    assert expected
    assert await rollup(db) == expected


# a line without a product: no stock row for the two transactions to queue on
GIFT = [LineRequest(1, title="Gift card", unit_price=Decimal("25.00"))]


async def test_two_orders_of_one_day_placed_at_once_neither_waits_and_both_count(
    isolated_database: IsolatedDatabase, job_settings: Settings
) -> None:
    """The second transaction commits while the first one (same day and channel) is still
    open: order changes only queue their day; the job then counts both committed orders."""
    settings = job_settings
    database = isolated_database.database
    async with database.transaction() as db:
        web = await channel(db, "Web shop")
        first, second = await make_customer(db), await make_customer(db)
    when = at(TODAY - timedelta(days=1))

    async def place(customer: Customer) -> None:
        async with database.transaction() as db:
            await sell(db, settings, customer, GIFT, when=when, channel=web)

    async with database.transaction() as db:
        await sell(db, settings, first, GIFT, when=when, channel=web)
        # committed while the first order's transaction is open (no wait for its day, nor for
        # the customer rollup rows of a first order that day)
        await asyncio.wait_for(place(second), timeout=10)
        # the job meanwhile recomputes the committed order, not the one still being written:
        # its day's key and its two customer facts (across channels and in its own)
        assert await rollups.refresh_queued() == 1 + 2
    async with database.transaction() as db:
        assert (await db.execute(text("SELECT orders_count FROM sales_daily"))).scalar() == 1
        assert await new_customers(db) == (1, 1)

    assert await rollups.refresh_queued() == 1 + 2  # the first order's, queued at its commit
    assert await rollups.refresh_queued() == 0  # taken once
    async with database.transaction() as db:
        [(count, revenue)] = (
            await db.execute(text("SELECT orders_count, gross_revenue FROM sales_daily"))
        ).all()
        assert await db.scalar(text("SELECT count(*) FROM rollup_queue")) == 0
        assert await db.scalar(text("SELECT count(*) FROM customer_rollup_change")) == 0
        assert await new_customers(db) == (2, 2)
    assert (count, revenue) == (2, Decimal("50.00"))


# the first orders across every channel: in customer_orders_daily, and the cohorts' customers
NEW_CUSTOMERS = text(
    "SELECT (SELECT sum(orders) FROM customer_orders_daily WHERE seq = 1 AND channel_key = :all),"
    " (SELECT sum(customers) FROM customer_cohort_daily WHERE channel_key = :all)"
)


async def new_customers(db: AsyncSession) -> tuple[int, int]:
    found = (await db.execute(NEW_CUSTOMERS, {"all": ALL_CHANNELS})).one()
    return int(found[0] or 0), int(found[1] or 0)


async def test_a_products_report_slower_than_the_timeout_is_refused_with_a_clear_error(
    client: httpx2.AsyncClient,
    database: Database,
    settings: Settings,
    reader: dict[str, str],
    make_user: MakeUser,
) -> None:
    settings.report_timeout_seconds = 0.2
    # another transaction holds the order lines, so the report's query over them (the pairs of
    # a period with few orders) waits until PostgreSQL cancels it (a statement timeout counts
    # the time spent waiting)
    async with database.engine.connect() as other:
        await other.execute(text("SET LOCAL lock_timeout = '10s'"))
        await other.execute(text("LOCK TABLE order_line IN ACCESS EXCLUSIVE MODE"))
        api = await client.get("/api/v1/reports/products", headers=reader, params=week())
        download = await client.get("/api/v1/reports/products.csv", headers=reader, params=week())
        await sign_in(client, await make_user("analyst"))
        page = await client.get("/reports/products", params=week())
        await other.rollback()
    for refused in (api, download):
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "report_timeout"
        assert "longer than 0.2 s" in refused.json()["error"]["message"]
        assert refused.headers["retry-after"] == "30"
    assert page.status_code == 503
    assert 'data-error="report_timeout"' in page.text
    assert "choose a shorter period or try again later" in page.text

    settings.report_timeout_seconds = 30
    answered = await client.get("/api/v1/reports/products", headers=reader, params=week())
    assert answered.status_code == 200, answered.text
