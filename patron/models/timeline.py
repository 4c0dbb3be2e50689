"""The customer timeline: one chronological feed of everything that happened, plus files."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base, IdMixin

# kinds of entry; the feed's filter groups them (KIND_GROUPS)
TIMELINE_KINDS = (
    "note",
    "call",
    "meeting",
    "email_logged",
    "order_placed",
    "order_status",
    "order_cancelled",
    "order_edited",
    "payment",
    "refund",
    "shipment",
    "return",
    "consent",
    "profile",
    "merge",
    "import",
)


# the feed's filter: a group name and the entry kinds it shows
KIND_GROUPS: dict[str, tuple[str, ...]] = {
    "notes": ("note",),
    "activities": ("call", "meeting", "email_logged"),
    "orders": (
        "order_placed",
        "order_status",
        "order_cancelled",
        "order_edited",
        "payment",
        "refund",
    ),
    "shipping": ("shipment", "return"),
    "profile": ("consent", "profile", "merge", "import"),
}


class TimelineEntry(IdMixin, Base):
    __tablename__ = "timeline_entry"
    __table_args__ = (
        Index("ix_timeline_entry_customer", "customer_id", "occurred_at", "id"),
        Index(
            "ix_timeline_entry_order",
            "order_id",
            "occurred_at",
            postgresql_where=text("order_id IS NOT NULL"),
        ),
        Index(
            "ix_timeline_entry_pinned",
            "customer_id",
            postgresql_where=text("pinned"),
        ),
        # the staff report counts each person's notes, calls, ... of a period (migration 0018)
        Index(
            "ix_timeline_entry_staff_work",
            "actor_id",
            "kind",
            "occurred_at",
            postgresql_where=text("actor_type IN ('user', 'api_key')"),
        ),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("shop_order.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())
    actor_type: Mapped[str] = mapped_column(String(16), server_default="system")
    actor_id: Mapped[uuid.UUID | None]
    actor_label: Mapped[str] = mapped_column(Text, server_default="")
    summary: Mapped[str] = mapped_column(String(500))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    body: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    pinned: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime | None]


class Attachment(IdMixin, Base):
    """A file attached to a customer's timeline; stored under the data directory."""

    __tablename__ = "attachment"

    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    entry_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("timeline_entry.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200), unique=True)
    uploaded_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class StaffNotification(IdMixin, Base):
    """Something a staff member should look at (an @mention, later assignments)."""

    __tablename__ = "staff_notification"
    __table_args__ = (
        Index(
            "ix_staff_notification_unread",
            "user_id",
            "created_at",
            postgresql_where=text("read_at IS NULL"),
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(String(500))
    link: Mapped[str] = mapped_column(String(500), server_default="")
    read_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


# timeline entries written by a person or by their API key: the staff report's work
STAFF_ACTORS = ("user", "api_key")


class StaffActivityDaily(Base):
    """How many timeline entries of one kind a staff actor (``actor_type`` in
    :data:`STAFF_ACTORS`) wrote on one UTC day: the staff report's notes, calls, meetings and
    logged emails read these instead of the timeline. Kept current by statement triggers on
    ``timeline_entry`` (migration 0024) in the transaction that adds, changes or deletes
    entries; a row reaching zero is deleted."""

    __tablename__ = "staff_activity_daily"
    __table_args__ = (
        # a person's counts of one kind over a period by index-only scan
        PrimaryKeyConstraint("actor_id", "kind", "day", postgresql_include=["n"]),
    )

    actor_id: Mapped[uuid.UUID] = mapped_column()
    kind: Mapped[str] = mapped_column(String(20))
    day: Mapped[date] = mapped_column(Date)
    n: Mapped[int] = mapped_column(Integer)
