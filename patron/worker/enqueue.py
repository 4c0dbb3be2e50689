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
from sqlalchemy.ext.asyncio import AsyncSession

_DEFER = text(
    """
    SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(
        :queue, :task_name, :priority, :lock, :queueing_lock, CAST(:args AS jsonb),
        CAST(:scheduled_at AS timestamptz)
    )]::procrastinate_job_to_defer_v1[]))
    """
)


async def enqueue(
    db: AsyncSession,
    task: Task[Any, Any, Any],
    *,
    scheduled_at: datetime | None = None,
    lock: str | None = None,
    **kwargs: Any,
) -> int:
    """Queue ``task(**kwargs)`` and return the job id; arguments are JSON values (ids, not rows)."""
    job_id = await db.scalar(
        _DEFER,
        {
            "queue": task.queue,
            "task_name": task.name,
            "priority": task.priority,
            "lock": lock if lock is not None else task.lock,
            "queueing_lock": task.queueing_lock,
            "args": json.dumps(kwargs, default=str),
            "scheduled_at": scheduled_at,
        },
    )
    assert job_id is not None
    return int(job_id)
