"""RFM quintile cut points: one row per scoring run, the latest is the one in force."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Identity, Index, Integer, Numeric, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base


class RfmCutPoints(Base):
    """The 20th, 40th, 60th and 80th percentiles of each RFM measure over the customers
    with orders, so that one customer can be scored without looking at everyone."""

    __tablename__ = "rfm_cut_points"
    __table_args__ = (Index("ix_rfm_cut_points_computed_at", "computed_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    customers: Mapped[int] = mapped_column(Integer, server_default="0")
    # NULL when no customer had an order at the time
    recency_days: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    orders_count: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    monetary: Mapped[list[Decimal] | None] = mapped_column(ARRAY(Numeric(14, 2)))
