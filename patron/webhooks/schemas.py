"""Webhook subscriptions and deliveries in the JSON API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from patron.kit.schemas import Input, Schema


class SubscriptionCreate(Input):
    url: str = Field(
        max_length=2000, description="Where deliveries are POSTed (https in production)"
    )
    event_types: list[str] = Field(max_length=50, description="Event types from the catalogue")
    name: str = Field(default="", max_length=200)


class SubscriptionUpdate(Input):
    url: str | None = Field(default=None, max_length=2000)
    event_types: list[str] | None = Field(default=None, max_length=50)
    name: str | None = Field(default=None, max_length=200)


class DisableIn(Input):
    reason: str = Field(default="Disabled by hand.", max_length=500)


class RotateIn(Input):
    keep_old_hours: int = Field(
        default=0, description="Hours the old secret keeps signing too (0 to 72; 0: stop at once)"
    )


class SubscriptionOut(Schema):
    id: uuid.UUID
    name: str
    url: str
    event_types: list[str]
    active: bool
    disabled_reason: str
    disabled_at: datetime | None
    owner_id: uuid.UUID | None
    consecutive_failures: int
    last_success_at: datetime | None
    secret_rotated_at: datetime | None
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SubscriptionWithSecret(SubscriptionOut):
    secret: str = Field(description="The signing secret; shown only in this response")


class SecretOut(Schema):
    secret: str = Field(description="The new signing secret; shown only in this response")


class EventTypeOut(Schema):
    type: str
    description: str


class AttemptOut(Schema):
    number: int
    manual: bool
    started_at: datetime
    succeeded: bool
    status_code: int | None
    latency_ms: int
    response_excerpt: str
    error: str


class DeliveryOut(Schema):
    id: uuid.UUID
    subscription_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str
    delivered_at: datetime | None
    created_at: datetime
    payload: dict[str, Any]
    log: list[AttemptOut] = Field(default_factory=list, description="Attempts, newest first")
