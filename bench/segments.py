"""Segments and dashboards at scale, each beside hand-written SQL for the same question.

A dataset from ``bench/scale.py`` (generated inside PostgreSQL; by default 1,000,000
customers, 10,000,000 orders and 50,000,000 tracking events) is loaded into a throwaway
database, or a kept one is reused (``--reuse-database NAME --demo-password …``).

Segments: five typical segments written in Patron's segment language go through Patron's own
code path for the live count and preview, in process: ``compile_for`` (parse, check,
compile), ``repository.member_queries`` for the administrator and ``repository.preview`` (the
count, then the first 50 members in the panel's order, under the preview's statement
timeout), on Patron's async engine. Beside each, hand-written SQL answering the same
question (a count, then the same first page) runs on a plain psycopg connection. Each side
runs ``--repetitions`` times, alternating; the figures are the median and p95. The run fails
if a count or the first page differs between the two.

Dashboards: the report API endpoints (sales, products, customers, cohorts, staff, RFM) for
the last 30 and 365 days, timed through HTTP against ``patron serve --no-worker`` with an
API key, one request at a time; beside them, where one exists, the hand-written SQL over the
raw tables that answers the report's main question.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import psycopg
from sqlalchemy import select

from bench.harness import Context, options_of, run_async, say, start_report
from bench.load import BenchError, percentile
from bench.report import Figure, Report, load_average
from bench.scale import Scale, add_scale_arguments, create, keep
from bench.servers import ADMIN_EMAIL, PostgresServer, create_api_key, serve
from patron.auth.dependencies import role_scopes
from patron.auth.principal import Principal
from patron.db.engine import Database
from patron.models import Role, StaffUser
from patron.segments import repository
from patron.segments.errors import SegmentTimeout
from patron.segments.language import compile_for

NAME = "segments"
TITLE = "Segment counts and previews, and report dashboards, beside hand-written SQL"
PAGE = 50  # members in the first page (the panel's order: by id)
AIM_SECONDS = 1.0
AIM_RATIO = 1.5
SQL_TIMEOUT_MS = 60_000  # the hand-written SQL is bounded too, more loosely than Patron's 5 s

LIVE = "c.merged_into_id IS NULL AND c.erased_at IS NULL"
Params = dict[str, Any]


@dataclass(frozen=True)
class Case:
    """A segment: its expression, and the hand-written WHERE over ``customer c`` (with
    ``customer_metrics m`` joined when ``metrics``) that selects the same customers."""

    name: str
    expression: str
    where: str
    metrics: bool = False
    join: str = ""  # more tables the WHERE reads

    def _joins(self) -> str:
        metrics = "LEFT JOIN customer_metrics m ON m.customer_id = c.id " if self.metrics else ""
        return metrics + self.join

    def count_sql(self) -> str:
        join = self._joins()
        return f"SELECT count(*) FROM customer c {join}WHERE {LIVE} AND {self.where}"

    def page_sql(self) -> str:
        join = self._joins()
        return (
            f"SELECT c.id FROM customer c {join}WHERE {LIVE} AND {self.where} "
            f"ORDER BY c.id LIMIT {PAGE}"
        )


SUBSCRIBED = (
    "EXISTS (SELECT 1 FROM consent s WHERE s.customer_id = c.id AND s.channel = 'email' "
    "AND s.purpose = 'marketing' AND s.status = 'subscribed')"
)
UNSUBSCRIBED = SUBSCRIBED.replace("'subscribed'", "'unsubscribed'")
BOUGHT_SHOES = (
    "EXISTS (SELECT 1 FROM shop_order o JOIN order_line l ON l.order_id = o.id "
    "JOIN product_category pc ON pc.product_id = l.product_id "
    "JOIN category k ON k.id = pc.category_id "
    "WHERE o.customer_id = c.id AND k.slug = 'shoes' AND o.cancelled_at IS NULL "
    "AND o.placed_at >= %(days_180)s)"
)
VIEWED_OFTEN = (
    "c.id IN (SELECT e.customer_id FROM tracking_event e WHERE e.name = 'viewed_product' "
    "AND e.occurred_at >= %(days_30)s AND e.customer_id IS NOT NULL "
    "GROUP BY e.customer_id HAVING count(*) >= 5)"
)
CASES = (
    Case(
        "profile-only",
        'country = "DE" and has tag "newsletter" and email consent = subscribed',
        f"c.country = 'DE' AND c.tags @> ARRAY['newsletter'] AND {SUBSCRIBED}",
    ),
    Case(
        "spend-and-recency",
        "total_spent > 500 and last_order within 90 days",
        "m.total_spent > 500 AND m.last_order_at >= %(days_90)s",
        metrics=True,
    ),
    Case(
        "bought-category-in-window",
        'bought category "Shoes" within 180 days',
        BOUGHT_SHOES,
    ),
    Case(
        "event-count-in-window",
        'did "viewed_product" at least 5 times within 30 days',
        VIEWED_OFTEN,
    ),
    Case(
        "nested",
        '(country = "US" and total_spent > 500) or '
        '(did "viewed_product" at least 5 times within 30 days '
        "and not email consent = unsubscribed)",
        f"((c.country = 'US' AND m.total_spent > 500) "
        f"OR (v.customer_id IS NOT NULL AND NOT {UNSUBSCRIBED}))",
        metrics=True,
        # the viewers found once and joined (an IN under an OR is re-run for every customer
        # when its result does not fit in work_mem)
        join=(
            "LEFT JOIN (SELECT e.customer_id FROM tracking_event e "
            "WHERE e.name = 'viewed_product' AND e.occurred_at >= %(days_30)s "
            "AND e.customer_id IS NOT NULL GROUP BY e.customer_id HAVING count(*) >= 5) v "
            "ON v.customer_id = c.id "
        ),
    ),
)


def cutoffs(now: datetime) -> Params:
    """The windows' first instants, as the compiler computes them from the same ``now``."""
    return {f"days_{days}": now - timedelta(days=days) for days in (30, 90, 180)}


# -- Patron's path and the hand-written one ------------------------------------------------


@dataclass
class Answer:
    count: int
    page: list[Any]


async def admin_principal(database: Database, email: str = ADMIN_EMAIL) -> Principal:
    async with database.transaction() as db:
        user = (await db.scalars(select(StaffUser).where(StaffUser.email == email))).one()
        role = (await db.scalars(select(Role).where(Role.name == user.role))).one()
        return Principal(user, role, role_scopes(role))


async def patron_preview(
    database: Database, principal: Principal, case: Case, now: datetime
) -> Answer:
    """What the live preview does: compile, then count and first page under its timeout."""
    async with database.transaction() as db:
        compiled = await compile_for(db, case.expression, now=now)
        found = await repository.preview(
            db, repository.member_queries(principal, compiled.alternatives), limit=PAGE
        )
    return Answer(found.count, [member.id for member in found.members])


async def sql_preview(
    connection: psycopg.AsyncConnection[Any], case: Case, params: Params
) -> Answer:
    async with connection.transaction():
        await connection.execute(f"SET LOCAL statement_timeout = {SQL_TIMEOUT_MS}".encode())
        cursor = await connection.execute(case.count_sql().encode(), params)
        row = await cursor.fetchone()
        cursor = await connection.execute(case.page_sql().encode(), params)
        page = [found[0] for found in await cursor.fetchall()]
    return Answer(int(row[0]) if row else 0, page)


async def timed(call: Awaitable[Answer]) -> tuple[float, Answer | None]:
    started = time.perf_counter()
    try:
        answer: Answer | None = await call
    except (SegmentTimeout, psycopg.errors.QueryCanceled):
        answer = None
    return time.perf_counter() - started, answer


@dataclass
class Measured:
    name: str
    seconds: list[float]
    failed: int = 0

    def figure(self) -> Figure:
        p50 = statistics.median(self.seconds) if self.seconds else None
        return Figure(
            name=self.name,
            unit="/s",
            clients=1,
            duration=round(sum(self.seconds), 3),
            succeeded=len(self.seconds),
            failed=self.failed,
            rate=1 / p50 if p50 else 0.0,
            p50_ms=p50 * 1000 if p50 is not None else None,
            p95_ms=percentile(self.seconds, 0.95) * 1000 if self.seconds else None,
            p99_ms=None,
            errors={"timed out": self.failed} if self.failed else {},
        )


async def measure_segments(
    url: str,
    conninfo: str,
    cases: Sequence[Case],
    repetitions: int,
    now: datetime,
    *,
    email: str = ADMIN_EMAIL,
) -> tuple[list[tuple[Case, Measured, Measured, int]], list[str]]:
    """Each case: Patron's preview and the hand-written SQL, alternating, ``repetitions``
    times after one unrecorded run of each; the counts and first pages must agree."""
    params = cutoffs(now)
    database = Database(url, pool_size=1)
    results: list[tuple[Case, Measured, Measured, int]] = []
    problems: list[str] = []
    try:
        principal = await admin_principal(database, email)
        connection = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
        try:
            for case in cases:
                say(f"  {case.name}: {case.expression}")
                patron = Measured(f"{case.name}: Patron preview (count + first {PAGE})", [])
                raw = Measured(f"{case.name}: hand-written SQL (count + first {PAGE})", [])
                expected: Answer | None = None
                for round_ in range(repetitions + 1):
                    took, mine = await timed(patron_preview(database, principal, case, now))
                    took_sql, theirs = await timed(sql_preview(connection, case, params))
                    expected = theirs or expected
                    if (
                        mine is not None
                        and theirs is not None
                        and (mine.count != theirs.count or mine.page != theirs.page)
                    ):
                        same = "equal" if mine.page == theirs.page else "differ"
                        raise BenchError(
                            f"{case.name}: Patron counted {mine.count}, the hand-written SQL "
                            f"{theirs.count} (first pages {same})"
                        )
                    if round_ == 0:
                        continue  # warm-up
                    if mine is None:
                        patron.failed += 1
                    else:
                        patron.seconds.append(took)
                    if theirs is None:
                        raw.failed += 1
                    else:
                        raw.seconds.append(took_sql)
                count = expected.count if expected else 0
                say(
                    f"    {count:,} members; Patron p50 "
                    f"{_ms(patron.seconds)}, SQL p50 {_ms(raw.seconds)}"
                )
                results.append((case, patron, raw, count))
                problems += verdict(case.name, patron, raw)
        finally:
            await connection.close()
    finally:
        await database.dispose()
    return results, problems


def _ms(seconds: Sequence[float]) -> str:
    return f"{statistics.median(seconds) * 1000:,.0f} ms" if seconds else "timed out"


def verdict(name: str, patron: Measured, raw: Measured) -> list[str]:
    """The aims this segment misses (empty when it meets them)."""
    if not patron.seconds:
        return [f"{name}: every preview hit the statement timeout"]
    if not raw.seconds:
        return [f"{name}: the hand-written SQL timed out too"]
    mine, theirs = statistics.median(patron.seconds), statistics.median(raw.seconds)
    missed = []
    if mine > AIM_SECONDS:
        missed.append(f"{name}: {mine * 1000:,.0f} ms, over {AIM_SECONDS:g} s")
    if mine > AIM_RATIO * theirs:
        missed.append(f"{name}: {mine / theirs:.2f}x the hand-written SQL")
    return missed


# -- dashboards ------------------------------------------------------------------------------

REPORTS = ("sales", "products", "customers", "cohorts", "staff", "rfm")
# the report's main question over the raw tables (no rollup), where there is one
REPORT_SQL: dict[str, str] = {
    "sales": (
        "SELECT (o.placed_at AT TIME ZONE 'UTC')::date AS day, count(*), sum(o.total), "
        "sum(o.refunded_total) FROM shop_order o WHERE o.cancelled_at IS NULL "
        "AND o.placed_at >= %(since)s AND o.placed_at < %(until)s GROUP BY 1 ORDER BY 1"
    ),
    "products": (
        "SELECT l.product_id, sum(l.quantity), sum(l.total) FROM order_line l "
        "JOIN shop_order o ON o.id = l.order_id WHERE o.cancelled_at IS NULL "
        "AND o.placed_at >= %(since)s AND o.placed_at < %(until)s "
        "GROUP BY 1 ORDER BY 3 DESC LIMIT 20"
    ),
    "customers": (
        "SELECT count(*) FILTER (WHERE m.first_order_at >= %(since)s), "
        "count(*) FILTER (WHERE m.first_order_at < %(since)s AND m.last_order_at >= %(since)s) "
        "FROM customer_metrics m JOIN customer c ON c.id = m.customer_id "
        f"WHERE {LIVE} AND m.last_order_at >= %(since)s"
    ),
    "rfm": (
        "SELECT m.recency_score, m.frequency_score, count(*), sum(m.total_spent) "
        "FROM customer_metrics m JOIN customer c ON c.id = m.customer_id "
        f"WHERE {LIVE} AND m.recency_score IS NOT NULL GROUP BY 1, 2"
    ),
}


def report_path(report: str, days: int, today: Any) -> str:
    if report == "rfm":
        return "/api/v1/reports/rfm"
    start = today - timedelta(days=days - 1)
    return f"/api/v1/reports/{report}?from={start.isoformat()}&to={today.isoformat()}"


def measure_dashboards(
    postgres: PostgresServer,
    database: str,
    password: str,
    workdir: Any,
    repetitions: int,
    now: datetime,
) -> list[Figure]:
    figures: list[Figure] = []
    conninfo = postgres.libpq_url(database)
    today = now.date()
    with serve(postgres, database, password, workdir) as server:
        key = create_api_key(server, email=ADMIN_EMAIL, scopes=["reports:read"])
        headers = {"Authorization": f"Bearer {key}"}
        with (
            httpx2.Client(base_url=server.url, headers=headers, timeout=60) as client,
            psycopg.connect(conninfo, autocommit=True) as connection,
        ):
            for days in (30, 365):
                since = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), UTC)
                params = {"since": since, "until": since + timedelta(days=days)}
                for report in REPORTS:
                    if report == "rfm" and days == 365:
                        continue  # the RFM grid has no period
                    path = report_path(report, days, today)
                    label = report if report == "rfm" else f"{report}, {days} days"
                    measured = Measured(f"GET {label}", [])
                    for round_ in range(repetitions + 1):
                        started = time.perf_counter()
                        try:
                            response = client.get(path)
                        except httpx2.TimeoutException:
                            measured.failed += 1  # over a minute: no point repeating it
                            break
                        took = time.perf_counter() - started
                        if response.status_code != 200:
                            raise BenchError(f"{path}: HTTP {response.status_code}")
                        if round_:
                            measured.seconds.append(took)
                    figure = measured.figure()
                    say(f"  {measured.name}: p50 {_ms(measured.seconds)}")
                    statement = REPORT_SQL.get(report)
                    if statement is None:
                        figures.append(figure)
                        continue
                    raw = Measured(f"hand-written SQL: {label}", [])
                    for round_ in range(repetitions + 1):
                        started = time.perf_counter()
                        connection.execute(statement.encode(), params).fetchall()
                        if round_:
                            raw.seconds.append(time.perf_counter() - started)
                    baseline = raw.figure()
                    figures += [figure.relative_to(baseline), baseline]
    return figures


# -- the capability --------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentsOptions:
    customers: int = Scale.customers
    orders: int = Scale.orders
    events: int = Scale.events
    products: int = Scale.products
    keep: bool = False
    reuse_database: str | None = None
    demo_password: str | None = None
    repetitions: int = 5
    dashboards: bool = True

    @classmethod
    def of(cls, context: Context) -> SegmentsOptions:
        return options_of(cls, context)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scale_arguments(parser)
    group = parser.add_argument_group("segments options")
    group.add_argument(
        "--reuse-database", help="measure on a database kept by --keep instead of loading one"
    )
    group.add_argument("--demo-password", help="its demo password (for patron serve)")
    group.add_argument(
        "--repetitions", type=int, default=5, help="measured runs of each query (default 5)"
    )
    group.add_argument(
        "--no-dashboards", dest="dashboards", action="store_false", help="segments only"
    )


def run(context: Context) -> Report:
    options = SegmentsOptions.of(context)
    postgres = context.postgres
    report = start_report(
        context,
        NAME,
        TITLE,
        with_pgbench=False,
        repetitions=options.repetitions,
        segments={case.name: case.expression for case in CASES},
    )
    if options.reuse_database:
        if not options.demo_password:
            raise BenchError("--reuse-database needs --demo-password")
        database, password = options.reuse_database, options.demo_password
    else:
        scale = Scale(options.customers, options.orders, options.events, options.products)
        loaded = create(postgres, scale)
        database, password = loaded.database, loaded.password
        report.environment["load_seconds"] = round(loaded.stats.seconds, 1)
        if options.keep:
            keep(postgres, loaded)
    report.environment["database"] = database
    now = datetime.now(UTC)
    say(f"Segments on {database} ({options.repetitions} repetitions each)…")
    results, problems = run_async(
        measure_segments(
            postgres.sqlalchemy_url(database),
            postgres.libpq_url(database),
            CASES,
            options.repetitions,
            now,
        )
    )
    figures: list[Figure] = []
    for _case, patron, raw, _count in results:
        baseline = raw.figure()
        figures += [patron.figure().relative_to(baseline), baseline]
    report.environment["members"] = {case.name: count for case, _, _, count in results}
    if options.dashboards:
        say("Dashboards through HTTP (patron serve --no-worker)…")
        dashboards = measure_dashboards(
            postgres, database, password, context.options.workdir, options.repetitions, now
        )
        figures += dashboards
        problems += [
            f"{figure.name}: {figure.p50_ms or 60_000:,.0f} ms, over {AIM_SECONDS:g} s"
            for figure in dashboards
            if figure.name.startswith("GET")
            and (figure.failed or (figure.p50_ms or 0) > AIM_SECONDS * 1000)
        ]
    report.figures = figures
    report.environment["aims_missed"] = problems
    report.environment["load_average_after"] = load_average()
    say("\nAims (count under 1 s and within 1.5x of the SQL; dashboards under 1 s):")
    for line in problems or ["all met"]:
        say(f"  {line}")
    return report
