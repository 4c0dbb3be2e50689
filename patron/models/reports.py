"""Report rollups (sales per day, channel and currency) and the weekly summary's sent log."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base
from patron.models.orders import CURRENCY_CHECK

SUM = Numeric(16, 2)


class SalesDaily(Base):
    """One UTC day of one channel's sales in one order currency, amounts converted to the
    shop currency. Always recomputed from the orders, never incremented."""

    __tablename__ = "sales_daily"
    __table_args__ = (
        CheckConstraint(CURRENCY_CHECK, name="currency"),
        Index(
            "uq_sales_daily_day_channel_currency",
            "day",
            "channel_id",
            "currency",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
    )

    # derived rows, never exposed: made in SQL by the set-based recomputation
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    day: Mapped[date] = mapped_column(Date)
    channel_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE"), index=True
    )
    currency: Mapped[str] = mapped_column(String(3))
    orders_count: Mapped[int] = mapped_column(Integer, server_default="0")
    gross_sales: Mapped[Decimal] = mapped_column(SUM, server_default="0")
    discounts: Mapped[Decimal] = mapped_column(SUM, server_default="0")
    shipping: Mapped[Decimal] = mapped_column(SUM, server_default="0")
    tax: Mapped[Decimal] = mapped_column(SUM, server_default="0")
    gross_revenue: Mapped[Decimal] = mapped_column(SUM, server_default="0")
    refunds: Mapped[Decimal] = mapped_column(SUM, server_default="0")
    net_revenue: Mapped[Decimal] = mapped_column(SUM, server_default="0")
    units: Mapped[int] = mapped_column(Integer, server_default="0")
    returns_count: Mapped[int] = mapped_column(Integer, server_default="0")
    returned_units: Mapped[int] = mapped_column(Integer, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class RollupQueue(Base):
    """A day, channel and currency whose rollup rows an order change made stale: written in
    the change's transaction, taken (deleted) by the ``reports.rollup_queued`` job when it
    recomputes them. Appended, never upserted: concurrent changes of the same day do not wait
    on each other's row, and a key queued while the job runs stays for its next batch."""

    __tablename__ = "rollup_queue"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    # no index: the queue stays small (a channel's deletion scans it)
    channel_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE")
    )
    currency: Mapped[str] = mapped_column(String(3))
    queued_at: Mapped[datetime] = mapped_column(server_default=func.now())


class WeeklySummarySent(Base):
    """A weekly summary that went to a person: one row per person and week, never two."""

    __tablename__ = "weekly_summary_sent"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("staff_user.id", ondelete="CASCADE"), primary_key=True
    )
    week_start: Mapped[date] = mapped_column(Date, primary_key=True)
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("mail_message.id", ondelete="SET NULL")
    )
    sent_at: Mapped[datetime] = mapped_column(server_default=func.now())
