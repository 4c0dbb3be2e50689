"""Import files hold personal data: they are deleted after the retention period."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from patron.config import Settings
from patron.imports.files import imports_dir
from patron.imports.retention import forget_old_files
from patron.kit.time import utcnow
from patron.models import ImportJob


async def an_import(
    db: AsyncSession, settings: Settings, *, status: str, age_days: int
) -> tuple[ImportJob, list[Path]]:
    job = ImportJob(
        entity="customers",
        filename="customers.csv",
        file_format="csv",
        storage_key=f"upload-{status}-{age_days}.csv",
        size_bytes=20,
        status=status,
    )
    db.add(job)
    await db.flush()
    moment = utcnow() - timedelta(days=age_days)
    job.updated_at = moment
    if status in ("completed", "failed", "cancelled"):
        job.finished_at = moment
    await db.flush()
    folder = imports_dir(settings.data_dir)
    files = [folder / job.storage_key, folder / f"{job.id}.validate-errors.csv"]
    for path in files:
        path.write_text("email\nada@example.com\n")
    return job, files


async def test_old_finished_imports_lose_their_files_and_keep_their_figures(
    db: AsyncSession, settings: Settings
) -> None:
    assert settings.import_keep_days == 30
    old, old_files = await an_import(db, settings, status="completed", age_days=31)
    old.inserted = 2
    _recent, recent_files = await an_import(db, settings, status="failed", age_days=29)

    assert await forget_old_files(db, settings) == 1
    assert not any(path.exists() for path in old_files)
    assert all(path.exists() for path in recent_files)
    await db.refresh(old)
    assert (old.status, old.inserted) == ("completed", 2)
    assert await forget_old_files(db, settings) == 0, "a second night finds nothing more"


async def test_an_upload_nobody_ran_is_cancelled_when_its_file_goes(
    db: AsyncSession, settings: Settings
) -> None:
    stale, stale_files = await an_import(db, settings, status="validated", age_days=40)
    running, running_files = await an_import(db, settings, status="importing", age_days=40)

    assert await forget_old_files(db, settings) == 1
    assert not any(path.exists() for path in stale_files)
    await db.refresh(stale)
    assert stale.status == "cancelled"
    assert "deleted unused after 30 days" in stale.failure
    assert all(path.exists() for path in running_files), "a running import keeps its file"
    await db.refresh(running)
    assert running.status == "importing"
