"""The timeline over the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from patron.kit.schemas import Input, Schema


class AttachmentOut(Schema):
    id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    created_at: datetime


class EntryOut(Schema):
    id: uuid.UUID
    customer_id: uuid.UUID
    order_id: uuid.UUID | None
    kind: str
    occurred_at: datetime
    actor_type: str
    actor_id: uuid.UUID | None
    actor_label: str
    summary: str
    data: dict[str, Any]
    body: str | None
    body_html: str | None = Field(description="The body as sanitised HTML")
    pinned: bool
    attachments: list[AttachmentOut] = Field(default_factory=list)


class EntryPage(Schema):
    items: list[EntryOut]
    pinned: list[EntryOut] = Field(default_factory=list, description="On the first page only")
    next_cursor: str | None = None


class NoteIn(Input):
    body: str = Field(min_length=1, max_length=20_000, description="Markdown; @name mentions")
    pinned: bool = False


class NoteUpdate(Input):
    body: str | None = Field(default=None, min_length=1, max_length=20_000)
    pinned: bool | None = None


class ActivityIn(Input):
    kind: Literal["call", "meeting", "email_logged"]
    summary: str = Field(default="", max_length=500)
    body: str = Field(default="", max_length=20_000)
    occurred_at: datetime | None = None
    duration_minutes: int | None = Field(default=None, ge=0, le=24 * 60)
    outcome: str = Field(default="", max_length=100)


class NotificationOut(Schema):
    id: uuid.UUID
    kind: str
    message: str
    link: str
    read_at: datetime | None
    created_at: datetime
