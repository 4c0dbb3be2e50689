"""Enqueue a job inside the caller's transaction.

The job row is written by the same connection as the change that causes it: a rolled-back
change enqueues nothing and a committed one can never lose its job.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from procrastinate.tasks import Task
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

# the job row for ``job_values``, as a statement's expression (one job, its id)
DEFER_ONE = (
    "(procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task_name, :priority, :lock,"
    " :queueing_lock, CAST(:args AS jsonb), CAST(:scheduled_at AS timestamptz)"
    ")]::procrastinate_job_to_defer_v1[]))[1]"
)
_DEFER = text(f"SELECT {DEFER_ONE}")


_WAITING = text("SELECT id FROM procrastinate_jobs WHERE queueing_lock = :lock AND status = 'todo'")
QUEUEING_LOCK_INDEX = "procrastinate_jobs_queueing_lock_idx"


def job_values(
    task: Task[Any, Any, Any],
    *,
    scheduled_at: datetime | None = None,
    lock: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """The parameters of :data:`DEFER_ONE` for ``task(**kwargs)``, for a caller that writes
    the job in the same statement as its own change (one round trip instead of two). Only
    for a task without a queueing lock: a waiting duplicate would fail that statement."""
    return {
        "queue": task.queue,
        "task_name": task.name,
        "priority": task.priority,
        "lock": lock if lock is not None else task.lock,
        "queueing_lock": task.queueing_lock,
        "args": json.dumps(kwargs, default=str),
        "scheduled_at": scheduled_at,
    }


async def enqueue(
    db: AsyncSession,
    task: Task[Any, Any, Any],
    *,
    scheduled_at: datetime | None = None,
    lock: str | None = None,
    queueing_lock: str | None = None,
    **kwargs: Any,
) -> int:
    """Queue ``task(**kwargs)`` and return the job id; arguments are JSON values (ids, not rows).

    A task with a queueing lock waits in the queue at most once: enqueueing it again while
    it waits returns the waiting job's id. ``lock`` and ``queueing_lock`` override the
    task's own (a lock per record, say).
    """
    waiting_lock = queueing_lock if queueing_lock is not None else task.queueing_lock
    values = job_values(task, scheduled_at=scheduled_at, lock=lock, **kwargs)
    values["queueing_lock"] = waiting_lock
    if waiting_lock is None:
        job_id = await db.scalar(_DEFER, values)
    else:
        # a job seen waiting is reused without a failing insert (each unique violation is
        # also a line in the server's log); busy callers such as segment marks take this path
        job_id = await db.scalar(_WAITING, {"lock": task.queueing_lock})
        attempts = 0 if job_id is not None else 3
        for _ in range(attempts):  # the waiting job may start between our insert and our look-up
            try:
                async with db.begin_nested():
                    job_id = await db.scalar(_DEFER, values)
            except IntegrityError as error:
                if QUEUEING_LOCK_INDEX not in str(error.orig):
                    raise
                job_id = await db.scalar(_WAITING, {"lock": waiting_lock})
            if job_id is not None:
                break
    assert job_id is not None
    return int(job_id)
