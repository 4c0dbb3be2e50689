"""Periodic order jobs."""

from __future__ import annotations

from patron.orders.service.carts import mark_abandoned_carts
from patron.worker.app import job_app, runtime


@job_app.periodic(cron="*/5 * * * *")
@job_app.task(name="orders.abandon_carts", queue="maintenance", queueing_lock="abandon_carts")
async def abandon_idle_carts(timestamp: int) -> int:
    """Mark carts idle for longer than ``cart_abandoned_after_minutes`` as abandoned."""
    settings = runtime().settings
    async with runtime().database.transaction() as db:
        return await mark_abandoned_carts(db, settings)
