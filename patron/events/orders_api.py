"""PUT /api/v1/orders/by-external-id/{channel_id}/{external_id}: the custom store's upsert."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from patron.db.deps import DbSession
from patron.events.schemas import OrderUpsert, OrderUpsertOut
from patron.events.upsert import upsert_order
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS, error_responses
from patron.orders import service
from patron.orders.api.common import SettingsDep, order_out
from patron.orders.auth import OrderWrite

router = APIRouter(prefix=API_PREFIX, responses=COMMON_ERRORS, tags=["orders"])
ExternalId = Annotated[str, Path(min_length=1, max_length=200)]


@router.put(
    "/orders/by-external-id/{channel_id}/{external_id}",
    response_model=OrderUpsertOut,
    summary="Create or update an order a custom store knows by its own ID (idempotent)",
    responses={
        **error_responses(404, 409),
        201: {"model": OrderUpsertOut, "description": "Created"},
    },
)
async def upsert(
    channel_id: uuid.UUID,
    external_id: ExternalId,
    body: OrderUpsert,
    principal: OrderWrite,
    db: DbSession,
    settings: SettingsDep,
    response: Response,
) -> OrderUpsertOut:
    channel = await service.get_channel(db, channel_id)
    order, outcome = await upsert_order(
        db, settings, principal=principal, channel=channel, external_id=external_id, data=body
    )
    if outcome == "created":
        response.status_code = status.HTTP_201_CREATED
    detailed = await order_out(db, settings, order)
    return OrderUpsertOut(**detailed.model_dump(), applied=outcome != "unchanged")
