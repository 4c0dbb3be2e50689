"""Per-customer order figures, the automatic lifecycle stage and the RFM scores.

:func:`refresh` recomputes a customer's figures from their orders in the caller's
transaction, so every order change leaves the metrics exact (recomputing is idempotent where
incremental deltas would drift on replays), and rescores their RFM against the cut points in
force. Placing an order also counts as being seen (``last_seen_at``).
:func:`sweep_lifecycle` moves customers along as time passes (a customer becomes *at risk*,
then *churned*, without any order changing).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import timedelta

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics import customer_rollups, rfm
from patron.config import Settings
from patron.kit.time import utcnow
from patron.segments.changes import mark_customers_changed

_INSERT = """
    INSERT INTO customer_metrics AS m (
        customer_id, orders_count, total_spent, refunded_total, average_order_value,
        first_order_at, last_order_at, items_bought, returns_count, updated_at, last_seen_at)
    SELECT c.id,
           coalesce(o.orders_count, 0),
           coalesce(o.spent, 0),
           coalesce(o.refunded, 0),
           CASE WHEN coalesce(o.orders_count, 0) = 0 THEN 0
                ELSE round(o.spent / o.orders_count, 2) END,
           o.first_order_at,
           o.last_order_at,
           coalesce(o.items, 0),
           coalesce(r.returns_count, 0),
           now(),
           o.last_order_at
    FROM customer c
"""
_FIGURES = """
        count(*) AS orders_count,
        round(sum((total - refunded_total) * exchange_rate), 2) AS spent,
        round(sum(refunded_total * exchange_rate), 2) AS refunded,
        min(placed_at) AS first_order_at,
        max(placed_at) AS last_order_at,
        sum(items_count) AS items
"""
_UPSERT = """
    ON CONFLICT (customer_id) DO UPDATE SET
        orders_count = EXCLUDED.orders_count,
        total_spent = EXCLUDED.total_spent,
        refunded_total = EXCLUDED.refunded_total,
        average_order_value = EXCLUDED.average_order_value,
        first_order_at = EXCLUDED.first_order_at,
        last_order_at = EXCLUDED.last_order_at,
        items_bought = EXCLUDED.items_bought,
        returns_count = EXCLUDED.returns_count,
        updated_at = EXCLUDED.updated_at,
        last_seen_at = greatest(m.last_seen_at, EXCLUDED.last_seen_at)
"""

# some customers: one index range scan of each customer's orders (the S608 noqa: constant
# fragments, no input)
_REFRESH = text(
    _INSERT  # noqa: S608
    + f"""
    LEFT JOIN LATERAL (
        SELECT {_FIGURES}
        FROM shop_order WHERE customer_id = c.id AND cancelled_at IS NULL
    ) o ON true
    LEFT JOIN LATERAL (
        SELECT count(*) AS returns_count
        FROM order_return rt JOIN shop_order ro ON ro.id = rt.order_id
        WHERE ro.customer_id = c.id AND rt.status <> 'rejected'
    ) r ON true
    WHERE c.id = ANY(:ids)
    """  # noqa: S608
    + _UPSERT
)

# every customer at once (bulk loads): the same figures with GROUP BY
REFRESH_ALL = text(
    _INSERT  # noqa: S608
    + f"""
    LEFT JOIN (
        SELECT customer_id, {_FIGURES}
        FROM shop_order WHERE cancelled_at IS NULL GROUP BY customer_id
    ) o ON o.customer_id = c.id
    LEFT JOIN (
        SELECT ro.customer_id, count(*) AS returns_count
        FROM order_return rt JOIN shop_order ro ON ro.id = rt.order_id
        WHERE rt.status <> 'rejected'
        GROUP BY ro.customer_id
    ) r ON r.customer_id = c.id
    """  # noqa: S608
    + _UPSERT
)

# the automatic stage from the figures; a stage set by hand (lifecycle_locked) is kept
_STAGE = """
    CASE
        WHEN m.orders_count = 0 OR m.orders_count IS NULL THEN
            CASE WHEN EXISTS (SELECT 1 FROM cart WHERE cart.customer_id = c.id)
                 THEN 'prospect' ELSE 'lead' END
        WHEN m.last_order_at < :churned_before THEN 'churned'
        WHEN m.last_order_at < :at_risk_before THEN 'at_risk'
        WHEN m.total_spent >= :vip_spent THEN 'vip'
        WHEN m.orders_count >= 2 THEN 'repeat'
        ELSE 'customer'
    END
"""


def _stage_update(source: str, *, returning: str = "") -> TextClause:
    """Set the automatic stage of the customers ``source`` selects (``c`` joined to ``m``)."""
    return text(
        f"""
        UPDATE customer c SET lifecycle_stage = s.stage, updated_at = now()
        FROM (
            SELECT c.id, {_STAGE} AS stage {source}
              AND NOT c.lifecycle_locked AND c.merged_into_id IS NULL
        ) s
        WHERE c.id = s.id AND c.lifecycle_stage <> s.stage
        {returning}
        """  # noqa: S608 (constant fragments, no input)
    )


_UPDATE_STAGES = _stage_update(
    "FROM customer c LEFT JOIN customer_metrics m ON m.customer_id = c.id WHERE c.id = ANY(:ids)"
)
UPDATE_ALL_STAGES = _stage_update(
    "FROM customer c LEFT JOIN customer_metrics m ON m.customer_id = c.id WHERE true"
)
# time passing only moves customers who have ordered; the index on last_order_at finds them
_SWEEP = _stage_update(
    "FROM customer_metrics m JOIN customer c ON c.id = m.customer_id"
    " WHERE m.last_order_at < :at_risk_before AND c.lifecycle_stage <> 'churned'",
    returning="RETURNING c.id",
)


def _thresholds(settings: Settings) -> dict[str, object]:
    now = utcnow()
    return {
        "churned_before": now - timedelta(days=settings.churned_after_days),
        "at_risk_before": now - timedelta(days=settings.at_risk_after_days),
        "vip_spent": settings.vip_spent_threshold,
    }


async def refresh(
    db: AsyncSession, settings: Settings, customer_ids: Collection[uuid.UUID]
) -> None:
    """Recompute the figures and automatic lifecycle stage of these customers."""
    if not customer_ids:
        return
    ids = list(set(customer_ids))
    await db.execute(_REFRESH, {"ids": ids})
    await db.execute(_UPDATE_STAGES, {"ids": ids, **_thresholds(settings)})
    await rfm.rescore(db, ids)
    await customer_rollups.refresh(db, ids)
    await mark_customers_changed(db, ids)


async def sweep_lifecycle(db: AsyncSession, settings: Settings) -> int:
    """Move customers whose last order has aged into *at risk* or *churned*."""
    moved = list(await db.scalars(_SWEEP, _thresholds(settings)))
    await mark_customers_changed(db, moved)
    return len(moved)
