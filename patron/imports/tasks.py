"""The import's jobs: the dry run, the import itself (resumable), and forgetting old files."""

from __future__ import annotations

import uuid

from patron.imports import retention, runner
from patron.worker.app import job_app, runtime


@job_app.task(name="imports.validate", queue="imports")
async def validate_import(import_id: str) -> None:
    """Check every row of the file and count what the import would do."""
    current = runtime()
    await runner.dry_run(current.database.transaction, current.settings, uuid.UUID(import_id))


@job_app.task(name="imports.run", queue="imports")
async def run_import(import_id: str) -> None:
    """Import the file in batches; resumes after the last committed batch."""
    current = runtime()
    await runner.run_import(current.database.transaction, current.settings, uuid.UUID(import_id))


@job_app.periodic(cron="29 4 * * *")
@job_app.task(name="imports.forget_old_files", queue="maintenance", queueing_lock="imports_forget")
async def forget_old_files(timestamp: int) -> int:
    """Nightly: delete import files and error reports past ``PATRON_IMPORT_KEEP_DAYS``."""
    current = runtime()
    async with current.database.transaction() as session:
        return await retention.forget_old_files(session, current.settings)
