"""The nightly RFM run: new cut points and every customer's scores."""

from __future__ import annotations

from patron.analytics import rfm
from patron.worker.app import job_app, runtime


@job_app.periodic(cron="37 3 * * *")
@job_app.task(name="analytics.rfm_score", queue="maintenance", queueing_lock="rfm_score")
async def score_rfm(timestamp: int | None = None) -> dict[str, int]:
    """Recompute the quintile cut points and rescore everyone (also queued by "Score now")."""
    async with runtime().database.transaction() as db:
        run = await rfm.score_everyone(db)
    return {"customers_with_orders": run.cut_points.customers, "scores_changed": run.changed}
