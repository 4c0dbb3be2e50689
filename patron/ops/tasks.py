"""Periodic housekeeping."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, or_, text

from patron.kit.time import utcnow
from patron.models import AuthToken, IdempotencyKey, RateLimitCounter, StaffSession
from patron.web import idempotency
from patron.worker.app import job_app, runtime

AUDIT_MONTHS_AHEAD = 3
KEEP_ENDED_SESSIONS = timedelta(days=30)


@job_app.periodic(cron="17 3 * * *")
@job_app.task(name="ops.audit_partitions", queue="maintenance", queueing_lock="audit_partitions")
async def ensure_audit_partitions(timestamp: int) -> int:
    """Create the audit log's monthly partitions a few months ahead."""
    async with runtime().database.transaction() as db:
        created = await db.scalar(
            text("SELECT patron_ensure_audit_partitions(:months)"), {"months": AUDIT_MONTHS_AHEAD}
        )
    return int(created or 0)


@job_app.periodic(cron="*/30 * * * *")
@job_app.task(name="ops.purge_expired", queue="maintenance", queueing_lock="purge_expired")
async def purge_expired(timestamp: int) -> None:
    """Drop ended sessions, used or expired links and stale rate-limit counters."""
    now = utcnow()
    cutoff = now - KEEP_ENDED_SESSIONS
    async with runtime().database.transaction() as db:
        await db.execute(
            delete(StaffSession).where(
                or_(StaffSession.expires_at < cutoff, StaffSession.revoked_at < cutoff)
            )
        )
        await db.execute(
            delete(AuthToken).where(or_(AuthToken.expires_at < cutoff, AuthToken.used_at < cutoff))
        )
        await db.execute(
            delete(RateLimitCounter).where(RateLimitCounter.window_start < now - timedelta(days=1))
        )
        expired_keys = IdempotencyKey.created_at < now - idempotency.KEEP
        await db.execute(delete(IdempotencyKey).where(expired_keys))
