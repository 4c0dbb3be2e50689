"""After the rows are in: customer metrics in one set-based statement, the automatic
lifecycle stage where time moved on since generation, and the number sequences moved past the
demo's numbers. Shared by the ORM loader (demo) and the COPY loader (benchmark)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import TextClause, text

# the same stage rules as patron.customers.metrics, applied to every customer at once
from patron.customers.metrics import _STAGE
from patron.demo_shop.shop import ShopParams

# patron.customers.metrics.refresh's figures, computed with GROUP BY instead of per customer
METRICS = text(
    """
    INSERT INTO customer_metrics AS m (
        customer_id, orders_count, total_spent, refunded_total, average_order_value,
        first_order_at, last_order_at, items_bought, returns_count, updated_at)
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
           now()
    FROM customer c
    LEFT JOIN (
        SELECT customer_id,
               count(*) AS orders_count,
               round(sum((total - refunded_total) * exchange_rate), 2) AS spent,
               round(sum(refunded_total * exchange_rate), 2) AS refunded,
               min(placed_at) AS first_order_at,
               max(placed_at) AS last_order_at,
               sum(items_count) AS items
        FROM shop_order
        WHERE cancelled_at IS NULL
        GROUP BY customer_id
    ) o ON o.customer_id = c.id
    LEFT JOIN (
        SELECT ro.customer_id, count(*) AS returns_count
        FROM order_return rt JOIN shop_order ro ON ro.id = rt.order_id
        WHERE rt.status <> 'rejected'
        GROUP BY ro.customer_id
    ) r ON r.customer_id = c.id
    ON CONFLICT (customer_id) DO UPDATE SET
        orders_count = EXCLUDED.orders_count,
        total_spent = EXCLUDED.total_spent,
        refunded_total = EXCLUDED.refunded_total,
        average_order_value = EXCLUDED.average_order_value,
        first_order_at = EXCLUDED.first_order_at,
        last_order_at = EXCLUDED.last_order_at,
        items_bought = EXCLUDED.items_bought,
        returns_count = EXCLUDED.returns_count,
        updated_at = EXCLUDED.updated_at
    """
)

# the generator sets each stage already; this only fixes those a boundary moved past since
STAGES = text(
    f"""
    UPDATE customer c SET lifecycle_stage = s.stage, updated_at = now()
    FROM (
        SELECT c.id, {_STAGE} AS stage
        FROM customer c LEFT JOIN customer_metrics m ON m.customer_id = c.id
        WHERE NOT c.lifecycle_locked AND c.merged_into_id IS NULL
    ) s
    WHERE c.id = s.id AND c.lifecycle_stage <> s.stage
    """  # noqa: S608 (a constant fragment, no input)
)

SEQUENCE_EXISTS = text("SELECT to_regclass(:name) IS NOT NULL")
# never moves a sequence back: numbers already handed out stay taken
ADVANCE_SEQUENCE = text(
    "SELECT setval(CAST(:name AS regclass), greatest(:next, nextval(CAST(:name AS regclass))),"
    " false)"
)


def stage_parameters(params: ShopParams, now: datetime) -> dict[str, Any]:
    return {
        "churned_before": now - timedelta(days=params.churned_after_days),
        "at_risk_before": now - timedelta(days=params.at_risk_after_days),
        "vip_spent": params.vip_spent,
    }


def statements(params: ShopParams, now: datetime) -> list[tuple[TextClause, dict[str, Any]]]:
    """Metrics, then stages. (Sequences are separate: ``ADVANCE_SEQUENCE`` for each of
    ``sequence_targets`` that ``SEQUENCE_EXISTS``.)"""
    return [(METRICS, {}), (STAGES, stage_parameters(params, now))]


def sequence_targets(*, next_order: int, next_return: int) -> dict[str, int]:
    return {"shop_order_number_seq": next_order, "order_return_number_seq": next_return}
