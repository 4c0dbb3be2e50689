"""Timeline queries: a customer's feed, pinned notes, attachments, notifications."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from patron.errors import NotFound
from patron.kit.pagination import PageParams, paginate
from patron.kit.time import utcnow
from patron.models import Attachment, StaffNotification, StaffUser, TimelineEntry
from patron.models.timeline import KIND_GROUPS


async def feed(
    db: AsyncSession,
    customer_id: uuid.UUID,
    *,
    group: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[TimelineEntry], str | None]:
    """Newest first; ``group`` is a key of KIND_GROUPS (unknown groups show nothing)."""
    query = select(TimelineEntry).where(TimelineEntry.customer_id == customer_id)
    if group:
        query = query.where(TimelineEntry.kind.in_(KIND_GROUPS.get(group, ())))
    return await paginate(
        db,
        query,
        order=[TimelineEntry.occurred_at, TimelineEntry.id],
        params=PageParams(limit=limit, cursor=cursor),
    )


async def order_feed(db: AsyncSession, order_id: uuid.UUID) -> list[TimelineEntry]:
    """An order's history, oldest first."""
    rows = await db.scalars(
        select(TimelineEntry)
        .where(TimelineEntry.order_id == order_id)
        .order_by(TimelineEntry.occurred_at, TimelineEntry.id)
    )
    return list(rows)


async def pinned(db: AsyncSession, customer_id: uuid.UUID) -> list[TimelineEntry]:
    rows = await db.scalars(
        select(TimelineEntry)
        .where(TimelineEntry.customer_id == customer_id, TimelineEntry.pinned)
        .order_by(TimelineEntry.occurred_at.desc())
    )
    return list(rows)


async def entry(db: AsyncSession, customer_id: uuid.UUID, entry_id: uuid.UUID) -> TimelineEntry:
    found = await db.get(TimelineEntry, entry_id)
    if found is None or found.customer_id != customer_id:
        raise NotFound("No such timeline entry on this customer.", code="entry_not_found")
    return found


async def attachments_of(
    db: AsyncSession, entry_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[Attachment]]:
    if not entry_ids:
        return {}
    rows = await db.scalars(
        select(Attachment).where(Attachment.entry_id.in_(entry_ids)).order_by(Attachment.created_at)
    )
    found: dict[uuid.UUID, list[Attachment]] = {}
    for row in rows:
        if row.entry_id is not None:
            found.setdefault(row.entry_id, []).append(row)
    return found


async def attachment(
    db: AsyncSession, customer_id: uuid.UUID, attachment_id: uuid.UUID
) -> Attachment:
    found = await db.get(Attachment, attachment_id)
    if found is None or found.customer_id != customer_id:
        raise NotFound("No such file on this customer.", code="attachment_not_found")
    return found


async def staff_by_handles(db: AsyncSession, handles: set[str]) -> list[StaffUser]:
    """Active people mentioned as @email or @local-part (a local part must be unambiguous)."""
    if not handles:
        return []
    people = list(
        await db.scalars(select(StaffUser).where(StaffUser.is_active, StaffUser.kind == "person"))
    )
    by_email = {person.email.lower(): person for person in people}
    by_local: dict[str, list[StaffUser]] = {}
    for person in people:
        by_local.setdefault(person.email.lower().split("@")[0], []).append(person)
    found: dict[uuid.UUID, StaffUser] = {}
    for handle in handles:
        if handle in by_email:
            found[by_email[handle].id] = by_email[handle]
        elif len(by_local.get(handle, [])) == 1:
            found[by_local[handle][0].id] = by_local[handle][0]
    return list(found.values())


async def notifications(
    db: AsyncSession, user_id: uuid.UUID, *, unread_only: bool, limit: int = 50
) -> list[StaffNotification]:
    query = select(StaffNotification).where(StaffNotification.user_id == user_id)
    if unread_only:
        query = query.where(StaffNotification.read_at.is_(None))
    rows = await db.scalars(query.order_by(StaffNotification.created_at.desc()).limit(limit))
    return list(rows)


async def mark_read(db: AsyncSession, user_id: uuid.UUID, notification_id: uuid.UUID) -> bool:
    result = await db.execute(
        update(StaffNotification)
        .where(
            StaffNotification.id == notification_id,
            StaffNotification.user_id == user_id,
            StaffNotification.read_at.is_(None),
        )
        .values(read_at=utcnow())
        .returning(StaffNotification.id)
    )
    return result.first() is not None
