"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from sqlalchemy import text

from patron.db.engine import Database
from patron.db.migrate import current_revision, head_revision
from patron.worker.service import job_counts

router = APIRouter(include_in_schema=False)

JOBS = Gauge("patron_jobs", "Background jobs by status", ["status"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    database: Database = request.app.state.database
    try:
        async with database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            revision = await connection.run_sync(current_revision)
    except Exception as error:  # any failure to reach the database means not ready
        return JSONResponse(
            {"status": "unavailable", "database": str(error)[:200]}, status_code=503
        )
    head = head_revision()
    if revision != head:
        return JSONResponse(
            {"status": "unavailable", "migrations": f"at {revision}, code expects {head}"},
            status_code=503,
        )
    return JSONResponse({"status": "ok", "migration": revision})


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    database: Database = request.app.state.database
    async with database.sessions() as db:
        counts = await job_counts(db)
    for status in ("todo", "doing", "succeeded", "failed", "cancelled", "aborted"):
        JOBS.labels(status).set(counts.get(status, 0))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
