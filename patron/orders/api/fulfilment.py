"""/api/v1/orders/{id}/shipments and /returns."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from sqlalchemy.ext.asyncio import AsyncSession

from patron.db.deps import DbSession
from patron.errors import NotFound
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS
from patron.models import Order, OrderReturn, Shipment
from patron.orders import repository, service
from patron.orders.api.common import CONFLICT, NOT_FOUND, SettingsDep
from patron.orders.auth import OrderRead, OrderWrite
from patron.orders.schemas import (
    ReturnIn,
    ReturnLineOut,
    ReturnOut,
    ReturnTransitionIn,
    ShipmentEventIn,
    ShipmentEventOut,
    ShipmentIn,
    ShipmentOut,
    ShipmentUpdate,
)

router = APIRouter(prefix=API_PREFIX, responses=COMMON_ERRORS, tags=["orders"])


async def _shipment(db: AsyncSession, order: Order, shipment_id: uuid.UUID) -> Shipment:
    found = await repository.shipment(db, order.id, shipment_id)
    if found is None:
        raise NotFound("No such shipment.", code="shipment_not_found")
    return found


async def _return(db: AsyncSession, order: Order, return_id: uuid.UUID) -> OrderReturn:
    found = await repository.order_return(db, order.id, return_id)
    if found is None:
        raise NotFound("No such return.", code="return_not_found")
    return found


async def _shipment_out(db: AsyncSession, shipment: Shipment) -> ShipmentOut:
    events = (await repository.events_of(db, [shipment.id]))[shipment.id]
    return ShipmentOut.model_validate(shipment).model_copy(
        update={"events": [ShipmentEventOut.model_validate(e) for e in events]}
    )


async def _return_out(db: AsyncSession, order_return: OrderReturn) -> ReturnOut:
    lines = (await repository.return_lines_of(db, [order_return.id]))[order_return.id]
    return ReturnOut.model_validate(order_return).model_copy(
        update={"lines": [ReturnLineOut.model_validate(x) for x in lines]}
    )


@router.post(
    "/orders/{order_id}/shipments",
    response_model=ShipmentOut,
    status_code=status.HTTP_201_CREATED,
    summary="Ship some lines (or everything not yet shipped)",
    responses=CONFLICT,
)
async def create_shipment(
    order_id: uuid.UUID,
    body: ShipmentIn,
    principal: OrderWrite,
    db: DbSession,
    settings: SettingsDep,
) -> ShipmentOut:
    order = await repository.get_order_for(db, principal, order_id)
    shipment = await service.create_shipment(
        db,
        settings,
        order,
        actor=principal.actor,
        carrier=body.carrier,
        tracking_number=body.tracking_number,
        tracking_url=body.tracking_url,
        status=body.status,
        lines=[(line.order_line_id, line.quantity) for line in body.lines],
        notify_customer=body.notify_customer,
        message=body.message,
        external_id=body.external_id,
    )
    return await _shipment_out(db, shipment)


@router.patch(
    "/orders/{order_id}/shipments/{shipment_id}",
    response_model=ShipmentOut,
    summary="Change the carrier, tracking number or URL, or whether the customer is told",
    responses=NOT_FOUND,
)
async def update_shipment(
    order_id: uuid.UUID,
    shipment_id: uuid.UUID,
    body: ShipmentUpdate,
    principal: OrderWrite,
    db: DbSession,
) -> ShipmentOut:
    order = await repository.get_order_for(db, principal, order_id)
    shipment = await _shipment(db, order, shipment_id)
    await service.update_shipment(
        db, shipment, actor=principal.actor, changes=body.model_dump(exclude_unset=True)
    )
    return await _shipment_out(db, shipment)


@router.post(
    "/orders/{order_id}/shipments/{shipment_id}/events",
    response_model=ShipmentOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a tracking event (a new status is emailed when the shipment notifies)",
    responses=NOT_FOUND,
)
async def add_shipment_event(
    order_id: uuid.UUID,
    shipment_id: uuid.UUID,
    body: ShipmentEventIn,
    principal: OrderWrite,
    db: DbSession,
    settings: SettingsDep,
) -> ShipmentOut:
    order = await repository.get_order_for(db, principal, order_id)
    shipment = await _shipment(db, order, shipment_id)
    await service.add_shipment_event(
        db, settings, order, shipment, actor=principal.actor, **body.model_dump()
    )
    return await _shipment_out(db, shipment)


@router.get(
    "/orders/{order_id}/returns",
    response_model=list[ReturnOut],
    responses=NOT_FOUND,
)
async def list_returns(order_id: uuid.UUID, principal: OrderRead, db: DbSession) -> list[ReturnOut]:
    order = await repository.get_order_for(db, principal, order_id)
    return [await _return_out(db, r) for r in await repository.returns_of(db, order.id)]


@router.post(
    "/orders/{order_id}/returns",
    response_model=ReturnOut,
    status_code=status.HTTP_201_CREATED,
    summary="Open a return (RMA)",
    responses=NOT_FOUND,
)
async def create_return(
    order_id: uuid.UUID,
    body: ReturnIn,
    principal: OrderWrite,
    db: DbSession,
    settings: SettingsDep,
) -> ReturnOut:
    order = await repository.get_order_for(db, principal, order_id)
    order_return = await service.create_return(
        db,
        settings,
        order,
        actor=principal.actor,
        lines=[service.ReturnLineRequest(**line.model_dump()) for line in body.lines],
        reason=body.reason,
        note=body.note,
        restock_items=body.restock,
        refund_amount=body.refund_amount,
    )
    return await _return_out(db, order_return)


@router.post(
    "/orders/{order_id}/returns/{return_id}/status",
    response_model=ReturnOut,
    summary="Move a return on: approved, received, refunded (records the refund) or rejected",
    responses=CONFLICT,
)
async def transition_return(
    order_id: uuid.UUID,
    return_id: uuid.UUID,
    body: ReturnTransitionIn,
    principal: OrderWrite,
    db: DbSession,
    settings: SettingsDep,
) -> ReturnOut:
    order = await repository.get_order_for(db, principal, order_id)
    order_return = await _return(db, order, return_id)
    await service.transition_return(
        db,
        settings,
        order,
        order_return,
        actor=principal.actor,
        status=body.status,
        refund_amount=body.refund_amount,
        note=body.note,
    )
    return await _return_out(db, order_return)
