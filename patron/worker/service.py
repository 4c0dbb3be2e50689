"""Failed jobs: what the admin page shows and its retry button does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.audit.service import Actor
from patron.db.engine import Database
from patron.errors import Conflict, NotFound
from patron.models import JobFailure


async def save_failure(
    database: Database, *, job_id: int, task_name: str, attempt: int, error: str, trace: str
) -> None:
    async with database.transaction() as db:
        db.add(
            JobFailure(
                job_id=job_id, task_name=task_name, attempt=attempt, error=error, traceback=trace
            )
        )


@dataclass(frozen=True)
class FailedJob:
    id: int
    task_name: str
    queue: str
    args: dict[str, Any]
    attempts: int
    failed_at: datetime | None
    error: str
    traceback: str


_FAILED = text(
    """
    SELECT j.id, j.task_name, j.queue_name, j.args, j.attempts,
           f.failed_at, coalesce(f.error, '') AS error, coalesce(f.traceback, '') AS traceback
    FROM procrastinate_jobs j
    LEFT JOIN LATERAL (
        SELECT failed_at, error, traceback FROM job_failure
        WHERE job_failure.job_id = j.id ORDER BY failed_at DESC LIMIT 1
    ) f ON true
    WHERE j.status = 'failed' AND (CAST(:before AS bigint) IS NULL OR j.id < :before)
    ORDER BY j.id DESC
    LIMIT :limit
    """
)


async def failed_jobs(
    db: AsyncSession, *, limit: int = 50, before: int | None = None
) -> list[FailedJob]:
    rows = await db.execute(_FAILED, {"limit": limit, "before": before})
    return [FailedJob(*row) for row in rows]


async def job_counts(db: AsyncSession) -> dict[str, int]:
    rows = await db.execute(
        text("SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY status")
    )
    return {status: int(count) for status, count in rows}


async def retry_job(db: AsyncSession, job_id: int, *, actor: Actor) -> None:
    status = await db.scalar(
        text("SELECT status::text FROM procrastinate_jobs WHERE id = :id FOR UPDATE"),
        {"id": job_id},
    )
    if status is None:
        raise NotFound("No such job.")
    if status != "failed":
        raise Conflict(
            f"Only failed jobs can be retried; this one is {status}.", code="job_not_failed"
        )
    await db.execute(
        text("SELECT procrastinate_retry_job_v2(:id, now(), NULL, NULL, NULL)"), {"id": job_id}
    )
    await audit.record(db, action="job.retried", actor=actor, object_type="job", object_id=job_id)
