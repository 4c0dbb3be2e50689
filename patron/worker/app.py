"""The Procrastinate app every task registers on, and what a running job needs."""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import procrastinate
import structlog
from procrastinate.app import WorkerOptions
from sqlalchemy.ext.asyncio import AsyncSession

from patron.config import Settings
from patron.db.engine import Database, libpq_url

log = structlog.get_logger(__name__)

TASK_MODULES = ["patron.worker.tasks"]

# The connector is replaced by a real one when a worker or web process starts.
job_app = procrastinate.App(connector=procrastinate.PsycopgConnector(), import_paths=TASK_MODULES)


@dataclass
class Runtime:
    settings: Settings
    database: Database


_runtime: Runtime | None = None


def set_runtime(settings: Settings, database: Database) -> None:
    global _runtime
    _runtime = Runtime(settings, database)


def runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("the job runtime is not configured; call set_runtime() first")
    return _runtime


async def drain_in_batches(
    database: Database, take: Callable[[AsyncSession], Awaitable[int]], *, batch: int
) -> int:
    """Call ``take`` (which handles up to ``batch`` marked rows and returns how many) in a
    transaction of its own until it handles fewer; returns how many in all."""
    done = 0
    while True:
        async with database.transaction() as db:
            taken = await take(db)
        done += taken
        if taken < batch:
            return done


def connector_for(database: Database) -> procrastinate.PsycopgConnector:
    return procrastinate.PsycopgConnector(
        conninfo=libpq_url(database.url),
        kwargs={"application_name": "patron-worker"},
        min_size=1,
        max_size=4,
    )


async def record_failures(
    call_next: Callable[[], Awaitable[Any]], context: procrastinate.JobContext, worker: Any
) -> Any:
    """Worker middleware: keep the error of every failed attempt for the admin panel."""
    try:
        return await call_next()
    except Exception as error:
        job = context.job
        log.warning("job_failed", job_id=job.id, task=job.task_name, error=str(error))
        from patron.worker.service import save_failure

        await save_failure(
            runtime().database,
            job_id=job.id or 0,
            task_name=job.task_name,
            attempt=job.attempts + 1,
            error=f"{type(error).__name__}: {error}",
            trace="".join(traceback.format_exception(error))[-8000:],
        )
        raise


async def run_worker(
    database: Database,
    *,
    concurrency: int = 4,
    name: str = "patron",
    wait: bool = True,
    queues: list[str] | None = None,
) -> None:
    """Run jobs (of ``queues``, else of every queue) until cancelled or stopped; with
    ``wait=False``, until the queue is empty."""
    # The connector is swapped on job_app itself: tasks (and the periodic deferrer, which
    # defers through each task's app) point at job_app, so a copy made by with_connector
    # would leave them on the unopened connector and stop the worker at its first tick.
    options: WorkerOptions = {
        "concurrency": concurrency,
        "name": name,
        "wait": wait,
        "install_signal_handlers": False,
        "worker_middleware": [record_failures],
        "delete_jobs": "successful",
    }
    if queues:
        options["queues"] = queues
    with job_app.replace_connector(connector_for(database)) as app:
        async with app.open_async():
            await app.run_worker_async(**options)
