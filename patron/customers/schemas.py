"""Customers over the API: profile, contact data, addresses, consent, lists."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, field_serializer

from patron.kit.schemas import Input, Schema

LifecycleStage = Literal["lead", "prospect", "customer", "repeat", "vip", "at_risk", "churned"]
ConsentChannel = Literal["email", "sms"]
ConsentStatus = Literal["subscribed", "unsubscribed", "pending", "never_asked"]
ContactFrequency = Literal["any", "weekly", "monthly", "quarterly", "never"]
PreferredChannel = Literal["email", "sms", "phone", "post", "whatsapp"]
Tag = Field(min_length=1, max_length=50)


class AddressIn(Input):
    label: str = Field(default="", max_length=40)
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
    is_default_billing: bool = False
    is_default_shipping: bool = False


class AddressUpdate(Input):
    label: str | None = Field(default=None, max_length=40)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    company: str | None = Field(default=None, max_length=200)
    line1: str | None = Field(default=None, min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, min_length=1, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, min_length=2, max_length=60)
    phone: str | None = Field(default=None, max_length=40)
    is_default_billing: bool | None = None
    is_default_shipping: bool | None = None


class AddressOut(Schema):
    id: uuid.UUID
    label: str
    first_name: str
    last_name: str
    company: str
    line1: str
    line2: str
    city: str
    region: str
    postal_code: str
    country: str
    phone: str | None
    is_default_billing: bool
    is_default_shipping: bool


class ExternalIdIn(Input):
    channel_id: uuid.UUID
    external_id: str = Field(min_length=1, max_length=200)


class ExternalIdOut(Schema):
    id: uuid.UUID
    channel_id: uuid.UUID
    external_id: str


class ConsentIn(Input):
    channel: ConsentChannel
    purpose: str = Field(default="marketing", pattern=r"^[a-z][a-z0-9_]{0,39}$")
    status: ConsentStatus
    source: str = Field(default="", max_length=100, description="Where it was given: form, POS…")
    form_text_version: str = Field(default="", max_length=100)
    ip: str | None = Field(default=None, max_length=64)


class ConsentChange(Input):
    status: ConsentStatus
    source: str = Field(default="", max_length=100)
    form_text_version: str = Field(default="", max_length=100)
    ip: str | None = Field(default=None, max_length=64)


class ConsentOut(Schema):
    channel: str
    purpose: str
    status: str
    changed_at: datetime
    source: str
    form_text_version: str
    ip: str | None


class ConsentHistoryOut(Schema):
    channel: str
    purpose: str
    status: str
    previous_status: str | None
    occurred_at: datetime
    source: str
    form_text_version: str
    ip: str | None
    actor_label: str


class ContactOut(Schema):
    id: uuid.UUID
    label: str


class EmailOut(ContactOut):
    email: str


class PhoneOut(ContactOut):
    phone: str


class ContactIn(Input):
    value: str = Field(min_length=3, max_length=320)
    label: str = Field(default="", max_length=40)


class CustomerFields(Input):
    first_name: str = Field(default="", max_length=100)
    last_name: str = Field(default="", max_length=100)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    birthday: date | None = None
    locale: str | None = Field(default=None, pattern=r"^[a-zA-Z]{2,3}([-_][a-zA-Z0-9]{2,8})*$")
    time_zone: str | None = Field(default=None, max_length=64)
    company: str | None = Field(default=None, max_length=200)
    tags: list[str] = Field(default_factory=list, max_length=50)
    lifecycle_stage: LifecycleStage | None = Field(
        default=None, description="Set by hand: stops the automatic stage until cleared"
    )
    owner_id: uuid.UUID | None = None
    source: str = Field(default="", max_length=100)
    preferred_channels: list[PreferredChannel] = Field(default_factory=list, max_length=5)
    interests: list[str] = Field(default_factory=list, max_length=50)
    contact_frequency: ContactFrequency | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class CustomerCreate(CustomerFields):
    other_emails: list[str] = Field(default_factory=list, max_length=20)
    other_phones: list[str] = Field(default_factory=list, max_length=20)
    addresses: list[AddressIn] = Field(default_factory=list, max_length=20)
    external_ids: list[ExternalIdIn] = Field(default_factory=list, max_length=20)
    consents: list[ConsentIn] = Field(default_factory=list, max_length=10)


class CustomerUpdate(Input):
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    birthday: date | None = None
    locale: str | None = Field(default=None, pattern=r"^[a-zA-Z]{2,3}([-_][a-zA-Z0-9]{2,8})*$")
    time_zone: str | None = Field(default=None, max_length=64)
    company: str | None = Field(default=None, max_length=200)
    tags: list[str] | None = Field(default=None, max_length=50)
    lifecycle_stage: LifecycleStage | Literal["auto"] | None = Field(
        default=None, description="A stage to set by hand, or `auto` to follow the data again"
    )
    owner_id: uuid.UUID | None = None
    source: str | None = Field(default=None, max_length=100)
    preferred_channels: list[PreferredChannel] | None = Field(default=None, max_length=5)
    interests: list[str] | None = Field(default=None, max_length=50)
    contact_frequency: ContactFrequency | None = None
    custom_fields: dict[str, Any] | None = None


class MetricsOut(Schema):
    orders_count: int = 0
    total_spent: Decimal = Decimal("0.00")
    refunded_total: Decimal = Decimal("0.00")
    average_order_value: Decimal = Decimal("0.00")
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    items_bought: int = 0
    returns_count: int = 0
    recency_score: int | None = Field(default=None, description="RFM recency, 1–5 (5: latest)")
    frequency_score: int | None = Field(default=None, description="RFM frequency, 1–5")
    monetary_score: int | None = Field(default=None, description="RFM monetary, 1–5")
    rfm_group: str | None = Field(default=None, description="champions, loyal, … (docs/reports.md)")
    rfm_scored_at: datetime | None = Field(default=None, description="When the scores last changed")
    last_seen_at: datetime | None = Field(default=None, description="Latest event or order")

    @field_serializer("total_spent", "refunded_total", "average_order_value")
    def _money(self, value: Decimal) -> str:
        return f"{value:.2f}"


class CustomerSummary(Schema):
    id: uuid.UUID
    name: str
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    company: str | None
    country: str | None
    tags: list[str]
    lifecycle_stage: str
    owner_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    metrics: MetricsOut = Field(default_factory=MetricsOut)


class CustomerOut(CustomerSummary):
    birthday: date | None
    locale: str | None
    time_zone: str | None
    lifecycle_locked: bool
    source: str
    preferred_channels: list[str]
    interests: list[str]
    contact_frequency: str | None
    custom_fields: dict[str, Any]
    other_emails: list[EmailOut] = Field(default_factory=list)
    other_phones: list[PhoneOut] = Field(default_factory=list)
    addresses: list[AddressOut] = Field(default_factory=list)
    external_ids: list[ExternalIdOut] = Field(default_factory=list)
    consents: list[ConsentOut] = Field(default_factory=list)
    merged_from: uuid.UUID | None = Field(
        default=None, description="Set when the id asked for was merged into this customer"
    )


class BulkAction(Input):
    action: Literal["tag", "untag", "set_owner", "set_lifecycle"]
    ids: list[uuid.UUID] | None = Field(
        default=None, max_length=10_000, description="These customers; or use `filter`"
    )
    filter: dict[str, Any] | None = Field(
        default=None, description="The list's filter parameters, to act on every match"
    )
    tag: str | None = Field(default=None, min_length=1, max_length=50)
    owner_id: uuid.UUID | None = None
    lifecycle_stage: LifecycleStage | Literal["auto"] | None = None
    confirm: bool = Field(
        default=False, description="Without it, nothing changes: the answer says how many match"
    )


class BulkResult(Schema):
    matched: int
    changed: int
    applied: bool


class SavedViewIn(Input):
    name: str = Field(min_length=1, max_length=100)
    entity: Literal["customers", "orders"] = "customers"
    query: str = Field(max_length=2000, description="The list's query string")


class SavedViewOut(Schema):
    id: uuid.UUID
    name: str
    entity: str
    query: str
    created_at: datetime


class CustomFieldIn(Input):
    entity: Literal["customer", "order", "product"]
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str = Field(min_length=1, max_length=100)
    field_type: Literal["text", "number", "date", "boolean", "select", "multiselect"]
    required: bool = False
    options: list[str] = Field(default_factory=list, max_length=200)
    position: int = Field(default=0, ge=0, le=10_000)


class CustomFieldUpdate(Input):
    label: str | None = Field(default=None, min_length=1, max_length=100)
    required: bool | None = None
    options: list[str] | None = Field(default=None, max_length=200)
    position: int | None = Field(default=None, ge=0, le=10_000)


class CustomFieldOut(Schema):
    id: uuid.UUID
    entity: str
    key: str
    label: str
    field_type: str
    required: bool
    options: list[str]
    position: int


class DuplicateOut(Schema):
    id: uuid.UUID
    reason: str
    score: float
    status: str
    created_at: datetime
    first: CustomerSummary
    second: CustomerSummary


class DuplicatePage(Schema):
    items: list[DuplicateOut]
    next_cursor: str | None = None


class ScanResult(Schema):
    job_id: int


MergeField = Literal[
    "first_name",
    "last_name",
    "email",
    "phone",
    "birthday",
    "locale",
    "time_zone",
    "company",
    "owner_id",
    "source",
    "lifecycle_stage",
    "contact_frequency",
]


class MergeIn(Input):
    merge_id: uuid.UUID = Field(description="The customer that goes away into this one")
    fields: dict[
        MergeField,
        Literal["survivor", "merged"],
    ] = Field(
        default_factory=dict,
        description="Whose value survives, per field; by default the survivor's, or the "
        "merged customer's where the survivor has none. Tags, interests and custom fields "
        "are combined.",
    )
