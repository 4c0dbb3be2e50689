"""Daily sales rollups: one row per UTC day, channel and order currency.

Every row is recomputed from the orders (never incremented), so a retried job or a replayed
webhook cannot drift it. Order changes call :func:`refresh_orders` in their own transaction,
which only *queues* the keys (day, channel, currency) their figures land on, in the
``rollup_queue`` table, and the ``reports.rollup_queued`` job (one at a time, at most one
waiting) takes them in batches and recomputes them with :func:`recompute`: concurrent order
changes of the same day no longer wait on each other, and the rollup follows within seconds
(a minute at worst, the job's periodic run). The nightly job and ``patron reports rebuild``
call :func:`rebuild`, which also takes the range's queued keys. Both lock the rows' keys first
(transaction-scoped advisory locks, in a fixed order), so two transactions that recompute the
same day and channel take turns and the second one computes from the first's committed orders.

Attribution: an order counts on the day it was placed; a refund on the day it was processed
and a return on the day it was requested (both in the order's channel and currency).
Cancelled orders count nowhere, with their refunds and returns. Amounts are in the shop
currency, converted with each order's exchange rate.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics import customer_rollups, product_rollups, staff_rollups
from patron.analytics.day_keys import DAY_END as _DAY_END
from patron.analytics.day_keys import DAY_START as _DAY_START
from patron.analytics.day_keys import GIVEN_KEYS as _GIVEN_KEYS
from patron.analytics.day_keys import LOCK as _LOCK
from patron.analytics.day_keys import ORDERS_OF_KEY, Key, advisory_lock_id, in_days
from patron.analytics.day_keys import SAME_KEY as _SAME_KEY
from patron.analytics.day_keys import UTC_DAY as _UTC_DAY
from patron.analytics.day_keys import given as _given
from patron.analytics.pending import take_oldest
from patron.db.engine import Database
from patron.worker.app import drain_in_batches, job_app, runtime
from patron.worker.enqueue import enqueue_once


def _upsert(keys: str) -> TextClause:
    """Recompute the rows of the keys (day, channel_id, currency) that ``keys`` selects."""
    return text(
        f"""
        INSERT INTO sales_daily AS s (
            day, channel_id, currency, orders_count, gross_sales, discounts, shipping, tax,
            gross_revenue, refunds, net_revenue, units, returns_count, returned_units,
            updated_at)
        SELECT k.day, k.channel_id, k.currency, sold.orders_count, sold.gross_sales,
               sold.discounts, sold.shipping, sold.tax, sold.gross_revenue, back.refunds,
               sold.gross_revenue - back.refunds, sold.units, ret.returns_count,
               ret.returned_units, now()
        FROM ({keys}) k
        CROSS JOIN LATERAL (
            SELECT count(*) AS orders_count,
                   coalesce(round(sum(o.subtotal * o.exchange_rate), 2), 0) AS gross_sales,
                   coalesce(round(sum(o.discount_total * o.exchange_rate), 2), 0) AS discounts,
                   coalesce(round(sum(o.shipping_total * o.exchange_rate), 2), 0) AS shipping,
                   coalesce(round(sum(o.tax_total * o.exchange_rate), 2), 0) AS tax,
                   coalesce(round(sum(o.total * o.exchange_rate), 2), 0) AS gross_revenue,
                   coalesce(sum(o.items_count), 0) AS units
            FROM shop_order o
            WHERE {ORDERS_OF_KEY}
        ) sold
        CROSS JOIN LATERAL (
            SELECT coalesce(round(sum(r.amount * o.exchange_rate), 2), 0) AS refunds
            FROM refund r JOIN shop_order o ON o.id = r.order_id
            WHERE r.processed_at >= {_DAY_START} AND r.processed_at < {_DAY_END}
              AND {_SAME_KEY} AND o.cancelled_at IS NULL
        ) back
        CROSS JOIN LATERAL (
            SELECT count(*) AS returns_count, coalesce(sum(units.quantity), 0) AS returned_units
            FROM order_return rt JOIN shop_order o ON o.id = rt.order_id
            CROSS JOIN LATERAL (
                SELECT coalesce(sum(quantity), 0) AS quantity
                FROM return_line WHERE return_id = rt.id
            ) units
            WHERE rt.created_at >= {_DAY_START} AND rt.created_at < {_DAY_END}
              AND {_SAME_KEY} AND o.cancelled_at IS NULL AND rt.status <> 'rejected'
        ) ret
        ON CONFLICT (day, channel_id, currency) DO UPDATE SET
            orders_count = EXCLUDED.orders_count,
            gross_sales = EXCLUDED.gross_sales,
            discounts = EXCLUDED.discounts,
            shipping = EXCLUDED.shipping,
            tax = EXCLUDED.tax,
            gross_revenue = EXCLUDED.gross_revenue,
            refunds = EXCLUDED.refunds,
            net_revenue = EXCLUDED.net_revenue,
            units = EXCLUDED.units,
            returns_count = EXCLUDED.returns_count,
            returned_units = EXCLUDED.returned_units,
            updated_at = EXCLUDED.updated_at
        """  # noqa: S608
    )


# every key an order's figures land on: its day, and the days of its refunds and returns
_KEYS_OF_ORDERS_SQL = f"""
    SELECT DISTINCT d.day, o.channel_id, o.currency
    FROM shop_order o
    CROSS JOIN LATERAL (
        SELECT {_UTC_DAY.format("o.placed_at")} AS day
        UNION SELECT {_UTC_DAY.format("r.processed_at")} FROM refund r WHERE r.order_id = o.id
        UNION SELECT {_UTC_DAY.format("rt.created_at")}
              FROM order_return rt WHERE rt.order_id = o.id
    ) d
    WHERE o.id = ANY(:ids)
"""  # noqa: S608
_KEYS_OF_ORDERS = text(_KEYS_OF_ORDERS_SQL)

# one statement per order change: the orders' keys and the earlier ones, each once
_QUEUE = text(
    f"""
    INSERT INTO rollup_queue (day, channel_id, currency)
    {_KEYS_OF_ORDERS_SQL} UNION {_GIVEN_KEYS}
    """
)

# committed rows only: a key queued by a transaction still open stays for the next batch, and
# the orders of every row taken are visible to the recomputation's later statements
_TAKE_QUEUED = text(
    f"""
    WITH taken AS ({take_oldest("rollup_queue", "day, channel_id, currency")})
    SELECT day, channel_id, currency, count(*) FROM taken GROUP BY day, channel_id, currency
    """  # noqa: S608 (constant fragments)
)

_TAKE_QUEUED_IN_RANGE = text(
    "DELETE FROM rollup_queue WHERE day BETWEEN :first AND :last"
    " RETURNING day, channel_id, currency"
)

# every key with figures or a row between :first and :last (rows left over become zeros)
_KEYS_IN_RANGE = f"""
    SELECT day, channel_id, currency FROM sales_daily WHERE day BETWEEN :first AND :last
    UNION
    SELECT {_UTC_DAY.format("placed_at")}, channel_id, currency FROM shop_order
    WHERE {in_days("placed_at")}
    UNION
    SELECT {_UTC_DAY.format("r.processed_at")}, o.channel_id, o.currency
    FROM refund r JOIN shop_order o ON o.id = r.order_id
    WHERE {in_days("r.processed_at")}
    UNION
    SELECT {_UTC_DAY.format("rt.created_at")}, o.channel_id, o.currency
    FROM order_return rt JOIN shop_order o ON o.id = rt.order_id
    WHERE {in_days("rt.created_at")}
"""  # noqa: S608
KEYS_IN_RANGE = text(_KEYS_IN_RANGE)

_UPSERT_KEYS = _upsert(_GIVEN_KEYS)

REBUILD_RANGE = _upsert(_KEYS_IN_RANGE)
"""Every row between ``:first`` and ``:last`` in one statement, without locks: for bulk
loads that nothing else writes to meanwhile (the demo shop)."""


def lock_id(key: Key) -> int:
    day, channel_id, currency = key
    return advisory_lock_id(f"sales_daily|{day}|{channel_id or ''}|{currency}")


async def recompute(db: AsyncSession, keys: Collection[Key]) -> int:
    """Lock these keys (in a fixed order) and recompute their rows from the orders, then the
    product rollup's rows of the same keys (and of their months)."""
    if not keys:
        return 0
    unique = sorted(set(keys), key=lock_id)
    await db.execute(_LOCK, {"locks": [lock_id(key) for key in unique]})
    await db.execute(_UPSERT_KEYS, _given(unique))
    await product_rollups.recompute(db, unique)
    return len(unique)


def _keys(rows: Sequence[Any]) -> list[Key]:
    return [(row[0], row[1], row[2]) for row in rows]


async def keys_of(db: AsyncSession, order_ids: Collection[uuid.UUID]) -> list[Key]:
    """The keys these orders' figures land on now."""
    if not order_ids:
        return []
    return _keys((await db.execute(_KEYS_OF_ORDERS, {"ids": list(set(order_ids))})).all())


async def refresh_orders(
    db: AsyncSession, order_ids: Collection[uuid.UUID], *, earlier: Collection[Key] = ()
) -> None:
    """Queue every day an order's figures land on (after the change is flushed), and the
    ``earlier`` keys of a change that moved orders to another day, for the
    ``reports.rollup_queued`` job, in this transaction: a rolled-back change queues nothing,
    a committed one is never missed."""
    if not order_ids and not earlier:
        return
    await db.execute(_QUEUE, {"ids": list(set(order_ids)), **_given(list(set(earlier)))})
    await enqueue_once(db, refresh_queued)


async def owners_changed(db: AsyncSession) -> None:
    """Queue the ``reports.rollup_queued`` job after customers changed owner, in this
    transaction: the owner trigger (migration 0027) can only append the owned-order changes,
    and without this they would wait for the job's next periodic run."""
    await enqueue_once(db, refresh_queued)


async def take_queued(db: AsyncSession, *, limit: int) -> int:
    """Take up to ``limit`` queued rows (committed ones, oldest first) and recompute their
    keys; returns how many rows were taken. The caller's transaction deletes them: if it
    rolls back, they stay queued."""
    rows = (await db.execute(_TAKE_QUEUED, {"limit": limit})).all()
    await recompute(db, _keys(rows))
    return sum(int(row[3]) for row in rows)


# queued rows per transaction: a few days of a busy shop, or a month of an import
QUEUE_BATCH = 1_000


# Also every minute: a change whose transaction found this job waiting, and committed only
# after the job had started, is picked up by the next run.
@job_app.periodic(cron="* * * * *")
@job_app.task(
    name="reports.rollup_queued",
    queue="reports",
    queueing_lock="rollup_queued",
    lock="rollup_queued",
)
async def refresh_queued(timestamp: int | None = None) -> int:
    """Recompute the queued rollup keys, then add the pending customer rollup changes and
    the staff report's owned-order changes to their sums, a batch per transaction; returns
    how many queued rows and changes were taken."""
    database = runtime().database
    keys = await drain_in_batches(
        database, lambda db: take_queued(db, limit=QUEUE_BATCH), batch=QUEUE_BATCH
    )
    changes = await drain_in_batches(
        database,
        lambda db: customer_rollups.fold_changes(db, limit=QUEUE_BATCH),
        batch=QUEUE_BATCH,
    )
    owned = await drain_in_batches(
        database,
        lambda db: staff_rollups.fold_changes(db, limit=QUEUE_BATCH),
        batch=QUEUE_BATCH,
    )
    return keys + changes + owned


async def rebuild(db: AsyncSession, *, first: date, last: date) -> int:
    """Recompute every row from ``first`` to ``last``, with the range's queued keys (which
    this takes); returns how many keys."""
    span = {"first": first, "last": last}
    queued = (await db.execute(_TAKE_QUEUED_IN_RANGE, span)).all()
    rows = (await db.execute(KEYS_IN_RANGE, span)).all()
    return await recompute(db, [*_keys(rows), *_keys(queued)])


def chunks(first: date, last: date, days: int = 31) -> list[tuple[date, date]]:
    """The range cut into pieces of at most ``days`` days, one transaction each."""
    pieces = []
    start = first
    while start <= last:
        end = min(start + timedelta(days=days - 1), last)
        pieces.append((start, end))
        start = end + timedelta(days=1)
    return pieces


_FIRST_DAY = "SELECT CAST(min(placed_at) AT TIME ZONE 'UTC' AS date) FROM shop_order"
_FIRST_ORDER_DAY = text(_FIRST_DAY)
_UNFILLED_SINCE = text(_FIRST_DAY + " WHERE NOT EXISTS (SELECT 1 FROM sales_daily)")  # noqa: S608


async def first_order_day(db: AsyncSession) -> date | None:
    found = await db.scalar(_FIRST_ORDER_DAY)
    return found if isinstance(found, date) else None


async def unfilled_since(db: AsyncSession) -> date | None:
    """The first order's day when the rollup is empty but orders exist (a database that
    had orders before the rollup existed), else None."""
    found = await db.scalar(_UNFILLED_SINCE)
    return found if isinstance(found, date) else None


async def rebuild_in_chunks(database: Database, *, first: date, last: date) -> int:
    """Rebuild a long range a month per transaction (short locks, bounded work each)."""
    total = 0
    for start, end in chunks(first, last):
        async with database.transaction() as db:
            total += await rebuild(db, first=start, last=end)
    return total
