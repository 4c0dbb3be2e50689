"""Searching the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.kit.pagination import PageParams, paginate
from patron.kit.text import LIKE_ESCAPE, contains_pattern
from patron.models import AuditEvent


async def search(
    db: AsyncSession,
    params: PageParams,
    *,
    actor_id: uuid.UUID | None = None,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[AuditEvent], str | None]:
    query = select(AuditEvent)
    if actor_id is not None:
        query = query.where(AuditEvent.actor_id == actor_id)
    if actor:
        query = query.where(
            AuditEvent.actor_label.ilike(contains_pattern(actor), escape=LIKE_ESCAPE)
        )
    if action:
        # "auth.sign_in" matches every auth.sign_in.* action
        query = query.where(
            (AuditEvent.action == action)
            | AuditEvent.action.startswith(action.rstrip(".") + ".", autoescape=True)
        )
    if object_type:
        query = query.where(AuditEvent.object_type == object_type)
    if object_id:
        query = query.where(AuditEvent.object_id == object_id)
    if since is not None:
        query = query.where(AuditEvent.occurred_at >= since)
    if until is not None:
        query = query.where(AuditEvent.occurred_at < until)
    return await paginate(db, query, order=[AuditEvent.occurred_at, AuditEvent.id], params=params)
