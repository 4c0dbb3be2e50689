"""The parts of Stripe's event objects (API shapes) that Patron reads.

Unknown fields are ignored; a needed field that is missing or of the wrong type fails
validation, and the receipt is recorded as failed with the reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from patron.integrations.stripe.money import from_minor


def _text(value: object) -> object:
    return "" if value is None else value


def _metadata(value: object) -> object:
    return {} if value is None else value


def _reference(value: object) -> object:
    """An expandable field: its id, whether Stripe sent the id or the expanded object."""
    if isinstance(value, dict):
        return value.get("id")
    return value


Text = Annotated[str, BeforeValidator(_text)]
# Stripe's own limit is 8 digits; this one keeps any currency inside Patron's NUMERIC(14, 2)
Minor = Annotated[int, Field(ge=0, le=99_999_999_999)]
Seconds = Annotated[int, Field(ge=0, le=10_000_000_000)]
Currency = Annotated[str, Field(pattern=r"^[a-zA-Z]{3}$")]
StripeId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Reference = Annotated[StripeId | None, BeforeValidator(_reference)]
Metadata = Annotated[dict[str, str], BeforeValidator(_metadata)]


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


def moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


class Event(Payload):
    id: str = Field(min_length=1, max_length=200)
    type: str
    created: Seconds
    data: dict[str, Any]

    @property
    def object(self) -> dict[str, Any]:
        value = self.data.get("object")
        return value if isinstance(value, dict) else {}

    @property
    def at(self) -> datetime:
        return moment(self.created)


class BillingDetails(Payload):
    email: Text = ""
    name: Text = ""


class RefundItem(Payload):
    reason: Text = ""


class RefundList(Payload):
    data: list[RefundItem] = Field(default_factory=list)


class PaymentError(Payload):
    message: Text = ""
    code: Text = ""


class Charge(Payload):
    id: StripeId = Field(pattern=r"^(ch|py)_")
    amount: Minor
    amount_captured: Minor = 0
    amount_refunded: Minor = 0
    currency: Currency
    created: Seconds
    captured: bool = True
    status: Text = ""
    customer: Reference = None
    payment_intent: Reference = None
    receipt_email: Text = ""
    billing_details: BillingDetails = Field(default_factory=BillingDetails)
    metadata: Metadata = Field(default_factory=dict)
    refunds: RefundList | None = None
    failure_message: Text = ""


class PaymentIntent(Payload):
    id: StripeId = Field(pattern=r"^pi_")
    amount: Minor
    amount_received: Minor = 0
    currency: Currency
    created: Seconds
    status: Text = ""
    customer: Reference = None
    latest_charge: Reference = None
    receipt_email: Text = ""
    metadata: Metadata = Field(default_factory=dict)
    last_payment_error: PaymentError | None = None


class CustomerDetails(Payload):
    email: Text = ""
    name: Text = ""


class CheckoutSession(Payload):
    id: StripeId = Field(pattern=r"^cs_")
    amount_total: Minor | None = None
    currency: Currency | None = None
    created: Seconds
    payment_status: Text = ""
    customer: Reference = None
    customer_email: Text = ""
    customer_details: CustomerDetails | None = None
    payment_intent: Reference = None
    client_reference_id: Text = ""
    metadata: Metadata = Field(default_factory=dict)


class Customer(Payload):
    id: StripeId = Field(pattern=r"^cus_")
    email: Text = ""
    name: Text = ""
    phone: Text = ""
    created: Seconds = 0
    deleted: bool = False


def amount(minor: int, currency: str) -> Decimal:
    return from_minor(minor, currency)
