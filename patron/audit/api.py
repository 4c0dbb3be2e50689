"""/api/v1/audit-events: search the audit log (admins and holders of audit:read)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from patron.audit import repository
from patron.audit.schemas import AuditEventOut
from patron.auth.dependencies import AuditReader
from patron.db.deps import ReadSession
from patron.kit.pagination import Page, PageParams, page_params
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS

router = APIRouter(prefix=API_PREFIX, tags=["audit log"], responses=COMMON_ERRORS)


@router.get("/audit-events", response_model=Page[AuditEventOut], summary="Search the audit log")
async def search_audit(
    principal: AuditReader,
    db: ReadSession,
    page: Annotated[PageParams, Depends(page_params)],
    actor_id: uuid.UUID | None = None,
    actor: Annotated[
        str | None, Query(max_length=200, description="Part of the actor's email")
    ] = None,
    action: Annotated[
        str | None, Query(max_length=80, description="An action or its prefix")
    ] = None,
    object_type: Annotated[str | None, Query(max_length=40)] = None,
    object_id: Annotated[str | None, Query(max_length=80)] = None,
    since: Annotated[datetime | None, Query(description="From this time (inclusive)")] = None,
    until: Annotated[datetime | None, Query(description="Before this time")] = None,
) -> Page[AuditEventOut]:
    events, cursor = await repository.search(
        db,
        page,
        actor_id=actor_id,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        since=since,
        until=until,
    )
    return Page(items=[AuditEventOut.model_validate(e) for e in events], next_cursor=cursor)
