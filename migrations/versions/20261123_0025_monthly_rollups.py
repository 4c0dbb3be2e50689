"""monthly product rollup, and the state of rollups an upgrade leaves to fill

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-23 20:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the monthly rows as the sums of the daily ones (what product_rollups.FILL_MONTHS does)
BACKFILL = """
    INSERT INTO product_sales_monthly (
        month, channel_id, currency, item_key, product_id, title, orders_count, units,
        revenue, returned_units)
    SELECT CAST(date_trunc('month', CAST(day AS timestamp)) AS date), channel_id, currency,
           item_key, product_id, min(title), sum(orders_count), sum(units), sum(revenue),
           sum(returned_units)
    FROM product_sales_daily
    GROUP BY 1, channel_id, currency, item_key, product_id
"""
# a database upgraded with orders from before migration 0020 has an empty product rollup
# until the nightly job fills it: so long as the rollup does not reach back to the first
# order's day, the report reads the order lines (product_rollups.filled)
PENDING = """
    INSERT INTO rollup_state (name, filled_at)
    SELECT 'product_sales', NULL
    WHERE EXISTS (SELECT 1 FROM shop_order)
      AND coalesce((SELECT min(day) FROM product_sales_daily), DATE '9999-12-31')
          > (SELECT CAST(min(placed_at) AT TIME ZONE 'UTC' AS date) FROM shop_order)
"""


def upgrade() -> None:
    op.create_table(
        "product_sales_monthly",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("channel_id", sa.UUID(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("item_key", sa.Text(), nullable=False),
        sa.Column("product_id", sa.UUID(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("orders_count", sa.Integer(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.Numeric(), nullable=False),
        sa.Column("returned_units", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "currency ~ '^[A-Z]{3}$'", name=op.f("ck_product_sales_monthly_currency")
        ),
        sa.CheckConstraint(
            "EXTRACT(day FROM month) = 1", name=op.f("ck_product_sales_monthly_first_day")
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
            name=op.f("fk_product_sales_monthly_channel_id_channel"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_sales_monthly")),
    )
    op.create_index(
        "uq_product_sales_monthly_key",
        "product_sales_monthly",
        ["month", "channel_id", "currency", "item_key"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    op.create_index(
        op.f("ix_product_sales_monthly_channel_id"), "product_sales_monthly", ["channel_id"]
    )
    op.create_table(
        "rollup_state",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("filled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rollup_state")),
    )
    op.execute(BACKFILL)
    op.execute(PENDING)


def downgrade() -> None:
    op.drop_table("rollup_state")
    op.drop_table("product_sales_monthly")
