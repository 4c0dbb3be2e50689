"""API shapes for store connections and their webhook receipts."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field

from patron.kit.schemas import Input, Schema

Provider = Literal["shopify", "woocommerce", "stripe"]
ConnectionStatus = Literal["active", "paused", "uninstalled"]
ReceiptStatus = Literal["received", "processed", "ignored", "failed", "pending"]


class ConnectionCreate(Input):
    provider: Provider
    name: str = Field(min_length=1, max_length=100)
    shop_domain: str = Field(
        min_length=1,
        max_length=255,
        description=(
            "Shopify: the shop's myshopify.com domain; WooCommerce: the site's URL; "
            "Stripe: the account id (acct_...)"
        ),
    )
    webhook_secret: str = Field(
        min_length=8, max_length=500, description="The secret the store signs webhooks with"
    )
    access_token: str = Field(default="", max_length=500, description="Admin API token")
    channel_id: uuid.UUID | None = Field(
        default=None, description="The channel orders come in through; made when left out"
    )


class ConnectionUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    status: Literal["active", "paused"] | None = None
    webhook_secret: str | None = Field(
        default=None,
        min_length=8,
        max_length=500,
        description="A new secret; the previous one keeps verifying until the next change",
    )
    access_token: str | None = Field(default=None, min_length=8, max_length=500)


class ConnectionOut(Schema):
    id: uuid.UUID
    provider: str
    name: str
    shop_domain: str
    channel_id: uuid.UUID
    status: ConnectionStatus
    webhook_url: str = ""
    webhook_secret: str = Field(default="", description="Masked: only the last characters")
    access_token: str = Field(default="", description="Masked: only the last characters")
    last_delivery_at: datetime | None = None
    uninstalled_at: datetime | None
    created_at: datetime


class DayOut(Schema):
    day: date
    deliveries: int
    failures: int


class ConnectionStatusOut(ConnectionOut):
    receipts_by_status: dict[str, int] = Field(default_factory=dict)
    days: list[DayOut] = Field(default_factory=list, description="The last 14 days with deliveries")


class ReceiptOut(Schema):
    id: uuid.UUID
    received_at: datetime
    topic: str
    delivery_id: str
    status: ReceiptStatus
    error_code: str
    error: str
    outcome: str
    attempts: int
    processed_at: datetime | None
    headers: dict[str, Any]


BackfillStatus = Literal["queued", "running", "done", "failed"]


class BackfillCreate(Input):
    since: date | None = Field(
        default=None,
        description="Read records updated on or after this day (UTC); 90 days ago by default",
    )


class ResourceProgress(Schema):
    cursor: str | None = Field(description="The next page to read; null before the first")
    done: bool
    pages: int
    created: int
    updated: int
    unchanged: int
    failed: int


class RecordFailure(Schema):
    resource: str
    id: str
    code: str
    message: str


class BackfillOut(Schema):
    id: uuid.UUID
    connection_id: uuid.UUID
    kind: Literal["backfill", "reconciliation"]
    since: datetime
    status: BackfillStatus
    progress: dict[str, ResourceProgress] = Field(
        description="Per resource (customers, products, orders), in the order they are read"
    )
    created: int
    updated: int
    unchanged: int = Field(description="Records Patron already had at this version or newer")
    failed: int
    failures: list[RecordFailure] = Field(description="The first records that failed")
    error_code: str = Field(description="Why the run failed, e.g. store_credentials_rejected")
    error: str
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class CredentialsCheckOut(Schema):
    ok: bool
    code: str = Field(description="ok, or an error code such as store_credentials_rejected")
    message: str
