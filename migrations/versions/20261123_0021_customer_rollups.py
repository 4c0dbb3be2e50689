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

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False)


def upgrade() -> None:
    from patron.analytics.customer_rollups import REBUILD

    op.create_table(
        "customer_order_fact",
        _id(),
        sa.Column("channel_key", sa.UUID(), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("prev_day", sa.Date(), nullable=True),
        sa.Column("seq", sa.SmallInteger(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("month_first", sa.Boolean(), nullable=False),
        sa.Column("net", sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_order_fact")),
    )
    op.create_index("ix_customer_order_fact_customer", "customer_order_fact", ["customer_id"])
    op.create_index(
        "ix_customer_order_fact_first",
        "customer_order_fact",
        ["channel_key", "customer_id"],
        postgresql_where=sa.text("seq = 1"),
    )
    op.create_table(
        "customer_orders_daily",
        _id(),
        sa.Column("channel_key", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("prev_day", sa.Date(), nullable=True),
        sa.Column("seq", sa.SmallInteger(), nullable=False),
        sa.Column("orders", sa.Integer(), server_default="0", nullable=False),
        sa.Column("net", sa.Numeric(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_orders_daily")),
    )
    op.create_index(
        "uq_customer_orders_daily_key",
        "customer_orders_daily",
        ["channel_key", "day", "prev_day", "seq"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    op.create_table(
        "customer_cohort_daily",
        _id(),
        sa.Column("channel_key", sa.UUID(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("customers", sa.Integer(), server_default="0", nullable=False),
        sa.Column("month_customers", sa.Integer(), server_default="0", nullable=False),
        sa.Column("net", sa.Numeric(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_cohort_daily")),
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
