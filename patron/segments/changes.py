"""Marking customers whose data changed, so dynamic segments follow them within moments.

The services that change what a segment can read (profile, tags, consent, orders and their
figures, merges, tracked events) call :func:`mark_customers_changed` in the change's own
transaction: a rolled-back change marks nothing, a committed one is never missed. However
many customers a transaction marks, it queues at most one ``segments.refresh_changed`` job,
and the job's queueing lock keeps a single one waiting across transactions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.segments import repository
from patron.segments.tasks import refresh_changed_customers
from patron.worker.enqueue import enqueue_once


async def mark_customers_changed(
    db: AsyncSession, customer_ids: Iterable[uuid.UUID | None]
) -> None:
    ids = list({customer_id for customer_id in customer_ids if customer_id is not None})
    if not ids:
        return
    await repository.mark_changed(db, ids)
    await enqueue_once(db, refresh_changed_customers)


async def mark_selected_customers_changed(
    db: AsyncSession, selected: Select[tuple[uuid.UUID]]
) -> None:
    """Like :func:`mark_customers_changed` for the customers a query selects (one id column),
    without a round trip of their ids: for a batch of thousands written set-based."""
    if await repository.mark_selected_changed(db, selected):
        await enqueue_once(db, refresh_changed_customers)
