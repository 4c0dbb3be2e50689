"""The benchmark dataset: the demo shop's generator at scale, streamed in by COPY.

A throwaway database is migrated and given the demo staff (owners of customers, authors of
notes); then ``patron.demo_shop.stream`` generates customers with two years of orders and
everything around them and COPYs them in batches (bounded memory), rebuilds the secondary
indexes and foreign keys, computes customer metrics in one statement, and ANALYZEs.

Figures: rows per second of generate + COPY, beside PostgreSQL's plain COPY of the same rows
(copied out of the loaded tables into bare tables of the same shape, on the same server, in
the same run): the raw lower bound of ingesting them. With ``--keep`` the database stays, for
``patron serve`` or other benchmarks (its URL and the demo password are printed).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from bench.harness import Context, options_of, say, start_report
from bench.report import Figure, Report, load_average
from patron import demo
from patron.config import Settings
from patron.db.engine import Database
from patron.db.migrate import upgrade
from patron.demo_shop.shop import ShopParams
from patron.demo_shop.stream import LoadStats, copy_shop, demo_staff
from patron.demo_shop.tables import TABLES
from patron.users.service import ensure_builtin_roles

NAME = "dataset"
TITLE = "Benchmark dataset: demo shop generator streamed by COPY, beside plain COPY"


@dataclass(frozen=True)
class DatasetOptions:
    customers: int = 100_000
    orders: int | None = None  # 10 per customer
    seed: int = 2026
    batch_size: int = 500
    keep: bool = False

    @classmethod
    def of(cls, context: Context) -> DatasetOptions:
        """This command's options, or their defaults when every capability runs."""
        return options_of(cls, context)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = DatasetOptions()
    group = parser.add_argument_group("dataset options")
    group.add_argument(
        "--customers",
        type=int,
        default=defaults.customers,
        help="customers to generate (default 100,000; the design's scale is 1,000,000)",
    )
    group.add_argument(
        "--orders",
        type=int,
        default=None,
        help="orders to aim for (default 10 per customer)",
    )
    group.add_argument("--seed", type=int, default=defaults.seed, help="generator seed")
    group.add_argument(
        "--batch-size",
        type=int,
        default=defaults.batch_size,
        help="customers generated and committed together (default 500)",
    )
    group.add_argument(
        "--keep", action="store_true", help="keep the database and print how to use it"
    )


def _prepare(url: str, password: str) -> None:
    """Migrations, roles and the demo staff (no shop: the COPY load brings it)."""
    upgrade(url)
    with tempfile.TemporaryDirectory(prefix="patron-bench-dataset-") as data_dir:
        settings = Settings(
            _env_file=None,
            environment="development",
            database_url=url,
            data_dir=Path(data_dir),
            demo_password=password,
        )

        async def seed() -> None:
            database = Database(url, pool_size=1)
            try:
                async with database.transaction() as session:
                    await ensure_builtin_roles(session)
                async with database.transaction() as session:
                    await demo.seed(session, settings, shop=False)
            finally:
                await database.dispose()

        asyncio.run(seed())


def _plain_copy(conninfo: str) -> tuple[int, float]:
    """COPY every loaded table out and into a bare table of its shape: (rows, seconds)."""
    rows = 0
    with psycopg.connect(conninfo) as source, psycopg.connect(conninfo) as target:
        target.execute("SET synchronous_commit = off")
        for table in TABLES:
            bare = sql.Identifier(f"bench_plain_{table}")
            target.execute(
                sql.SQL(
                    "CREATE UNLOGGED TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING GENERATED)"
                ).format(bare, sql.Identifier(table))
            )
        target.commit()
        started = time.monotonic()
        for table, columns in TABLES.items():
            names = sql.SQL(", ").join(map(sql.Identifier, columns))
            out = sql.SQL("COPY {} ({}) TO STDOUT (FORMAT BINARY)").format(
                sql.Identifier(table), names
            )
            into = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                sql.Identifier(f"bench_plain_{table}"), names
            )
            with (
                source.cursor().copy(out) as reader,
                target.cursor().copy(into) as writer,
            ):
                for data in reader:
                    writer.write(data)
            target.commit()
        seconds = time.monotonic() - started
        for table in TABLES:
            found = target.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(f"bench_plain_{table}"))
            ).fetchone()
            rows += int(found[0]) if found else 0
            target.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(f"bench_plain_{table}")))
        target.commit()
    return rows, seconds


def _figure(name: str, rows: int, seconds: float) -> Figure:
    return Figure(
        name=name,
        unit="rows/s",
        clients=1,
        duration=round(seconds, 3),
        succeeded=rows,
        failed=0,
        rate=rows / seconds if seconds else 0.0,
        p50_ms=None,
        p95_ms=None,
        p99_ms=None,
    )


def run(context: Context) -> Report:
    options = DatasetOptions.of(context)
    customers = options.customers
    orders = options.orders or customers * 10
    postgres = context.postgres
    report = start_report(
        context,
        NAME,
        TITLE,
        postgres=postgres,
        customers=customers,
        orders_aimed_for=orders,
        seed=options.seed,
        batch_size=options.batch_size,
    )
    database = postgres.create_database("patron_dataset")
    url, conninfo = postgres.sqlalchemy_url(database), postgres.libpq_url(database)
    password = secrets.token_urlsafe(12)
    say(f"Migrating {database} and creating the demo staff…")
    _prepare(url, password)
    with psycopg.connect(conninfo) as connection:
        staff = demo_staff(connection)
    params = ShopParams(
        now=datetime.now(UTC),
        seed=options.seed,
        customers=customers,
        orders=orders,
        staff=staff,
        batch_size=options.batch_size,
    )
    say(f"Generating {customers:,} customers (about {orders:,} orders) and COPYing them in…")
    stats: LoadStats = copy_shop(conninfo, params, progress=say)
    say(
        f"  {stats.total_rows:,} rows in {stats.seconds:,.1f} s "
        f"({stats.generate_seconds:,.1f} s generating); indexes and foreign keys "
        f"{stats.index_seconds:,.1f} s; metrics, stages and ANALYZE {stats.finish_seconds:,.1f} s"
    )
    say("Plain COPY of the same rows into bare tables (the raw PostgreSQL reference)…")
    plain_rows, plain_seconds = _plain_copy(conninfo)
    baseline = _figure("plain COPY of the same rows (bare tables)", plain_rows, plain_seconds)
    loaded = _figure("generate + COPY, all tables", stats.total_rows, stats.seconds)
    report.figures = [loaded.relative_to(baseline), baseline]
    report.environment.update(
        {
            "rows": dict(stats.rows),
            "generate_seconds": round(stats.generate_seconds, 1),
            "index_seconds": round(stats.index_seconds, 1),
            "finish_seconds": round(stats.finish_seconds, 1),
            "load_average_after": load_average(),
        }
    )
    if options.keep:
        postgres.created.remove(database)
        say(f"\nKept database {database}:\n  PATRON_DATABASE_URL={url}")
        say(f"  demo sign-ins: admin@example.com … password {password}")
    return report
