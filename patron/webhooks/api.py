"""/api/v1/webhooks: outbound webhook subscriptions, their deliveries, tests and re-deliveries."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status
from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth.dependencies import get_settings
from patron.config import Settings
from patron.db.deps import DbSession
from patron.kit.pagination import Page, PageParams, page_params
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS, error_responses
from patron.models import OutboundDelivery
from patron.webhooks import repository, service
from patron.webhooks.auth import WebhooksRead, WebhooksWrite
from patron.webhooks.catalogue import EVENT_TYPES
from patron.webhooks.schemas import (
    AttemptOut,
    DeliveryOut,
    DisableIn,
    EventTypeOut,
    RotateIn,
    SecretOut,
    SubscriptionCreate,
    SubscriptionOut,
    SubscriptionUpdate,
    SubscriptionWithSecret,
)

router = APIRouter(prefix=f"{API_PREFIX}/webhooks", tags=["webhooks"], responses=COMMON_ERRORS)
SettingsDep = Annotated[Settings, Depends(get_settings)]
Paging = Annotated[PageParams, Depends(page_params)]
NOT_FOUND = error_responses(404)


async def deliveries_out(db: AsyncSession, deliveries: list[OutboundDelivery]) -> list[DeliveryOut]:
    attempts = await repository.attempts_of(db, [d.id for d in deliveries])
    return [
        DeliveryOut.model_validate(d).model_copy(
            update={"log": [AttemptOut.model_validate(a) for a in attempts[d.id]]}
        )
        for d in deliveries
    ]


@router.get("/event-types", response_model=list[EventTypeOut], summary="The event catalogue")
async def event_types(principal: WebhooksRead) -> list[EventTypeOut]:
    return [EventTypeOut(type=t, description=d) for t, d in EVENT_TYPES.items()]


@router.get("", response_model=Page[SubscriptionOut])
async def list_subscriptions(
    principal: WebhooksRead, db: DbSession, page: Paging
) -> Page[SubscriptionOut]:
    rows, cursor = await repository.list_subscriptions(db, page)
    return Page(items=[SubscriptionOut.model_validate(s) for s in rows], next_cursor=cursor)


@router.post(
    "",
    response_model=SubscriptionWithSecret,
    status_code=status.HTTP_201_CREATED,
    summary="Subscribe a URL to event types; the response holds the secret, shown only once",
)
async def create_subscription(
    body: SubscriptionCreate, principal: WebhooksWrite, db: DbSession, settings: SettingsDep
) -> SubscriptionWithSecret:
    created = await service.create_subscription(
        db,
        settings,
        actor=principal.actor,
        owner_id=principal.user_id,
        url=body.url,
        event_types=body.event_types,
        name=body.name,
    )
    out = SubscriptionOut.model_validate(created.subscription)
    return SubscriptionWithSecret(**out.model_dump(), secret=created.secret)


@router.get("/{subscription_id}", response_model=SubscriptionOut, responses=NOT_FOUND)
async def get_subscription(
    subscription_id: uuid.UUID, principal: WebhooksRead, db: DbSession
) -> SubscriptionOut:
    return SubscriptionOut.model_validate(await service.get_subscription(db, subscription_id))


@router.patch("/{subscription_id}", response_model=SubscriptionOut, responses=NOT_FOUND)
async def update_subscription(
    subscription_id: uuid.UUID,
    body: SubscriptionUpdate,
    principal: WebhooksWrite,
    db: DbSession,
    settings: SettingsDep,
) -> SubscriptionOut:
    subscription = await service.get_subscription(db, subscription_id)
    await service.update_subscription(
        db,
        settings,
        subscription,
        actor=principal.actor,
        changes=body.model_dump(exclude_unset=True),
    )
    return SubscriptionOut.model_validate(subscription)


@router.delete("/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def delete_subscription(
    subscription_id: uuid.UUID, principal: WebhooksWrite, db: DbSession
) -> None:
    subscription = await service.get_subscription(db, subscription_id)
    await service.delete(db, subscription, actor=principal.actor)


@router.post("/{subscription_id}/disable", response_model=SubscriptionOut, responses=NOT_FOUND)
async def disable_subscription(
    subscription_id: uuid.UUID,
    principal: WebhooksWrite,
    db: DbSession,
    body: DisableIn | None = None,
) -> SubscriptionOut:
    subscription = await service.get_subscription(db, subscription_id)
    reason = body.reason if body else DisableIn().reason
    await service.disable(db, subscription, actor=principal.actor, reason=reason)
    return SubscriptionOut.model_validate(subscription)


@router.post(
    "/{subscription_id}/enable",
    response_model=SubscriptionOut,
    responses=NOT_FOUND,
    summary="Enable a subscription again (its failure count starts over)",
)
async def enable_subscription(
    subscription_id: uuid.UUID, principal: WebhooksWrite, db: DbSession
) -> SubscriptionOut:
    subscription = await service.get_subscription(db, subscription_id)
    await service.enable(db, subscription, actor=principal.actor)
    return SubscriptionOut.model_validate(subscription)


@router.post(
    "/{subscription_id}/rotate-secret",
    response_model=SecretOut,
    responses=NOT_FOUND,
    summary="Replace the signing secret; the new one is shown only in this response",
)
async def rotate_secret(
    subscription_id: uuid.UUID,
    principal: WebhooksWrite,
    db: DbSession,
    settings: SettingsDep,
    body: RotateIn | None = None,
) -> SecretOut:
    subscription = await service.get_subscription(db, subscription_id)
    secret = await service.rotate_secret(
        db,
        settings,
        subscription,
        actor=principal.actor,
        keep_old_hours=body.keep_old_hours if body else 0,
    )
    return SecretOut(secret=secret)


@router.post(
    "/{subscription_id}/test",
    response_model=DeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=NOT_FOUND,
    summary="Queue a webhook.test delivery to the subscription",
)
async def send_test(
    subscription_id: uuid.UUID, principal: WebhooksWrite, db: DbSession
) -> DeliveryOut:
    subscription = await service.get_subscription(db, subscription_id)
    delivery = await service.send_test(db, subscription, actor=principal.actor)
    return (await deliveries_out(db, [delivery]))[0]


@router.get(
    "/{subscription_id}/deliveries",
    response_model=Page[DeliveryOut],
    responses=NOT_FOUND,
    summary="The delivery log, newest first, each with its attempts",
)
async def list_deliveries(
    subscription_id: uuid.UUID, principal: WebhooksRead, db: DbSession, page: Paging
) -> Page[DeliveryOut]:
    subscription = await service.get_subscription(db, subscription_id)
    rows, cursor = await repository.list_deliveries(db, subscription.id, page)
    return Page(items=await deliveries_out(db, rows), next_cursor=cursor)


@router.post(
    "/{subscription_id}/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=NOT_FOUND,
    summary="Send a delivery again now, whatever its state",
)
async def redeliver(
    subscription_id: uuid.UUID, delivery_id: uuid.UUID, principal: WebhooksWrite, db: DbSession
) -> DeliveryOut:
    subscription = await service.get_subscription(db, subscription_id)
    delivery = await service.get_delivery(db, subscription, delivery_id)
    await service.redeliver(db, subscription, delivery, actor=principal.actor)
    return (await deliveries_out(db, [delivery]))[0]
