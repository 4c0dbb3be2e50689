"""The jobs page: queue counts and failed jobs with their error and a retry button."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from patron.auth.dependencies import SettingsAdmin
from patron.db.deps import DbSession
from patron.errors import CRMError
from patron.web.templating import redirect, render
from patron.worker import service
from patron.worker.api import BIGINT_MAX

router = APIRouter(prefix="/admin")


@router.get("/jobs")
async def jobs(request: Request, principal: SettingsAdmin, db: DbSession) -> Response:
    return render(
        request,
        "admin/jobs.html",
        {
            "counts": await service.job_counts(db),
            "failed": await service.failed_jobs(db, limit=100),
        },
    )


@router.post("/jobs/{job_id}/retry")
async def retry(
    request: Request,
    job_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)],
    principal: SettingsAdmin,
    db: DbSession,
) -> Response:
    try:
        await service.retry_job(db, job_id, actor=principal.actor)
    except CRMError as error:
        return redirect(request, "/admin/jobs", flash=error.message, category="warning")
    return redirect(request, "/admin/jobs", flash=f"Job {job_id} will run again shortly.")
