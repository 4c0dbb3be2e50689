"""The privacy jobs: carrying out a request, and deleting expired export files."""

from __future__ import annotations

import uuid

import structlog

from patron.privacy import service
from patron.worker.app import job_app, runtime

log = structlog.get_logger(__name__)


@job_app.task(name="privacy.run", queue="privacy")
async def run_privacy_request(request_id: str) -> str | None:
    """Export or erase, in one transaction; a request already done is left alone."""
    env = runtime()
    key = uuid.UUID(request_id)
    try:
        async with env.database.transaction() as db:
            return await service.run(db, env.settings, request_id=key)
    except Exception as error:
        # the error text may quote the very data being erased: it is not kept
        log.error("privacy_request_crashed", request_id=request_id, error=type(error).__name__)
        async with env.database.transaction() as db:
            await service.mark_failed(db, request_id=key, error=error)
        return "failed"


@job_app.periodic(cron="17 * * * *")
@job_app.task(name="privacy.forget_exports", queue="maintenance", queueing_lock="privacy_exports")
async def forget_expired_exports(timestamp: int) -> int:
    """Hourly: delete personal-data export files past ``PATRON_PRIVACY_EXPORT_KEEP_DAYS``."""
    env = runtime()
    async with env.database.transaction() as db:
        return await service.forget_expired_exports(db, env.settings)
