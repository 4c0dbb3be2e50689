"""Customers and orders at scale: search, filtered lists, the customer 360 page and the order
lists, each beside the hand-written SQL that answers the same question on the same data.

A dataset from ``bench/dataset.py``'s generator (customers with two years of orders, loaded
by COPY) is loaded into a throwaway database, or an existing one is reused
(``--reuse-database`` with the ``--demo-password`` that ``python -m bench dataset --keep``
printed). ``patron serve --no-worker`` runs on it; every scenario rotates over a set of
requests drawn from the data, with N concurrent clients for the same duration as the raw
PostgreSQL baseline: the same WHERE / ORDER BY / LIMIT run by N psycopg connections. The
slowest statement of each baseline is shown with EXPLAIN ANALYZE.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx2
import psycopg

from bench.dataset import _prepare as prepare_database
from bench.harness import Context, options_of, run_async, say, start_report
from bench.load import REQUEST_TIMEOUT, BenchError, LoadResult, check_result
from bench.report import Figure, Report, load_average
from bench.servers import (
    ADMIN_EMAIL,
    SESSION_COOKIE,
    PatronServer,
    PostgresServer,
    add_server_workers_argument,
    create_api_key,
    serve,
    sign_in,
)
from patron.demo_shop.shop import ShopParams
from patron.demo_shop.stream import copy_shop, demo_staff

NAME = "customers"
TITLE = "Customer search, filtered lists, customer 360 and order lists beside raw SQL"
SAMPLE = 60  # customers the rotating queries are drawn from
LIMIT = 50

Params = dict[str, Any]
Issue = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class CustomersOptions:
    customers: int = 20_000
    orders: int | None = None  # 10 per customer
    seed: int = 2026
    reuse_database: str | None = None
    demo_password: str | None = None
    keep: bool = False
    server_workers: int = 1

    @classmethod
    def of(cls, context: Context) -> CustomersOptions:
        return options_of(cls, context)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = CustomersOptions()
    group = parser.add_argument_group("customers options")
    group.add_argument(
        "--customers",
        type=int,
        default=defaults.customers,
        help="customers to load (default 20,000; the design's scale is 1,000,000)",
    )
    group.add_argument("--orders", type=int, default=None, help="orders (default 10 each)")
    group.add_argument("--seed", type=int, default=defaults.seed, help="generator seed")
    group.add_argument(
        "--reuse-database",
        default=None,
        metavar="NAME",
        help="a database loaded by `python -m bench dataset --keep` on the same server "
        "(not dropped); needs --demo-password",
    )
    group.add_argument("--demo-password", default=None, help="its demo staff's password")
    group.add_argument(
        "--keep", action="store_true", help="keep the loaded database and print how to reuse it"
    )
    add_server_workers_argument(group)


@dataclass(frozen=True)
class Pair:
    """One scenario: HTTP paths to rotate over, and the raw SQL answering the same questions."""

    name: str
    paths: Sequence[str]
    statements: Sequence[tuple[str, Params]]  # rotated like the paths; each runs in one go
    session: bool = False  # the panel (cookie) rather than the API (key)
    sql_name: str = ""


# -- the hand-written SQL --------------------------------------------------------------------

CUSTOMER_COLUMNS = "c.*, m.*"
LIVE = "c.merged_into_id IS NULL"
SEARCH_NAME = f"""
SELECT {CUSTOMER_COLUMNS} FROM customer c
JOIN customer_metrics m ON m.customer_id = c.id
WHERE {LIVE} AND (c.search_name LIKE %(pattern)s OR c.search_name %%> %(term)s
                  OR lower(c.email::text) LIKE %(pattern)s)
ORDER BY c.created_at DESC, c.id DESC LIMIT {LIMIT + 1}"""
SEARCH_EMAIL = f"""
SELECT {CUSTOMER_COLUMNS} FROM customer c
JOIN customer_metrics m ON m.customer_id = c.id
WHERE {LIVE} AND (lower(c.email::text) LIKE %(pattern)s OR EXISTS (
    SELECT 1 FROM customer_email e WHERE e.customer_id = c.id AND e.email ILIKE %(pattern)s))
ORDER BY c.created_at DESC, c.id DESC LIMIT {LIMIT + 1}"""
SEARCH_PHONE = f"""
SELECT {CUSTOMER_COLUMNS} FROM customer c
JOIN customer_metrics m ON m.customer_id = c.id
WHERE {LIVE} AND (c.phone LIKE %(pattern)s OR EXISTS (
    SELECT 1 FROM customer_phone p WHERE p.customer_id = c.id AND p.phone LIKE %(pattern)s))
ORDER BY c.created_at DESC, c.id DESC LIMIT {LIMIT + 1}"""
FILTERED = f"""
SELECT {CUSTOMER_COLUMNS} FROM customer c
JOIN customer_metrics m ON m.customer_id = c.id
WHERE {LIVE} AND {{where}}
ORDER BY {{order}} LIMIT {LIMIT + 1}"""
PROFILE = """
SELECT c.*, m.*, (SELECT u.name FROM staff_user u WHERE u.id = c.owner_id) AS owner,
  (SELECT json_agg(k) FROM consent k WHERE k.customer_id = c.id) AS consents,
  (SELECT json_agg(a) FROM customer_address a WHERE a.customer_id = c.id) AS addresses,
  (SELECT json_agg(t) FROM (SELECT * FROM timeline_entry t WHERE t.customer_id = c.id
     ORDER BY t.occurred_at DESC, t.id DESC LIMIT 31) t) AS feed,
  (SELECT json_agg(p) FROM timeline_entry p WHERE p.customer_id = c.id AND p.pinned) AS pinned
FROM customer c JOIN customer_metrics m ON m.customer_id = c.id
WHERE c.id = %(id)s AND c.merged_into_id IS NULL"""
ORDERS = f"""
SELECT o.* FROM shop_order o
WHERE o.placed_at >= %(since)s AND o.financial_status = %(status)s
ORDER BY o.placed_at DESC, o.id DESC LIMIT {LIMIT + 1}"""


def _typo(word: str, rng: random.Random) -> str:
    """Swap two neighbouring letters: what a hurried person types."""
    if len(word) < 4:
        return word
    at = rng.randrange(1, len(word) - 2)
    return word[:at] + word[at + 1] + word[at] + word[at + 2 :]


def _sample(conninfo: str, rng: random.Random) -> list[tuple[Any, ...]]:
    with psycopg.connect(conninfo) as connection:
        connection.execute("SELECT setseed(%s)", (rng.random(),))
        return connection.execute(
            "SELECT id, first_name, last_name, email::text, phone FROM customer "
            "WHERE merged_into_id IS NULL ORDER BY random() LIMIT %s",
            (SAMPLE,),
        ).fetchall()


def _query(**values: Any) -> str:
    return str(httpx2.QueryParams(values))


def _search_pair(rows: Sequence[tuple[Any, ...]], rng: random.Random) -> Pair:
    paths: list[str] = []
    statements: list[tuple[str, Params]] = []
    for index, (_id, first, last, email, phone) in enumerate(rows):
        kind = index % 4
        if kind == 0 and last:
            term = last.lower()
        elif kind == 1 and first and last:
            term = f"{_typo(first.lower(), rng)} {last.lower()}"
        elif kind == 2 and phone and len(phone) > 6:
            term = "".join(ch for ch in phone if ch.isdigit())[-6:]
        else:
            term = email.split("@")[0][-6:] + "@"
        paths.append("/api/v1/customers?" + _query(q=term, limit=LIMIT))
        if "@" in term:
            statements.append((SEARCH_EMAIL, {"pattern": f"%{term}%"}))
        elif term.isdigit():
            statements.append((SEARCH_PHONE, {"pattern": f"%{term}%"}))
        else:
            statements.append((SEARCH_NAME, {"pattern": f"%{term}%", "term": term}))
    return Pair("GET /api/v1/customers?q= (search)", paths, statements, sql_name="search")


def _filtered_pair(today: date) -> Pair:
    recent = today - timedelta(days=90)
    # every customer has a metrics row (migration 0026): the figures are compared as they are
    spent = "m.total_spent"
    orders = "m.orders_count"
    last = "coalesce(m.last_order_at, '1970-01-01'::timestamptz)"
    combos: list[tuple[dict[str, Any], str, str, Params]] = [
        (
            {"country": "DE", "spent_min": 100, "orders_min": 2, "sort": "-total_spent"},
            f"c.country IN ('DE') AND {spent} >= 100 AND {orders} >= 2",
            f"{spent} DESC, m.customer_id DESC",
            {},
        ),
        (
            {"lifecycle": "vip", "sort": "-last_order_at"},
            "c.lifecycle_stage IN ('vip')",
            f"{last} DESC, m.customer_id DESC",
            {},
        ),
        (
            {"country": "US", "last_order_from": recent.isoformat(), "sort": "name"},
            "c.country IN ('US') AND m.last_order_at >= %(since)s",
            "c.search_name ASC, c.id ASC",
            {"since": datetime.combine(recent, datetime.min.time(), tzinfo=UTC)},
        ),
        (
            {"orders_min": 5, "sort": "-orders_count"},
            f"{orders} >= 5",
            f"{orders} DESC, m.customer_id DESC",
            {},
        ),
    ]
    paths = ["/api/v1/customers?" + _query(**query, limit=LIMIT) for query, *_ in combos]
    statements = [
        (FILTERED.format(where=where, order=order), params) for _, where, order, params in combos
    ]
    return Pair("GET /api/v1/customers (filtered list)", paths, statements, sql_name="filtered")


def _profile_pair(rows: Sequence[tuple[Any, ...]]) -> Pair:
    return Pair(
        "GET /customers/{id} (360 panel page)",
        [f"/customers/{row[0]}" for row in rows],
        [(PROFILE, {"id": row[0]}) for row in rows],
        session=True,
        sql_name="customer 360",
    )


def _order_pairs(today: date) -> list[Pair]:
    combos = [(days, status) for days in (30, 90, 365) for status in ("paid", "refunded")]
    statements = [
        (
            ORDERS,
            {
                "since": datetime.combine(
                    today - timedelta(days=days), datetime.min.time(), tzinfo=UTC
                ),
                "status": status,
            },
        )
        for days, status in combos
    ]

    def paths(prefix: str) -> list[str]:
        return [
            prefix
            + _query(
                placed_from=(today - timedelta(days=days)).isoformat(),
                financial_status=status,
                **({"limit": LIMIT} if prefix.startswith("/api") else {}),
            )
            for days, status in combos
        ]

    return [
        Pair(
            "GET /api/v1/orders (filtered)", paths("/api/v1/orders?"), statements, sql_name="orders"
        ),
        Pair("GET /orders (panel list, filtered)", paths("/orders?"), statements, session=True),
    ]


# -- a closed loop over any request ---------------------------------------------------------


@dataclass
class _Tally:
    deadline: float
    max_requests: int
    issued: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


async def _worker(issue: Issue, tally: _Tally) -> None:
    while tally.issued < tally.max_requests and time.perf_counter() < tally.deadline:
        tally.issued += 1
        started = time.perf_counter()
        try:
            await asyncio.wait_for(issue(), REQUEST_TIMEOUT)
        except Exception as error:  # every failure is counted by kind, never raised
            tally.errors[str(error)[:60] or type(error).__name__] += 1
            continue
        tally.latencies.append(time.perf_counter() - started)


async def closed_loop(
    issuers: Sequence[Issue],
    *,
    duration: float,
    max_requests: int,
    warmup: float,
    server_cpu: Callable[[], float] | None = None,
) -> LoadResult:
    """One client per issuer, each issuing requests back to back; the measured phase only."""
    if warmup > 0:
        warm = _Tally(time.perf_counter() + warmup, max_requests)
        await asyncio.gather(*(_worker(issue, warm) for issue in issuers))
    cpu_server = server_cpu() if server_cpu else 0.0
    cpu_before = time.process_time()
    started = time.perf_counter()
    tally = _Tally(started + duration, max_requests)
    await asyncio.gather(*(_worker(issue, tally) for issue in issuers))
    elapsed = time.perf_counter() - started
    return LoadResult(
        clients=len(issuers),
        elapsed=elapsed,
        latencies=tuple(tally.latencies),
        errors=dict(tally.errors),
        client_cpu=time.process_time() - cpu_before,
        server_cpu=server_cpu() - cpu_server if server_cpu else None,
    )


async def http_load(
    server: PatronServer, pair: Pair, auth: dict[str, Any], clients: int, **run: Any
) -> LoadResult:
    rotation = itertools.cycle(pair.paths)
    pool = [
        httpx2.AsyncClient(
            base_url=server.url,
            timeout=REQUEST_TIMEOUT,
            limits=httpx2.Limits(max_connections=1, max_keepalive_connections=1),
            follow_redirects=False,
            **auth,
        )
        for _ in range(clients)
    ]

    def issuer(client: httpx2.AsyncClient) -> Issue:
        async def issue() -> None:
            response = await client.get(next(rotation))
            if not 200 <= response.status_code < 300:
                raise RuntimeError(f"HTTP {response.status_code}")

        return issue

    try:
        return await closed_loop(
            [issuer(client) for client in pool], server_cpu=server.cpu_seconds, **run
        )
    finally:
        for client in pool:
            await client.aclose()


async def sql_load(conninfo: str, pair: Pair, clients: int, **run: Any) -> LoadResult:
    rotation = itertools.cycle(pair.statements)
    connections = [
        await psycopg.AsyncConnection.connect(conninfo, autocommit=True) for _ in range(clients)
    ]

    def issuer(connection: psycopg.AsyncConnection[Any]) -> Issue:
        async def issue() -> None:
            statement, params = next(rotation)
            cursor = await connection.execute(statement.encode(), params)
            await cursor.fetchall()

        return issue

    try:
        for connection in connections:
            await connection.execute("SET pg_trgm.word_similarity_threshold = 0.35")
        return await closed_loop([issuer(c) for c in connections], **run)
    finally:
        for connection in connections:
            await connection.close()


def slowest_plan(conninfo: str, pair: Pair) -> tuple[float, str]:
    """EXPLAIN ANALYZE of every distinct statement; the slowest one's time and plan."""
    worst: tuple[float, str] = (-1.0, "")
    seen: set[str] = set()
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("SET pg_trgm.word_similarity_threshold = 0.35")
        for statement, params in pair.statements[:24]:
            key = statement + repr(sorted(params.items()))
            if key in seen:
                continue
            seen.add(key)
            rows = connection.execute(
                ("EXPLAIN (ANALYZE, BUFFERS) " + statement).encode(),
                params,
            ).fetchall()
            plan = "\n".join(str(row[0]) for row in rows)
            took = float(plan.rsplit("Execution Time: ", 1)[-1].split()[0])
            if took > worst[0]:
                worst = (took, f"-- {params}\n{statement.strip()}\n\n{plan}")
    return worst


# -- the dataset and the server --------------------------------------------------------------


def _load(postgres: PostgresServer, options: CustomersOptions) -> tuple[str, str]:
    database = postgres.create_database("patron_customers")
    password = secrets.token_urlsafe(12)
    url, conninfo = postgres.sqlalchemy_url(database), postgres.libpq_url(database)
    say(f"Migrating {database} and creating the demo staff…")
    prepare_database(url, password)
    with psycopg.connect(conninfo) as connection:
        staff = demo_staff(connection)
    orders = options.orders or options.customers * 10
    say(f"Generating {options.customers:,} customers (about {orders:,} orders) by COPY…")
    params = ShopParams(
        now=datetime.now(UTC),
        seed=options.seed,
        customers=options.customers,
        orders=orders,
        staff=staff,
        batch_size=500,
    )
    stats = copy_shop(conninfo, params, progress=say)
    say(f"  {stats.total_rows:,} rows in {stats.seconds:,.0f} s")
    return database, password


def _counts(conninfo: str) -> dict[str, int]:
    with psycopg.connect(conninfo) as connection:
        found: dict[str, int] = {}
        for table in ("customer", "shop_order"):
            row = connection.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()
            found[table] = int(row[0]) if row else 0
        return found


def _preflight(server: PatronServer, pair: Pair, auth: dict[str, Any]) -> None:
    for path in pair.paths[:3]:
        response = httpx2.get(server.url + path, timeout=60, follow_redirects=False, **auth)
        if response.status_code != 200:
            raise RuntimeError(f"{pair.name}: {path} answered HTTP {response.status_code}")


def run(context: Context) -> Report:
    options = CustomersOptions.of(context)
    run_options = context.options
    postgres = context.postgres
    report = start_report(
        context,
        NAME,
        TITLE,
        postgres=postgres,
        server=f"patron serve --no-worker --workers {options.server_workers}, JSON logs at INFO",
        clients=run_options.clients,
        duration_s=run_options.duration,
        warmup_s=run_options.warmup,
    )
    if options.reuse_database:
        if not options.demo_password:
            raise BenchError("--reuse-database needs --demo-password")
        database, password = options.reuse_database, options.demo_password
    else:
        database, password = _load(postgres, options)
    conninfo = postgres.libpq_url(database)
    counts = _counts(conninfo)
    report.environment.update({"database": database, "rows": counts})
    say(f"{counts['customer']:,} customers, {counts['shop_order']:,} orders in {database}")
    rng = random.Random(options.seed)
    rows = _sample(conninfo, rng)
    today = datetime.now(UTC).date()
    pairs = [
        _search_pair(rows, rng),
        _filtered_pair(today),
        _profile_pair(rows),
        *_order_pairs(today),
    ]
    run_args = {
        "duration": run_options.duration,
        "max_requests": run_options.max_requests,
        "warmup": run_options.warmup,
    }
    figures: list[Figure] = []
    plans: dict[str, str] = {}
    baselines: dict[str, Figure] = {}
    try:
        with serve(
            postgres, database, password, run_options.workdir, workers=options.server_workers
        ) as server:
            key = create_api_key(
                server, email=ADMIN_EMAIL, scopes=["customers:read", "orders:read"]
            )
            cookie = sign_in(server, email=ADMIN_EMAIL)
            for pair in pairs:
                auth: dict[str, Any] = (
                    {"cookies": {SESSION_COOKIE: cookie}}
                    if pair.session
                    else {"headers": {"Authorization": f"Bearer {key}"}}
                )
                _preflight(server, pair, auth)
                say(f"{pair.name}: {run_options.clients} clients…")
                result = run_async(http_load(server, pair, auth, run_options.clients, **run_args))
                check_result(pair.name, result)
                figure = Figure.from_load(pair.name, result)
                if pair.sql_name:
                    say(f"  raw SQL ({pair.sql_name}): {run_options.clients} connections…")
                    raw = run_async(sql_load(conninfo, pair, run_options.clients, **run_args))
                    check_result(pair.sql_name, raw)
                    baseline = Figure.from_load(f"raw SQL: {pair.sql_name}", raw)
                    baseline = replace(baseline, unit="q/s")
                    baselines[pair.sql_name] = baseline
                    took, plan = slowest_plan(conninfo, pair)
                    plans[pair.sql_name] = plan
                    say(f"  slowest statement {took:.1f} ms in EXPLAIN ANALYZE")
                    figures += [figure.relative_to(baseline), baseline]
                else:
                    figures.append(figure.relative_to(baselines["orders"]))
    finally:
        if options.keep or options.reuse_database:
            if database in postgres.created:
                postgres.created.remove(database)
            say(
                f"\nKept {database}: reuse with --reuse-database {database} "
                f"--demo-password {password}"
            )
        else:
            postgres.drop_database(database)
    report.figures = figures
    report.environment["plans"] = plans
    report.environment["load_average_after"] = load_average()
    for name, plan in plans.items():
        say(f"\n== EXPLAIN ANALYZE, slowest {name} statement ==\n{plan}")
    return report
