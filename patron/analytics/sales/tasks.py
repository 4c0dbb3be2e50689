"""Report jobs: the nightly rollup rebuild and the weekly summary email."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog

from patron.analytics import product_rollups, rollups
from patron.analytics.sales import weekly
from patron.kit.time import utcnow
from patron.models import StaffUser
from patron.worker.app import job_app, runtime

log = structlog.get_logger(__name__)

# order changes keep the rollup exact; the nightly pass repairs what bypassed the services
# (hand-made SQL, a restored backup) for the days that matter most
RECENT_DAYS = 7


@job_app.periodic(cron="23 3 * * *")
@job_app.task(name="reports.rollup_nightly", queue="maintenance", queueing_lock="rollup_nightly")
async def rollup_nightly(timestamp: int) -> int:
    """Rebuild the last week's daily rollups (a database whose orders predate a rollup is
    filled from its first order), then count the products bought together."""
    database = runtime().database
    today = utcnow().date()
    async with database.transaction() as db:
        first = await rollups.unfilled_since(db)
        unfilled = await product_rollups.unfilled_since(db)
        if unfilled is not None:  # upgraded with orders in it: one set-based pass, then the
            await product_rollups.fill(db, first=unfilled, last=today)  # locked recent days
    first = min(first or today, today - timedelta(days=RECENT_DAYS - 1))
    rows = await rollups.rebuild_in_chunks(database, first=first, last=today)
    async with database.transaction() as db:
        await product_rollups.refresh_pairs(db, today=today)
    return rows


@job_app.periodic(cron="0 7 * * 1")
@job_app.task(name="reports.weekly_summary", queue="maintenance", queueing_lock="weekly_summary")
async def weekly_summary(timestamp: int) -> int:
    """Send last week's summary to everyone who chose it, each in a transaction of their own
    (one failing address does not hold up the others); returns how many were queued."""
    state = runtime()
    # the scheduled time, not the clock: a retry on Tuesday still means the same week
    period = weekly.last_week(datetime.fromtimestamp(timestamp, UTC).date())
    async with state.database.transaction() as db:
        user_ids = await weekly.user_ids(db)
    queued = 0
    for user_id in user_ids:
        async with state.database.transaction() as db:
            user = await db.get(StaffUser, user_id)
            if user is not None and await weekly.send_to(db, state.settings, user, period=period):
                queued += 1
    log.info("weekly_summary_queued", queued=queued, week_start=str(period.start))
    return queued
