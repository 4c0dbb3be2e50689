"""Outbound webhooks: subscriptions, one delivery per event and subscription, every attempt."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base, IdMixin, TimestampMixin

DELIVERY_STATUSES = ("pending", "delivered", "failed", "cancelled")


class WebhookSubscription(IdMixin, TimestampMixin, Base):
    __tablename__ = "webhook_subscription"
    __table_args__ = (
        Index("ix_webhook_subscription_event_types", "event_types", postgresql_using="gin"),
        Index("ix_webhook_subscription_active", "active", postgresql_where=text("active")),
    )

    name: Mapped[str] = mapped_column(String(200), server_default="")
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(Text))
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    disabled_reason: Mapped[str] = mapped_column(String(500), server_default="")
    disabled_at: Mapped[datetime | None]
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL"), index=True
    )
    consecutive_failures: Mapped[int] = mapped_column(Integer, server_default="0")
    failing_since: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    secret_rotated_at: Mapped[datetime | None]
    # after a rotation, the old secret may sign too for a while (receivers switch without a gap)
    previous_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_expires_at: Mapped[datetime | None]


class OutboundDelivery(IdMixin, TimestampMixin, Base):
    """One event for one subscription; its payload is frozen when the change happens."""

    __tablename__ = "outbound_delivery"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in DELIVERY_STATUSES) + ")", name="status"
        ),
        Index("ix_outbound_delivery_subscription", "subscription_id", "created_at", "id"),
    )

    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_subscription.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(12), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str] = mapped_column(Text, server_default="")
    delivered_at: Mapped[datetime | None]


class OutboundAttempt(IdMixin, Base):
    """One HTTP request of a delivery, as the delivery log shows it."""

    __tablename__ = "outbound_attempt"
    __table_args__ = (Index("ix_outbound_attempt_delivery", "delivery_id", "number"),)

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("outbound_delivery.id", ondelete="CASCADE")
    )
    number: Mapped[int] = mapped_column(Integer)
    manual: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    succeeded: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None]
    latency_ms: Mapped[int] = mapped_column(Integer)
    response_excerpt: Mapped[str] = mapped_column(Text, server_default="")
    error: Mapped[str] = mapped_column(Text, server_default="")
