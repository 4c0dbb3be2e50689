"""Every query on tracking events, their idempotency keys and anonymous visitors."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from patron.kit.pagination import PageParams, paginate
from patron.models import AnonymousVisitor, Customer, TrackingEvent, TrackingEventKey


async def claim_key(
    db: AsyncSession,
    *,
    source: str,
    key: str,
    event_id: uuid.UUID,
    occurred_at: datetime,
) -> uuid.UUID | None:
    """Record the key for a new event; if it was seen before, the first event's id."""
    claimed = await db.scalar(
        insert(TrackingEventKey)
        .values(source=source, idempotency_key=key, event_id=event_id, occurred_at=occurred_at)
        .on_conflict_do_nothing()
        .returning(TrackingEventKey.event_id)
    )
    if claimed is not None:
        return None
    first: uuid.UUID | None = await db.scalar(
        select(TrackingEventKey.event_id).where(
            TrackingEventKey.source == source, TrackingEventKey.idempotency_key == key
        )
    )
    return first


async def customer_of_event(db: AsyncSession, event_id: uuid.UUID) -> uuid.UUID | None:
    return await db.scalar(select(TrackingEvent.customer_id).where(TrackingEvent.id == event_id))


async def live_customer(db: AsyncSession, customer_id: uuid.UUID) -> Customer | None:
    return await db.scalar(
        select(Customer).where(Customer.id == customer_id, Customer.merged_into_id.is_(None))
    )


async def visitor(db: AsyncSession, anonymous_id: str) -> AnonymousVisitor | None:
    return await db.get(AnonymousVisitor, anonymous_id)


async def link_visitor(db: AsyncSession, *, anonymous_id: str, customer_id: uuid.UUID) -> bool:
    """Map the anonymous ID to the customer; True when the mapping is new or changed."""
    changed = await db.scalar(
        insert(AnonymousVisitor)
        .values(anonymous_id=anonymous_id, customer_id=customer_id)
        .on_conflict_do_update(
            index_elements=[AnonymousVisitor.anonymous_id],
            set_={"customer_id": customer_id, "identified_at": func.now()},
            where=AnonymousVisitor.customer_id != customer_id,
        )
        .returning(AnonymousVisitor.anonymous_id)
    )
    return changed is not None


async def join_anonymous_events(
    db: AsyncSession, *, anonymous_id: str, customer_id: uuid.UUID
) -> int:
    """Give the visitor's events that belong to nobody yet to the customer."""
    result = await db.execute(
        update(TrackingEvent)
        .where(TrackingEvent.anonymous_id == anonymous_id, TrackingEvent.customer_id.is_(None))
        .values(customer_id=customer_id)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def customer_events(
    db: AsyncSession,
    customer_id: uuid.UUID,
    page: PageParams,
    *,
    name: str | None = None,
) -> tuple[list[TrackingEvent], str | None]:
    # a merge leaves the events under the merged-away ids: they are the survivor's too
    merged = select(Customer.id).where(Customer.id == customer_id).cte(recursive=True)
    merged = merged.union_all(select(Customer.id).where(Customer.merged_into_id == merged.c.id))
    query = select(TrackingEvent).where(TrackingEvent.customer_id.in_(select(merged.c.id)))
    if name is not None:
        query = query.where(TrackingEvent.name == name)
    return await paginate(
        db, query, order=[TrackingEvent.occurred_at, TrackingEvent.id], params=page
    )


async def ensure_partitions(db: AsyncSession, months_ahead: int) -> int:
    created = await db.scalar(
        text("SELECT patron_ensure_monthly_partitions('tracking_event', :months)"),
        {"months": months_ahead},
    )
    return int(created or 0)


async def prune_keys(db: AsyncSession, *, older_than: datetime) -> int:
    result = await db.execute(
        delete(TrackingEventKey).where(TrackingEventKey.created_at < older_than)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
