"""A full-scale dataset made inside PostgreSQL: ``INSERT ... SELECT FROM generate_series``.

The demo shop's generator (``bench/dataset.py``) is realistic but Python-bound (tens of
thousands of rows a second): hours for ten million orders. This one writes every row with
set-based statements in bounded chunks, each committed, so a million customers, ten million
orders with their lines and fifty million tracking events load in minutes on a small machine.

Every value is a deterministic function of the row's number (``hashint8`` of it, salted), so
two loads of the same scale hold the same data. Ids are UUIDs with the row's kind and number
in them (``0190KKKK-0000-7000-8000-NNNNNNNNNNNN``), which lets a child row name its parent
without a lookup: order N's customer, line (N, P)'s variant and so on are computed, not joined.

The database is a real migrated Patron database with the demo staff; the loaded tables'
secondary indexes and foreign keys are dropped first and made again at the end (so the final
schema is the migrated one, and every foreign key is checked then). The derived data comes
from Patron's own set-based statements (:func:`patron.demo_shop.finish.statements`: customer
metrics, lifecycle stages, RFM scores, the ``sales_daily`` rollup), then ANALYZE.

What is in it:

- customers: names, unique e-mails, half with a phone, countries skewed (DE 30 %, US 20 %…),
  tags (about one in ten each), created over the 800 days before the load;
- consent: e-mail marketing for three in four customers (subscribed, unsubscribed, pending),
  SMS for one in five;
- a catalog of ``--products`` products (two variants each) in 50 categories;
- orders: 70 % of the customers buy, the first ones far more than the last (a power law),
  each order between its customer's creation and now, 1-3 lines (skewed to popular
  variants, with product, variant and title snapshots), 90 % paid, some refunded or partially
  refunded (with their refund rows), pending or voided (cancelled);
- tracking events spread evenly over the last 365 days: 85 % of a known customer (skewed),
  the rest anonymous; viewed_product (with its category), searched, added_to_cart,
  started_checkout, email_opened, email_clicked. Past months get partitions named and
  bounded as Patron's ``patron_ensure_monthly_partitions`` names them (that function only
  makes the current month and the ones ahead), which is then called for those.
"""

from __future__ import annotations

import argparse
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from bench.dataset import _prepare as prepare_database
from bench.harness import Context, options_of, say, start_report
from bench.report import Figure, Report, load_average
from bench.servers import PostgresServer
from patron.demo_shop import finish
from patron.demo_shop.shop import ShopParams
from patron.demo_shop.stream import defer_indexes, driver_sql, restore_indexes

Progress = Callable[[str], None]

CATEGORIES = (
    "Shoes", "Sneakers", "Boots", "Sandals", "Jackets", "Coats", "Shirts", "T-Shirts",
    "Sweaters", "Hoodies", "Jeans", "Trousers", "Shorts", "Skirts", "Dresses", "Socks",
    "Underwear", "Swimwear", "Sportswear", "Hats", "Scarves", "Gloves", "Belts", "Bags",
    "Backpacks", "Wallets", "Watches", "Jewellery", "Sunglasses", "Umbrellas", "Kitchen",
    "Cookware", "Tableware", "Coffee", "Tea", "Bedding", "Towels", "Lighting", "Candles",
    "Plants", "Garden", "Tools", "Toys", "Books", "Stationery", "Beauty", "Skincare",
    "Fragrance", "Pet Supplies", "Gift Cards",
)  # fmt: skip
FIRST_NAMES = (
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannah", "Ida", "Jonas",
    "Karl", "Lena", "Max", "Nina", "Oskar", "Paula", "Quentin", "Rosa", "Sam", "Tara",
    "Uwe", "Vera", "Walter", "Xenia", "Yusuf", "Zoe", "Liam", "Olivia", "Noah", "Mia",
    "Lucas", "Sofia", "Elias", "Amelia", "Leon", "Ella", "Finn", "Marie", "Paul", "Lea",
)  # fmt: skip
LAST_NAMES = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
    "Schulz", "Hoffmann", "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia",
    "Miller", "Davis", "Martin", "Bernard", "Dubois", "Rossi", "Russo", "Ferrari", "Jansen",
    "de Vries", "Nowak", "Kowalski", "Novak", "Andersson", "Nielsen", "Hansen", "Peeters",
    "Lopez", "Gonzalez", "Wilson", "Taylor", "Moore", "Clark", "Walker",
)  # fmt: skip
# one entry per percent: the skew of the customers' countries
COUNTRIES = (
    ["DE"] * 30 + ["US"] * 20 + ["GB"] * 10 + ["FR"] * 8 + ["NL"] * 6 + ["AT"] * 5
    + ["CH"] * 4 + ["IT"] * 4 + ["ES"] * 4 + ["PL"] * 3 + ["SE"] * 2 + ["DK"] * 2 + ["BE"] * 2
)  # fmt: skip
TAGS = ("newsletter", "wholesale", "vip-club", "b2b", "influencer", "returns-often")
EVENTS = (  # name, cumulative share
    ("viewed_product", 0.55),
    ("searched", 0.70),
    ("added_to_cart", 0.82),
    ("started_checkout", 0.87),
    ("email_opened", 0.97),
    ("email_clicked", 1.0),
)
LOADED_TABLES = (
    "channel", "category", "product", "product_variant", "product_category", "customer",
    "consent", "customer_metrics", "shop_order", "order_line", "refund", "tracking_event",
)  # fmt: skip
BUYERS = 0.7  # share of the customers who ever order
CUSTOMER_DAYS = 800  # customers were created over this many days before the load
EVENT_DAYS = 365


@dataclass(frozen=True)
class Scale:
    customers: int = 1_000_000
    orders: int = 10_000_000
    events: int = 50_000_000
    products: int = 2_000

    def __post_init__(self) -> None:
        if self.customers < 10 or self.products < 50 or self.orders < 0 or self.events < 0:
            raise ValueError("at least 10 customers and 50 products; no negative counts")


@dataclass
class ScaleStats:
    rows: dict[str, int] = field(default_factory=dict)
    insert_seconds: float = 0.0
    derived_seconds: float = 0.0  # metrics, stages, RFM, rollup
    index_seconds: float = 0.0
    analyze_seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def seconds(self) -> float:
        return (
            self.insert_seconds + self.derived_seconds + self.index_seconds + self.analyze_seconds
        )


def _functions(scale: Scale, now: datetime) -> list[sql.Composed]:
    """Session-local helpers (``pg_temp``): nothing is left in the schema."""
    start = now - timedelta(days=CUSTOMER_DAYS)
    event_start = now - timedelta(days=EVENT_DAYS)
    lit = sql.Literal
    values = {
        "customers": lit(scale.customers),
        "products": lit(scale.products),
        "variants": lit(scale.products * 2),
        "events": lit(max(scale.events, 1)),
        "buyers": lit(max(1, int(scale.customers * BUYERS))),
        "start": lit(start),
        "span": lit(timedelta(days=CUSTOMER_DAYS - 30)),
        "now": lit(now),
        "event_start": lit(event_start),
        "event_span": lit(timedelta(days=EVENT_DAYS)),
    }
    texts = [
        # a uniform number in [0, 1) from a row number and a salt
        """CREATE FUNCTION pg_temp.u(n bigint, salt integer) RETURNS float8
           LANGUAGE sql STABLE AS
           $$ SELECT (hashint8(n * 1009 + salt)::bigint & 2147483647)::float8 / 2147483648.0 $$""",
        """CREATE FUNCTION pg_temp.bench_id(kind integer, n bigint) RETURNS uuid
           LANGUAGE sql STABLE AS
           $$ SELECT ('0190' || lpad(to_hex(kind), 4, '0') || '-0000-7000-8000-'
                      || lpad(to_hex(n), 12, '0'))::uuid $$""",
        """CREATE FUNCTION pg_temp.customer_created(k bigint) RETURNS timestamptz
           LANGUAGE sql STABLE AS
           $$ SELECT {start}::timestamptz + {span}::interval * ((k - 1)::float8 / {customers})
           $$""",
        """CREATE FUNCTION pg_temp.buyer(n bigint) RETURNS bigint
           LANGUAGE sql STABLE AS
           $$ SELECT floor({buyers} * power(pg_temp.u(n, 1), 1.6))::bigint $$""",
        # order N's customer: one of the buyers, the first ones far more often
        """CREATE FUNCTION pg_temp.order_customer(n bigint) RETURNS bigint
           LANGUAGE sql STABLE AS
           $$ SELECT least({customers}::bigint,
                           pg_temp.buyer(n) / 7 * 10 + pg_temp.buyer(n) % 7 + 1) $$""",
        """CREATE FUNCTION pg_temp.order_lines(n bigint) RETURNS integer
           LANGUAGE sql STABLE AS $$ SELECT 1 + (hashint8(n * 7 + 2) & 1023) % 3 $$""",
        """CREATE FUNCTION pg_temp.line_variant(n bigint, pos integer) RETURNS bigint
           LANGUAGE sql STABLE AS
           $$ SELECT floor({variants} * power(pg_temp.u(n * 4 + pos, 3), 2))::bigint $$""",
        """CREATE FUNCTION pg_temp.line_quantity(n bigint, pos integer) RETURNS integer
           LANGUAGE sql STABLE AS
           $$ SELECT CASE WHEN pg_temp.u(n * 4 + pos, 4) < 0.15 THEN 2 ELSE 1 END $$""",
        """CREATE FUNCTION pg_temp.variant_price(v bigint) RETURNS numeric
           LANGUAGE sql STABLE AS $$ SELECT (4.99 + (v * 37) % 120)::numeric(12, 2) $$""",
        """CREATE FUNCTION pg_temp.event_customer(n bigint) RETURNS bigint
           LANGUAGE sql STABLE AS
           $$ SELECT 1 + floor({customers} * power(pg_temp.u(n, 6), 1.5))::bigint $$""",
        """CREATE FUNCTION pg_temp.event_at(n bigint) RETURNS timestamptz
           LANGUAGE sql STABLE AS
           $$ SELECT {event_start}::timestamptz + {event_span}::interval
                     * ((n::float8 - 0.5) / {events}) $$""",
    ]
    return [sql.SQL(text).format(**values) for text in texts]


def _chunks(total: int, size: int) -> list[tuple[int, int]]:
    return [(first, min(total, first + size - 1)) for first in range(1, total + 1, size)]


CATALOG = """
INSERT INTO channel (id, name, kind, created_at)
VALUES (pg_temp.bench_id(10, 1), 'Online store', 'online_store', %(start)s),
       (pg_temp.bench_id(10, 2), 'Marketplace', 'marketplace', %(start)s);

INSERT INTO category (id, name, slug, created_at)
SELECT pg_temp.bench_id(1, i - 1), name,
       trim(both '-' from regexp_replace(lower(name), '[^a-z0-9]+', '-', 'g')), %(start)s
FROM unnest(%(categories)s::text[]) WITH ORDINALITY AS c(name, i);

INSERT INTO product (id, title, handle, vendor, product_type, status, created_at, updated_at)
SELECT pg_temp.bench_id(2, p), c[1 + p %% 50] || ' item ' || p, 'item-' || p,
       'Vendor ' || (p %% 40), c[1 + p %% 50], 'active', %(start)s, %(start)s
FROM generate_series(0, %(products)s - 1) p, (SELECT %(categories)s::text[] AS c) names;

INSERT INTO product_variant (id, product_id, title, sku, price, currency, inventory_quantity,
                             status, position, created_at, updated_at)
SELECT pg_temp.bench_id(3, v), pg_temp.bench_id(2, v / 2),
       CASE WHEN v %% 2 = 0 THEN 'Regular' ELSE 'Large' END, 'SKU-' || v,
       pg_temp.variant_price(v), 'EUR', (v * 13) %% 200, 'active', v %% 2, %(start)s, %(start)s
FROM generate_series(0, %(products)s * 2 - 1) v;

INSERT INTO product_category (product_id, category_id)
SELECT pg_temp.bench_id(2, p), pg_temp.bench_id(1, p %% 50)
FROM generate_series(0, %(products)s - 1) p;
"""

CUSTOMERS = """
INSERT INTO customer (id, first_name, last_name, email, phone, locale, country, tags,
                      lifecycle_stage, owner_id, source, created_at, updated_at)
SELECT pg_temp.bench_id(4, k), f, l,
       lower(regexp_replace(f || '.' || l, '[^A-Za-z.]', '', 'g')) || '.' || k || '@example.com',
       CASE WHEN k %% 2 = 0 THEN '+4915' || lpad(k::text, 9, '0') END,
       CASE WHEN country IN ('DE', 'AT', 'CH') THEN 'de' ELSE 'en' END,
       country,
       ARRAY(SELECT t FROM unnest(%(tags)s::text[]) WITH ORDINALITY AS x(t, i)
             WHERE pg_temp.u(k, 20 + i::integer) < 0.1),
       'lead',
       (%(staff)s::uuid[])[1 + k %% greatest(1, cardinality(%(staff)s::uuid[]))],
       'bench', created, created
FROM (
    SELECT k, pg_temp.customer_created(k) AS created,
           (%(first)s::text[])[1 + (hashint8(k * 3 + 1) & 1023) %% %(first_count)s] AS f,
           (%(last)s::text[])[1 + (hashint8(k * 3 + 2) & 1023) %% %(last_count)s] AS l,
           (%(countries)s::text[])[1 + floor(pg_temp.u(k, 10) * 100)::integer] AS country
    FROM generate_series(%(first_row)s::bigint, %(last_row)s) k
) s;

INSERT INTO consent (id, customer_id, channel, purpose, status, changed_at, source)
SELECT pg_temp.bench_id(5, k * 2 + c.i), pg_temp.bench_id(4, k), c.channel, 'marketing',
       CASE WHEN c.channel = 'sms' THEN 'subscribed'
            WHEN pg_temp.u(k, 11) < 0.55 THEN 'subscribed'
            WHEN pg_temp.u(k, 11) < 0.70 THEN 'unsubscribed'
            ELSE 'pending' END,
       pg_temp.customer_created(k), 'bench'
FROM generate_series(%(first_row)s::bigint, %(last_row)s) k,
     (VALUES (0, 'email'), (1, 'sms')) AS c(i, channel)
WHERE (c.channel = 'email' AND pg_temp.u(k, 11) < 0.75)
   OR (c.channel = 'sms' AND pg_temp.u(k, 12) < 0.2);
"""

ORDERS = """
WITH lines AS MATERIALIZED (
    SELECT n, pos, v, q, pg_temp.variant_price(v) AS price
    FROM generate_series(%(first_row)s::bigint, %(last_row)s) n,
         LATERAL generate_series(1, pg_temp.order_lines(n)) pos,
         LATERAL (SELECT pg_temp.line_variant(n, pos) AS v, pg_temp.line_quantity(n, pos) AS q) l
), written AS (
    INSERT INTO order_line (id, order_id, product_id, variant_id, title, variant_title, sku,
                            unit_price, quantity, total, position)
    SELECT pg_temp.bench_id(7, n * 4 + pos), pg_temp.bench_id(6, n), pg_temp.bench_id(2, v / 2),
           pg_temp.bench_id(3, v),
           (%(categories)s::text[])[1 + (v / 2) %% 50] || ' item ' || v / 2,
           CASE WHEN v %% 2 = 0 THEN 'Regular' ELSE 'Large' END, 'SKU-' || v,
           price, q, price * q, pos - 1
    FROM lines
)
INSERT INTO shop_order (id, number, customer_id, channel_id, placed_at, financial_status,
                        fulfillment_status, cancelled_at, cancel_reason, currency, subtotal,
                        shipping_total, total, refunded_total, items_count, created_at,
                        updated_at)
SELECT pg_temp.bench_id(6, n), 'B' || n, pg_temp.bench_id(4, k),
       pg_temp.bench_id(10, 1 + (n %% 5 = 0)::integer), placed,
       status, CASE WHEN status IN ('paid', 'partially_refunded', 'refunded')
                    THEN 'fulfilled' ELSE 'unfulfilled' END,
       CASE WHEN status = 'voided' THEN placed + interval '1 hour' END,
       CASE WHEN status = 'voided' THEN 'customer' ELSE '' END,
       'EUR', subtotal, shipping, subtotal + shipping,
       CASE status WHEN 'refunded' THEN subtotal + shipping
                   WHEN 'partially_refunded' THEN round((subtotal + shipping) * 0.3, 2)
                   ELSE 0 END,
       items, placed, placed
FROM (
    SELECT n, k, subtotal, items,
           created + (%(now)s - created) * pg_temp.u(n, 2) AS placed,
           CASE WHEN subtotal < 50 THEN 4.90 ELSE 0 END AS shipping,
           CASE WHEN s < 0.90 THEN 'paid' WHEN s < 0.93 THEN 'refunded'
                WHEN s < 0.96 THEN 'partially_refunded' WHEN s < 0.985 THEN 'pending'
                ELSE 'voided' END AS status
    FROM (
        SELECT n, k, pg_temp.u(n, 5) AS s, pg_temp.customer_created(k) AS created,
               subtotal, items
        FROM (
            SELECT n, pg_temp.order_customer(n) AS k, sum(price * q) AS subtotal,
                   sum(q) AS items
            FROM lines GROUP BY n
        ) o
    ) a
) b;

INSERT INTO refund (id, order_id, amount, currency, reason, processed_at, created_at)
SELECT pg_temp.bench_id(9, substr(o.number, 2)::bigint), o.id, o.refunded_total, o.currency,
       'customer request', least(o.placed_at + interval '5 days', %(now)s),
       least(o.placed_at + interval '5 days', %(now)s)
FROM shop_order o
WHERE o.id BETWEEN pg_temp.bench_id(6, %(first_row)s) AND pg_temp.bench_id(6, %(last_row)s)
  AND o.refunded_total > 0
"""

EVENT_NAME = (
    "CASE "
    + " ".join(f"WHEN pg_temp.u(n, 8) < {cut} THEN '{name}'" for name, cut in EVENTS[:-1])
    + f" ELSE '{EVENTS[-1][0]}' END"
)
EVENTS_SQL = """
INSERT INTO tracking_event (occurred_at, id, received_at, customer_id, anonymous_id, name,
                            properties, source)
SELECT at, pg_temp.bench_id(8, n), at,
       CASE WHEN known THEN pg_temp.bench_id(4, pg_temp.event_customer(n)) END,
       CASE WHEN NOT known THEN 'anon-' || (hashint8(n * 5 + 1) & 2097151) END,
       name,
       CASE WHEN name = 'viewed_product'
            THEN jsonb_build_object('category', (%(slugs)s::text[])[1 + product %% 50],
                                    'product', 'item-' || product)
            ELSE '{}'::jsonb END,
       'storefront'
FROM (
    SELECT n, pg_temp.event_at(n) AS at, pg_temp.u(n, 7) < 0.85 AS known,
           {event_name} AS name,
           floor(%(products)s * power(pg_temp.u(n, 9), 2))::bigint AS product
    FROM generate_series(%(first_row)s::bigint, %(last_row)s) n
) e;
""".replace("{event_name}", EVENT_NAME)


def _partitions(connection: psycopg.Connection[Any], now: datetime) -> int:
    """Monthly partitions for the events' year, as Patron names them; then Patron's own."""
    made = 0
    month = (now - timedelta(days=EVENT_DAYS + 31)).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    current = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while month < current:
        following = (month + timedelta(days=32)).replace(day=1)
        name = f"tracking_event_{month:%Y_%m}"
        exists = connection.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
        if exists and not exists[0]:
            connection.execute(
                sql.SQL(
                    "CREATE TABLE {} PARTITION OF tracking_event FOR VALUES FROM ({}) TO ({})"
                ).format(
                    sql.Identifier(name),
                    sql.Literal(f"{month:%Y-%m-%d} 00:00:00+00"),
                    sql.Literal(f"{following:%Y-%m-%d} 00:00:00+00"),
                )
            )
            made += 1
        month = following
    row = connection.execute("SELECT patron_ensure_monthly_partitions('tracking_event', 3)")
    found = row.fetchone()
    return made + (int(found[0]) if found else 0)


def _staff(connection: psycopg.Connection[Any]) -> list[Any]:
    rows = connection.execute(
        "SELECT id FROM staff_user WHERE is_demo AND is_active ORDER BY email"
    ).fetchall()
    return [row[0] for row in rows]


def _run_chunks(
    connection: psycopg.Connection[Any],
    label: str,
    statement: str,
    total: int,
    size: int,
    params: dict[str, Any],
    progress: Progress,
) -> None:
    started = time.monotonic()
    for first, last in _chunks(total, size):
        for part in statement.split(";\n"):
            if part.strip():
                connection.execute(part.encode(), {**params, "first_row": first, "last_row": last})
        connection.commit()
        elapsed = time.monotonic() - started
        progress(f"  {label}: {last:,}/{total:,} in {elapsed:,.0f} s ({last / elapsed:,.0f}/s)")


def _count(connection: psycopg.Connection[Any], table: str) -> int:
    row = connection.execute(
        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
    ).fetchone()
    return int(row[0]) if row else 0


def load(
    conninfo: str,
    scale: Scale,
    *,
    now: datetime | None = None,
    progress: Progress = lambda _message: None,
) -> ScaleStats:
    """Fill the migrated database at ``conninfo`` (demo staff seeded, no shop) at ``scale``."""
    now = now or datetime.now(UTC)
    stats = ScaleStats()
    with psycopg.connect(conninfo) as connection:
        connection.execute("SET synchronous_commit = off")
        connection.execute("SET work_mem = '64MB'")
        for function in _functions(scale, now):
            connection.execute(function)
        staff = _staff(connection)
        made = _partitions(connection, now)
        connection.commit()
        progress(f"  {made} monthly event partitions made")
        deferred = defer_indexes(connection, LOADED_TABLES)
        started = time.monotonic()
        common = {
            "start": now - timedelta(days=CUSTOMER_DAYS + 1),
            "now": now,
            "products": scale.products,
            "categories": list(CATEGORIES),
        }
        for part in CATALOG.split(";\n"):
            if part.strip():
                connection.execute(part.encode(), common)
        connection.commit()
        _run_chunks(
            connection,
            "customers",
            CUSTOMERS,
            scale.customers,
            100_000,
            {
                **common,
                "tags": list(TAGS),
                "staff": staff,
                "first": list(FIRST_NAMES),
                "first_count": len(FIRST_NAMES),
                "last": list(LAST_NAMES),
                "last_count": len(LAST_NAMES),
                "countries": COUNTRIES,
            },
            progress,
        )
        _run_chunks(connection, "orders", ORDERS, scale.orders, 500_000, common, progress)
        slugs = [row[0] for row in connection.execute("SELECT slug FROM category ORDER BY id")]
        _run_chunks(
            connection,
            "events",
            EVENTS_SQL,
            scale.events,
            2_000_000,
            {
                **common,
                "slugs": slugs,
            },
            progress,
        )
        stats.insert_seconds = time.monotonic() - started
        before = time.monotonic()
        connection.autocommit = True
        for table in LOADED_TABLES:
            connection.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
        connection.autocommit = False
        progress("  customer metrics, lifecycle stages, RFM scores, sales_daily (Patron's own)…")
        shop = ShopParams(now=now, customers=scale.customers, orders=scale.orders)
        derived = finish.statements(shop, now)
        for statement, parameters in derived[: -finish.ROLLUPS]:
            took = time.monotonic()
            connection.execute(driver_sql(statement).encode(), parameters)
            connection.commit()
            first_line = driver_sql(statement).strip().splitlines()[0][:60]
            progress(f"    {time.monotonic() - took:,.1f} s: {first_line}")
        stats.derived_seconds = time.monotonic() - before
        before = time.monotonic()
        progress(
            f"  {len(deferred.indexes)} secondary indexes and "
            f"{len(deferred.foreign_keys)} foreign keys…"
        )
        restore_indexes(connection, deferred)
        stats.index_seconds = time.monotonic() - before
        before = time.monotonic()
        # the rollups read orders by day: indexed
        for rollup, parameters in derived[-finish.ROLLUPS :]:
            took = time.monotonic()
            connection.execute(driver_sql(rollup).encode(), parameters)
            connection.commit()
            first_line = driver_sql(rollup).strip().splitlines()[0][:60]
            progress(f"    {time.monotonic() - took:,.1f} s: {first_line}")
        stats.derived_seconds += time.monotonic() - before
        before = time.monotonic()
        connection.autocommit = True
        connection.execute("VACUUM (ANALYZE)")
        stats.analyze_seconds = time.monotonic() - before
        for table in LOADED_TABLES:
            stats.rows[table] = _count(connection, table)
    return stats


# -- ``python -m bench scale``: load (and keep) a dataset -------------------------------------

NAME = "scale"
TITLE = "Full-scale dataset generated inside PostgreSQL (INSERT ... SELECT), rows per second"


@dataclass(frozen=True)
class ScaleOptions:
    customers: int = Scale.customers
    orders: int = Scale.orders
    events: int = Scale.events
    products: int = Scale.products
    keep: bool = False

    @classmethod
    def of(cls, context: Context) -> ScaleOptions:
        return options_of(cls, context)

    @property
    def scale(self) -> Scale:
        return Scale(self.customers, self.orders, self.events, self.products)


def add_scale_arguments(parser: argparse.ArgumentParser) -> None:
    """The dataset's size: shared by ``scale`` and ``segments``."""
    group = parser.add_argument_group("dataset size (generated inside PostgreSQL)")
    group.add_argument("--customers", type=int, default=Scale.customers, help="default 1e6")
    group.add_argument("--orders", type=int, default=Scale.orders, help="default 1e7")
    group.add_argument("--events", type=int, default=Scale.events, help="default 5e7")
    group.add_argument("--products", type=int, default=Scale.products, help="default 2,000")
    group.add_argument(
        "--keep", action="store_true", help="keep the database and print its name and password"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scale_arguments(parser)


def create(postgres: PostgresServer, scale: Scale, *, prefix: str = "patron_scale") -> Loaded:
    """A throwaway migrated database with the demo staff, filled at ``scale``."""
    database = postgres.create_database(prefix)
    password = secrets.token_urlsafe(12)
    say(f"Migrating {database} and creating the demo staff…")
    prepare_database(postgres.sqlalchemy_url(database), password)
    say(
        f"Generating {scale.customers:,} customers, {scale.orders:,} orders, "
        f"{scale.events:,} events inside PostgreSQL…"
    )
    stats = load(postgres.libpq_url(database), scale, progress=say)
    say(
        f"  {stats.total_rows:,} rows: inserts {stats.insert_seconds:,.0f} s, derived data "
        f"{stats.derived_seconds:,.0f} s, indexes and foreign keys {stats.index_seconds:,.0f} s, "
        f"VACUUM ANALYZE {stats.analyze_seconds:,.0f} s"
    )
    return Loaded(database, password, stats)


@dataclass(frozen=True)
class Loaded:
    database: str
    password: str
    stats: ScaleStats


def keep(postgres: PostgresServer, loaded: Loaded) -> None:
    if loaded.database in postgres.created:
        postgres.created.remove(loaded.database)
    say(
        f"\nKept database {loaded.database}:\n"
        f"  PATRON_DATABASE_URL={postgres.sqlalchemy_url(loaded.database)}\n"
        f"  demo sign-ins: admin@example.com … password {loaded.password}\n"
        f"  reuse: --reuse-database {loaded.database} --demo-password {loaded.password}"
    )


def run(context: Context) -> Report:
    options = ScaleOptions.of(context)
    postgres = context.postgres
    report = start_report(
        context,
        NAME,
        TITLE,
        with_pgbench=False,
        scale=asdict(options.scale),
    )
    loaded = create(postgres, options.scale)
    stats = loaded.stats
    report.figures = [
        Figure(
            name=f"generate inside PostgreSQL, {label}",
            unit="rows/s",
            clients=1,
            duration=round(seconds, 1),
            succeeded=stats.total_rows,
            failed=0,
            rate=stats.total_rows / seconds if seconds else 0.0,
            p50_ms=None,
            p95_ms=None,
            p99_ms=None,
        )
        for label, seconds in (
            ("inserts only", stats.insert_seconds),
            ("end to end", stats.seconds),
        )
    ]
    report.environment.update(
        {
            "database": loaded.database,
            "rows": stats.rows,
            "insert_seconds": round(stats.insert_seconds, 1),
            "derived_seconds": round(stats.derived_seconds, 1),
            "index_seconds": round(stats.index_seconds, 1),
            "analyze_seconds": round(stats.analyze_seconds, 1),
            "load_average_after": load_average(),
        }
    )
    if options.keep:
        keep(postgres, loaded)
    return report
