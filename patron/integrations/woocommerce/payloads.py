"""WooCommerce's webhook payloads (REST API v3 shapes), translated into the store-neutral
shapes the order, customer and catalog handlers already understand.

WooCommerce sends dates without a zone in ``*_gmt`` fields; they are read as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from patron.integrations.shopify import payloads as neutral

PAID = frozenset({"processing", "completed"})
PRODUCT_STATUS = {"publish": "active", "draft": "draft", "pending": "draft", "private": "draft"}


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _maybe_utc(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _text(value: object) -> object:
    return "" if value is None else value


def _amount(value: object) -> object:
    return "0" if value in (None, "") else value


Moment = Annotated[datetime | None, AfterValidator(_maybe_utc)]
Stamp = Annotated[datetime, AfterValidator(_utc)]
Text = Annotated[str, BeforeValidator(_text)]
Amount = Annotated[Decimal, BeforeValidator(_amount), Field(allow_inf_nan=False)]
Id = Annotated[int, Field(gt=0)]


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Address(Payload):
    first_name: Text = ""
    last_name: Text = ""
    company: Text = ""
    address_1: Text = ""
    address_2: Text = ""
    city: Text = ""
    state: Text = ""
    postcode: Text = ""
    country: Text = ""
    email: Text = ""
    phone: Text = ""

    def neutral(self) -> neutral.Address:
        return neutral.Address(
            first_name=self.first_name,
            last_name=self.last_name,
            company=self.company,
            address1=self.address_1,
            address2=self.address_2,
            city=self.city,
            province=self.state,
            zip=self.postcode,
            country_code=self.country,
            phone=self.phone,
        )


class LineItem(Payload):
    id: Id
    name: Text = ""
    sku: Text = ""
    quantity: int = Field(gt=0)
    subtotal: Amount
    total: Amount


class ShippingLine(Payload):
    total: Amount = Decimal("0")


class CouponLine(Payload):
    code: Text = ""
    discount: Amount = Decimal("0")


class RefundRef(Payload):
    id: Id
    reason: Text = ""
    total: Amount


class Order(Payload):
    id: Id
    number: Text = ""
    status: Text = "pending"
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")
    date_created_gmt: Stamp
    date_modified_gmt: Stamp
    date_paid_gmt: Moment = None
    discount_total: Amount = Decimal("0")
    shipping_total: Amount = Decimal("0")
    total_tax: Amount = Decimal("0")
    total: Amount = Decimal("0")
    prices_include_tax: bool = False
    customer_id: int = 0
    customer_note: Text = ""
    payment_method_title: Text = ""
    billing: Address = Field(default_factory=Address)
    shipping: Address = Field(default_factory=Address)
    line_items: list[LineItem] = Field(min_length=1)
    shipping_lines: list[ShippingLine] = Field(default_factory=list)
    coupon_lines: list[CouponLine] = Field(default_factory=list)
    refunds: list[RefundRef] = Field(default_factory=list)

    def neutral(self) -> neutral.Order:
        created, modified = self.date_created_gmt, self.date_modified_gmt
        refunds = [
            neutral.Refund(
                id=refund.id,
                note=refund.reason,
                transactions=[
                    neutral.Transaction(amount=abs(refund.total), kind="refund", status="success")
                ],
            )
            for refund in self.refunds
        ]
        paid = self.status in PAID or self.status == "refunded" or self.date_paid_gmt is not None
        if not paid:
            financial = "pending"
        elif self.status == "refunded":
            financial = "refunded"
        else:
            financial = "partially_refunded" if refunds else "paid"
        customer = (
            neutral.Customer(
                id=self.customer_id,
                email=self.billing.email,
                first_name=self.billing.first_name,
                last_name=self.billing.last_name,
                phone=self.billing.phone,
                default_address=self.billing.neutral(),
            )
            if self.customer_id > 0
            else None
        )
        return neutral.Order(
            id=self.id,
            name=f"#{self.number or self.id}",
            email=self.billing.email,
            created_at=created,
            updated_at=modified,
            cancelled_at=modified if self.status == "cancelled" else None,
            cancel_reason="cancelled in the store" if self.status == "cancelled" else "",
            currency=self.currency,
            total_price=self.total,
            total_tax=self.total_tax,
            total_discounts=self.discount_total,
            taxes_included=self.prices_include_tax,
            financial_status=financial,
            note=self.customer_note,
            payment_gateway_names=[self.payment_method_title] if self.payment_method_title else [],
            discount_codes=[
                neutral.DiscountCode(code=c.code, amount=c.discount) for c in self.coupon_lines
            ],
            line_items=[
                neutral.LineItem(
                    id=line.id,
                    title=line.name,
                    sku=line.sku,
                    quantity=line.quantity,
                    price=(line.subtotal / line.quantity).quantize(Decimal("0.01")),
                    discount_allocations=[
                        neutral.DiscountAllocation(
                            amount=max(line.subtotal - line.total, Decimal("0"))
                        )
                    ],
                )
                for line in self.line_items
            ],
            shipping_lines=[neutral.ShippingLine(price=s.total) for s in self.shipping_lines],
            customer=customer,
            billing_address=self.billing.neutral(),
            shipping_address=self.shipping.neutral(),
            refunds=refunds,
            # a completed order has been shipped: one shipment for what is left
            fulfillments=(
                [neutral.Fulfillment(id=self.id, status="success", updated_at=modified)]
                if self.status == "completed"
                else []
            ),
        )


class Customer(Payload):
    id: Id
    email: Text = ""
    first_name: Text = ""
    last_name: Text = ""
    date_modified_gmt: Moment = None
    billing: Address = Field(default_factory=Address)

    def neutral(self) -> neutral.Customer:
        return neutral.Customer(
            id=self.id,
            email=self.email,
            first_name=self.first_name,
            last_name=self.last_name,
            phone=self.billing.phone,
            updated_at=self.date_modified_gmt,
            default_address=self.billing.neutral(),
        )


class Tag(Payload):
    name: Text = ""


class Product(Payload):
    id: Id
    name: str = Field(min_length=1)
    description: Text = ""
    status: Text = "publish"
    sku: Text = ""
    price: Amount = Decimal("0")
    regular_price: Amount = Decimal("0")
    stock_quantity: int | None = None
    date_modified_gmt: Moment = None
    tags: list[Tag] = Field(default_factory=list)

    def neutral(self) -> neutral.Product:
        price = self.price if self.price > 0 else self.regular_price
        return neutral.Product(
            id=self.id,
            title=self.name,
            body_html=self.description,
            status=PRODUCT_STATUS.get(self.status, "draft"),
            tags=", ".join(tag.name for tag in self.tags if tag.name),
            updated_at=self.date_modified_gmt,
            variants=[
                neutral.Variant(
                    id=self.id,
                    title="Default",
                    sku=self.sku,
                    price=max(price, Decimal("0")),
                    inventory_quantity=self.stock_quantity or 0,
                )
            ],
        )
