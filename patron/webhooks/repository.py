"""Every query of the webhooks domain."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from patron.kit.pagination import PageParams, paginate
from patron.models import OutboundAttempt, OutboundDelivery, StaffUser, WebhookSubscription


async def list_subscriptions(
    db: AsyncSession, params: PageParams
) -> tuple[list[WebhookSubscription], str | None]:
    return await paginate(
        db,
        select(WebhookSubscription),
        order=[WebhookSubscription.created_at, WebhookSubscription.id],
        params=params,
    )


async def list_deliveries(
    db: AsyncSession, subscription_id: uuid.UUID, params: PageParams
) -> tuple[list[OutboundDelivery], str | None]:
    return await paginate(
        db,
        select(OutboundDelivery).where(OutboundDelivery.subscription_id == subscription_id),
        order=[OutboundDelivery.created_at, OutboundDelivery.id],
        params=params,
    )


async def attempts_of(
    db: AsyncSession, delivery_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[OutboundAttempt]]:
    found: dict[uuid.UUID, list[OutboundAttempt]] = {i: [] for i in delivery_ids}
    if not delivery_ids:
        return found
    rows = await db.scalars(
        select(OutboundAttempt)
        .where(OutboundAttempt.delivery_id.in_(delivery_ids))
        .order_by(OutboundAttempt.delivery_id, OutboundAttempt.number.desc())
    )
    for attempt in rows:
        found[attempt.delivery_id].append(attempt)
    return found


async def delivery_of(
    db: AsyncSession, subscription_id: uuid.UUID, delivery_id: uuid.UUID
) -> OutboundDelivery | None:
    delivery = await db.get(OutboundDelivery, delivery_id)
    if delivery is None or delivery.subscription_id != subscription_id:
        return None
    return delivery


async def owner_labels(
    db: AsyncSession, user_ids: Sequence[uuid.UUID | None]
) -> dict[uuid.UUID, str]:
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    rows = await db.execute(select(StaffUser.id, StaffUser.email).where(StaffUser.id.in_(ids)))
    return {row.id: row.email for row in rows}


async def count_failure(db: AsyncSession, subscription_id: uuid.UUID) -> WebhookSubscription | None:
    """Add one to the subscription's run of failures (atomically) and lock it."""
    await db.execute(
        update(WebhookSubscription)
        .where(WebhookSubscription.id == subscription_id)
        .values(consecutive_failures=WebhookSubscription.consecutive_failures + 1)
    )
    return await db.get(
        WebhookSubscription, subscription_id, with_for_update=True, populate_existing=True
    )
