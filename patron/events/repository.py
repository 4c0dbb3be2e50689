"""Every query on tracking events, their idempotency keys and anonymous visitors."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from patron.kit.pagination import PageParams, paginate
from patron.models import AnonymousVisitor, Customer, TrackingEvent, TrackingEventKey


async def claim_keys(
    db: AsyncSession, *, source: str, claims: Sequence[tuple[str, uuid.UUID, datetime]]
) -> dict[str, uuid.UUID]:
    """Claim each (key, event id, time) unless the key is taken; every key's first event id."""
    if not claims:
        return {}
    values = [
        {"source": source, "idempotency_key": key, "event_id": event_id, "occurred_at": at}
        for key, event_id, at in claims
    ]
    won = set(
        await db.scalars(
            insert(TrackingEventKey)
            .values(values)
            .on_conflict_do_nothing()
            .returning(TrackingEventKey.idempotency_key)
        )
    )
    owners = {key: event_id for key, event_id, _ in claims if key in won}
    taken = [key for key, _, _ in claims if key not in won]
    if taken:
        rows = await db.execute(
            select(TrackingEventKey.idempotency_key, TrackingEventKey.event_id).where(
                TrackingEventKey.source == source, TrackingEventKey.idempotency_key.in_(taken)
            )
        )
        owners.update(dict(rows.all()))
    return owners


async def customers_of_events(
    db: AsyncSession, event_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID | None]:
    if not event_ids:
        return {}
    rows = await db.execute(
        select(TrackingEvent.id, TrackingEvent.customer_id).where(TrackingEvent.id.in_(event_ids))
    )
    return dict(rows.all())


async def add_events(db: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """One multi-row INSERT (a batch of events).

    A VALUES list, not an executemany: psycopg runs an executemany as one INSERT per row,
    and every INSERT fires the statement triggers that keep the segment rollups, so a batch
    of 500 ran them 500 times, and two concurrent batches upserting the same rollup rows in
    their own orders deadlocked. In one statement the triggers run once, in key order."""
    if rows:
        await db.execute(insert(TrackingEvent).values(list(rows)))


async def live_customer(db: AsyncSession, customer_id: uuid.UUID) -> Customer | None:
    return await db.scalar(
        select(Customer).where(Customer.id == customer_id, Customer.merged_into_id.is_(None))
    )


async def live_ids_by_email(db: AsyncSession, emails: Collection[str]) -> dict[str, uuid.UUID]:
    """Live customers by primary email, keyed by the email in lower case."""
    if not emails:
        return {}
    rows = await db.execute(
        select(Customer.email, Customer.id).where(
            Customer.email.in_(emails), Customer.merged_into_id.is_(None)
        )
    )
    return {str(email).lower(): customer_id for email, customer_id in rows.all()}


async def visitors(db: AsyncSession, anonymous_ids: Collection[str]) -> dict[str, uuid.UUID]:
    """The customer each identified anonymous ID belongs to (the survivor of a merge)."""
    if not anonymous_ids:
        return {}
    survivor = func.coalesce(Customer.merged_into_id, Customer.id)
    rows = await db.execute(
        select(AnonymousVisitor.anonymous_id, survivor)
        .join(Customer, Customer.id == AnonymousVisitor.customer_id)
        .where(AnonymousVisitor.anonymous_id.in_(anonymous_ids))
    )
    return dict(rows.all())


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
