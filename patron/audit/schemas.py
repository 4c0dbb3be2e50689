"""The audit log over the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from patron.kit.schemas import Schema


class AuditEventOut(Schema):
    id: uuid.UUID
    occurred_at: datetime
    actor_type: str
    actor_id: uuid.UUID | None
    actor_label: str
    action: str
    object_type: str | None
    object_id: str | None
    details: dict[str, Any]
    ip: str | None
    user_agent: str | None
    request_id: str | None
