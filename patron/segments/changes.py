"""Marking customers whose data changed, so dynamic segments follow them within moments.

The services that change what a segment can read (profile, tags, consent, orders and their
figures, merges, tracked events) call :func:`mark_customers_changed` in the change's own
transaction: a rolled-back change marks nothing, a committed one is never missed. However
many customers a transaction marks, it queues at most one ``segments.refresh_changed`` job,
and the job's queueing lock keeps a single one waiting across transactions.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Iterable

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import SessionTransaction

from patron.segments import repository
from patron.segments.tasks import refresh_changed_customers
from patron.worker.enqueue import enqueue

_QUEUED = "segments_refresh_queued"


def _queued_in(db: AsyncSession) -> weakref.WeakSet[SessionTransaction]:
    queued: weakref.WeakSet[SessionTransaction] = db.info.setdefault(_QUEUED, weakref.WeakSet())
    return queued


def _current(db: AsyncSession) -> SessionTransaction | None:
    session = db.sync_session
    return session.get_nested_transaction() or session.get_transaction()


def _already_queued(db: AsyncSession) -> bool:
    """Whether this transaction (or an enclosing savepoint that still stands) queued the job;
    a job queued in a savepoint that was rolled back no longer counts."""
    queued = _queued_in(db)
    transaction = _current(db)
    while transaction is not None:
        if transaction in queued and transaction.is_active:
            return True
        transaction = transaction.parent
    return False


async def mark_customers_changed(
    db: AsyncSession, customer_ids: Iterable[uuid.UUID | None]
) -> None:
    ids = list({customer_id for customer_id in customer_ids if customer_id is not None})
    if not ids:
        return
    await repository.mark_changed(db, ids)
    await _queue_refresh(db)


async def mark_selected_customers_changed(
    db: AsyncSession, selected: Select[tuple[uuid.UUID]]
) -> None:
    """Like :func:`mark_customers_changed` for the customers a query selects (one id column),
    without a round trip of their ids: for a batch of thousands written set-based."""
    if await repository.mark_selected_changed(db, selected):
        await _queue_refresh(db)


async def _queue_refresh(db: AsyncSession) -> None:
    if _already_queued(db):
        return
    await enqueue(db, refresh_changed_customers)
    transaction = _current(db)
    if transaction is not None:
        _queued_in(db).add(transaction)
