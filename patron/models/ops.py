"""Operational tables: system email outbox, job failures, rate-limit counters."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base, IdMixin


class MailMessage(IdMixin, Base):
    """A system email (invite, reset, notification); sent by a job, kept as the outbox."""

    __tablename__ = "mail_message"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'sent', 'captured', 'failed')", name="status"),
        Index("ix_mail_message_created", "created_at"),
    )

    to_address: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, server_default="")
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10), server_default="queued")
    error: Mapped[str] = mapped_column(Text, server_default="")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    sent_at: Mapped[datetime | None]


class JobFailure(IdMixin, Base):
    """The error behind each failed attempt of a background job."""

    __tablename__ = "job_failure"

    job_id: Mapped[int] = mapped_column(BigInteger, index=True)
    task_name: Mapped[str] = mapped_column(String(128))
    attempt: Mapped[int] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text)
    traceback: Mapped[str] = mapped_column(Text)
    failed_at: Mapped[datetime] = mapped_column(server_default=func.now())


class RateLimitCounter(Base):
    """Fixed-window counters when no Redis is configured."""

    __tablename__ = "rate_limit_counter"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime]
    hits: Mapped[int] = mapped_column(Integer)


class IdempotencyKey(Base):
    """The stored answer to an API write sent with ``Idempotency-Key`` (kept a day)."""

    __tablename__ = "idempotency_key"
    __table_args__ = (
        CheckConstraint("status IN ('in_progress', 'done')", name="status"),
        Index("ix_idempotency_key_created", "created_at"),
    )

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), server_default="in_progress")
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[list[list[str]]] = mapped_column(JSONB, server_default="[]")
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
