"""Privacy requests in and out of the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from patron.kit.schemas import API_PREFIX, Input, Schema
from patron.models import PrivacyRequest
from patron.privacy.service import is_downloadable


class ErasureIn(Input):
    confirm: bool = Field(
        default=False, strict=True, description="Must be true: an erasure cannot be undone"
    )


class PrivacyRequestOut(Schema):
    id: uuid.UUID
    kind: str = Field(description="export, erasure or shop_erasure")
    customer_id: uuid.UUID | None = Field(
        description="An opaque id; after an erasure it names an anonymised tombstone"
    )
    source: str = Field(description="staff, api or shopify")
    connection_id: uuid.UUID | None
    requested_by_label: str
    status: str = Field(description="queued, running, done, failed or expired")
    error: str
    counts: dict[str, int] = Field(
        default_factory=dict, description="What an erasure removed or anonymised"
    )
    file_size: int | None
    requested_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    expires_at: datetime | None = Field(description="When an export's file is deleted")
    download_url: str | None = Field(default=None, description="While the export can be downloaded")

    @classmethod
    def of(cls, request: PrivacyRequest) -> PrivacyRequestOut:
        out = cls.model_validate(request)
        counts: Any = request.details.get("counts") or {}
        out.counts = {str(k): int(v) for k, v in counts.items()}
        if is_downloadable(request):
            out.download_url = f"{API_PREFIX}/privacy/requests/{request.id}/download"
        return out
