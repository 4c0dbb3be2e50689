"""RFM scores and groups

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCORES = ("recency_score", "frequency_score", "monetary_score")
GROUPS = (
    "champions",
    "loyal",
    "potential_loyalists",
    "new_customers",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cant_lose",
    "hibernating",
    "lost",
)


def upgrade() -> None:
    for score in SCORES:
        op.add_column("customer_metrics", sa.Column(score, sa.SmallInteger(), nullable=True))
        op.create_check_constraint(
            op.f(f"ck_customer_metrics_{score}"), "customer_metrics", f"{score} BETWEEN 1 AND 5"
        )
    op.add_column("customer_metrics", sa.Column("rfm_group", sa.Text(), nullable=True))
    op.create_check_constraint(
        op.f("ck_customer_metrics_rfm_group"),
        "customer_metrics",
        "rfm_group IN (" + ", ".join(f"'{name}'" for name in GROUPS) + ")",
    )
    op.add_column(
        "customer_metrics",
        sa.Column("rfm_scored_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "customer_metrics", sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        "ix_customer_metrics_rfm_scores",
        "customer_metrics",
        list(SCORES),
        postgresql_where=sa.text("recency_score IS NOT NULL"),
    )
    op.create_index(
        "ix_customer_metrics_rfm_group",
        "customer_metrics",
        ["rfm_group"],
        postgresql_where=sa.text("rfm_group IS NOT NULL"),
    )
    op.create_table(
        "rfm_cut_points",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("customers", sa.Integer(), server_default="0", nullable=False),
        sa.Column("recency_days", postgresql.ARRAY(sa.Integer()), nullable=True),
        sa.Column("orders_count", postgresql.ARRAY(sa.Integer()), nullable=True),
        sa.Column("monetary", postgresql.ARRAY(sa.Numeric(14, 2)), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rfm_cut_points")),
    )
    op.create_index("ix_rfm_cut_points_computed_at", "rfm_cut_points", ["computed_at"])


def downgrade() -> None:
    op.drop_index("ix_rfm_cut_points_computed_at", table_name="rfm_cut_points")
    op.drop_table("rfm_cut_points")
    op.drop_index("ix_customer_metrics_rfm_group", table_name="customer_metrics")
    op.drop_index("ix_customer_metrics_rfm_scores", table_name="customer_metrics")
    for column in ("last_seen_at", "rfm_scored_at", "rfm_group", *reversed(SCORES)):
        op.drop_column("customer_metrics", column)
