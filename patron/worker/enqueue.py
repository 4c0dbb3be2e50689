"""Enqueue a job inside the caller's transaction.

The job row is written by the same connection as the change that causes it: a rolled-back
change enqueues nothing and a committed one can never lose its job.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from datetime import datetime
from typing import Any

from procrastinate.tasks import Task
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import SessionTransaction

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
        job_id = await db.scalar(_WAITING, {"lock": waiting_lock})
        if job_id is None:
            job_id = await _defer_unless_waiting(db, values)
    assert job_id is not None
    return int(job_id)


async def _defer_unless_waiting(db: AsyncSession, values: dict[str, Any]) -> int | None:
    """Insert the job of a task with a queueing lock, or find the one already waiting."""
    job_id = None
    for _ in range(3):  # the waiting job may start between our insert and our look-up
        try:
            async with db.begin_nested():
                job_id = await db.scalar(_DEFER, values)
        except IntegrityError as error:
            if QUEUEING_LOCK_INDEX not in str(error.orig):
                raise
            job_id = await db.scalar(_WAITING, {"lock": values["queueing_lock"]})
        if job_id is not None:
            break
    return job_id


def _queued_in(db: AsyncSession, task: Task[Any, Any, Any]) -> weakref.WeakSet[SessionTransaction]:
    queued: weakref.WeakSet[SessionTransaction] = db.info.setdefault(
        f"queued_once:{task.name}", weakref.WeakSet()
    )
    return queued


def _current(db: AsyncSession) -> SessionTransaction | None:
    session = db.sync_session
    return session.get_nested_transaction() or session.get_transaction()


def _already_queued(db: AsyncSession, task: Task[Any, Any, Any]) -> bool:
    """Whether this transaction (or an enclosing savepoint that still stands) queued the task;
    a job queued in a savepoint that was rolled back no longer counts."""
    queued = _queued_in(db, task)
    transaction = _current(db)
    while transaction is not None:
        if transaction in queued and transaction.is_active:
            return True
        transaction = transaction.parent
    return False


# the waiting job, else whether this transaction may queue one: a transaction that queued it
# and is still open holds the claim, and a second insert would wait on its unique index entry
_WAITING_OR_CLAIM = text(
    "SELECT w.id, CASE WHEN w.id IS NULL THEN pg_try_advisory_xact_lock(:claim) END"
    " FROM (SELECT (SELECT id FROM procrastinate_jobs"
    " WHERE queueing_lock = :lock AND status = 'todo' LIMIT 1) AS id) w"
)


def _claim_id(queueing_lock: str) -> int:
    digest = hashlib.blake2b(f"enqueue_once|{queueing_lock}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def enqueue_once(db: AsyncSession, task: Task[Any, Any, Any]) -> None:
    """Queue ``task()`` (a task with a queueing lock, no arguments) for this transaction's
    changes, without ever waiting for another transaction: the second and later calls of a
    transaction cost no round trip; a job already waiting is reused; and while another open
    transaction is queueing it, this one leaves it to that one (if that one rolls back, or
    the job starts before this one commits, the task's periodic run does the work).
    Use it for a job that drains a table of marks: only when it is late is it less fresh."""
    if _already_queued(db, task):
        return
    assert task.queueing_lock is not None
    waiting, claimed = (
        await db.execute(
            _WAITING_OR_CLAIM,
            {"lock": task.queueing_lock, "claim": _claim_id(task.queueing_lock)},
        )
    ).one()
    if waiting is None and claimed:
        await _defer_unless_waiting(db, job_values(task))
    transaction = _current(db)
    if transaction is not None:
        _queued_in(db, task).add(transaction)
