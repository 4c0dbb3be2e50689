"""store connections, webhook receipts and their processing

`webhook_receipt` is keyed by (received_at, id) so that it can become
``PARTITION BY RANGE (received_at)`` with monthly partitions without changing a query; its
de-duplication key lives in `webhook_delivery`, which stays small (purged with retention).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "store_connection",
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("shop_domain", sa.String(length=255), nullable=False),
        sa.Column("channel_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=12), server_default="active", nullable=False),
        sa.Column("access_token", sa.LargeBinary(), nullable=True),
        sa.Column("access_token_tail", sa.String(length=4), server_default="", nullable=False),
        sa.Column("webhook_secret", sa.LargeBinary(), nullable=False),
        sa.Column("webhook_secret_tail", sa.String(length=4), server_default="", nullable=False),
        sa.Column("previous_webhook_secret", sa.LargeBinary(), nullable=True),
        sa.Column("uninstalled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "provider IN ('shopify', 'woocommerce', 'stripe')",
            name=op.f("ck_store_connection_provider"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'paused', 'uninstalled')",
            name=op.f("ck_store_connection_status"),
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
            name=op.f("fk_store_connection_channel_id_channel"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_connection")),
        sa.UniqueConstraint("provider", "shop_domain", name=op.f("uq_store_connection_provider")),
    )
    op.create_index(
        op.f("ix_store_connection_channel_id"), "store_connection", ["channel_id"], unique=False
    )
    op.create_table(
        "store_record_version",
        sa.Column("connection_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["store_connection.id"],
            name=op.f("fk_store_record_version_connection_id_store_connection"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "connection_id", "kind", "external_id", name=op.f("pk_store_record_version")
        ),
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("connection_id", sa.UUID(), nullable=False),
        sa.Column("delivery_id", sa.String(length=200), nullable=False),
        sa.Column("receipt_id", sa.UUID(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["store_connection.id"],
            name=op.f("fk_webhook_delivery_connection_id_store_connection"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", "delivery_id", name=op.f("pk_webhook_delivery")),
    )
    op.create_index(
        op.f("ix_webhook_delivery_received_at"), "webhook_delivery", ["received_at"], unique=False
    )
    op.create_table(
        "webhook_receipt",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("connection_id", sa.UUID(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("delivery_id", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.String(length=200), server_default="", nullable=False),
        sa.Column("headers", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="received", nullable=False),
        sa.Column("error_code", sa.String(length=60), server_default="", nullable=False),
        sa.Column("error", sa.Text(), server_default="", nullable=False),
        sa.Column("outcome", sa.String(length=300), server_default="", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('received', 'processed', 'ignored', 'failed', 'pending')",
            name=op.f("ck_webhook_receipt_status"),
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["store_connection.id"],
            name=op.f("fk_webhook_receipt_connection_id_store_connection"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("received_at", "id", name=op.f("pk_webhook_receipt")),
    )
    op.create_index("ix_webhook_receipt_id", "webhook_receipt", ["id"], unique=False)
    op.create_index(
        "ix_webhook_receipt_connection",
        "webhook_receipt",
        ["connection_id", "received_at"],
        unique=False,
    )
    op.create_index(
        "ix_webhook_receipt_unfinished",
        "webhook_receipt",
        ["status", "received_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('received', 'failed')"),
    )


def downgrade() -> None:
    op.drop_table("webhook_receipt")
    op.drop_table("webhook_delivery")
    op.drop_table("store_record_version")
    op.drop_table("store_connection")
