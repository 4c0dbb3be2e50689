"""The order list (filters, sort, keyset pages, export) and the cart list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from patron.db.deps import DbSession
from patron.errors import CRMError
from patron.kit.pagination import PageParams
from patron.models.orders import CART_STATUSES, FINANCIAL_STATUSES, FULFILLMENT_STATUSES
from patron.orders import repository
from patron.orders.api.orders import xlsx_export
from patron.orders.auth import OrderExport, OrderRead
from patron.orders.views.common import (
    PAGE_SIZE,
    SORTS,
    list_url,
    parse_cart_query,
    parse_order_query,
)
from patron.web.templating import redirect, render

router = APIRouter()
Cursor = Annotated[str, Query(max_length=500)]


@router.get("/orders")
async def order_list(
    request: Request, principal: OrderRead, db: DbSession, cursor: Cursor = ""
) -> Response:
    query = await parse_order_query(db, principal, request.query_params)
    canonical = query.query_string()
    try:
        orders, next_cursor = await repository.list_orders(
            db,
            principal,
            PageParams(limit=PAGE_SIZE, cursor=cursor or None),
            filters=query.filters,
            sort=query.sort,
        )
    except CRMError:
        return redirect(
            request,
            list_url("/orders", canonical),
            flash="That page no longer exists.",
            category="warning",
        )
    return render(
        request,
        "orders/list.html",
        {
            "orders": orders,
            "query": query,
            "filters": query.filters,
            "canonical": canonical,
            "customers": await repository.customers_by_ids(db, {o.customer_id for o in orders}),
            "channels": await repository.list_channels(db),
            "sorts": SORTS,
            "financial_statuses": FINANCIAL_STATUSES,
            "fulfillment_statuses": FULFILLMENT_STATUSES,
            "can_export": principal.has("customers:export"),
            "next_url": list_url("/orders", query.query_string(cursor=next_cursor))
            if next_cursor
            else None,
            "first_url": list_url("/orders", canonical) if cursor else None,
        },
    )


@router.get("/orders/export.xlsx")
async def export_xlsx(request: Request, principal: OrderExport, db: DbSession) -> Response:
    """The API's XLSX export; a refusal (too many rows) comes back to the list as a message."""
    query = await parse_order_query(db, principal, request.query_params)
    try:
        async with db.begin_nested():
            return await xlsx_export(db, principal, query.filters, query.sort)
    except CRMError as error:
        return redirect(
            request,
            list_url("/orders", query.query_string()),
            flash=error.message,
            category="danger",
        )


@router.get("/carts")
async def cart_list(
    request: Request, principal: OrderRead, db: DbSession, cursor: Cursor = ""
) -> Response:
    query = await parse_cart_query(db, principal, request.query_params)
    canonical = query.query_string()
    try:
        carts, next_cursor = await repository.list_carts(
            db,
            principal,
            PageParams(limit=PAGE_SIZE, cursor=cursor or None),
            status=query.statuses,
            customer_id=query.filters.customer_id,
            channel_id=query.filters.channel_id,
        )
    except CRMError:
        return redirect(
            request,
            list_url("/carts", canonical),
            flash="That page no longer exists.",
            category="warning",
        )
    customer_ids = {c.customer_id for c in carts if c.customer_id is not None}
    return render(
        request,
        "orders/carts.html",
        {
            "carts": carts,
            "query": query,
            "canonical": canonical,
            "customers": await repository.customers_by_ids(db, customer_ids),
            "channels": await repository.list_channels(db),
            "cart_statuses": CART_STATUSES,
            "next_url": list_url("/carts", query.query_string(cursor=next_cursor))
            if next_cursor
            else None,
            "first_url": list_url("/carts", canonical) if cursor else None,
        },
    )
