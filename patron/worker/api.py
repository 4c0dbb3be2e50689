"""/api/v1/jobs: failed background jobs and their retry (administrators)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel

from patron.auth.dependencies import SettingsAdmin
from patron.db.deps import DbSession
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS, error_responses
from patron.worker import service

router = APIRouter(prefix=API_PREFIX, tags=["jobs"], responses=COMMON_ERRORS)
BIGINT_MAX = 2**63 - 1
JobId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]


class FailedJobOut(BaseModel):
    id: int
    task_name: str
    queue: str
    args: dict[str, Any]
    attempts: int
    failed_at: datetime | None
    error: str
    traceback: str


class JobCountsOut(BaseModel):
    counts: dict[str, int]


@router.get("/jobs/failed", response_model=list[FailedJobOut], summary="Failed jobs, newest first")
async def list_failed(
    principal: SettingsAdmin,
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=BIGINT_MAX, description="Only jobs with a smaller id")
    ] = None,
) -> list[FailedJobOut]:
    jobs = await service.failed_jobs(db, limit=limit, before=before)
    return [FailedJobOut(**job.__dict__) for job in jobs]


@router.get("/jobs/counts", response_model=JobCountsOut, summary="Jobs by status")
async def counts(principal: SettingsAdmin, db: DbSession) -> JobCountsOut:
    return JobCountsOut(counts=await service.job_counts(db))


@router.post(
    "/jobs/{job_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(404, 409),
    summary="Run a failed job again",
)
async def retry(job_id: JobId, principal: SettingsAdmin, db: DbSession) -> dict[str, int]:
    await service.retry_job(db, job_id, actor=principal.actor)
    return {"id": job_id}
