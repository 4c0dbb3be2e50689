"""privacy requests, export and erasure

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# erasure searches raw webhook bodies and stored API answers (bytea) for a customer's email;
# a body that is not UTF-8 is searched in its escaped form instead of failing the erasure
BYTES_TEXT = """
CREATE FUNCTION patron_bytes_text(value bytea) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
    RETURN convert_from(value, 'UTF8');
EXCEPTION WHEN character_not_in_repertoire OR untranslatable_character THEN
    RETURN encode(value, 'escape');
END $$;
"""


def upgrade() -> None:
    op.execute(BYTES_TEXT)
    op.add_column("customer", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "privacy_request",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("connection_id", sa.UUID(), nullable=True),
        sa.Column("requested_by_id", sa.UUID(), nullable=True),
        sa.Column("requested_by_label", sa.Text(), server_default="", nullable=False),
        sa.Column("status", sa.String(length=8), server_default="queued", nullable=False),
        sa.Column("error", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "details", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("file_path", sa.String(length=300), server_default="", nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column(
            "requested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('export', 'erasure', 'shop_erasure')", name=op.f("ck_privacy_request_kind")
        ),
        sa.CheckConstraint(
            "source IN ('staff', 'api', 'shopify')", name=op.f("ck_privacy_request_source")
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed', 'expired')",
            name=op.f("ck_privacy_request_status"),
        ),
        sa.CheckConstraint(
            "kind = 'shop_erasure' OR customer_id IS NOT NULL",
            name=op.f("ck_privacy_request_customer_required"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_privacy_request_customer_id_customer"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["store_connection.id"],
            name=op.f("fk_privacy_request_connection_id_store_connection"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["staff_user.id"],
            name=op.f("fk_privacy_request_requested_by_id_staff_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_request")),
    )
    op.create_index("ix_privacy_request_requested", "privacy_request", ["requested_at", "id"])
    op.create_index("ix_privacy_request_customer", "privacy_request", ["customer_id"])
    op.create_index(
        "ix_privacy_request_expiring",
        "privacy_request",
        ["expires_at"],
        postgresql_where=sa.text("file_path <> ''"),
    )


def downgrade() -> None:
    op.drop_table("privacy_request")
    op.drop_column("customer", "erased_at")
    op.execute("DROP FUNCTION patron_bytes_text(bytea)")
