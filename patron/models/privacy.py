"""Privacy requests: a customer's data export or erasure, asked by staff, the API or a store.

A request never holds personal data of its own: the customer is kept as an opaque id (the
anonymised tombstone's, after an erasure), the store's request by its connection, and the
error of a failed run by its kind only.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base, IdMixin
from patron.models.customers import _in

# shop_erasure: a store's shop/redact, acting on everything Patron holds from that store
PRIVACY_KINDS = ("export", "erasure", "shop_erasure")
PRIVACY_SOURCES = ("staff", "api", "shopify")
PRIVACY_STATUSES = ("queued", "running", "done", "failed", "expired")


class PrivacyRequest(IdMixin, Base):
    __tablename__ = "privacy_request"
    __table_args__ = (
        CheckConstraint(_in("kind", PRIVACY_KINDS), name="kind"),
        CheckConstraint(_in("source", PRIVACY_SOURCES), name="source"),
        CheckConstraint(_in("status", PRIVACY_STATUSES), name="status"),
        CheckConstraint(
            "kind = 'shop_erasure' OR customer_id IS NOT NULL", name="customer_required"
        ),
        Index("ix_privacy_request_requested", "requested_at", "id"),
        Index("ix_privacy_request_customer", "customer_id"),
        Index("ix_privacy_request_expiring", "expires_at", postgresql_where="file_path <> ''"),
    )

    kind: Mapped[str] = mapped_column(String(12))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customer.id", ondelete="SET NULL")
    )
    source: Mapped[str] = mapped_column(String(10))
    connection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("store_connection.id", ondelete="SET NULL")
    )
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL")
    )
    # the staff member, API key or store, frozen at the time
    requested_by_label: Mapped[str] = mapped_column(Text, server_default="")
    status: Mapped[str] = mapped_column(String(8), server_default="queued")
    error: Mapped[str] = mapped_column(Text, server_default="")
    # non-personal parameters: the store's order ids to anonymise, and what a run did (counts)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    file_path: Mapped[str] = mapped_column(String(300), server_default="")
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    requested_at: Mapped[datetime] = mapped_column(server_default=func.now())
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
