"""The demo shop: a deterministic generator, and a seeded shop whose figures all add up."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import phonenumbers
import psycopg
import pytest
from sqlalchemy import Computed, text
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from patron.cli import app
from patron.config import ConfigurationError, Settings, get_settings
from patron.customers import metrics
from patron.db.base import Base
from patron.db.engine import libpq_url
from patron.demo_shop.generator import ShopGenerator
from patron.demo_shop.seed import seed_shop
from patron.demo_shop.shop import ShopParams
from patron.demo_shop.stream import copy_shop
from patron.demo_shop.tables import TABLES
from patron.kit.contact import normalise_email, normalise_phone
from tests.conftest import TEST_SECRET, IsolatedDatabase, MakeUser

NOW = datetime(2026, 11, 2, 15, 30, tzinfo=UTC)
DEMO_ROLES = ("admin", "manager", "sales", "support")


def generate(**overrides: Any) -> list[dict[str, list[tuple[object, ...]]]]:
    values: dict[str, Any] = {"now": NOW, "customers": 60, **overrides}
    return list(ShopGenerator(ShopParams(**values)).batches())


def test_the_generator_gives_the_same_shop_for_the_same_seed() -> None:
    assert generate(seed=7) == generate(seed=7)
    assert generate(seed=7) != generate(seed=8)


def test_every_generated_row_fits_its_table() -> None:
    for name, columns in TABLES.items():
        table = Base.metadata.tables[name]
        assert set(columns) <= set(table.columns.keys()), name
        required = {
            column.name
            for column in table.columns
            if not column.nullable
            and column.server_default is None
            and column.default is None
            and not isinstance(column.computed, Computed)
        }
        assert required <= set(columns), f"{name} misses {required - set(columns)}"
    for batch in generate(customers=30):
        for name, rows in batch.items():
            assert all(len(row) == len(TABLES[name]) for row in rows), name


def test_generated_phones_are_valid_mobile_numbers_of_the_customer_country() -> None:
    columns = TABLES["customer"]
    phone, country = columns.index("phone"), columns.index("country")
    customers = [row for batch in generate(customers=400) for row in batch["customer"]]
    numbers = [(row[phone], row[country]) for row in customers if row[phone]]
    assert len(numbers) > 200
    for number, region in numbers:
        assert isinstance(number, str)
        assert normalise_phone(number) == number
        parsed = phonenumbers.parse(number, None)
        assert phonenumbers.is_valid_number(parsed), number
        assert phonenumbers.region_code_for_number(parsed) == region


def test_order_numbers_follow_the_order_of_time_within_a_batch() -> None:
    columns = TABLES["shop_order"]
    number, placed = columns.index("number"), columns.index("placed_at")
    orders = [row for batch in generate() for row in batch["shop_order"]]
    web = sorted(
        (row for row in orders if str(row[number]).startswith("#")),
        key=lambda row: row[placed],  # type: ignore[arg-type,return-value]
    )
    assert [int(str(row[number])[1:]) for row in web] == list(range(1001, 1001 + len(web)))


# -- a seeded shop -------------------------------------------------------------------------


@pytest.fixture
async def shop(db: AsyncSession, settings: Settings, make_user: MakeUser) -> dict[str, int]:
    for role in DEMO_ROLES:
        persona = await make_user(role, password=None)
        persona.user.is_demo = True
    await db.flush()
    summary = await seed_shop(db, settings, customers=60, seed=11)
    assert summary.created
    return summary.counts


async def rows(db: AsyncSession, sql: str) -> list[Any]:
    return list((await db.execute(text(sql))).all())


async def test_every_order_adds_up(db: AsyncSession, shop: dict[str, int]) -> None:
    assert shop["shop_order"] > 60
    assert not await rows(
        db,
        """SELECT number FROM shop_order
           WHERE subtotal - discount_total + shipping_total + tax_total <> total
              OR refunded_total > total OR total <= 0""",
    )
    assert not await rows(
        db,
        """SELECT o.number FROM shop_order o JOIN order_line l ON l.order_id = o.id
           GROUP BY o.id HAVING sum(l.unit_price * l.quantity) <> o.subtotal
               OR sum(l.discount_total) <> o.discount_total
               OR sum(l.quantity) <> o.items_count
               OR bool_or(l.total <> l.unit_price * l.quantity - l.discount_total)""",
    )
    assert not await rows(
        db,
        """SELECT o.number FROM shop_order o
           LEFT JOIN refund r ON r.order_id = o.id
           GROUP BY o.id HAVING coalesce(sum(r.amount), 0) <> o.refunded_total""",
    )
    # paid orders are covered by a successful payment of their total
    assert not await rows(
        db,
        """SELECT o.number FROM shop_order o
           WHERE o.financial_status IN ('paid', 'partially_refunded', 'refunded')
             AND o.total <> (SELECT coalesce(sum(amount), 0) FROM payment p
                             WHERE p.order_id = o.id AND p.status = 'succeeded')""",
    )
    # nothing has happened in the future
    assert not await rows(
        db,
        """SELECT 1 FROM shop_order WHERE placed_at > now() UNION ALL
           SELECT 1 FROM shipment_event WHERE occurred_at > now() UNION ALL
           SELECT 1 FROM timeline_entry WHERE occurred_at > now()""",
    )
    statuses = {row[0] for row in await rows(db, "SELECT financial_status FROM shop_order")}
    assert {"paid", "partially_refunded"} <= statuses


async def test_metrics_and_stages_are_what_a_recomputation_gives(
    db: AsyncSession, settings: Settings, shop: dict[str, int]
) -> None:
    snapshot = """SELECT c.id, c.lifecycle_stage, m.orders_count, m.total_spent,
                         m.refunded_total, m.average_order_value, m.first_order_at,
                         m.last_order_at, m.items_bought, m.returns_count
                  FROM customer c JOIN customer_metrics m ON m.customer_id = c.id ORDER BY c.id"""
    before = await rows(db, snapshot)
    assert len(before) == 60
    ids = [row[0] for row in before]
    await metrics.refresh(db, settings, ids)
    assert await rows(db, snapshot) == before
    stages = {row[1] for row in before}
    assert len(stages) >= 4
    assert stages & {"lead", "prospect"}
    one_time = [row for row in before if row[2] == 1]
    repeat = [row for row in before if row[2] >= 2]
    assert one_time
    assert repeat
    assert any(row[3] >= Decimal(settings.vip_spent_threshold) for row in before)


async def test_the_product_rollup_is_filled_by_day_and_by_month(
    db: AsyncSession, shop: dict[str, int]
) -> None:
    keys = "month, channel_id, currency, item_key"
    by_day = await rows(
        db,
        f"""SELECT CAST(date_trunc('month', CAST(day AS timestamp)) AS date) AS month,
                  channel_id, currency, item_key, sum(orders_count), sum(units), sum(revenue),
                  sum(returned_units)
           FROM product_sales_daily GROUP BY {keys} ORDER BY {keys}""",
    )
    by_month = await rows(
        db,
        f"""SELECT {keys}, orders_count, units, revenue, returned_units
           FROM product_sales_monthly ORDER BY {keys}""",
    )
    assert len(by_month) > 1
    assert by_month == by_day


async def test_contact_data_is_valid_and_emails_are_unique(
    db: AsyncSession, shop: dict[str, int]
) -> None:
    customers = await rows(db, "SELECT email, phone, country FROM customer")
    emails = [email for email, _, _ in customers if email]
    assert len(emails) == len({email.lower() for email in emails})
    for email in emails:
        assert normalise_email(email) == email
        assert email.split("@")[1].endswith((".example", "example.com", "example.net")) or (
            email.split("@")[1].startswith("example.")
        )
    for _, phone, country in customers:
        if phone:
            assert phonenumbers.region_code_for_number(phonenumbers.parse(phone)) == country


async def test_the_shop_has_something_on_every_page(db: AsyncSession, shop: dict[str, int]) -> None:
    for table in (
        "category",
        "product_variant",
        "customer_address",
        "consent",
        "consent_event",
        "payment",
        "refund",
        "shipment_event",
        "order_return",
        "return_line",
        "customer_external_id",
    ):
        assert shop[table] > 0, table
    carts = {row[0] for row in await rows(db, "SELECT status FROM cart")}
    assert {"abandoned", "recovered"} <= carts
    kinds = {row[0] for row in await rows(db, "SELECT DISTINCT kind FROM timeline_entry")}
    assert {"order_placed", "payment", "shipment", "refund", "return", "consent", "note"} <= kinds
    owners = await rows(
        db,
        """SELECT DISTINCT u.role FROM customer c JOIN staff_user u ON u.id = c.owner_id""",
    )
    assert "sales" in {row[0] for row in owners}
    consents = {row[0] for row in await rows(db, "SELECT status FROM consent")}
    assert {"subscribed", "unsubscribed"} <= consents


async def test_a_shop_is_seeded_only_into_a_database_without_customers(
    db: AsyncSession, settings: Settings, shop: dict[str, int]
) -> None:
    again = await seed_shop(db, settings, customers=5)
    assert not again.created
    count = await db.scalar(text("SELECT count(*) FROM customer"))
    assert count == 60


async def test_the_demo_shop_is_never_made_in_production(
    db: AsyncSession, tmp_path: Path, settings: Settings
) -> None:
    production = settings.model_copy(update={"environment": "production"})
    with pytest.raises(ConfigurationError):
        await seed_shop(db, production, customers=5)
    assert await db.scalar(text("SELECT count(*) FROM customer")) == 0


# -- the COPY loader ---------------------------------------------------------------------

INDEX_COUNT = "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'"
FOREIGN_KEY_COUNT = "SELECT count(*) FROM pg_constraint WHERE contype = 'f'"


def test_the_copy_loader_streams_the_same_rows_and_rebuilds_every_index(
    isolated_database: IsolatedDatabase,
) -> None:
    conninfo = libpq_url(isolated_database.url)
    with psycopg.connect(conninfo) as connection:
        structure = [connection.execute(q).fetchone() for q in (INDEX_COUNT, FOREIGN_KEY_COUNT)]
    params = ShopParams(now=NOW, customers=30, orders=150, batch_size=10)
    expected: dict[str, int] = {}
    for batch in ShopGenerator(params).batches():
        for table, table_rows in batch.items():
            expected[table] = expected.get(table, 0) + len(table_rows)

    stats = copy_shop(conninfo, params)

    assert dict(stats.rows) == {table: n for table, n in expected.items() if n}
    with psycopg.connect(conninfo) as connection:
        assert [connection.execute(q).fetchone() for q in (INDEX_COUNT, FOREIGN_KEY_COUNT)] == (
            structure
        )
        for table, count in expected.items():
            found = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert found == (count,), table
        metrics_rows = connection.execute("SELECT count(*) FROM customer_metrics").fetchone()
        assert metrics_rows == (30,)
        unbalanced = connection.execute(
            "SELECT count(*) FROM shop_order"
            " WHERE subtotal - discount_total + shipping_total + tax_total <> total"
        ).fetchone()
        assert unbalanced == (0,)


# -- the command -------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def cli(
    isolated_database: IsolatedDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[IsolatedDatabase]:
    monkeypatch.setenv("PATRON_DATABASE_URL", isolated_database.url)
    monkeypatch.setenv("PATRON_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PATRON_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("PATRON_DEMO_PASSWORD", "demo passphrase")
    get_settings.cache_clear()
    yield isolated_database
    get_settings.cache_clear()


def test_patron_demo_creates_the_staff_and_the_shop(cli: IsolatedDatabase) -> None:
    result = runner.invoke(app, ["demo", "--customers", "25"])
    assert result.exit_code == 0, result.output
    assert "Demo staff created; password: demo passphrase" in result.output
    assert "Demo shop created: 25 customers" in result.output
    forced = runner.invoke(app, ["demo", "--force"])
    assert forced.exit_code == 0, forced.output
    assert "no demo shop was added" in forced.output


def test_patron_demo_refuses_in_production(
    cli: IsolatedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATRON_ENVIRONMENT", "production")
    get_settings.cache_clear()
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 1
    assert "production" in result.output
