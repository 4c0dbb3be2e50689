"""customer and cohort report rollups

``customer_order_fact`` (every counted order of a customer, across every channel and within
its own: which order of the customer it is, the day of the one before and of the first) and
its two sums, ``customer_orders_daily`` and ``customer_cohort_daily``, which answer the
customers and cohorts reports (``patron/analytics/customer_rollups.py``). Filled here from
the existing orders, set-based (three INSERT ... SELECT; 1,000,000 orders: see
docs/benchmarks.md "Customer rollups").

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-23 16:30:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# every column of the three tables: its type and whether it may be null; sums default to 0
COLUMNS: dict[str, tuple[sa.types.TypeEngine[Any], bool]] = {
    "channel_key": (sa.UUID(), False),
    "order_id": (sa.UUID(), False),
    "customer_id": (sa.UUID(), False),
    "first_day": (sa.Date(), False),
    "day": (sa.Date(), False),
    "prev_day": (sa.Date(), True),
    "seq": (sa.SmallInteger(), False),
    "month_first": (sa.Boolean(), False),
    "orders": (sa.Integer(), False),
    "customers": (sa.Integer(), False),
    "month_customers": (sa.Integer(), False),
    "net": (sa.Numeric(), False),
}
SUMS = ("orders", "customers", "month_customers", "net")


def _table(name: str, *columns: str, sums: bool) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        *(
            sa.Column(
                column,
                COLUMNS[column][0],
                nullable=COLUMNS[column][1],
                server_default="0" if sums and column in SUMS else None,
            )
            for column in columns
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
    )


def upgrade() -> None:
    from patron.analytics.customer_rollups import REBUILD

    _table(
        "customer_order_fact",
        *("channel_key", "order_id", "customer_id", "day", "prev_day", "seq", "first_day"),
        *("month_first", "net"),
        sums=False,
    )
    op.create_index("ix_customer_order_fact_customer", "customer_order_fact", ["customer_id"])
    op.create_index(
        "ix_customer_order_fact_first",
        "customer_order_fact",
        ["channel_key", "customer_id"],
        postgresql_where=sa.text("seq = 1"),
    )
    _table(
        "customer_orders_daily", "channel_key", "day", "prev_day", "seq", "orders", "net", sums=True
    )
    op.create_index(
        "uq_customer_orders_daily_key",
        "customer_orders_daily",
        ["channel_key", "day", "prev_day", "seq"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    _table(
        "customer_cohort_daily",
        *("channel_key", "first_day", "day", "customers", "month_customers", "net"),
        sums=True,
    )
    op.create_index(
        "uq_customer_cohort_daily_key",
        "customer_cohort_daily",
        ["channel_key", "first_day", "day"],
        unique=True,
    )
    for statement in REBUILD:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("customer_cohort_daily")
    op.drop_table("customer_orders_daily")
    op.drop_table("customer_order_fact")
