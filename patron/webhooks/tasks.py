"""The job that delivers webhooks, and the daily purge of the delivery log."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import delete

from patron.kit.time import utcnow
from patron.models import OutboundDelivery
from patron.webhooks.delivery import attempt_delivery
from patron.worker.app import job_app, runtime


@job_app.task(name="webhooks.deliver", queue="webhooks")
async def deliver_webhook(delivery_id: str, attempt: int, manual: bool = False) -> None:
    """Make one attempt of a delivery; idempotent (an attempt already made sends nothing)."""
    env = runtime()
    async with env.database.transaction() as db:
        await attempt_delivery(db, env.settings, uuid.UUID(delivery_id), attempt, manual=manual)


@job_app.periodic(cron="43 3 * * *")
@job_app.task(name="webhooks.purge_log", queue="maintenance", queueing_lock="webhooks_purge")
async def purge_delivery_log(timestamp: int) -> int:
    """Forget finished deliveries (and their payloads' personal data) after the keep period."""
    env = runtime()
    cutoff = utcnow() - timedelta(days=env.settings.webhooks_keep_days)
    async with env.database.transaction() as db:
        result = await db.execute(
            delete(OutboundDelivery).where(
                OutboundDelivery.status != "pending", OutboundDelivery.updated_at < cutoff
            )
        )
    return int(getattr(result, "rowcount", 0) or 0)
