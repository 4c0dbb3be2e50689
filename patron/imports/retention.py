"""Forgetting import files: an uploaded file holds customers' personal data, so it is kept
only as long as it is useful (``PATRON_IMPORT_KEEP_DAYS``).

A finished import (completed, failed or cancelled) loses its file and error reports that many
days after it finished; the job's counts and error sample stay. An upload nobody ran in that
time is cancelled as well, so nobody can start it on a file that is gone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.config import Settings
from patron.imports.files import imports_dir
from patron.kit.time import utcnow
from patron.models import ImportJob

FINISHED = ("completed", "failed", "cancelled")
WAITING = ("uploaded", "validated")
UNUSED = "The file was deleted unused after {days} days; upload it again to import it."


async def forget_old_files(
    db: AsyncSession, settings: Settings, *, now: datetime | None = None
) -> int:
    """Delete the files of imports past the retention period; returns how many jobs lost one."""
    days = settings.import_keep_days
    cutoff = (now or utcnow()) - timedelta(days=days)
    folder = imports_dir(settings.data_dir)
    jobs = await db.scalars(
        select(ImportJob).where(
            or_(
                and_(
                    ImportJob.status.in_(FINISHED),
                    func.coalesce(ImportJob.finished_at, ImportJob.updated_at) < cutoff,
                ),
                and_(ImportJob.status.in_(WAITING), ImportJob.updated_at < cutoff),
            )
        )
    )
    forgotten = 0
    # finished jobs stay candidates after their files are gone: import jobs number in the
    # hundreds, and looking for a missing file costs nothing
    for job in jobs:
        paths = [folder / job.storage_key, *folder.glob(f"{job.id}.*-errors.csv")]
        present = [path for path in paths if path.is_file()]
        for path in present:
            path.unlink(missing_ok=True)
        if job.status in WAITING:
            job.status = "cancelled"
            job.failure = UNUSED.format(days=days)
            job.finished_at = now or utcnow()
        if present:
            forgotten += 1
    await db.flush()
    return forgotten
