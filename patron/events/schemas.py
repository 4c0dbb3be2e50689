"""Tracking events over the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from patron.kit.schemas import ErrorInfo, Input, Schema
from patron.orders.schemas import OrderCreate, OrderOut

MAX_BATCH = 500
SUGGESTED_NAMES = ("viewed_product", "added_to_cart", "started_checkout", "searched")


class Identity(Input):
    """Who did it: a Patron customer id, an email, a store's customer id, or an anonymous ID."""

    customer_id: uuid.UUID | None = Field(default=None, description="A Patron customer id")
    email: str | None = Field(default=None, max_length=320)
    external_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="The store's customer id"
    )
    channel_id: uuid.UUID | None = Field(
        default=None, description="The channel `external_id` belongs to (required with it)"
    )
    anonymous_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The storefront's visitor ID (cookie), before the visitor is known",
    )


class EventIn(Identity):
    name: str = Field(
        description=(
            "viewed_product, added_to_cart, started_checkout, searched, or your own name: "
            "lower-case letters, digits, `_`, `.`, `:` or `-`, starting with a letter, "
            "up to 100 characters"
        ),
    )
    properties: dict[str, Any] = Field(
        default_factory=dict, description="A JSON object, at most 16 KB once serialised"
    )
    timestamp: datetime | None = Field(
        default=None, description="When it happened (ISO 8601); now by default"
    )
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The same key from the same API key is stored once",
    )


class BatchIn(Input):
    # items are checked one by one, so that one malformed item is reported, not fatal
    events: list[Any] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"Up to {MAX_BATCH} events, each shaped like the body of POST /events",
    )


class EventAccepted(Schema):
    id: uuid.UUID = Field(description="The stored event's id (the first one, for a duplicate)")
    status: Literal["created", "duplicate"]
    customer_id: uuid.UUID | None = Field(description="The customer the event was joined to")


class BatchItem(Schema):
    index: int
    status: Literal["created", "duplicate", "rejected"]
    id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    error: ErrorInfo | None = None


class BatchOut(Schema):
    created: int
    duplicates: int
    rejected: int
    items: list[BatchItem]


class IdentifyIn(Identity):
    anonymous_id: str = Field(min_length=1, max_length=200)


class IdentifyOut(Schema):
    anonymous_id: str
    customer_id: uuid.UUID
    events_joined: int = Field(description="Earlier anonymous events now on the customer")


class EventOut(Schema):
    id: uuid.UUID
    name: str
    occurred_at: datetime
    received_at: datetime
    customer_id: uuid.UUID | None
    anonymous_id: str | None
    properties: dict[str, Any]


class OrderUpsert(OrderCreate):
    """An order as a custom store sends it; the channel and external ID come from the path."""

    customer_id: uuid.UUID | None = Field(  # type: ignore[assignment]
        default=None, description="A Patron customer id; or give `email`/`customer_external_id`"
    )
    email: str | None = Field(default=None, max_length=320)
    customer_external_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="The store's customer id"
    )
    updated_at: datetime = Field(
        description="The store's version of the order: an older one never overwrites a newer"
    )
    cancelled_at: datetime | None = Field(default=None, description="Set once the store cancels")
    cancel_reason: str = Field(default="", max_length=200)


class OrderUpsertOut(OrderOut):
    applied: bool = Field(
        description="false when the store's version was not newer than the one already held"
    )
