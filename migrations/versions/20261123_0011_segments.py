"""segments: definitions, static members, membership and size history

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("now()")


def _cascade(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "segment",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", postgresql.CITEXT(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("expression", sa.Text(), server_default="", nullable=False),
        sa.Column("ast", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_by_id", sa.UUID(), nullable=True),
        sa.Column("member_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint("kind IN ('dynamic', 'static')", name=op.f("ck_segment_kind")),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["staff_user.id"],
            name=op.f("fk_segment_created_by_id_staff_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment")),
        sa.UniqueConstraint("name", name=op.f("uq_segment_name")),
    )
    op.create_table(
        "segment_member",
        sa.Column("segment_id", sa.UUID(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        _cascade("segment_member", "segment_id", "segment"),
        _cascade("segment_member", "customer_id", "customer"),
        sa.PrimaryKeyConstraint("segment_id", "customer_id", name=op.f("pk_segment_member")),
    )
    op.create_index("ix_segment_member_customer", "segment_member", ["customer_id"])
    op.create_table(
        "segment_membership_change",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("segment_id", sa.UUID(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("change", sa.String(length=7), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "change IN ('entered', 'exited')", name=op.f("ck_segment_membership_change_change")
        ),
        _cascade("segment_membership_change", "segment_id", "segment"),
        _cascade("segment_membership_change", "customer_id", "customer"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_membership_change")),
    )
    op.create_index(
        "ix_segment_membership_change_segment",
        "segment_membership_change",
        ["segment_id", "occurred_at"],
    )
    op.create_index(
        "ix_segment_membership_change_customer", "segment_membership_change", ["customer_id"]
    )
    op.create_table(
        "segment_size",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("segment_id", sa.UUID(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("entered", sa.Integer(), server_default="0", nullable=False),
        sa.Column("exited", sa.Integer(), server_default="0", nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        _cascade("segment_size", "segment_id", "segment"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_size")),
    )
    op.create_index("ix_segment_size_segment", "segment_size", ["segment_id", "recorded_at"])


def downgrade() -> None:
    op.drop_table("segment_size")
    op.drop_table("segment_membership_change")
    op.drop_table("segment_member")
    op.drop_table("segment")
