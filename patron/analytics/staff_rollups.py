"""The staff report's rollups: owned orders per owner and day, and the timeline counts.

``staff_owned_daily`` (owner_id, channel_key, day, orders, net) adds up the order facts
(``customer_order_fact``) of the live (not merged) customers who have an owner, by the owner
they have *now*. Two kinds of change move it, and both only append signed rows to
``staff_owned_change``, which the ``reports.rollup_queued`` job adds up (:func:`fold_changes`,
oldest first, a batch per transaction, each row once), so no writer updates a shared sum row:

- an order change rewrites the customer's facts (``customer_rollups.refresh``) and, in the
  same statement, appends the facts written minus the facts removed, each under the owner of
  the customer the fact belongs to (:func:`owned_changes`);
- a change of owner (any ``UPDATE`` of ``customer``: an edit, the bulk set-owner, an import,
  a merge, which also marks the merged customer, a staff user deleted, which sets owners to
  NULL) or a customer deleted appends, from a statement trigger (migration 0027, set-based
  for bulk updates), the customer's facts negated under the old owner and under the new one.

The two must not miss each other: the order change locks its customers' rows ``FOR SHARE``
(:data:`LOCK_OWNERS`) before it rewrites their facts, so an owner change either commits first
(the order change then reads the new owner, and the trigger moved only the facts before it)
or waits for the order change to commit (its trigger, a new snapshot, moves the new facts).
Orders of different customers lock different rows: they never wait for each other.

``staff_activity_daily`` is kept by triggers on ``timeline_entry`` (migration 0024).
``patron reports rebuild`` recomputes both from their sources (:data:`RECOMPUTE_ACTIVITY`, and
:data:`FILL_OWNED` within ``customer_rollups.RECOMPUTE_ALL``, which the demo and benchmark
loaders also run).
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics.pending import take_oldest

CHANGE_COLUMNS = "owner_id, channel_key, day, orders, net"

FACTS_OF_CUSTOMERS = """
    SELECT id FROM customer_order_fact WHERE customer_id = ANY(:ids)
    UNION
    SELECT f.id FROM customer_order_fact f JOIN shop_order o ON o.id = f.order_id
    WHERE o.customer_id = ANY(:ids)
"""
"""The facts an order change of the customers ``:ids`` rewrites: theirs, and those of orders
now theirs (a merge, an order moved to them), by two index scans (a ``UNION``, not an ``OR``,
which would scan every fact)."""

# the customers whose facts those are, locked against a change of owner meanwhile
LOCK_OWNERS = text(
    f"""
    SELECT count(*) FROM (
        SELECT id FROM customer
        WHERE id IN (SELECT unnest(CAST(:ids AS uuid[]))
                     UNION
                     SELECT customer_id FROM customer_order_fact
                     WHERE id IN ({FACTS_OF_CUSTOMERS}))
        ORDER BY id FOR SHARE
    ) locked
    """  # noqa: S608 (constant fragments)
)


def owned_changes(made: str, gone: str) -> str:
    """The statement (for a CTE) appending the owned-order changes of the fact rows ``made``
    and ``gone`` (relations with customer_id, channel_key, day, net)."""
    return f"""
        INSERT INTO staff_owned_change ({CHANGE_COLUMNS})
        SELECT c.owner_id, x.channel_key, x.day, sum(x.sign), sum(x.sign * x.net)
        FROM (SELECT customer_id, channel_key, day, net, 1 AS sign FROM {made}
              UNION ALL
              SELECT customer_id, channel_key, day, net, -1 FROM {gone}) x
        JOIN customer c ON c.id = x.customer_id
        WHERE c.owner_id IS NOT NULL AND c.merged_into_id IS NULL
        GROUP BY 1, 2, 3 HAVING sum(x.sign) <> 0 OR sum(x.sign * x.net) <> 0
        RETURNING 1
    """  # noqa: S608 (constant fragments)


# take the oldest committed changes (rows another run is taking are skipped) and add them to
# the sums; returns how many were taken, and the keys whose sums reached zero
_FOLD = text(
    f"""
    WITH changes AS ({take_oldest("staff_owned_change", CHANGE_COLUMNS)}
    ), summed AS (
        INSERT INTO staff_owned_daily AS t ({CHANGE_COLUMNS})
        SELECT owner_id, channel_key, day, sum(orders), sum(net) FROM changes
        GROUP BY 1, 2, 3 HAVING sum(orders) <> 0 OR sum(net) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (owner_id, channel_key, day) DO UPDATE
        SET orders = t.orders + EXCLUDED.orders, net = t.net + EXCLUDED.net
        RETURNING {CHANGE_COLUMNS}
    )
    SELECT (SELECT count(*) FROM changes), z.owner_id, z.channel_key, z.day
    FROM (SELECT 1) one
    LEFT JOIN summed z ON z.orders = 0 AND z.net = 0
    """  # noqa: S608 (constant fragments)
)
_DROP_ZEROS = text(
    """
    DELETE FROM staff_owned_daily
    WHERE (owner_id, channel_key, day) IN (
        SELECT * FROM unnest(CAST(:owners AS uuid[]), CAST(:channels AS uuid[]),
                             CAST(:days AS date[])))
      AND orders = 0 AND net = 0
    """
)


async def fold_changes(db: AsyncSession, *, limit: int) -> int:
    """Add up to ``limit`` pending owned-order changes (committed ones, oldest first) to
    ``staff_owned_daily`` and delete them (and the rows they bring to zero); returns how
    many. The caller's transaction does it all: if it rolls back, they stay pending."""
    rows = (await db.execute(_FOLD, {"limit": limit})).all()
    zeros: list[tuple[uuid.UUID, uuid.UUID, date]] = [
        (row[1], row[2], row[3]) for row in rows if row[1] is not None
    ]
    if zeros:
        owners, channels, days = (list(column) for column in zip(*zeros, strict=True))
        await db.execute(_DROP_ZEROS, {"owners": owners, "channels": channels, "days": days})
    return int(rows[0][0]) if rows else 0


OWNED_TABLES = ("staff_owned_change", "staff_owned_daily")

FILL_OWNED = f"""
    INSERT INTO staff_owned_daily ({CHANGE_COLUMNS})
    SELECT c.owner_id, f.channel_key, f.day, count(*), sum(f.net)
    FROM customer_order_fact f JOIN customer c ON c.id = f.customer_id
    WHERE c.owner_id IS NOT NULL AND c.merged_into_id IS NULL
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""  # noqa: S608 (constant fragments)
"""Every owned-order row from the facts (the facts recomputed first)."""

# the staff actors of patron.models.timeline.STAFF_ACTORS
STAFF_ENTRIES = "actor_type IN ('user', 'api_key') AND actor_id IS NOT NULL"
ACTIVITY_KEY = "actor_id, kind, (occurred_at AT TIME ZONE 'UTC')::date"
FILL_ACTIVITY = f"""
    INSERT INTO staff_activity_daily (actor_id, kind, day, n)
    SELECT {ACTIVITY_KEY}, count(*) FROM timeline_entry WHERE {STAFF_ENTRIES}
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""  # noqa: S608 (constant fragments)

# in the order every writer takes them (an entry, then its trigger's counts): no deadlock
RECOMPUTE_ACTIVITY: list[TextClause] = [
    text("LOCK TABLE timeline_entry IN SHARE MODE"),  # entries wait meanwhile
    text("LOCK TABLE staff_activity_daily IN SHARE ROW EXCLUSIVE MODE"),
    text("DELETE FROM staff_activity_daily"),
    text(FILL_ACTIVITY),
]
"""``staff_activity_daily`` recomputed from the timeline, in a transaction of its own
(``patron reports rebuild``); ``staff_owned_daily`` is recomputed with the order facts
(``customer_rollups.RECOMPUTE_ALL``)."""


async def rebuild_activity(db: AsyncSession) -> int:
    """Recompute the daily timeline counts; returns how many rows."""
    for statement in RECOMPUTE_ACTIVITY:
        await db.execute(statement)
    return int(await db.scalar(text("SELECT count(*) FROM staff_activity_daily")) or 0)
