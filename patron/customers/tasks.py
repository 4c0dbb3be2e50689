"""Customer housekeeping jobs: the duplicate review queue and lifecycle stages over time."""

from __future__ import annotations

from patron.customers import duplicates, metrics
from patron.worker.app import job_app, runtime


@job_app.task(name="customers.find_duplicates", queue="maintenance", queueing_lock="duplicates")
async def find_duplicates() -> int:
    async with runtime().database.transaction() as db:
        return await duplicates.find_duplicates(db)


@job_app.periodic(cron="41 2 * * *")
@job_app.task(name="customers.nightly", queue="maintenance", queueing_lock="customers_nightly")
async def nightly(timestamp: int) -> dict[str, int]:
    """Find new duplicate pairs, and move customers whose last order aged into at risk or
    churned (no order changed, so nothing else would)."""
    state = runtime()
    async with state.database.transaction() as db:
        moved = await metrics.sweep_lifecycle(db, state.settings)
        found = await duplicates.find_duplicates(db)
    return {"lifecycle_changed": moved, "duplicates_found": found}
