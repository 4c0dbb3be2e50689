"""Store integrations: connections to shops, the raw webhook receipts they send, and the
per-record version stamps that keep an older delivery from overwriting a newer one."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base, IdMixin, TimestampMixin
from patron.kit.ids import new_id
from patron.models.customers import _in

PROVIDERS = ("shopify", "woocommerce", "stripe")
CONNECTION_STATUSES = ("active", "paused", "uninstalled")
# received → processed | ignored | failed | pending (waits for a module that does not exist yet)
RECEIPT_STATUSES = ("received", "processed", "ignored", "failed", "pending")


class StoreConnection(IdMixin, TimestampMixin, Base):
    """A shop that sends Patron its orders, customers and products."""

    __tablename__ = "store_connection"
    __table_args__ = (
        CheckConstraint(_in("provider", PROVIDERS), name="provider"),
        CheckConstraint(_in("status", CONNECTION_STATUSES), name="status"),
        UniqueConstraint("provider", "shop_domain"),
    )

    provider: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    # a Shopify shop's myshopify.com domain, or a WooCommerce site's base URL
    shop_domain: Mapped[str] = mapped_column(String(255))
    channel_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("channel.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[str] = mapped_column(String(12), server_default="active")
    # secrets: Fernet tokens from patron.kit.crypto.SecretBox, plus the last characters to
    # show a masked value without decrypting
    access_token: Mapped[bytes | None] = mapped_column(LargeBinary)
    access_token_tail: Mapped[str] = mapped_column(String(4), server_default="")
    webhook_secret: Mapped[bytes] = mapped_column(LargeBinary)
    webhook_secret_tail: Mapped[str] = mapped_column(String(4), server_default="")
    # the secret being rotated out: deliveries signed with it are still accepted
    previous_webhook_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    uninstalled_at: Mapped[datetime | None]


class WebhookReceipt(Base):
    """One delivery exactly as it arrived, then what processing made of it.

    Append-mostly and big: the key starts with ``received_at`` so the table can become
    ``PARTITION BY RANGE (received_at)`` (monthly) without changing any query.
    """

    __tablename__ = "webhook_receipt"
    __table_args__ = (
        PrimaryKeyConstraint("received_at", "id"),
        CheckConstraint(_in("status", RECEIPT_STATUSES), name="status"),
        Index("ix_webhook_receipt_id", "id"),
        Index("ix_webhook_receipt_connection", "connection_id", "received_at"),
        Index(
            "ix_webhook_receipt_unfinished",
            "status",
            "received_at",
            postgresql_where=text("status IN ('received', 'failed')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(default=new_id)
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("store_connection.id", ondelete="CASCADE")
    )
    provider: Mapped[str] = mapped_column(String(20))
    topic: Mapped[str] = mapped_column(String(100))
    delivery_id: Mapped[str] = mapped_column(String(200))
    event_id: Mapped[str] = mapped_column(String(200), server_default="")
    headers: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(10), server_default="received")
    error_code: Mapped[str] = mapped_column(String(60), server_default="")
    error: Mapped[str] = mapped_column(Text, server_default="")
    outcome: Mapped[str] = mapped_column(String(300), server_default="")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    processed_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    """Delivery ids already accepted, per connection: the de-duplication key, kept apart from
    the receipts so that it stays unique once receipts are partitioned by time."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (PrimaryKeyConstraint("connection_id", "delivery_id"),)

    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("store_connection.id", ondelete="CASCADE")
    )
    delivery_id: Mapped[str] = mapped_column(String(200))
    receipt_id: Mapped[uuid.UUID]
    received_at: Mapped[datetime] = mapped_column(server_default=func.now(), index=True)


class StoreRecordVersion(Base):
    """The store's ``updated_at`` of the newest version applied, per record (customers,
    products, checkouts; orders keep theirs in ``shop_order.source_updated_at``)."""

    __tablename__ = "store_record_version"
    __table_args__ = (PrimaryKeyConstraint("connection_id", "kind", "external_id"),)

    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("store_connection.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(200))
    source_updated_at: Mapped[datetime]


BACKFILL_KINDS = ("backfill", "reconciliation")
BACKFILL_STATUSES = ("queued", "running", "done", "failed")


class StoreBackfill(IdMixin, TimestampMixin, Base):
    """One read of a store's customers, products and orders through its API (a backfill asked
    for by staff, or the periodic reconciliation), processed page by page.

    ``progress`` holds, per resource, the cursor of the next page and the counts so far; it is
    saved with each page's changes, so a run that stops resumes at the page it had reached.
    ``updated_at`` doubles as the heartbeat the sweep uses to find a run whose worker died.
    """

    __tablename__ = "store_backfill"
    __table_args__ = (
        CheckConstraint(_in("kind", BACKFILL_KINDS), name="kind"),
        CheckConstraint(_in("status", BACKFILL_STATUSES), name="status"),
        Index("ix_store_backfill_connection", "connection_id", "created_at"),
        # one run at a time per connection
        Index(
            "uq_store_backfill_in_progress",
            "connection_id",
            unique=True,
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
    )

    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("store_connection.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10), server_default="queued")
    progress: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created: Mapped[int] = mapped_column(Integer, server_default="0")
    updated: Mapped[int] = mapped_column(Integer, server_default="0")
    unchanged: Mapped[int] = mapped_column(Integer, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, server_default="0")
    # the first records that failed: [{"resource", "id", "code", "message"}]
    failures: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    error_code: Mapped[str] = mapped_column(String(60), server_default="")
    error: Mapped[str] = mapped_column(Text, server_default="")
    requested_by: Mapped[str] = mapped_column(String(200), server_default="")
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
