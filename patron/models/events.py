"""Tracking events from storefronts, range-partitioned by month on ``occurred_at``.

Idempotency keys live in a small table of their own: a unique index on the partitioned
table would have to include ``occurred_at``, and a retried event whose timestamp was
defaulted to "now" would then be stored twice.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base
from patron.kit.ids import new_id


class TrackingEvent(Base):
    __tablename__ = "tracking_event"
    __table_args__ = (
        Index(
            "ix_tracking_event_customer",
            "customer_id",
            "occurred_at",
            "id",
            postgresql_where=text("customer_id IS NOT NULL"),
        ),
        Index("ix_tracking_event_name", "name", "occurred_at"),
        Index(
            "ix_tracking_event_anonymous",
            "anonymous_id",
            "occurred_at",
            postgresql_where=text("anonymous_id IS NOT NULL"),
        ),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )

    occurred_at: Mapped[datetime] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE")
    )
    anonymous_id: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(100))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    source: Mapped[str] = mapped_column(String(80))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))


class CustomerEventDay(Base):
    """How many events of one name a customer has on one UTC day: ``did ... within``
    conditions read these instead of the events. Kept current by statement triggers on
    ``tracking_event`` (migration 0019) in the transaction that adds, moves or deletes events;
    a row reaching zero is deleted."""

    __tablename__ = "customer_event_day"
    __table_args__ = (
        # a window's counts by index-only scan
        PrimaryKeyConstraint("name", "day", "customer_id", postgresql_include=["n"]),
    )

    name: Mapped[str] = mapped_column(String(100))
    day: Mapped[date] = mapped_column(Date)
    customer_id: Mapped[uuid.UUID] = mapped_column()
    n: Mapped[int] = mapped_column(Integer)


RECENT_EVENTS = 10  # how many of a customer's latest events of one name are kept


class CustomerEventRecent(Base):
    """The times of a customer's latest :data:`RECENT_EVENTS` events of one name, newest
    first (ties repeated): "at least N times within D days" is ``recent[N] >= start``, one
    row per customer instead of a row per day. Kept current by statement triggers on
    ``tracking_event`` (migration 0028) in the transaction that adds, moves or deletes
    events; a customer with no events of the name has no row. Hash-partitioned by name
    (migration 0030: 16 partitions), so a condition reads its name's rows, not every name's."""

    __tablename__ = "customer_event_recent"
    __table_args__ = ({"postgresql_partition_by": "HASH (name)"},)

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    recent: Mapped[list[datetime]] = mapped_column(ARRAY(DateTime(timezone=True)))


class TrackingEventKey(Base):
    """One row per (source, idempotency key) ever accepted: the same key is stored once."""

    __tablename__ = "tracking_event_key"
    __table_args__ = (Index("ix_tracking_event_key_created", "created_at"),)

    source: Mapped[str] = mapped_column(String(80), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    event_id: Mapped[uuid.UUID]
    occurred_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class AnonymousVisitor(Base):
    """A storefront visitor's anonymous ID, once identified, and the customer it belongs to."""

    __tablename__ = "anonymous_visitor"

    anonymous_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    identified_at: Mapped[datetime] = mapped_column(server_default=func.now())
