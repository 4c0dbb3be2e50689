"""What the order routes share: filters, the detailed order view, channel look-up."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth.dependencies import get_settings
from patron.config import Settings
from patron.errors import InvalidInput
from patron.kit.pagination import PageParams, page_params
from patron.kit.schemas import error_responses
from patron.models import Channel, Order
from patron.orders import repository, service
from patron.orders.repository import OrderFilters
from patron.orders.schemas import (
    FinancialStatus,
    FulfillmentStatus,
    LineOut,
    OrderOut,
    PaymentOut,
    RefundOut,
    ReturnLineOut,
    ReturnOut,
    ShipmentEventOut,
    ShipmentOut,
)

SettingsDep = Annotated[Settings, Depends(get_settings)]
Paging = Annotated[PageParams, Depends(page_params)]
NOT_FOUND = error_responses(404)
CONFLICT = error_responses(404, 409)
AMOUNT_QUERY = Query(ge=0, max_digits=14, decimal_places=2)


def order_filters(
    placed_from: Annotated[date | None, Query(description="First day (UTC), inclusive")] = None,
    placed_to: Annotated[date | None, Query(description="Last day (UTC), inclusive")] = None,
    financial_status: Annotated[
        list[FinancialStatus] | None, Query(description="Repeat for several")
    ] = None,
    fulfillment_status: Annotated[
        list[FulfillmentStatus] | None, Query(description="Repeat for several")
    ] = None,
    customer_id: uuid.UUID | None = None,
    product_id: uuid.UUID | None = None,
    sku: Annotated[str | None, Query(max_length=100)] = None,
    total_min: Annotated[Decimal | None, AMOUNT_QUERY] = None,
    total_max: Annotated[Decimal | None, AMOUNT_QUERY] = None,
    channel_id: uuid.UUID | None = None,
    discount_code: Annotated[str | None, Query(max_length=100)] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    cancelled: bool | None = None,
    q: Annotated[str | None, Query(max_length=100, description="Order number")] = None,
) -> OrderFilters:
    if placed_from and placed_to and placed_from > placed_to:
        raise InvalidInput(
            "placed_from is after placed_to.",
            code="invalid_date_range",
            details=[{"field": "placed_from", "message": "after placed_to"}],
        )
    return OrderFilters(
        placed_from=placed_from,
        placed_to=placed_to,
        financial_status=tuple(financial_status or ()),
        fulfillment_status=tuple(fulfillment_status or ()),
        customer_id=customer_id,
        product_id=product_id,
        sku=sku,
        total_min=total_min,
        total_max=total_max,
        channel_id=channel_id,
        discount_code=discount_code,
        tag=tag,
        cancelled=cancelled,
        q=q,
    )


Filters = Annotated[OrderFilters, Depends(order_filters)]


async def channel_or_none(db: AsyncSession, channel_id: uuid.UUID | None) -> Channel | None:
    if channel_id is None:
        return None
    channel = await db.get(Channel, channel_id)
    if channel is None:
        raise InvalidInput(
            "There is no such channel.",
            code="unknown_channel",
            details=[{"field": "channel_id", "message": "unknown"}],
        )
    return channel


async def order_out(db: AsyncSession, settings: Settings, order: Order) -> OrderOut:
    """An order with its lines, payments, refunds, shipments (and events) and returns."""
    await db.refresh(order)
    shipments = await repository.shipments_of(db, order.id)
    events = await repository.events_of(db, [s.id for s in shipments])
    returns = await repository.returns_of(db, order.id)
    return_lines = await repository.return_lines_of(db, [r.id for r in returns])
    return OrderOut.model_validate(order).model_copy(
        update={
            "tracking_url": service.tracking_url(settings, order),
            "lines": [LineOut.model_validate(x) for x in await repository.lines_of(db, order.id)],
            "payments": [
                PaymentOut.model_validate(x) for x in await repository.payments_of(db, order.id)
            ],
            "refunds": [
                RefundOut.model_validate(x) for x in await repository.refunds_of(db, order.id)
            ],
            "shipments": [
                ShipmentOut.model_validate(s).model_copy(
                    update={"events": [ShipmentEventOut.model_validate(e) for e in events[s.id]]}
                )
                for s in shipments
            ],
            "returns": [
                ReturnOut.model_validate(r).model_copy(
                    update={"lines": [ReturnLineOut.model_validate(x) for x in return_lines[r.id]]}
                )
                for r in returns
            ],
        }
    )
