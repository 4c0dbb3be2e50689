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
calls) and moves the two rollups by the difference between the facts removed and written,
in the same statement. The difference comes from the stored facts, never from the change
itself, so a replayed or retried change moves nothing; concurrent changes of different
customers add to the same rollup rows under row locks (additions commute), and changes of
the same customer take turns on an advisory lock. ``patron reports rebuild``, the demo and
benchmark loaders and migration 0021 recompute all three tables from the orders
(:data:`REBUILD`).

Patron never deletes orders; orders deleted with SQL (or by the cascade of a customer deleted
with SQL) leave facts behind until the next ``patron reports rebuild``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.models.reports import ALL_CHANNELS

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

# rewrite the facts of the customers :ids (and of orders that moved to them, a merge) and
# move both rollups by the difference, in one statement
_REFRESH = text(
    f"""
    WITH gone AS (
        DELETE FROM customer_order_fact
        WHERE customer_id = ANY(:ids)
           OR order_id IN (SELECT id FROM shop_order WHERE customer_id = ANY(:ids))
        RETURNING {_SIGNED}, -1 AS sign
    ), made AS (
        INSERT INTO customer_order_fact ({_FACT_COLUMNS})
        {facts_sql("o.customer_id = ANY(:ids)")}
        RETURNING {_SIGNED}, 1 AS sign
    ), changes AS (
        SELECT * FROM gone UNION ALL SELECT * FROM made
    ), daily AS ({_DAILY_CHANGES})
    {_COHORT_CHANGES}
    """  # noqa: S608
)

_LOCK = text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:locks AS bigint[])) k")


def lock_id(customer_id: uuid.UUID) -> int:
    digest = hashlib.blake2b(f"customer_facts|{customer_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def refresh(db: AsyncSession, customer_ids: Collection[uuid.UUID]) -> None:
    """Rewrite these customers' facts from their orders (after the change is flushed) and
    move the rollups by the difference."""
    if not customer_ids:
        return
    ids = sorted(set(customer_ids), key=lock_id)
    await db.execute(_LOCK, {"locks": [lock_id(customer_id) for customer_id in ids]})
    await db.execute(_REFRESH, {"ids": ids})


_EVERY_FACT = f"WITH changes AS (SELECT {_SIGNED}, 1 AS sign FROM customer_order_fact)"  # noqa: S608

REBUILD: list[TextClause] = [
    text(
        "LOCK TABLE customer_order_fact, customer_orders_daily, customer_cohort_daily"
        " IN SHARE ROW EXCLUSIVE MODE"
    ),
    text("DELETE FROM customer_order_fact"),
    text("DELETE FROM customer_orders_daily"),
    text("DELETE FROM customer_cohort_daily"),
    text(f"INSERT INTO customer_order_fact ({_FACT_COLUMNS}) {facts_sql('true')}"),
    text(_EVERY_FACT + _DAILY_CHANGES),
    text(_EVERY_FACT + _COHORT_CHANGES),
]
"""Every fact and rollup row recomputed from the orders, in one transaction (the lock keeps
order changes waiting meanwhile): the demo and benchmark loaders, ``patron reports rebuild``
and migration 0021."""


async def rebuild(db: AsyncSession) -> int:
    """Recompute all three tables; returns how many facts."""
    for statement in REBUILD:
        await db.execute(statement)
    return int(await db.scalar(text("SELECT count(*) FROM customer_order_fact")) or 0)
