"""Report rollups (sales, and sales per product, per day, channel and currency; products
bought together) and the weekly summary's sent log."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base
from patron.models.orders import CURRENCY_CHECK

SUM = Numeric(16, 2)


class DailyKey:
    """A daily rollup's key: a UTC day, a channel (None: orders without one) and an order
    currency. The rows are derived, never exposed: made in SQL by set-based recomputation."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    day: Mapped[date] = mapped_column(Date)
    channel_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE"), index=True
    )
    currency: Mapped[str] = mapped_column(String(3))


class SalesDaily(DailyKey, Base):
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


class ProductSales:
    """One product's sales (a day's or a month's) in one channel and order currency."""

    # the product's id as text, or "title:" and the line's title for a custom item
    item_key: Mapped[str] = mapped_column(Text)
    # no foreign key: a deleted product's rows stay until `patron reports rebuild` regroups them
    product_id: Mapped[uuid.UUID | None]
    title: Mapped[str] = mapped_column(Text)  # the smallest line title (the product may go)
    orders_count: Mapped[int] = mapped_column(Integer)
    units: Mapped[int] = mapped_column(Integer)
    # unrounded: the report rounds the period's sum, as the query over the lines does
    revenue: Mapped[Decimal] = mapped_column(Numeric)
    returned_units: Mapped[int] = mapped_column(Integer)


class ProductSalesDaily(DailyKey, ProductSales, Base):
    """One UTC day of one product's sales in one channel and order currency: the order lines
    of the uncancelled orders placed that day, and how many of their units came back. Lines
    without a product are keyed by their title. Always recomputed, never incremented."""

    __tablename__ = "product_sales_daily"
    __table_args__ = (
        CheckConstraint(CURRENCY_CHECK, name="currency"),
        Index(
            "uq_product_sales_daily_key",
            "day",
            "channel_id",
            "currency",
            "item_key",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
    )


class ProductSalesMonthly(ProductSales, Base):
    """The sum of a UTC month's ``product_sales_daily`` rows of one product, channel and
    currency (``month`` is the month's first day): a report over a long period reads its
    whole months here and only its first and last days from the daily rows. Recomputed from
    the daily rows whenever one of the month's days is (``product_rollups.recompute``)."""

    __tablename__ = "product_sales_monthly"
    __table_args__ = (
        CheckConstraint(CURRENCY_CHECK, name="currency"),
        CheckConstraint("EXTRACT(day FROM month) = 1", name="first_day"),
        Index(
            "uq_product_sales_monthly_key",
            "month",
            "channel_id",
            "currency",
            "item_key",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    month: Mapped[date] = mapped_column(Date)
    channel_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE"), index=True
    )
    currency: Mapped[str] = mapped_column(String(3))


class RollupState(Base):
    """A rollup that an upgrade created empty over existing orders: ``filled_at`` is NULL
    until its first fill (the nightly job or ``patron reports rebuild``), and the reports
    read the orders themselves meanwhile. No row: the rollup was kept from the start."""

    __tablename__ = "rollup_state"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    filled_at: Mapped[datetime | None]


class BoughtTogether(Base):
    """Two products bought in the same order: the most frequent pairs of a rolling window,
    for every channel (``channel_id`` NULL) and per channel, recomputed by the nightly job."""

    __tablename__ = "product_pair"
    __table_args__ = (Index("ix_product_pair_channel_orders", "channel_id", "orders_count"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    channel_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE")
    )
    first_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"))
    second_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"))
    orders_count: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[date] = mapped_column(Date)
    window_end: Mapped[date] = mapped_column(Date)
    computed_at: Mapped[datetime] = mapped_column(server_default=func.now())


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


# the channel key of the rows that count every channel (a channel filter uses its own id)
ALL_CHANNELS = uuid.UUID(int=0)
NET = Numeric()  # exact: sums of unrounded order amounts, rounded only where shown


class CustomerOrderFact(Base):
    """One counted order (not cancelled) of a customer, seen across every channel
    (``channel_key`` :data:`ALL_CHANNELS`) and within its own channel: which of the customer's
    orders it is, the day of the one before and of the first. Rewritten for a customer
    whenever their orders change; the two rollups below add up these rows."""

    __tablename__ = "customer_order_fact"
    __table_args__ = (
        Index("ix_customer_order_fact_customer", "customer_id"),
        # the facts of orders that moved to another customer (a merge), rewritten with theirs
        Index("ix_customer_order_fact_order", "order_id"),
        # a period's facts by index-only scan: the staff report's orders of owned customers
        Index(
            "ix_customer_order_fact_period",
            "channel_key",
            "day",
            postgresql_include=["customer_id", "net"],
        ),
        # the customers who ever ordered (in a channel): the churned share
        Index(
            "ix_customer_order_fact_first",
            "channel_key",
            "customer_id",
            postgresql_where=text("seq = 1"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    channel_key: Mapped[uuid.UUID]
    order_id: Mapped[uuid.UUID]
    customer_id: Mapped[uuid.UUID]
    day: Mapped[date] = mapped_column(Date)
    prev_day: Mapped[date | None] = mapped_column(Date)  # None for the first order
    seq: Mapped[int] = mapped_column(SmallInteger)  # 1, 2, or 3 for every later order
    first_day: Mapped[date] = mapped_column(Date)
    month_first: Mapped[bool]  # the customer's first order of its UTC month
    net: Mapped[Decimal] = mapped_column(NET)


class CustomerOrdersDaily(Base):
    """Per UTC day: the counted orders by which of the customer's orders they are and the
    day of the customer's order before (answers new / returning / repeat customers of any
    range: a customer ordered in a range once counted by their first order in it)."""

    __tablename__ = "customer_orders_daily"
    __table_args__ = (
        Index(
            "uq_customer_orders_daily_key",
            "channel_key",
            "day",
            "prev_day",
            "seq",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    channel_key: Mapped[uuid.UUID]
    day: Mapped[date] = mapped_column(Date)
    prev_day: Mapped[date | None] = mapped_column(Date)
    seq: Mapped[int] = mapped_column(SmallInteger)
    orders: Mapped[int] = mapped_column(Integer, server_default="0")
    net: Mapped[Decimal] = mapped_column(NET, server_default="0")


class CustomerCohortDaily(Base):
    """Per first-order day (the cohort) and order day: customers whose first order it is,
    customers ordering for the first time that month, and what the orders brought."""

    __tablename__ = "customer_cohort_daily"
    __table_args__ = (
        Index("uq_customer_cohort_daily_key", "channel_key", "first_day", "day", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    channel_key: Mapped[uuid.UUID]
    first_day: Mapped[date] = mapped_column(Date)
    day: Mapped[date] = mapped_column(Date)
    customers: Mapped[int] = mapped_column(Integer, server_default="0")
    month_customers: Mapped[int] = mapped_column(Integer, server_default="0")
    net: Mapped[Decimal] = mapped_column(NET, server_default="0")


class CustomerRollupChange(Base):
    """A fact row removed (``sign`` -1) or written (+1) by an order change, waiting for the
    ``reports.rollup_queued`` job to add it to the two sums above: append-only, so order
    changes of the same day never update the same row; the job deletes the rows it adds up
    in the transaction that adds them (oldest first, each once)."""

    __tablename__ = "customer_rollup_change"
    __table_args__ = (CheckConstraint("sign IN (-1, 1)", name="sign"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    channel_key: Mapped[uuid.UUID]
    day: Mapped[date] = mapped_column(Date)
    prev_day: Mapped[date | None] = mapped_column(Date)
    seq: Mapped[int] = mapped_column(SmallInteger)
    first_day: Mapped[date] = mapped_column(Date)
    month_first: Mapped[bool]
    net: Mapped[Decimal] = mapped_column(NET)
    sign: Mapped[int] = mapped_column(SmallInteger)


class StaffOwnedDaily(Base):
    """Per owner (a staff user), ``channel_key`` (as in ``customer_order_fact``) and UTC day:
    the counted orders of the customers the owner owns now and their net revenue, the staff
    report's orders and revenue of owned customers. The order facts of the customers with an
    owner, added up; kept by adding up :class:`StaffOwnedChange` rows
    (``patron/analytics/staff_rollups.py``); a row reaching zero is deleted."""

    __tablename__ = "staff_owned_daily"
    __table_args__ = (
        # an owner's period by index-only scan
        PrimaryKeyConstraint(
            "owner_id", "channel_key", "day", postgresql_include=["orders", "net"]
        ),
    )

    owner_id: Mapped[uuid.UUID] = mapped_column()
    channel_key: Mapped[uuid.UUID] = mapped_column()
    day: Mapped[date] = mapped_column(Date)
    orders: Mapped[int] = mapped_column(Integer)
    net: Mapped[Decimal] = mapped_column(NET)


class StaffOwnedChange(Base):
    """A signed difference to :class:`StaffOwnedDaily`, waiting for the
    ``reports.rollup_queued`` job: appended by an order change (the customer's facts
    rewritten, with the customer's owner) and by a change of owner or a deleted customer
    (trigger on ``customer``, migration 0027: the customer's facts moved from the old owner to
    the new); append-only, so neither waits on the sums."""

    __tablename__ = "staff_owned_change"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    owner_id: Mapped[uuid.UUID]
    channel_key: Mapped[uuid.UUID]
    day: Mapped[date] = mapped_column(Date)
    orders: Mapped[int] = mapped_column(Integer)
    net: Mapped[Decimal] = mapped_column(NET)
