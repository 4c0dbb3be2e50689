"""/api/v1/orders: list, export, place, read, change, cancel; payments and refunds."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.auth.principal import Principal
from patron.customers.repository import get_for as customer_for
from patron.db.deps import DbSession, get_read_session
from patron.errors import InvalidInput, NotFound
from patron.kit.export import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, csv_rows_stream, xlsx_bytes
from patron.kit.pagination import Page
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS, error_responses
from patron.kit.time import utcnow
from patron.models import Customer, Order
from patron.orders import repository, service
from patron.orders.api.common import (
    CONFLICT,
    NOT_FOUND,
    Filters,
    Paging,
    SettingsDep,
    channel_or_none,
    order_out,
)
from patron.orders.auth import OrderExport, OrderRead, OrderWrite
from patron.orders.repository import OrderFilters, OrderSort
from patron.orders.schemas import (
    CancelIn,
    OrderCreate,
    OrderOut,
    OrderSummary,
    OrderUpdate,
    PaymentIn,
    PaymentOut,
    PaymentStatusIn,
    RefundIn,
    RefundOut,
)

router = APIRouter(prefix=API_PREFIX, responses=COMMON_ERRORS, tags=["orders"])
# the export streams after the route returns, so its session lives as long as the response
StreamSession = Annotated[AsyncSession, Depends(get_read_session)]
XLSX_MAX_ROWS = 100_000
EXPORT_HEADERS = (
    "number",
    "placed_at",
    "customer_id",
    "customer_email",
    "customer_name",
    "channel_id",
    "external_id",
    "currency",
    "subtotal",
    "discount_total",
    "shipping_total",
    "tax_total",
    "total",
    "refunded_total",
    "financial_status",
    "fulfillment_status",
    "items_count",
    "discount_codes",
    "tags",
    "cancelled_at",
)


def _export_row(order: Order, customer: Customer) -> list[Any]:
    return [
        order.number,
        order.placed_at,
        order.customer_id,
        customer.email,
        f"{customer.first_name} {customer.last_name}".strip(),
        order.channel_id,
        order.external_id,
        order.currency,
        order.subtotal,
        order.discount_total,
        order.shipping_total,
        order.tax_total,
        order.total,
        order.refunded_total,
        order.financial_status,
        order.fulfillment_status,
        order.items_count,
        order.discount_codes,
        order.tags,
        order.cancelled_at,
    ]


def _filename(extension: str) -> str:
    return f"orders-{utcnow():%Y%m%d-%H%M%S}.{extension}"


async def _audit_export(db: AsyncSession, principal: Any, filters: OrderFilters, fmt: str) -> None:
    chosen = {key: str(value) for key, value in vars(filters).items() if value not in (None, ())}
    await audit.record(
        db,
        action="order.exported",
        actor=principal.actor,
        object_type="order",
        details={"format": fmt, "filters": chosen},
    )


@router.get("/orders", response_model=Page[OrderSummary], summary="List orders")
async def list_orders(
    principal: OrderRead,
    db: DbSession,
    page: Paging,
    filters: Filters,
    sort: OrderSort = "-placed_at",
) -> Page[OrderSummary]:
    rows, cursor = await repository.list_orders(db, principal, page, filters=filters, sort=sort)
    return Page(items=[OrderSummary.model_validate(o) for o in rows], next_cursor=cursor)


@router.get(
    "/orders/export.csv",
    response_class=StreamingResponse,
    summary="Export the filtered orders as CSV (streamed)",
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_orders_csv(
    stream_db: StreamSession,  # first: its transaction outlives the route's own session
    principal: OrderExport,
    db: DbSession,
    filters: Filters,
    sort: OrderSort = "-placed_at",
) -> StreamingResponse:
    await _audit_export(db, principal, filters, "csv")

    async def rows() -> AsyncIterator[list[Any]]:
        async for order, customer in repository.each_order(
            stream_db, principal, filters=filters, sort=sort
        ):
            yield _export_row(order, customer)

    return StreamingResponse(
        csv_rows_stream(EXPORT_HEADERS, rows()),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{_filename("csv")}"'},
    )


@router.get(
    "/orders/export.xlsx",
    response_class=Response,
    summary=f"Export the filtered orders as XLSX (up to {XLSX_MAX_ROWS:,} rows; use CSV beyond)",
    responses={200: {"content": {"application/vnd.ms-excel": {}}}},
)
async def export_orders_xlsx(
    principal: OrderExport, db: DbSession, filters: Filters, sort: OrderSort = "-placed_at"
) -> Response:
    return await xlsx_export(db, principal, filters, sort)


async def xlsx_export(
    db: AsyncSession, principal: Principal, filters: OrderFilters, sort: OrderSort
) -> Response:
    """The filtered orders as one workbook; refused (``export_too_large``) beyond
    ``XLSX_MAX_ROWS``, with nothing recorded."""
    await _audit_export(db, principal, filters, "xlsx")
    rows: list[list[Any]] = []
    async for order, customer in repository.each_order(db, principal, filters=filters, sort=sort):
        if len(rows) >= XLSX_MAX_ROWS:
            raise InvalidInput(
                f"More than {XLSX_MAX_ROWS:,} orders match; narrow the filters or export CSV.",
                code="export_too_large",
            )
        rows.append(_export_row(order, customer))
    return Response(
        xlsx_bytes(EXPORT_HEADERS, rows, title="Orders"),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{_filename("xlsx")}"'},
    )


@router.post(
    "/orders",
    response_model=OrderOut,
    status_code=status.HTTP_201_CREATED,
    summary="Record an order (totals are computed and checked)",
    responses=CONFLICT,
)
async def create_order(
    body: OrderCreate, principal: OrderWrite, db: DbSession, settings: SettingsDep
) -> OrderOut:
    customer = await customer_for(db, principal, body.customer_id)
    order = await service.place_order(
        db,
        settings,
        actor=principal.actor,
        customer=customer,
        channel=await channel_or_none(db, body.channel_id),
        lines=[service.LineRequest(**line.model_dump()) for line in body.lines],
        number=body.number,
        external_id=body.external_id,
        placed_at=body.placed_at,
        currency=body.currency,
        exchange_rate=body.exchange_rate,
        discounts=[(d.code, d.amount) for d in body.discounts],
        shipping_total=body.shipping_total,
        tax_total=body.tax_total,
        total=body.total,
        billing_address=body.billing_address.model_dump() if body.billing_address else None,
        shipping_address=body.shipping_address.model_dump() if body.shipping_address else None,
        note=body.note,
        tags=body.tags,
        custom_fields=body.custom_fields,
        payments=[service.PaymentRequest(**p.model_dump()) for p in body.payments],
    )
    return await order_out(db, settings, order)


@router.get("/orders/{order_id}", response_model=OrderOut, responses=NOT_FOUND)
async def get_order(
    order_id: uuid.UUID, principal: OrderRead, db: DbSession, settings: SettingsDep
) -> OrderOut:
    order = await repository.get_order_for(db, principal, order_id)
    await audit.record_read(db, actor=principal.actor, object_type="order", object_id=order.id)
    return await order_out(db, settings, order)


@router.patch(
    "/orders/{order_id}",
    response_model=OrderOut,
    summary="Change the note, tags, address snapshots or custom fields",
    responses=NOT_FOUND,
)
async def update_order(
    order_id: uuid.UUID,
    body: OrderUpdate,
    principal: OrderWrite,
    db: DbSession,
    settings: SettingsDep,
) -> OrderOut:
    order = await repository.get_order_for(db, principal, order_id)
    await service.update_order(
        db, order, actor=principal.actor, changes=body.model_dump(exclude_unset=True)
    )
    return await order_out(db, settings, order)


@router.post("/orders/{order_id}/cancel", response_model=OrderOut, responses=CONFLICT)
async def cancel_order(
    order_id: uuid.UUID,
    body: CancelIn,
    principal: OrderWrite,
    db: DbSession,
    settings: SettingsDep,
) -> OrderOut:
    order = await repository.get_order_for(db, principal, order_id)
    await service.cancel_order(
        db, settings, order, actor=principal.actor, reason=body.reason, restock_items=body.restock
    )
    return await order_out(db, settings, order)


@router.post(
    "/orders/{order_id}/payments",
    response_model=PaymentOut,
    status_code=status.HTTP_201_CREATED,
    summary="Record a payment (in the order's currency)",
    responses=CONFLICT,
)
async def record_payment(
    order_id: uuid.UUID, body: PaymentIn, principal: OrderWrite, db: DbSession
) -> PaymentOut:
    order = await repository.get_order_for(db, principal, order_id)
    payment = await service.record_payment(db, order, actor=principal.actor, **body.model_dump())
    return PaymentOut.model_validate(payment)


@router.patch(
    "/orders/{order_id}/payments/{payment_id}",
    response_model=PaymentOut,
    summary="Move a payment on (pending → authorized → succeeded, failed, voided)",
    responses=CONFLICT,
)
async def change_payment(
    order_id: uuid.UUID,
    payment_id: uuid.UUID,
    body: PaymentStatusIn,
    principal: OrderWrite,
    db: DbSession,
) -> PaymentOut:
    order = await repository.get_order_for(db, principal, order_id)
    payment = await repository.payment(db, order.id, payment_id)
    if payment is None:
        raise NotFound("No such payment.", code="payment_not_found")
    await service.change_payment_status(
        db, order, payment, actor=principal.actor, status=body.status
    )
    return PaymentOut.model_validate(payment)


@router.post(
    "/orders/{order_id}/refunds",
    response_model=RefundOut,
    status_code=status.HTTP_201_CREATED,
    summary="Record a refund (at most what was paid and not yet refunded)",
    responses=error_responses(404),
)
async def record_refund(
    order_id: uuid.UUID,
    body: RefundIn,
    principal: OrderWrite,
    db: DbSession,
    settings: SettingsDep,
) -> RefundOut:
    order = await repository.get_order_for(db, principal, order_id)
    refund = await service.record_refund(
        db,
        settings,
        order,
        actor=principal.actor,
        amount=body.amount,
        currency=body.currency,
        reason=body.reason,
        note=body.note,
        restock_items=body.restock,
        lines=[(line.order_line_id, line.quantity) for line in body.lines],
        external_id=body.external_id,
    )
    return RefundOut.model_validate(refund)
