"""Jobs that send system email."""

from __future__ import annotations

import uuid

from procrastinate import RetryStrategy

from patron.mail.service import deliver, mark_delivered
from patron.models import MailMessage
from patron.worker.app import job_app, runtime

MAX_ATTEMPTS = 6


@job_app.task(
    name="mail.send",
    queue="mail",
    retry=RetryStrategy(max_attempts=MAX_ATTEMPTS - 1, exponential_wait=4),
)
async def send_mail(message_id: str) -> None:
    """Deliver one queued message; a message already delivered is never sent again."""
    env = runtime()
    async with env.database.transaction() as db:
        message = await db.get(MailMessage, uuid.UUID(message_id), with_for_update=True)
        if message is None or message.status in ("sent", "captured"):
            return
        try:
            status = await deliver(env.settings, message)
        except Exception as error:
            message.attempts += 1
            message.error = f"{type(error).__name__}: {error}"[:2000]
            if message.attempts >= MAX_ATTEMPTS:
                message.status = "failed"
            await db.commit()
            raise
        await mark_delivered(message, status)
