"""The parts of Shopify's webhook payloads (REST Admin API shapes) that Patron reads.

Unknown fields are ignored; a field Patron needs that is missing or of the wrong type fails
validation, and the receipt is recorded as failed with the reason.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _text(value: object) -> object:
    return "" if value is None else value


def _money(value: object) -> object:
    return "0" if value in (None, "") else value


Text = Annotated[str, BeforeValidator(_text)]
Money = Annotated[Decimal, BeforeValidator(_money), Field(ge=0, allow_inf_nan=False)]
ExternalId = Annotated[int, Field(gt=0)]


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Address(Payload):
    first_name: Text = ""
    last_name: Text = ""
    company: Text = ""
    address1: Text = ""
    address2: Text = ""
    city: Text = ""
    province: Text = ""
    zip: Text = ""
    country_code: Text = ""
    phone: Text = ""


class MarketingConsent(Payload):
    state: Text = ""


class Customer(Payload):
    id: ExternalId
    email: Text = ""
    first_name: Text = ""
    last_name: Text = ""
    phone: Text = ""
    tags: Text = ""
    updated_at: datetime | None = None
    email_marketing_consent: MarketingConsent | None = None
    default_address: Address | None = None


class DiscountAllocation(Payload):
    amount: Money = Decimal("0")


class LineItem(Payload):
    id: ExternalId
    title: Text = ""
    variant_title: Text = ""
    sku: Text = ""
    quantity: int = Field(gt=0)
    # what remains after order edits and refunds (API 2024-01 and later); 0 once removed
    current_quantity: int | None = Field(default=None, ge=0)
    price: Money
    total_discount: Money = Decimal("0")
    discount_allocations: list[DiscountAllocation] = Field(default_factory=list)


class FulfillmentLine(Payload):
    id: ExternalId
    quantity: int = Field(gt=0)
    title: Text = ""
    sku: Text = ""


class Fulfillment(Payload):
    id: ExternalId
    order_id: ExternalId | None = None
    status: Text = ""
    shipment_status: Text = ""
    tracking_company: Text = ""
    tracking_number: Text = ""
    tracking_url: Text = ""
    line_items: list[FulfillmentLine] = Field(default_factory=list)
    updated_at: datetime | None = None


class Transaction(Payload):
    amount: Money
    kind: Text = ""
    status: Text = ""


class RefundLine(Payload):
    line_item_id: ExternalId
    quantity: int = Field(ge=0)
    restock_type: Text = ""


class Refund(Payload):
    id: ExternalId
    order_id: ExternalId | None = None
    created_at: datetime | None = None
    note: Text = ""
    transactions: list[Transaction] = Field(default_factory=list)
    refund_line_items: list[RefundLine] = Field(default_factory=list)

    @property
    def amount(self) -> Decimal:
        return sum(
            (t.amount for t in self.transactions if t.kind == "refund" and t.status == "success"),
            Decimal("0"),
        )


class ShippingLine(Payload):
    price: Money = Decimal("0")
    is_removed: bool = False  # removed by an order edit (API 2024-07 and later)


class DiscountCode(Payload):
    code: Text = ""
    amount: Money = Decimal("0")


class Order(Payload):
    id: ExternalId
    name: Text = ""
    order_number: int | None = None
    email: Text = ""
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None = None
    cancel_reason: Text = ""
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")
    total_price: Money = Decimal("0")
    total_tax: Money = Decimal("0")
    total_discounts: Money = Decimal("0")
    # after order edits (API 2024-01 and later); absent before
    current_total_tax: Money | None = None
    current_total_discounts: Money | None = None
    total_outstanding: Money | None = None
    taxes_included: bool = False
    financial_status: Text = "pending"
    note: Text = ""
    tags: Text = ""
    payment_gateway_names: list[str] = Field(default_factory=list)
    discount_codes: list[DiscountCode] = Field(default_factory=list)
    line_items: list[LineItem] = Field(min_length=1)
    shipping_lines: list[ShippingLine] = Field(default_factory=list)
    customer: Customer | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None
    refunds: list[Refund] = Field(default_factory=list)
    fulfillments: list[Fulfillment] = Field(default_factory=list)


class Variant(Payload):
    id: ExternalId
    title: Text = "Default"
    sku: Text = ""
    price: Money
    compare_at_price: Money | None = None
    inventory_quantity: int = 0
    inventory_item_id: ExternalId | None = None
    position: int = 0


class Product(Payload):
    id: ExternalId
    title: str = Field(min_length=1)
    body_html: Text = ""
    vendor: Text = ""
    product_type: Text = ""
    status: Text = "active"
    tags: Text = ""
    updated_at: datetime | None = None
    variants: list[Variant] = Field(default_factory=list)


class Deleted(Payload):
    id: ExternalId


class InventoryLevel(Payload):
    inventory_item_id: ExternalId
    available: int | None = None
    updated_at: datetime | None = None


class CheckoutLine(Payload):
    title: Text = ""
    sku: Text = ""
    quantity: int = Field(gt=0)
    price: Money
    variant_id: int | None = None
    product_id: int | None = None


class Checkout(Payload):
    id: ExternalId
    token: Text = ""
    email: Text = ""
    currency: str = Field(default="", pattern=r"^([A-Za-z]{3})?$")
    total_price: Money | None = None
    abandoned_checkout_url: Text = ""
    updated_at: datetime | None = None
    completed_at: datetime | None = None
    customer: Customer | None = None
    line_items: list[CheckoutLine] = Field(default_factory=list)


class PrivacyRequest(Payload):
    shop_domain: Text = ""
    customer: dict[str, object] | None = None
    orders_to_redact: list[int] = Field(default_factory=list)
    orders_requested: list[int] = Field(default_factory=list)


def tag_list(value: str) -> list[str]:
    return [tag.strip() for tag in value.split(",") if tag.strip()]
