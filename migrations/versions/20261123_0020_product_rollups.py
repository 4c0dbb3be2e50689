"""product report rollups: sales per product and day, products bought together

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-23 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("now()")


def _id() -> sa.Column[sa.UUID]:
    return sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False)


def _channel(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["channel_id"], ["channel.id"], name=f"fk_{table}_channel_id_channel", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "product_sales_daily",
        _id(),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel_id", sa.UUID(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("item_key", sa.Text(), nullable=False),
        sa.Column("product_id", sa.UUID(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("orders_count", sa.Integer(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.Numeric(), nullable=False),
        sa.Column("returned_units", sa.Integer(), nullable=False),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_product_sales_daily_currency")),
        _channel("product_sales_daily"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_sales_daily")),
    )
    op.create_index(
        "uq_product_sales_daily_key",
        "product_sales_daily",
        ["day", "channel_id", "currency", "item_key"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    op.create_index(
        op.f("ix_product_sales_daily_channel_id"), "product_sales_daily", ["channel_id"]
    )
    op.create_table(
        "product_pair",
        _id(),
        sa.Column("channel_id", sa.UUID(), nullable=True),
        sa.Column("first_id", sa.UUID(), nullable=False),
        sa.Column("second_id", sa.UUID(), nullable=False),
        sa.Column("orders_count", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.Date(), nullable=False),
        sa.Column("window_end", sa.Date(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        _channel("product_pair"),
        sa.ForeignKeyConstraint(
            ["first_id"],
            ["product.id"],
            name=op.f("fk_product_pair_first_id_product"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["second_id"],
            ["product.id"],
            name=op.f("fk_product_pair_second_id_product"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_pair")),
    )
    op.create_index(
        "ix_product_pair_channel_orders", "product_pair", ["channel_id", "orders_count"]
    )
    # existing orders are rolled up by the first nightly job (product_rollups.unfilled_since)
    # or by `patron reports rebuild`; the pairs by the nightly job or the rebuild


def downgrade() -> None:
    op.drop_table("product_pair")
    op.drop_table("product_sales_daily")
