"""daily report rollups and the weekly summary

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("now()")
SUM = sa.Numeric(precision=16, scale=2)
FIGURES = (
    ("orders_count", sa.Integer()),
    ("gross_sales", SUM),
    ("discounts", SUM),
    ("shipping", SUM),
    ("tax", SUM),
    ("gross_revenue", SUM),
    ("refunds", SUM),
    ("net_revenue", SUM),
    ("units", sa.Integer()),
    ("returns_count", sa.Integer()),
    ("returned_units", sa.Integer()),
)


def upgrade() -> None:
    op.create_table(
        "sales_daily",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel_id", sa.UUID(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        *(sa.Column(name, kind, server_default="0", nullable=False) for name, kind in FIGURES),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_sales_daily_currency")),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
            name=op.f("fk_sales_daily_channel_id_channel"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_daily")),
    )
    op.create_index(
        "uq_sales_daily_day_channel_currency",
        "sales_daily",
        ["day", "channel_id", "currency"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    op.create_index(op.f("ix_sales_daily_channel_id"), "sales_daily", ["channel_id"])
    op.create_table(
        "weekly_summary_sent",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("message_id", sa.UUID(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["staff_user.id"],
            name=op.f("fk_weekly_summary_sent_user_id_staff_user"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["mail_message.id"],
            name=op.f("fk_weekly_summary_sent_message_id_mail_message"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("user_id", "week_start", name=op.f("pk_weekly_summary_sent")),
    )
    op.add_column(
        "staff_user",
        sa.Column("weekly_summary", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.create_index("ix_refund_processed", "refund", ["processed_at"])
    op.create_index("ix_order_return_created", "order_return", ["created_at"])
    # existing orders are rolled up by the first nightly job (or `patron reports rebuild`)


def downgrade() -> None:
    op.drop_index("ix_order_return_created", table_name="order_return")
    op.drop_index("ix_refund_processed", table_name="refund")
    op.drop_column("staff_user", "weekly_summary")
    op.drop_table("weekly_summary_sent")
    op.drop_index(op.f("ix_sales_daily_channel_id"), table_name="sales_daily")
    op.drop_index("uq_sales_daily_day_channel_currency", table_name="sales_daily")
    op.drop_table("sales_daily")
