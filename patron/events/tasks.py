"""Periodic work on tracking events."""

from __future__ import annotations

from patron.events import service
from patron.worker.app import job_app, runtime

EVENT_MONTHS_AHEAD = 3


@job_app.periodic(cron="23 3 * * *")
@job_app.task(name="events.partitions", queue="maintenance", queueing_lock="event_partitions")
async def ensure_event_partitions(timestamp: int) -> int:
    """Create the tracking events' monthly partitions a few months ahead."""
    async with runtime().database.transaction() as db:
        return await service.ensure_partitions(db, months_ahead=EVENT_MONTHS_AHEAD)
