"""The demo shop at benchmark scale: the generator's rows streamed into PostgreSQL by COPY.

Memory stays bounded (one batch of customers at a time, each batch committed), tables are
written in the fixed order of :data:`~patron.demo_shop.tables.TABLES` so foreign keys hold,
and the metrics are built at the end by one set-based statement.

As for any bulk load, the loaded tables' secondary indexes and foreign keys are dropped first
and made again at the end (building an index once is far cheaper than maintaining it row by
row, and re-adding a foreign key checks every row in one join). Primary keys and unique
constraints stay, so a duplicate still fails the load at once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import TextClause
from sqlalchemy.dialects import postgresql

from patron.demo_shop import finish
from patron.demo_shop.generator import ShopGenerator
from patron.demo_shop.shop import ShopParams, StaffMember
from patron.demo_shop.tables import TABLES

# binary COPY needs a type per column; extension types travel as their base type
TYPE_ALIASES = {"citext": "text"}


_SECONDARY_INDEXES = """
    SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
    FROM pg_index i
    WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
    ORDER BY 1
"""
_FOREIGN_KEYS = """
    SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
    FROM pg_constraint
    WHERE contype = 'f' AND conrelid = ANY(%s::regclass[])
    ORDER BY 1, 2
"""


@dataclass
class LoadStats:
    rows: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0  # generating and copying, end to end
    generate_seconds: float = 0.0  # of which in the generator
    index_seconds: float = 0.0  # secondary indexes and foreign keys made again
    finish_seconds: float = 0.0  # metrics, stages, sequences, ANALYZE

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rate(self) -> float:
        return self.total_rows / self.seconds if self.seconds else 0.0


def demo_staff(connection: psycopg.Connection[Any]) -> tuple[StaffMember, ...]:
    rows = connection.execute(
        "SELECT id, email, name, role FROM staff_user WHERE is_demo AND is_active ORDER BY email"
    ).fetchall()
    return tuple(StaffMember(*row) for row in rows)


def _column_types(connection: psycopg.Connection[Any], table: str) -> dict[str, str]:
    rows = connection.execute(
        "SELECT attname, atttypid::regtype::text FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        (table,),
    ).fetchall()
    return {name: TYPE_ALIASES.get(kind, kind) for name, kind in rows}


@dataclass(frozen=True)
class _Deferred:
    indexes: list[tuple[str, str]]
    foreign_keys: list[tuple[str, str, str]]


def defer_indexes(
    connection: psycopg.Connection[Any], tables: Sequence[str] = tuple(TABLES)
) -> _Deferred:
    """Drop the secondary indexes and foreign keys of ``tables`` (committed); return them."""
    tables = list(tables)
    deferred = _Deferred(
        indexes=[(name, ddl) for name, ddl in connection.execute(_SECONDARY_INDEXES, (tables,))],
        foreign_keys=[tuple(row) for row in connection.execute(_FOREIGN_KEYS, (tables,))],
    )
    for table, name, _ in deferred.foreign_keys:
        connection.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.Identifier(table), sql.Identifier(name)
            )
        )
    for name, _ in deferred.indexes:
        connection.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    connection.commit()
    return deferred


def restore_indexes(connection: psycopg.Connection[Any], deferred: _Deferred) -> None:
    """Make again what :func:`defer_indexes` dropped (a partitioned table's index on every
    partition: its definition reads ``ON ONLY``, which would leave the partitions out)."""
    connection.execute("SET maintenance_work_mem = '512MB'")
    for _, ddl in deferred.indexes:
        connection.execute(ddl.replace(" ON ONLY ", " ON ", 1).encode())
    for table, name, definition in deferred.foreign_keys:
        connection.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
                sql.Identifier(table), sql.Identifier(name)
            )
            + sql.SQL(definition)
        )
    connection.commit()


def driver_sql(statement: TextClause) -> str:
    return str(statement.compile(dialect=postgresql.psycopg.dialect()))  # type: ignore[no-untyped-call]


def copy_shop(
    conninfo: str,
    params: ShopParams,
    *,
    progress: Callable[[str], None] | None = None,
    every: float = 10.0,
) -> LoadStats:
    """Generate the shop and COPY it into the (migrated, shop-less) database at ``conninfo``."""
    stats = LoadStats()
    generator = ShopGenerator(params)
    with psycopg.connect(conninfo) as connection:
        connection.execute("SET synchronous_commit = off")
        types = {table: _column_types(connection, table) for table in TABLES}
        deferred = defer_indexes(connection)
        try:
            _copy_batches(connection, generator, types, params, stats, progress, every)
        except BaseException:
            connection.rollback()
            restore_indexes(connection, deferred)
            raise
        before = time.monotonic()
        if progress is not None:
            progress(
                f"  {len(deferred.indexes)} secondary indexes and "
                f"{len(deferred.foreign_keys)} foreign keys…"
            )
        restore_indexes(connection, deferred)
        stats.index_seconds = time.monotonic() - before
        _finish(connection, generator, params, stats, progress)
    return stats


def _copy_batches(
    connection: psycopg.Connection[Any],
    generator: ShopGenerator,
    types: dict[str, dict[str, str]],
    params: ShopParams,
    stats: LoadStats,
    progress: Callable[[str], None] | None,
    every: float,
) -> None:
    statements = {
        table: sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        for table, columns in TABLES.items()
    }
    started = last_report = time.monotonic()
    batches = generator.batches()
    customers = 0
    while True:
        before = time.monotonic()
        batch = next(batches, None)
        stats.generate_seconds += time.monotonic() - before
        if batch is None:
            break
        with connection.cursor() as cursor:
            for table, columns in TABLES.items():
                rows = batch[table]
                if not rows:
                    continue
                with cursor.copy(statements[table]) as copy:
                    copy.set_types([types[table][column] for column in columns])
                    for row in rows:
                        copy.write_row(row)
                stats.rows[table] += len(rows)
        connection.commit()
        customers += len(batch["customer"])
        now = time.monotonic()
        if progress is not None and now - last_report >= every:
            last_report = now
            elapsed = now - started
            progress(
                f"  {customers:,}/{params.customers:,} customers, "
                f"{stats.rows['shop_order']:,} orders, {stats.total_rows:,} rows in "
                f"{elapsed:,.0f} s ({stats.total_rows / elapsed:,.0f} rows/s, "
                f"{100 * stats.generate_seconds / elapsed:.0f}% generating)"
            )
    stats.seconds = time.monotonic() - started


def _finish(
    connection: psycopg.Connection[Any],
    generator: ShopGenerator,
    params: ShopParams,
    stats: LoadStats,
    progress: Callable[[str], None] | None,
) -> None:
    before = time.monotonic()
    if progress is not None:
        progress("  customer metrics, lifecycle stages, sequences, ANALYZE…")
    for statement, parameters in finish.statements(params, datetime.now(UTC)):
        connection.execute(driver_sql(statement).encode(), parameters)
    targets = finish.sequence_targets(
        next_order=generator.next_order_number, next_return=generator.next_return_number
    )
    for name, value in targets.items():
        found = connection.execute(driver_sql(finish.SEQUENCE_EXISTS).encode(), {"name": name})
        if (exists := found.fetchone()) and exists[0]:
            connection.execute(
                driver_sql(finish.ADVANCE_SEQUENCE).encode(), {"name": name, "next": value}
            )
    connection.commit()
    connection.autocommit = True
    connection.execute("ANALYZE")
    stats.finish_seconds = time.monotonic() - before
