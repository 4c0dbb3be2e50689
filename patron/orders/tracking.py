"""The public order-tracking page a customer reaches by a signed link (``/track/{token}``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from patron.auth.dependencies import get_settings
from patron.config import Settings
from patron.db.deps import DbSession
from patron.models import Order
from patron.orders import repository, service
from patron.orders.service.common import STATUS_LABELS
from patron.web.templating import render

router = APIRouter()
SettingsDep = Annotated[Settings, Depends(get_settings)]
PRIVATE = {"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex, nofollow"}


@router.get("/track/{token}")
async def tracking_page(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    token: Annotated[str, Path(max_length=200)],
) -> Response:
    order_id = service.order_id_from_token(settings, token)
    order = await db.get(Order, order_id) if order_id else None
    if order is None:
        response = render(request, "orders/tracking_missing.html", status_code=404)
        response.headers.update(PRIVATE)
        return response
    shipments = await repository.shipments_of(db, order.id)
    events = await repository.events_of(db, [s.id for s in shipments])
    lines = await repository.lines_of(db, order.id)
    response = render(
        request,
        "orders/tracking.html",
        {
            "order": order,
            "lines": lines,
            "shipments": [(s, list(reversed(events[s.id]))) for s in shipments],
            "labels": STATUS_LABELS,
        },
    )
    response.headers.update(PRIVATE)
    return response
