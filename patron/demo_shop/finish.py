"""After the rows are in: customer metrics in one set-based statement, the automatic
lifecycle stage where time moved on since generation, the RFM scores, the customer and cohort
rollups, the daily sales and product rollups (the product rows also per month), the products
bought together, and the number sequences moved past the demo's numbers. Shared by the ORM
loader (demo) and the COPY loader (benchmark)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import TextClause, text

from patron.analytics import customer_rollups, product_rollups
from patron.analytics.rfm import COMPUTE_CUT_POINTS, SCORE_EVERYONE
from patron.analytics.rollups import REBUILD_RANGE
from patron.customers.metrics import REFRESH_ALL, UPDATE_ALL_STAGES
from patron.demo_shop.shop import ShopParams
from patron.segments.rollups import FILL_LINES

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
    """Metrics, stages, RFM scores, the order facts on the lines, the customer and cohort
    rollups, then the day-keyed rollups (the last ``ROLLUPS`` statements, which read orders by
    day: the benchmark runs them once the indexes are back). (Sequences are separate:
    ``ADVANCE_SEQUENCE`` for each of ``sequence_targets`` that ``SEQUENCE_EXISTS``.)"""
    every_day = {"first": date(1970, 1, 1), "last": now.date() + timedelta(days=1)}
    return [
        (REFRESH_ALL, {}),
        (UPDATE_ALL_STAGES, stage_parameters(params, now)),
        (COMPUTE_CUT_POINTS, {"now": now}),
        (SCORE_EVERYONE, {"now": now}),
        (FILL_LINES, {}),
        *((statement, {}) for statement in customer_rollups.RECOMPUTE_ALL),
        (REBUILD_RANGE, every_day),
        (product_rollups.FILL_RANGE, every_day),
        (product_rollups.FILL_MONTHS, every_day),
        (product_rollups.INSERT_PAIRS, product_rollups.pair_parameters(now.date())),
    ]


ROLLUPS = 4


def sequence_targets(*, next_order: int, next_return: int) -> dict[str, int]:
    return {"shop_order_number_seq": next_order, "order_return_number_seq": next_return}
