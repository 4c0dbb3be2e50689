"""Periodic refresh of dynamic segments (membership changes and size history)."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from patron.errors import CRMError
from patron.segments import repository, service
from patron.worker.app import drain_in_batches, job_app, runtime

log = structlog.get_logger(__name__)


@job_app.periodic(cron="*/15 * * * *")
@job_app.task(name="segments.refresh", queue="maintenance", queueing_lock="segments_refresh")
async def refresh_segments(timestamp: int) -> int:
    """Refresh every dynamic segment, each in its own transaction; returns how many."""
    database = runtime().database
    async with database.transaction() as db:
        segment_ids = await repository.dynamic_segment_ids(db)
    refreshed = 0
    for segment_id in segment_ids:
        try:
            async with database.transaction() as db:
                segment = await repository.get_segment(db, segment_id, for_update=True)
                await service.refresh_segment(db, segment)
                refreshed += 1
        except CRMError as error:  # deleted meanwhile, or no longer compiles
            log.warning("segment_refresh_failed", segment_id=str(segment_id), code=error.code)
    return refreshed


# customers re-evaluated per transaction: small enough for quick row locks and a short IN list
CHANGED_BATCH = 2_000


# Also every minute: a change whose transaction found this job waiting, and committed only
# after the job had started, is picked up by the next run rather than the next full refresh.
@job_app.periodic(cron="* * * * *")
@job_app.task(
    name="segments.refresh_changed",
    queue="segments",
    queueing_lock="segments_refresh_changed",
    lock="segments_refresh_changed",
)
async def refresh_changed_customers(timestamp: int | None = None) -> int:
    """Move the customers marked as changed into or out of dynamic segments, in batches;
    returns how many customers were looked at."""
    return await drain_in_batches(runtime().database, _refresh_changed_batch, batch=CHANGED_BATCH)


async def _refresh_changed_batch(db: AsyncSession) -> int:
    customer_ids = await repository.take_changed(db, limit=CHANGED_BATCH)
    await service.refresh_customers(db, customer_ids=customer_ids)
    return len(customer_ids)
