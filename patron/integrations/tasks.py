"""Integration jobs: process a stored delivery; re-enqueue deliveries whose job was lost;
run store backfills, reconcile stores hourly and resume runs whose worker stopped."""

from __future__ import annotations

import uuid

from procrastinate import RetryStrategy

from patron.integrations import backfill, processing, service
from patron.kit.crypto import SecretBox
from patron.worker.app import job_app, runtime


@job_app.task(
    name="integrations.process_receipt",
    queue="integrations",
    retry=RetryStrategy(max_attempts=5, exponential_wait=2),
)
async def process_receipt(receipt_id: str) -> str | None:
    env = runtime()
    async with env.database.transaction() as db:
        return await processing.process(db, env.settings, uuid.UUID(receipt_id))


@job_app.periodic(cron="40 3 * * *")
@job_app.task(
    name="integrations.purge_receipts", queue="maintenance", queueing_lock="purge_receipts"
)
async def purge_old_receipts(timestamp: int) -> int:
    env = runtime()
    async with env.database.transaction() as db:
        return await service.purge_old_receipts(db, env.settings)


@job_app.periodic(cron="*/10 * * * *")
@job_app.task(
    name="integrations.requeue_stuck", queue="maintenance", queueing_lock="requeue_receipts"
)
async def requeue_stuck_receipts(timestamp: int) -> int:
    async with runtime().database.transaction() as db:
        return await service.requeue_stuck(db)


@job_app.task(
    name="integrations.run_backfill",
    queue="integrations",
    retry=RetryStrategy(max_attempts=5, exponential_wait=5),
)
async def run_backfill(backfill_id: str) -> str | None:
    env = runtime()
    return await backfill.execute(
        env.settings, env.database, SecretBox(env.settings), uuid.UUID(backfill_id)
    )


@job_app.periodic(cron="17 * * * *")
@job_app.task(
    name="integrations.reconcile_stores", queue="maintenance", queueing_lock="reconcile_stores"
)
async def reconcile_stores(timestamp: int) -> int:
    env = runtime()
    async with env.database.transaction() as db:
        return await backfill.schedule_reconciliations(db, env.settings)


@job_app.periodic(cron="*/10 * * * *")
@job_app.task(
    name="integrations.requeue_backfills", queue="maintenance", queueing_lock="requeue_backfills"
)
async def requeue_stalled_backfills(timestamp: int) -> int:
    async with runtime().database.transaction() as db:
        return await backfill.requeue_stalled(db)
