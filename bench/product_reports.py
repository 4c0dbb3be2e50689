"""Time the products report in process, beside hand-written SQL for its main question.

    python -m bench.product_reports DATABASE_URL [--repetitions N] [--recompute]
    python -m bench products [--reuse-database NAME | dataset size options] [--repetitions N]

For the last 30, 90 and 365 days, for every channel and for the first channel by name: the
products report as the demo administrator sees it (``products_report``: top sellers, return
rates, pairs) on Patron's async engine, and beside it, alternating, hand-written SQL over
``order_line`` and ``shop_order`` for the same top ten by revenue, on a psycopg connection;
one unrecorded round, then ``--repetitions`` measured ones. The top ten's revenues must be
equal, or the run fails. A before/after check of the product rollups (docs/benchmarks.md,
"Segments and dashboards"): run as a module on any database URL (also with an older tree's
code), or as the ``products`` capability of ``python -m bench`` on a kept dataset
(``--reuse-database``) or a dataset it loads (``bench scale``'s size options).

With ``--recompute``, instead, what one order change costs the rollup job: ``rollups.recompute``
of yesterday's busiest (day, channel, currency) key (sales, product and monthly product rows;
idempotent, so committing it changes nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from bench.harness import Context, run_async, say, start_report
from bench.load import BenchError
from bench.report import Figure, Report, load_average
from bench.scale import Scale, add_scale_arguments, create, keep
from bench.segments import Measured, admin_principal
from patron.analytics import rollups
from patron.analytics.period import ReportPeriod
from patron.analytics.sales.reports import products_report
from patron.db.engine import Database, libpq_url
from patron.kit.time import utcnow

NAME = "products"
TITLE = "Products dashboard (30/90/365 days, every channel and one) beside hand-written SQL"
DAYS = (30, 90, 365)
TOP = 10
# the report's main question over the raw tables: the top sellers by revenue
TOP_SQL = """
    SELECT l.product_id, sum(l.quantity), round(sum(l.total * o.exchange_rate), 2),
           count(DISTINCT o.id)
    FROM order_line l JOIN shop_order o ON o.id = l.order_id
    WHERE o.cancelled_at IS NULL AND o.placed_at >= %(since)s AND o.placed_at < %(until)s
      AND (%(channel)s::uuid IS NULL OR o.channel_id = %(channel)s::uuid)
    GROUP BY l.product_id
    ORDER BY 3 DESC
    LIMIT %(top)s
"""


def _ms(seconds: list[float]) -> str:
    return f"{statistics.median(seconds) * 1000:,.0f} ms"


async def measure(url: str, repetitions: int) -> list[tuple[Measured, Measured]]:
    """Per period and channel, Patron's report and the SQL's runs (each printed as a line)."""
    database = Database(url, pool_size=1)
    results = []
    try:
        principal = await admin_principal(database)
        connection = await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True)
        try:
            cursor = await connection.execute(b"SELECT id, name FROM channel ORDER BY name")
            first = await cursor.fetchone()
            channels: list[tuple[Any, str | None]] = [(None, None)]
            if first is not None:
                channels.append((first[0], first[1]))
            today = utcnow().date()
            for days in DAYS:
                start = today - timedelta(days=days - 1)
                since = datetime.combine(start, datetime.min.time(), UTC)
                params = {"since": since, "until": since + timedelta(days=days), "top": TOP}
                for channel_id, name in channels:
                    period = ReportPeriod(start, today, "day", name)
                    label = f"products, {days} days, channel {name or 'all'}"
                    mine, theirs = Measured(label, []), Measured(f"SQL: {label}", [])
                    for round_ in range(repetitions + 1):
                        async with database.transaction() as db:
                            started = time.perf_counter()
                            report = await products_report(
                                db, period, principal=principal, currency="USD", limit=TOP
                            )
                            took = time.perf_counter() - started
                        started = time.perf_counter()
                        cursor = await connection.execute(
                            TOP_SQL.encode(), {**params, "channel": channel_id}
                        )
                        rows = await cursor.fetchall()
                        took_sql = time.perf_counter() - started
                        revenues = [Decimal(row.revenue) for row in report.top]
                        if revenues != [Decimal(row[2]) for row in rows]:
                            raise BenchError(
                                f"{days} days, channel {name or 'all'}: the report's top "
                                f"revenues {revenues} differ from the SQL's"
                            )
                        if round_:
                            mine.seconds.append(took)
                            theirs.seconds.append(took_sql)
                    runs = " ".join(f"{s * 1000:,.0f}" for s in mine.seconds)
                    pairs = "precomputed" if report.pairs_precomputed else "live"
                    print(
                        f"{label}: Patron {_ms(mine.seconds)} ({runs}; pairs {pairs}),"
                        f" hand-written SQL {_ms(theirs.seconds)}",
                        flush=True,
                    )
                    results.append((mine, theirs))
        finally:
            await connection.close()
    finally:
        await database.dispose()
    return results


BUSIEST_KEY = """
    SELECT day, channel_id, currency FROM sales_daily WHERE day = %(day)s
    ORDER BY orders_count DESC LIMIT 1
"""


async def measure_recompute(url: str, repetitions: int) -> str:
    """``rollups.recompute`` of yesterday's busiest key, one transaction per run."""
    database = Database(url, pool_size=1)
    try:
        connection = await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True)
        async with connection:
            yesterday = utcnow().date() - timedelta(days=1)
            cursor = await connection.execute(BUSIEST_KEY.encode(), {"day": yesterday})
            key = await cursor.fetchone()
        if key is None:
            raise BenchError(f"no sales on {yesterday}")
        seconds = []
        for round_ in range(repetitions + 1):
            started = time.perf_counter()
            async with database.transaction() as db:
                await rollups.recompute(db, [(key[0], key[1], key[2])])
            if round_:
                seconds.append(time.perf_counter() - started)
    finally:
        await database.dispose()
    runs = " ".join(f"{s * 1000:,.0f}" for s in seconds)
    line = f"recompute of one key ({key[0]}, busiest channel, {key[2]}): {_ms(seconds)} ({runs})"
    print(line, flush=True)
    return line


# -- the capability --------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductsOptions:
    scale: Scale
    keep: bool = False
    reuse_database: str | None = None
    repetitions: int = 3

    @classmethod
    def of(cls, context: Context) -> ProductsOptions:
        given = vars(context.arguments) if context.arguments else {}
        sizes = {name: given.get(name) for name in ("customers", "orders", "events", "products")}
        return cls(
            Scale(**{name: value for name, value in sizes.items() if value is not None}),
            keep=bool(given.get("keep")),
            reuse_database=given.get("reuse_database"),
            repetitions=int(given.get("repetitions") or 3),
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scale_arguments(parser)
    group = parser.add_argument_group("products options")
    group.add_argument(
        "--reuse-database", help="measure on a database kept by --keep instead of loading one"
    )
    group.add_argument("--repetitions", type=int, default=3, help="measured rounds (default 3)")


def run(context: Context) -> Report:
    options = ProductsOptions.of(context)
    postgres = context.postgres
    report = start_report(context, NAME, TITLE, with_pgbench=False, repetitions=options.repetitions)
    database = options.reuse_database
    if database is None:
        loaded = create(postgres, options.scale)
        database = loaded.database
        if options.keep:
            keep(postgres, loaded)
    report.environment["database"] = database
    say(f"Products dashboard on {database} ({options.repetitions} repetitions each)…")
    figures: list[Figure] = []
    for mine, theirs in run_async(measure(postgres.sqlalchemy_url(database), options.repetitions)):
        baseline = theirs.figure()
        figures += [mine.figure().relative_to(baseline), baseline]
    report.figures = figures
    report.environment["load_average_after"] = load_average()
    return report


def main(arguments: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database_url", help="a migrated, loaded database (not a base copy)")
    parser.add_argument("--repetitions", type=int, default=3, help="measured rounds (default 3)")
    parser.add_argument(
        "--recompute", action="store_true", help="time one key's rollup recomputation instead"
    )
    given = parser.parse_args(arguments)
    if given.recompute:
        asyncio.run(measure_recompute(given.database_url, given.repetitions))
    else:
        asyncio.run(measure(given.database_url, given.repetitions))


if __name__ == "__main__":
    main()
