"""The job that delivers webhooks."""

from __future__ import annotations

import uuid

from patron.webhooks.delivery import attempt_delivery
from patron.worker.app import job_app, runtime


@job_app.task(name="webhooks.deliver", queue="webhooks")
async def deliver_webhook(delivery_id: str, attempt: int, manual: bool = False) -> None:
    """Make one attempt of a delivery; idempotent (an attempt already made sends nothing)."""
    env = runtime()
    async with env.database.transaction() as db:
        await attempt_delivery(db, env.settings, uuid.UUID(delivery_id), attempt, manual=manual)
