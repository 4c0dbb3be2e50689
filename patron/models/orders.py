"""Orders with their lines, payments, refunds, shipments and returns; carts."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    Sequence,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, CITEXT, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base, IdMixin, TimestampMixin
from patron.models.customers import MONEY, _in

FINANCIAL_STATUSES = (
    "pending",
    "authorized",
    "partially_paid",
    "paid",
    "partially_refunded",
    "refunded",
    "voided",
)
FULFILLMENT_STATUSES = ("unfulfilled", "partial", "fulfilled")
PAYMENT_KINDS = ("sale", "authorization", "capture")
PAYMENT_STATUSES = ("pending", "authorized", "succeeded", "failed", "voided")
SHIPMENT_STATUSES = (
    "pending",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "failed",
    "returned",
)
RETURN_STATUSES = ("requested", "approved", "rejected", "received", "refunded")
CART_STATUSES = ("open", "abandoned", "recovered")
CURRENCY_CHECK = "currency ~ '^[A-Z]{3}$'"

# numbers for orders entered without one, and for returns (RMA-000123)
ORDER_NUMBER_SEQUENCE = Sequence("shop_order_number_seq", start=1001, metadata=Base.metadata)
RETURN_NUMBER_SEQUENCE = Sequence("order_return_number_seq", start=1, metadata=Base.metadata)


class Order(IdMixin, TimestampMixin, Base):
    __tablename__ = "shop_order"
    __table_args__ = (
        CheckConstraint(_in("financial_status", FINANCIAL_STATUSES), name="financial_status"),
        CheckConstraint(_in("fulfillment_status", FULFILLMENT_STATUSES), name="fulfillment_status"),
        CheckConstraint(CURRENCY_CHECK, name="currency"),
        CheckConstraint("exchange_rate > 0", name="exchange_rate_positive"),
        CheckConstraint(
            "subtotal >= 0 AND discount_total >= 0 AND shipping_total >= 0 AND tax_total >= 0"
            " AND total >= 0 AND refunded_total >= 0",
            name="amounts_not_negative",
        ),
        CheckConstraint("refunded_total <= total", name="refunds_within_total"),
        Index(
            "uq_shop_order_channel_number",
            "channel_id",
            "number",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
        Index(
            "uq_shop_order_channel_external",
            "channel_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        Index("ix_shop_order_customer", "customer_id", "placed_at"),
        Index("ix_shop_order_placed", "placed_at", "id"),
        Index("ix_shop_order_total", "total"),
        Index("ix_shop_order_statuses", "financial_status", "fulfillment_status"),
        Index("ix_shop_order_financial_placed", "financial_status", "placed_at", "id"),
        Index("ix_shop_order_discount_codes", "discount_codes", postgresql_using="gin"),
        Index("ix_shop_order_tags", "tags", postgresql_using="gin"),
        Index(
            "ix_shop_order_number_trgm",
            "number",
            postgresql_using="gin",
            postgresql_ops={"number": "gin_trgm_ops"},
        ),
    )

    number: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    channel_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("channel.id", ondelete="SET NULL"), index=True
    )
    external_id: Mapped[str | None] = mapped_column(String(200))
    placed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    financial_status: Mapped[str] = mapped_column(String(20), server_default="pending")
    fulfillment_status: Mapped[str] = mapped_column(String(12), server_default="unfulfilled")
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str] = mapped_column(String(200), server_default="")
    currency: Mapped[str] = mapped_column(String(3))
    exchange_rate: Mapped[Decimal] = mapped_column(Numeric(18, 8), server_default="1")
    subtotal: Mapped[Decimal] = mapped_column(MONEY, server_default="0")
    discount_total: Mapped[Decimal] = mapped_column(MONEY, server_default="0")
    shipping_total: Mapped[Decimal] = mapped_column(MONEY, server_default="0")
    tax_total: Mapped[Decimal] = mapped_column(MONEY, server_default="0")
    total: Mapped[Decimal] = mapped_column(MONEY, server_default="0")
    refunded_total: Mapped[Decimal] = mapped_column(MONEY, server_default="0")
    items_count: Mapped[int] = mapped_column(Integer, server_default="0")
    discount_codes: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    note: Mapped[str] = mapped_column(Text, server_default="")
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    source_updated_at: Mapped[datetime | None]


class OrderLine(IdMixin, Base):
    """A line item: a reference to the variant plus a snapshot of what was sold."""

    __tablename__ = "order_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0 AND discount_total >= 0", name="amounts_not_negative"),
        Index("ix_order_line_sku", "sku"),
        # "bought ... within": the lines of live orders by product and time, with the buyer
        Index(
            "ix_order_line_bought",
            "product_id",
            "placed_at",
            postgresql_include=["customer_id", "order_id", "total"],
            postgresql_where=text("cancelled_at IS NULL"),
        ),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shop_order.id", ondelete="CASCADE"), index=True
    )
    product_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("product.id", ondelete="SET NULL"), index=True
    )
    variant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("product_variant.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(255))
    variant_title: Mapped[str] = mapped_column(String(255), server_default="")
    sku: Mapped[str] = mapped_column(String(100), server_default="")
    unit_price: Mapped[Decimal] = mapped_column(MONEY)
    quantity: Mapped[int] = mapped_column(Integer)
    discount_total: Mapped[Decimal] = mapped_column(MONEY, server_default="0")
    total: Mapped[Decimal] = mapped_column(MONEY)
    position: Mapped[int] = mapped_column(Integer, server_default="0")
    # copies of the order's customer, placing time and cancellation, set by triggers
    # (migration 0019) in the writing transaction: segment conditions read lines alone
    customer_id: Mapped[uuid.UUID | None] = mapped_column()
    placed_at: Mapped[datetime | None] = mapped_column()
    cancelled_at: Mapped[datetime | None] = mapped_column()


class Payment(IdMixin, Base):
    __tablename__ = "payment"
    __table_args__ = (
        CheckConstraint(_in("kind", PAYMENT_KINDS), name="kind"),
        CheckConstraint(_in("status", PAYMENT_STATUSES), name="status"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(CURRENCY_CHECK, name="currency"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shop_order.id", ondelete="CASCADE"), index=True
    )
    gateway: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(16), server_default="sale")
    status: Mapped[str] = mapped_column(String(12))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str] = mapped_column(String(200), server_default="")
    external_id: Mapped[str | None] = mapped_column(String(200))
    processed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Refund(IdMixin, Base):
    __tablename__ = "refund"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(CURRENCY_CHECK, name="currency"),
        Index("ix_refund_processed", "processed_at"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shop_order.id", ondelete="CASCADE"), index=True
    )
    return_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("order_return.id", ondelete="SET NULL")
    )
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(200), server_default="")
    note: Mapped[str] = mapped_column(Text, server_default="")
    restock: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    external_id: Mapped[str | None] = mapped_column(String(200))
    processed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Shipment(IdMixin, TimestampMixin, Base):
    __tablename__ = "shipment"
    __table_args__ = (CheckConstraint(_in("status", SHIPMENT_STATUSES), name="status"),)

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shop_order.id", ondelete="CASCADE"), index=True
    )
    carrier: Mapped[str] = mapped_column(String(100), server_default="")
    tracking_number: Mapped[str] = mapped_column(String(100), server_default="")
    tracking_url: Mapped[str] = mapped_column(String(500), server_default="")
    status: Mapped[str] = mapped_column(String(20), server_default="pending")
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    notify_customer: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    external_id: Mapped[str | None] = mapped_column(String(200))
    shipped_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]


class ShipmentEvent(IdMixin, Base):
    __tablename__ = "shipment_event"
    __table_args__ = (
        CheckConstraint(_in("status", SHIPMENT_STATUSES), name="status"),
        Index("ix_shipment_event_shipment", "shipment_id", "occurred_at"),
    )

    shipment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shipment.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(String(500), server_default="")
    location: Mapped[str] = mapped_column(String(200), server_default="")
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())


class OrderReturn(IdMixin, TimestampMixin, Base):
    """A return (RMA): requested → approved → received → refunded, or rejected."""

    __tablename__ = "order_return"
    __table_args__ = (
        CheckConstraint(_in("status", RETURN_STATUSES), name="status"),
        CheckConstraint("refund_amount IS NULL OR refund_amount >= 0", name="refund_not_negative"),
        Index("ix_order_return_status", "status", "created_at"),
        Index("ix_order_return_created", "created_at"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shop_order.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(12), server_default="requested")
    reason: Mapped[str] = mapped_column(String(200), server_default="")
    note: Mapped[str] = mapped_column(Text, server_default="")
    refund_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    restock: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    approved_at: Mapped[datetime | None]
    received_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]


class ReturnLine(IdMixin, Base):
    __tablename__ = "return_line"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    return_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("order_return.id", ondelete="CASCADE"), index=True
    )
    order_line_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("order_line.id", ondelete="CASCADE"), index=True
    )
    quantity: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200), server_default="")


class Cart(IdMixin, TimestampMixin, Base):
    """A cart or checkout; abandoned after an idle time, recovered by a later order."""

    __tablename__ = "cart"
    __table_args__ = (
        CheckConstraint(_in("status", CART_STATUSES), name="status"),
        CheckConstraint(CURRENCY_CHECK, name="currency"),
        CheckConstraint("value >= 0", name="value_not_negative"),
        Index(
            "uq_cart_channel_external",
            "channel_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        Index("ix_cart_status_activity", "status", "last_activity_at"),
    )

    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str | None] = mapped_column(CITEXT)
    channel_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("channel.id", ondelete="SET NULL")
    )
    external_id: Mapped[str | None] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    value: Mapped[Decimal] = mapped_column(MONEY, server_default="0")
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    status: Mapped[str] = mapped_column(String(10), server_default="open")
    checkout_url: Mapped[str] = mapped_column(String(1000), server_default="")
    last_activity_at: Mapped[datetime] = mapped_column(server_default=func.now())
    abandoned_at: Mapped[datetime | None]
    recovered_order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("shop_order.id", ondelete="SET NULL")
    )
