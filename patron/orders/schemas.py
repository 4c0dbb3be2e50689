"""Orders, payments, refunds, shipments, returns, carts and channels over the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field

from patron.kit.schemas import Input, Schema

Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
Currency = Annotated[str, Field(min_length=3, max_length=3)]
Tag = Annotated[str, Field(min_length=1, max_length=100)]
PaymentStatus = Literal["pending", "authorized", "succeeded", "failed", "voided"]
PaymentKind = Literal["sale", "authorization", "capture"]
ShipmentStatus = Literal[
    "pending", "in_transit", "out_for_delivery", "delivered", "failed", "returned"
]
ReturnStatus = Literal["requested", "approved", "rejected", "received", "refunded"]
FinancialStatus = Literal[
    "pending", "authorized", "partially_paid", "paid", "partially_refunded", "refunded", "voided"
]
FulfillmentStatus = Literal["unfulfilled", "partial", "fulfilled"]
CartStatus = Literal["open", "abandoned", "recovered"]
ChannelKind = Literal[
    "online_store", "shopify", "woocommerce", "stripe", "pos", "marketplace", "manual", "import"
]


class AddressIn(Input):
    first_name: str = Field(default="", max_length=100)
    last_name: str = Field(default="", max_length=100)
    company: str = Field(default="", max_length=200)
    line1: str = Field(min_length=1, max_length=200)
    line2: str = Field(default="", max_length=200)
    city: str = Field(min_length=1, max_length=100)
    region: str = Field(default="", max_length=100)
    postal_code: str = Field(default="", max_length=20)
    country: str = Field(min_length=2, max_length=60, description="ISO code or English name")
    phone: str | None = Field(default=None, max_length=40)


class LineIn(Input):
    product_id: uuid.UUID | None = None
    variant_id: uuid.UUID | None = Field(
        default=None, description="Title, SKU and price default to the variant's"
    )
    title: str | None = Field(default=None, min_length=1, max_length=255)
    variant_title: str | None = Field(default=None, max_length=255)
    sku: str | None = Field(default=None, max_length=100)
    unit_price: Money | None = None
    quantity: int = Field(le=1_000_000, description="Greater than 0")
    discount_total: Money = Decimal("0")


class DiscountIn(Input):
    code: str = Field(min_length=1, max_length=100)
    amount: Money = Decimal("0")


class PaymentIn(Input):
    gateway: str = Field(min_length=1, max_length=60)
    amount: Decimal = Field(max_digits=14, decimal_places=2, description="Greater than 0")
    currency: Currency | None = Field(default=None, description="Must be the order's currency")
    status: PaymentStatus = "succeeded"
    kind: PaymentKind = "sale"
    reference: str = Field(default="", max_length=200)
    external_id: str | None = Field(default=None, max_length=200)
    processed_at: datetime | None = None


class PaymentStatusIn(Input):
    status: PaymentStatus


class OrderCreate(Input):
    customer_id: uuid.UUID
    channel_id: uuid.UUID | None = None
    number: str | None = Field(
        default=None, min_length=1, max_length=40, description="Generated when left out"
    )
    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    placed_at: datetime | None = None
    currency: Currency | None = Field(default=None, description="The shop currency by default")
    exchange_rate: Decimal | None = Field(
        default=None,
        gt=0,
        max_digits=18,
        decimal_places=8,
        description="Shop currency per unit of the order currency; required for other currencies",
    )
    lines: list[LineIn] = Field(min_length=1, max_length=500)
    discounts: list[DiscountIn] = Field(default_factory=list, max_length=20)
    shipping_total: Money = Decimal("0")
    tax_total: Money = Decimal("0")
    total: Decimal | None = Field(
        default=None,
        max_digits=14,
        decimal_places=2,
        description="Checked against lines − discounts + shipping + tax when given",
    )
    billing_address: AddressIn | None = None
    shipping_address: AddressIn | None = None
    note: str = Field(default="", max_length=10_000)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    payments: list[PaymentIn] = Field(default_factory=list, max_length=20)


class OrderUpdate(Input):
    note: str | None = Field(default=None, max_length=10_000)
    tags: list[Tag] | None = Field(default=None, max_length=50)
    billing_address: AddressIn | None = None
    shipping_address: AddressIn | None = None
    custom_fields: dict[str, Any] | None = Field(
        default=None, description="Replaces every custom field value"
    )


class CancelIn(Input):
    reason: str = Field(default="", max_length=200)
    restock: bool = False


class RefundLineIn(Input):
    order_line_id: uuid.UUID
    quantity: int = Field(le=1_000_000)


class RefundIn(Input):
    amount: Decimal = Field(max_digits=14, decimal_places=2, description="Greater than 0")
    currency: Currency | None = None
    reason: str = Field(default="", max_length=200)
    note: str = Field(default="", max_length=5000)
    restock: bool = False
    lines: list[RefundLineIn] = Field(
        default_factory=list, max_length=500, description="Lines to restock"
    )
    external_id: str | None = Field(default=None, max_length=200)


class ShipmentLineIn(Input):
    order_line_id: uuid.UUID
    quantity: int = Field(le=1_000_000)


class ShipmentIn(Input):
    carrier: str = Field(default="", max_length=100)
    tracking_number: str = Field(default="", max_length=100)
    tracking_url: str = Field(default="", max_length=500)
    status: ShipmentStatus = "pending"
    lines: list[ShipmentLineIn] = Field(
        default_factory=list, max_length=500, description="Everything not yet shipped when empty"
    )
    notify_customer: bool = False
    message: str = Field(default="", max_length=500)
    external_id: str | None = Field(default=None, max_length=200)


class ShipmentUpdate(Input):
    carrier: str | None = Field(default=None, max_length=100)
    tracking_number: str | None = Field(default=None, max_length=100)
    tracking_url: str | None = Field(default=None, max_length=500)
    notify_customer: bool | None = None


class ShipmentEventIn(Input):
    status: ShipmentStatus
    message: str = Field(default="", max_length=500)
    location: str = Field(default="", max_length=200)
    occurred_at: datetime | None = None


class ReturnLineIn(Input):
    order_line_id: uuid.UUID
    quantity: int = Field(le=1_000_000)
    reason: str = Field(default="", max_length=200)


class ReturnIn(Input):
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=500)
    reason: str = Field(default="", max_length=200)
    note: str = Field(default="", max_length=5000)
    restock: bool = True
    refund_amount: Money | None = Field(
        default=None, description="The value of the returned lines when left out"
    )


class ReturnTransitionIn(Input):
    status: Literal["approved", "rejected", "received", "refunded"]
    refund_amount: Money | None = None
    note: str | None = Field(default=None, max_length=5000)


# -- output --------------------------------------------------------------------------------


class LineOut(Schema):
    id: uuid.UUID
    product_id: uuid.UUID | None
    variant_id: uuid.UUID | None
    title: str
    variant_title: str
    sku: str
    unit_price: Decimal
    quantity: int
    discount_total: Decimal
    total: Decimal


class PaymentOut(Schema):
    id: uuid.UUID
    gateway: str
    kind: str
    status: str
    amount: Decimal
    currency: str
    reference: str
    external_id: str | None
    processed_at: datetime


class RefundOut(Schema):
    id: uuid.UUID
    return_id: uuid.UUID | None
    amount: Decimal
    currency: str
    reason: str
    note: str
    restock: bool
    external_id: str | None
    processed_at: datetime


class ShipmentEventOut(Schema):
    id: uuid.UUID
    status: str
    message: str
    location: str
    occurred_at: datetime


class ShipmentOut(Schema):
    id: uuid.UUID
    carrier: str
    tracking_number: str
    tracking_url: str
    status: str
    lines: list[dict[str, Any]]
    notify_customer: bool
    external_id: str | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    events: list[ShipmentEventOut] = Field(default_factory=list)


class ReturnLineOut(Schema):
    id: uuid.UUID
    order_line_id: uuid.UUID
    quantity: int
    reason: str


class ReturnOut(Schema):
    id: uuid.UUID
    order_id: uuid.UUID
    number: str
    status: str
    reason: str
    note: str
    refund_amount: Decimal | None
    restock: bool
    approved_at: datetime | None
    received_at: datetime | None
    resolved_at: datetime | None
    created_at: datetime
    lines: list[ReturnLineOut] = Field(default_factory=list)


class OrderSummary(Schema):
    id: uuid.UUID
    number: str
    customer_id: uuid.UUID
    channel_id: uuid.UUID | None
    external_id: str | None
    placed_at: datetime
    financial_status: str
    fulfillment_status: str
    cancelled_at: datetime | None
    currency: str
    exchange_rate: Decimal
    subtotal: Decimal
    discount_total: Decimal
    shipping_total: Decimal
    tax_total: Decimal
    total: Decimal
    refunded_total: Decimal
    items_count: int
    discount_codes: list[str]
    tags: list[str]
    created_at: datetime
    updated_at: datetime


class OrderOut(OrderSummary):
    cancel_reason: str
    billing_address: dict[str, Any] | None
    shipping_address: dict[str, Any] | None
    note: str
    custom_fields: dict[str, Any]
    tracking_url: str = ""
    lines: list[LineOut] = Field(default_factory=list)
    payments: list[PaymentOut] = Field(default_factory=list)
    refunds: list[RefundOut] = Field(default_factory=list)
    shipments: list[ShipmentOut] = Field(default_factory=list)
    returns: list[ReturnOut] = Field(default_factory=list)


class CartItemIn(Input):
    product_id: uuid.UUID | None = None
    variant_id: uuid.UUID | None = None
    sku: str = Field(default="", max_length=100)
    title: str = Field(default="", max_length=255)
    quantity: int = Field(ge=1, le=1_000_000)
    unit_price: Money = Decimal("0")


class CartUpsert(Input):
    customer_id: uuid.UUID | None = None
    email: str | None = Field(default=None, max_length=320)
    items: list[CartItemIn] = Field(default_factory=list, max_length=500)
    value: Money | None = Field(default=None, description="The items' sum when left out")
    currency: Currency | None = None
    checkout_url: str = Field(default="", max_length=1000)
    last_activity_at: datetime | None = None


class CartOut(Schema):
    id: uuid.UUID
    customer_id: uuid.UUID | None
    email: str | None
    channel_id: uuid.UUID | None
    external_id: str | None
    currency: str
    value: Decimal
    items: list[dict[str, Any]]
    status: str
    checkout_url: str
    last_activity_at: datetime
    abandoned_at: datetime | None
    recovered_order_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class ChannelIn(Input):
    name: str = Field(min_length=1, max_length=100)
    kind: ChannelKind


class ChannelUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    kind: ChannelKind | None = None


class ChannelOut(Schema):
    id: uuid.UUID
    name: str
    kind: str
    created_at: datetime
