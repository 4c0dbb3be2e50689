"""What segment conditions read instead of the raw rows, kept by triggers (migration 0019).

``customer_event_day`` (daily event counts per customer and name) is kept by statement
triggers on ``tracking_event``: every insert, update (an anonymous visitor identified, events
moved) and delete (erasure, a customer deleted) adjusts it in the same transaction. The order
facts on ``order_line`` (customer, placing time, cancellation) are copied from the order by a
row trigger when a line is written and pushed to the lines when the order changes.

A loader that writes lines in the same statement as their orders (the benchmark's generator)
leaves the copies empty; :data:`FILL_LINES` sets them, set-based, touching only lines that
differ from their order.
"""

from __future__ import annotations

from sqlalchemy import text

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
