"""What the home page shows each person."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Date, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth.principal import Principal
from patron.kit.time import utcnow
from patron.models import AuditEvent, StaffUser
from patron.worker.service import job_counts

ACTIVITY_DAYS = 14


async def sign_in_activity(db: AsyncSession) -> dict[str, Any]:
    """Successful and failed sign-ins per day, for the admin's chart."""
    start = (utcnow() - timedelta(days=ACTIVITY_DAYS - 1)).date()
    day = cast(func.timezone("UTC", AuditEvent.occurred_at), Date)
    rows = await db.execute(
        select(day, AuditEvent.action, func.count())
        .where(
            AuditEvent.occurred_at >= start,
            AuditEvent.action.in_(("auth.sign_in.succeeded", "auth.sign_in.failed")),
        )
        .group_by(day, AuditEvent.action)
    )
    counts = {(d, action): n for d, action, n in rows}
    days = [start + timedelta(days=i) for i in range(ACTIVITY_DAYS)]
    return {
        "labels": [d.strftime("%d %b") for d in days],
        "datasets": [
            {
                "label": "Signed in",
                "data": [counts.get((d, "auth.sign_in.succeeded"), 0) for d in days],
            },
            {"label": "Failed", "data": [counts.get((d, "auth.sign_in.failed"), 0) for d in days]},
        ],
    }


async def build(db: AsyncSession, principal: Principal) -> dict[str, Any]:
    context: dict[str, Any] = {"admin": principal.has("settings:admin")}
    if context["admin"]:
        context["staff_count"] = await db.scalar(
            select(func.count()).where(StaffUser.is_active, StaffUser.kind == "person")
        )
        context["jobs"] = await job_counts(db)
        context["activity"] = await sign_in_activity(db)
    return context
