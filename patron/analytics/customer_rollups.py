"""Customer and cohort rollups: the customers and cohorts reports without scanning the orders.

Every counted order (not cancelled) of a customer has a row in ``customer_order_fact`` twice:
once across every channel (``channel_key`` = :data:`ALL_CHANNELS`) and once within its own
channel. The row says which of the customer's orders it is (``seq`` 1, 2, 3 for later ones,
ordered by ``placed_at`` then id), the UTC day of the order before (``prev_day``), of the
customer's first order (``first_day``), and whether it is the customer's first order of its
UTC month. Two small tables add them up:

- ``customer_orders_daily`` (channel_key, day, prev_day, seq): the customers who ordered in
  any range of days are the orders in it whose previous order is before the range (each
  customer counted once, by their first order in the range); new ones are ``seq`` 1, new
  ones who ordered again in the range the ``seq`` 2 whose previous day is in the range.
- ``customer_cohort_daily`` (channel_key, first_day, day): what each first-order day's
  customers spent by a date, and how many of them ordered in each month (the cohort matrix).

:func:`refresh` rewrites the facts of some customers whenever their orders change (called by
``patron.customers.metrics.refresh``, which every order change, import and merge already
calls), in the change's transaction, and appends the difference between the facts removed
and written to ``customer_rollup_change`` (signed rows: -1 removed, +1 written), in the same
statement. The difference comes from the stored facts, never from the change itself, so a
replayed or retried change appends nothing; changes of the same customer take turns on an
advisory lock, and changes of different customers never wait for each other (they only
append rows). The same statement appends the staff report's owned-order changes
(:mod:`patron.analytics.staff_rollups`, after locking the customers' rows against an owner
change). The ``reports.rollup_queued`` job (queued by the change, as for the sales
rollup) adds the pending changes to the two sums with :func:`fold_changes`, oldest first, a
batch per transaction, deleting the rows it adds in that transaction (rows another run is
taking are skipped, so each change is added once): the customer figures follow order changes
within the job's delay. ``patron reports rebuild``, the demo and benchmark loaders
recompute all three tables from the orders and drop the pending changes
(:data:`RECOMPUTE_ALL`); migration 0021 filled them with :data:`REBUILD`.

Patron never deletes orders; orders deleted with SQL (or by the cascade of a customer deleted
with SQL) leave facts behind until the next ``patron reports rebuild``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics import staff_rollups
from patron.analytics.pending import take_oldest
from patron.models.reports import ALL_CHANNELS
from patron.worker.enqueue import enqueue_once

_ALL = f"CAST('{ALL_CHANNELS}' AS uuid)"
_UTC = "CAST({} AT TIME ZONE 'UTC' AS date)"
_FACT_COLUMNS = (
    "channel_key, order_id, customer_id, day, prev_day, seq, first_day, month_first, net"
)


def facts_sql(where: str) -> str:
    """The fact rows of the counted orders ``where`` selects (``o`` is the order)."""
    return f"""
        SELECT x.channel_key, x.order_id, x.customer_id, {_UTC.format("x.placed_at")},
               {_UTC.format("x.prev_at")}, CAST(least(x.n, 3) AS smallint),
               {_UTC.format("x.first_at")},
               x.prev_at IS NULL OR date_trunc('month', x.prev_at AT TIME ZONE 'UTC')
                                    < date_trunc('month', x.placed_at AT TIME ZONE 'UTC'),
               x.net
        FROM (
            SELECT s.channel_key, o.id AS order_id, o.customer_id, o.placed_at,
                   (o.total - o.refunded_total) * o.exchange_rate AS net,
                   lag(o.placed_at) OVER w AS prev_at,
                   row_number() OVER w AS n,
                   first_value(o.placed_at) OVER w AS first_at
            FROM shop_order o
            CROSS JOIN LATERAL (VALUES ({_ALL}), (o.channel_id)) s(channel_key)
            WHERE o.cancelled_at IS NULL AND s.channel_key IS NOT NULL AND {where}
            WINDOW w AS (PARTITION BY o.customer_id, s.channel_key ORDER BY o.placed_at, o.id)
        ) x
    """  # noqa: S608 (constant fragments, no input)


# the rollup rows of a set of signed fact rows ``changes`` (sign -1 removed, +1 written)
_DAILY_CHANGES = """
    INSERT INTO customer_orders_daily AS t (channel_key, day, prev_day, seq, orders, net)
    SELECT channel_key, day, prev_day, seq, sum(sign), sum(sign * net)
    FROM changes GROUP BY channel_key, day, prev_day, seq
    HAVING sum(sign) <> 0 OR sum(sign * net) <> 0
    ORDER BY channel_key, day, prev_day, seq
    ON CONFLICT (channel_key, day, prev_day, seq) DO UPDATE
    SET orders = t.orders + EXCLUDED.orders, net = t.net + EXCLUDED.net
"""
_COHORT_CHANGES = """
    INSERT INTO customer_cohort_daily AS t (
        channel_key, first_day, day, customers, month_customers, net)
    SELECT channel_key, first_day, day, coalesce(sum(sign) FILTER (WHERE seq = 1), 0),
           coalesce(sum(sign) FILTER (WHERE month_first), 0), sum(sign * net)
    FROM changes GROUP BY channel_key, first_day, day
    HAVING sum(sign) FILTER (WHERE seq = 1) <> 0 OR sum(sign) FILTER (WHERE month_first) <> 0
        OR sum(sign * net) <> 0
    ORDER BY channel_key, first_day, day
    ON CONFLICT (channel_key, first_day, day) DO UPDATE
    SET customers = t.customers + EXCLUDED.customers,
        month_customers = t.month_customers + EXCLUDED.month_customers,
        net = t.net + EXCLUDED.net
"""
_SIGNED = "channel_key, day, prev_day, seq, first_day, month_first, net"

_CHANGE_COLUMNS = f"{_SIGNED}, sign"

# rewrite the facts of the customers :ids (and of orders that moved to them, a merge) and
# append the difference between the facts removed and written (a fact rewritten unchanged
# cancels out) for the job, in one statement; returns how many change rows
_REFRESH = text(
    f"""
    WITH gone AS (
        DELETE FROM customer_order_fact WHERE id IN ({staff_rollups.FACTS_OF_CUSTOMERS})
        RETURNING customer_id, {_SIGNED}
    ), made AS (
        INSERT INTO customer_order_fact ({_FACT_COLUMNS})
        {facts_sql("o.customer_id = ANY(:ids)")}
        RETURNING customer_id, {_SIGNED}
    ), appended AS (
        INSERT INTO customer_rollup_change ({_CHANGE_COLUMNS})
        SELECT *, 1 FROM (SELECT {_SIGNED} FROM made EXCEPT ALL SELECT {_SIGNED} FROM gone) w
        UNION ALL
        SELECT *, -1 FROM (SELECT {_SIGNED} FROM gone EXCEPT ALL SELECT {_SIGNED} FROM made) r
        RETURNING 1
    ), owned AS ({staff_rollups.owned_changes("made", "gone")})
    SELECT (SELECT count(*) FROM appended) + (SELECT count(*) FROM owned)
    """  # noqa: S608
)

# take the oldest committed changes (rows another run is taking are skipped, so each is
# taken once) and add them to both rollups, in one statement; returns how many were taken
_FOLD = text(
    f"""
    WITH changes AS ({take_oldest("customer_rollup_change", _CHANGE_COLUMNS)}
    ), daily AS ({_DAILY_CHANGES}), cohort AS ({_COHORT_CHANGES})
    SELECT count(*) FROM changes
    """  # noqa: S608
)

_LOCK = text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:locks AS bigint[])) k")


def lock_id(customer_id: uuid.UUID) -> int:
    digest = hashlib.blake2b(f"customer_facts|{customer_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def refresh(db: AsyncSession, customer_ids: Collection[uuid.UUID]) -> None:
    """Rewrite these customers' facts from their orders (after the change is flushed) and
    append the difference for the ``reports.rollup_queued`` job (queued in this transaction
    when there is one): a rolled-back change appends nothing, a committed one is never
    missed."""
    if not customer_ids:
        return
    ids = sorted(set(customer_ids), key=lock_id)
    await db.execute(_LOCK, {"locks": [lock_id(customer_id) for customer_id in ids]})
    await db.execute(staff_rollups.LOCK_OWNERS, {"ids": ids})
    if await db.scalar(_REFRESH, {"ids": ids}):
        from patron.analytics.rollups import refresh_queued  # the job that drains both

        await enqueue_once(db, refresh_queued)


async def fold_changes(db: AsyncSession, *, limit: int) -> int:
    """Add up to ``limit`` pending changes (committed ones, oldest first) to the rollups and
    delete them; returns how many. The caller's transaction does both: if it rolls back,
    they stay pending."""
    return int(await db.scalar(_FOLD, {"limit": limit}) or 0)


_EVERY_FACT = f"WITH changes AS (SELECT {_SIGNED}, 1 AS sign FROM customer_order_fact)"  # noqa: S608
_FACTS_AND_SUMS = ("customer_order_fact", "customer_orders_daily", "customer_cohort_daily")
_RECOMPUTE = [
    text(f"INSERT INTO customer_order_fact ({_FACT_COLUMNS}) {facts_sql('true')}"),
    text(_EVERY_FACT + _DAILY_CHANGES),
    text(_EVERY_FACT + _COHORT_CHANGES),
]
_CHANGES = ("customer_rollup_change", staff_rollups.OWNED_TABLES[0])


def _emptied(*tables: str) -> list[TextClause]:
    """Lock these tables against every change (order changes and the job wait meanwhile),
    then empty them."""
    return [
        text(f"LOCK TABLE {', '.join(tables)} IN SHARE ROW EXCLUSIVE MODE"),
        *(text(f"DELETE FROM {table}") for table in tables),  # noqa: S608 (constant names)
    ]


REBUILD: list[TextClause] = [*_emptied(*_FACTS_AND_SUMS), *_RECOMPUTE]
"""Every fact and rollup row recomputed from the orders, in one transaction, as migration
0021 runs it (before the pending changes' table existed): use :data:`RECOMPUTE_ALL`."""

# locks in the order every other writer takes them (facts, changes, sums): no deadlock
RECOMPUTE_ALL: list[TextClause] = [
    *_emptied(_FACTS_AND_SUMS[0], *_CHANGES, *_FACTS_AND_SUMS[1:], *staff_rollups.OWNED_TABLES[1:]),
    *_RECOMPUTE,
    text(staff_rollups.FILL_OWNED),
]
"""Every fact and rollup row recomputed from the orders (and the staff report's owned
orders, ``staff_owned_daily``, from the facts) and the pending changes dropped
(the sums now count them), in one transaction that holds the tables meanwhile, so neither
an order change nor the job can add an older change on top: the demo and benchmark loaders
and ``patron reports rebuild``."""


async def rebuild(db: AsyncSession) -> int:
    """Recompute the facts and the sums on them and drop the pending changes; returns how
    many facts."""
    for statement in RECOMPUTE_ALL:
        await db.execute(statement)
    return int(await db.scalar(text("SELECT count(*) FROM customer_order_fact")) or 0)
