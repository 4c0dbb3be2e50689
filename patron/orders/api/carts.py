"""/api/v1/carts and /api/v1/channels."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from patron.customers.repository import get_for as customer_for
from patron.db.deps import DbSession
from patron.errors import NotFound
from patron.kit.contact import normalise_email
from patron.kit.pagination import Page
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS, error_responses
from patron.orders import repository, service
from patron.orders.api.common import CONFLICT, NOT_FOUND, Paging, SettingsDep
from patron.orders.auth import ChannelAdmin, OrderRead, OrderWrite
from patron.orders.schemas import (
    CartOut,
    CartStatus,
    CartUpsert,
    ChannelIn,
    ChannelOut,
    ChannelUpdate,
)

router = APIRouter(prefix=API_PREFIX, responses=COMMON_ERRORS)
ExternalId = Annotated[str, Path(min_length=1, max_length=200)]


@router.put(
    "/carts/by-external-id/{channel_id}/{external_id}",
    response_model=CartOut,
    tags=["carts"],
    summary="Create or update a store's cart or checkout",
    responses={**NOT_FOUND, 201: {"model": CartOut, "description": "Created"}},
)
async def upsert_cart(
    channel_id: uuid.UUID,
    external_id: ExternalId,
    body: CartUpsert,
    principal: OrderWrite,
    db: DbSession,
    settings: SettingsDep,
    response: Response,
) -> CartOut:
    channel = await service.get_channel(db, channel_id)
    existing = await repository.cart_by_external_id(db, channel.id, external_id)
    if existing is not None and not await repository.cart_is_visible(db, principal, existing.id):
        raise NotFound("No such cart.", code="cart_not_found")
    customer = await customer_for(db, principal, body.customer_id) if body.customer_id else None
    if customer is None and body.email:
        customer = await repository.visible_customer_by_email(
            db, principal, normalise_email(body.email)
        )
    cart, created = await service.upsert_cart(
        db,
        settings,
        channel=channel,
        external_id=external_id,
        customer=customer,
        email=body.email,
        items=[item.model_dump() for item in body.items],
        value=body.value,
        currency=body.currency,
        checkout_url=body.checkout_url,
        last_activity_at=body.last_activity_at,
    )
    if created:
        response.status_code = status.HTTP_201_CREATED
    return CartOut.model_validate(cart)


@router.get("/carts", response_model=Page[CartOut], tags=["carts"], summary="List carts")
async def list_carts(
    principal: OrderRead,
    db: DbSession,
    page: Paging,
    cart_status: Annotated[list[CartStatus] | None, Query(alias="status")] = None,
    customer_id: uuid.UUID | None = None,
    channel_id: uuid.UUID | None = None,
) -> Page[CartOut]:
    rows, cursor = await repository.list_carts(
        db,
        principal,
        page,
        status=cart_status or (),
        customer_id=customer_id,
        channel_id=channel_id,
    )
    return Page(items=[CartOut.model_validate(c) for c in rows], next_cursor=cursor)


@router.get("/channels", response_model=list[ChannelOut], tags=["channels"])
async def list_channels(principal: OrderRead, db: DbSession) -> list[ChannelOut]:
    return [ChannelOut.model_validate(c) for c in await repository.list_channels(db)]


@router.post(
    "/channels",
    response_model=ChannelOut,
    status_code=status.HTTP_201_CREATED,
    tags=["channels"],
    responses=error_responses(409),
)
async def create_channel(body: ChannelIn, principal: ChannelAdmin, db: DbSession) -> ChannelOut:
    channel = await service.create_channel(
        db, actor=principal.actor, name=body.name, kind=body.kind
    )
    return ChannelOut.model_validate(channel)


@router.get(
    "/channels/{channel_id}", response_model=ChannelOut, tags=["channels"], responses=NOT_FOUND
)
async def get_channel(channel_id: uuid.UUID, principal: OrderRead, db: DbSession) -> ChannelOut:
    return ChannelOut.model_validate(await service.get_channel(db, channel_id))


@router.patch(
    "/channels/{channel_id}", response_model=ChannelOut, tags=["channels"], responses=CONFLICT
)
async def update_channel(
    channel_id: uuid.UUID, body: ChannelUpdate, principal: ChannelAdmin, db: DbSession
) -> ChannelOut:
    channel = await service.get_channel(db, channel_id)
    await service.update_channel(
        db, channel, actor=principal.actor, changes=body.model_dump(exclude_unset=True)
    )
    return ChannelOut.model_validate(channel)


@router.delete(
    "/channels/{channel_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["channels"],
    responses=CONFLICT,
    summary="Delete a channel no order came through",
)
async def delete_channel(channel_id: uuid.UUID, principal: ChannelAdmin, db: DbSession) -> None:
    await service.delete_channel(
        db, await service.get_channel(db, channel_id), actor=principal.actor
    )
