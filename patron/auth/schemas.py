"""API keys over the API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from patron.kit.schemas import Input, Schema


class ApiKeyOut(Schema):
    id: uuid.UUID
    name: str
    prefix: str = Field(description="The first characters of the key, to recognise it")
    user_id: uuid.UUID
    created_by_id: uuid.UUID | None
    scopes: list[str]
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class ApiKeyCreate(Input):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1, max_length=100)
    expires_at: datetime | None = Field(
        default=None, description="Omit for a key that never expires"
    )
    user_id: uuid.UUID | None = Field(
        default=None, description="A service account to own the key (administrators only)"
    )


class ApiKeyCreated(ApiKeyOut):
    secret: str = Field(description="The key itself. Shown once; store it now.")
