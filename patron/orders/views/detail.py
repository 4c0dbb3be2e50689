"""The order page: items, money, shipments, returns, history and the forms that act on them."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.auth.principal import Principal
from patron.config import Settings
from patron.db.deps import DbSession
from patron.models import Channel, Customer, Order
from patron.models.orders import PAYMENT_STATUSES, SHIPMENT_STATUSES
from patron.orders import repository, service
from patron.orders.api.common import SettingsDep
from patron.orders.auth import OrderRead
from patron.orders.service.common import shipped_quantities
from patron.orders.service.returns import RETURN_TRANSITIONS
from patron.timeline import repository as timeline_repository
from patron.web.templating import render

router = APIRouter()
RETURN_ACTIONS = {
    "approved": "Approve",
    "rejected": "Reject",
    "received": "Mark received",
    "refunded": "Refund",
}


def order_url(order: Order | uuid.UUID, anchor: str = "") -> str:
    identifier = order.id if isinstance(order, Order) else order
    return f"/orders/{identifier}" + (f"#{anchor}" if anchor else "")


async def order_context(
    db: AsyncSession, settings: Settings, principal: Principal, order: Order
) -> dict[str, Any]:
    """Everything the order page shows, read fresh (an action may have just changed it)."""
    await db.refresh(order)
    lines = await repository.lines_of(db, order.id)
    shipments = await repository.shipments_of(db, order.id)
    events = await repository.events_of(db, [s.id for s in shipments])
    returns = await repository.returns_of(db, order.id)
    return_lines = await repository.return_lines_of(db, [r.id for r in returns])
    shipped = shipped_quantities(shipments)
    returned = await repository.returned_quantities(db, order.id)
    totals = await repository.payment_totals(db, order.id)
    customer = await db.get(Customer, order.customer_id)
    return {
        "order": order,
        "customer": customer,
        "channel": await db.get(Channel, order.channel_id) if order.channel_id else None,
        "lines": lines,
        "line_by_id": {str(line.id): line for line in lines},
        "shipped": shipped,
        "unshipped": {line.id: line.quantity - shipped.get(line.id, 0) for line in lines},
        "returnable": {line.id: line.quantity - returned.get(line.id, 0) for line in lines},
        "payments": await repository.payments_of(db, order.id),
        "refunds": await repository.refunds_of(db, order.id),
        "paid": totals.paid,
        "balance_due": max(order.total - totals.paid, 0),
        "refundable": await service.refundable(db, order),
        "shipments": [(s, list(reversed(events[s.id]))) for s in shipments],
        "returns": [(r, return_lines[r.id]) for r in returns],
        "return_actions": {
            r.id: [(s, RETURN_ACTIONS[s]) for s in sorted(RETURN_TRANSITIONS[r.status])]
            for r in returns
        },
        "history": await timeline_repository.order_feed(db, order.id),
        "tracking_link": service.tracking_url(settings, order),
        "shipment_statuses": SHIPMENT_STATUSES,
        "payment_statuses": [s for s in PAYMENT_STATUSES if s not in ("failed", "voided")],
        "can_write": principal.has("orders:write"),
        "can_see_customer": principal.has("customers:read"),
        "files": {},
        "can_note": False,
    }


async def order_page(
    request: Request,
    db: AsyncSession,
    settings: Settings,
    principal: Principal,
    order: Order,
    *,
    status_code: int = 200,
    failed: str | None = None,
    error: str = "",
    error_code: str = "",
    typed: dict[str, Any] | None = None,
) -> HTMLResponse:
    """The page; after a refused action, with that form open, its message and what was typed."""
    context = await order_context(db, settings, principal, order)
    context.update(
        {
            "failed": failed,
            "error": error,
            "error_code": error_code,
            "typed": typed or {},
        }
    )
    return render(request, "orders/detail.html", context, status_code=status_code)


@router.get("/orders/{order_id}")
async def order_detail(
    request: Request,
    order_id: uuid.UUID,
    principal: OrderRead,
    db: DbSession,
    settings: SettingsDep,
) -> Response:
    order = await repository.get_order_for(db, principal, order_id)
    await audit.record_read(
        db, actor=principal.actor, object_type="order", object_id=order.id, purpose="panel"
    )
    return await order_page(request, db, settings, principal, order)
