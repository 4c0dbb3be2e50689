"""What segment conditions read instead of the raw rows, kept by triggers (migrations 0019
and 0028).

``customer_event_day`` (daily event counts per customer and name) is kept by statement
triggers on ``tracking_event``: every insert, update (an anonymous visitor identified, events
moved) and delete (erasure, a customer deleted) adjusts it in the same transaction.
``customer_event_recent`` (each customer's latest events of each name) is kept the same way
(migration 0028). :func:`rebuild_events` recomputes both from the events. The order
facts on ``order_line`` (customer, placing time, cancellation) are copied from the order by a
row trigger when a line is written and pushed to the lines when the order changes.

A loader that writes lines in the same statement as their orders (the benchmark's generator)
leaves the copies empty; :data:`FILL_LINES` sets them, set-based, touching only lines that
differ from their order.
"""

from __future__ import annotations

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.models import CustomerEventDay, CustomerEventRecent
from patron.models.events import RECENT_EVENTS

FILL_EVENT_DAYS = text(
    """
    INSERT INTO customer_event_day (name, day, customer_id, n)
    SELECT name, (occurred_at AT TIME ZONE 'UTC')::date, customer_id, count(*)
    FROM tracking_event WHERE customer_id IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    """
)
FILL_EVENT_RECENT = text(
    """
    INSERT INTO customer_event_recent (name, customer_id, recent)
    SELECT name, customer_id,
           (array_agg(occurred_at ORDER BY occurred_at DESC))[1:CAST(:kept AS integer)]
    FROM tracking_event WHERE customer_id IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2
    """
)

FILL_LINES = text(
    """
    UPDATE order_line l SET customer_id = o.customer_id, placed_at = o.placed_at,
                            cancelled_at = o.cancelled_at
    FROM shop_order o
    WHERE o.id = l.order_id
      AND (l.customer_id, l.placed_at, l.cancelled_at)
          IS DISTINCT FROM (o.customer_id, o.placed_at, o.cancelled_at)
    """
)


async def rebuild_events(db: AsyncSession) -> tuple[int, int]:
    """Recompute ``customer_event_day`` and ``customer_event_recent`` from the events, in the
    caller's transaction; returns their row counts. Event writes wait meanwhile (a SHARE lock
    on ``tracking_event``); segment counts go on reading the old rows until it commits."""
    await db.execute(text("LOCK TABLE tracking_event IN SHARE MODE"))
    await db.execute(delete(CustomerEventDay))
    days = await db.execute(FILL_EVENT_DAYS)
    await db.execute(delete(CustomerEventRecent))
    recent = await db.execute(FILL_EVENT_RECENT, {"kept": RECENT_EVENTS})
    # the rows each fill inserted (no second scan to count them)
    return int(getattr(days, "rowcount", 0) or 0), int(getattr(recent, "rowcount", 0) or 0)
