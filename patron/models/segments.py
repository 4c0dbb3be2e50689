"""Saved segments: definitions, current members, membership changes and size history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import CITEXT, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base, IdMixin, TimestampMixin

SEGMENT_KINDS = ("dynamic", "static")
MEMBERSHIP_CHANGES = ("entered", "exited")


class Segment(IdMixin, TimestampMixin, Base):
    """A named expression (dynamic: members follow the data) or a fixed list (static)."""

    __tablename__ = "segment"
    __table_args__ = (CheckConstraint("kind IN ('dynamic', 'static')", name="kind"),)

    name: Mapped[str] = mapped_column(CITEXT, unique=True)
    description: Mapped[str] = mapped_column(Text, server_default="")
    kind: Mapped[str] = mapped_column(String(10))
    expression: Mapped[str] = mapped_column(Text, server_default="")
    ast: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL")
    )
    member_count: Mapped[int] = mapped_column(Integer, server_default="0")
    refreshed_at: Mapped[datetime | None]


class SegmentMember(Base):
    """The customers in a segment now (for dynamic ones: as of the last refresh)."""

    __tablename__ = "segment_member"
    __table_args__ = (Index("ix_segment_member_customer", "customer_id"),)

    segment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("segment.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True
    )
    added_at: Mapped[datetime] = mapped_column(server_default=func.now())


class SegmentMembershipChange(Base):
    """A customer entering or leaving a segment (append-only; automations will follow it).

    Rows are written set-based from INSERT/DELETE ... RETURNING, so the key is a database
    identity rather than a UUID made in Python.
    """

    __tablename__ = "segment_membership_change"
    __table_args__ = (
        CheckConstraint("change IN ('entered', 'exited')", name="change"),
        Index("ix_segment_membership_change_segment", "segment_id", "occurred_at"),
        Index("ix_segment_membership_change_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    segment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("segment.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    change: Mapped[str] = mapped_column(String(7))
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())


class SegmentSize(IdMixin, Base):
    """The size of a segment after each refresh or change, for its history chart."""

    __tablename__ = "segment_size"
    __table_args__ = (Index("ix_segment_size_segment", "segment_id", "recorded_at"),)

    segment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("segment.id", ondelete="CASCADE"))
    size: Mapped[int] = mapped_column(Integer)
    entered: Mapped[int] = mapped_column(Integer, server_default="0")
    exited: Mapped[int] = mapped_column(Integer, server_default="0")
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.now())


class SegmentChangedCustomer(Base):
    """A customer whose data changed since dynamic segments last looked at them.

    Written in the transaction of the change, drained by the ``segments.refresh_changed`` job;
    one row per customer however often they change, so a burst stays small.
    """

    __tablename__ = "segment_changed_customer"

    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True
    )
    marked_at: Mapped[datetime] = mapped_column(server_default=func.now())
