"""The audit log page: search by actor, action, object and date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from patron.audit import repository
from patron.auth.dependencies import AuditReader
from patron.db.deps import ReadSession
from patron.errors import CRMError
from patron.kit.pagination import PageParams
from patron.web.templating import redirect, render

router = APIRouter(prefix="/admin")
PAGE_SIZE = 50


def _day(value: str, *, end: bool = False) -> datetime | None:
    try:
        start = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return start + timedelta(days=1) if end else start


@router.get("/audit")
async def audit_log(
    request: Request,
    principal: AuditReader,
    db: ReadSession,
    actor: Annotated[str, Query(max_length=200)] = "",
    action: Annotated[str, Query(max_length=80)] = "",
    object_type: Annotated[str, Query(max_length=40)] = "",
    object_id: Annotated[str, Query(max_length=80)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    cursor: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    filters = {
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "since": since,
        "until": until,
    }
    try:
        events, next_cursor = await repository.search(
            db,
            PageParams(limit=PAGE_SIZE, cursor=cursor or None),
            actor=actor or None,
            action=action or None,
            object_type=object_type or None,
            object_id=object_id or None,
            since=_day(since),
            until=_day(until, end=True),
        )
    except CRMError:
        return redirect(
            request, "/admin/audit", flash="That page no longer exists.", category="warning"
        )
    query = {k: v for k, v in filters.items() if v}
    return render(
        request,
        "admin/audit.html",
        {
            "events": events,
            "filters": filters,
            "next_url": f"/admin/audit?{urlencode({**query, 'cursor': next_cursor})}"
            if next_cursor
            else None,
            "first_url": f"/admin/audit?{urlencode(query)}" if cursor else None,
        },
    )
