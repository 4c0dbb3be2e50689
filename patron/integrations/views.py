"""Panel pages: the store connections, connecting a store, and a connection's status page
(deliveries per day, failures with their error, pause / resume / remove, re-process, testing
the API credentials, running a backfill and following its progress)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from patron.auth.dependencies import get_settings
from patron.config import Settings
from patron.db.deps import DbSession
from patron.errors import CRMError, NotFound
from patron.integrations import backfill, repository, service
from patron.integrations.auth import IntegrationsRead, IntegrationsWrite
from patron.kit.crypto import SecretBox
from patron.kit.pagination import PageParams
from patron.kit.time import utcnow
from patron.models import StoreConnection
from patron.orders import repository as orders_repository
from patron.web.templating import redirect, render

router = APIRouter(prefix="/integrations")
SettingsDep = Annotated[Settings, Depends(get_settings)]
STATUS_DAYS = 14
RECENT = 25
FAILURES = 50
PROVIDER_LABELS = {"shopify": "Shopify", "woocommerce": "WooCommerce", "stripe": "Stripe"}


def _box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.box
    return box


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("No such store connection.", code="connection_not_found") from None


@router.get("")
async def connection_list(
    request: Request, principal: IntegrationsRead, db: DbSession, settings: SettingsDep
) -> Response:
    connections = await repository.list_connections(db)
    return render(
        request,
        "integrations/list.html",
        {
            "connections": connections,
            "last": await repository.last_deliveries(db, [c.id for c in connections]),
            "labels": PROVIDER_LABELS,
            "can_write": principal.has("integrations:write"),
        },
    )


async def _form_page(
    request: Request, db: DbSession, form: dict[str, str], *, error: CRMError | None = None
) -> Response:
    return render(
        request,
        "integrations/new.html",
        {
            "form": form,
            "channels": await orders_repository.list_channels(db),
            "labels": PROVIDER_LABELS,
            "error": error.message if error else None,
            "error_code": error.code if error else None,
            "field_errors": {d.get("field"): d.get("message") for d in error.details}
            if error
            else {},
        },
        status_code=error.status if error else 200,
    )


@router.get("/new")
async def connect_form(request: Request, principal: IntegrationsWrite, db: DbSession) -> Response:
    return await _form_page(request, db, {"provider": "shopify"})


@router.post("/new")
async def connect(
    request: Request,
    principal: IntegrationsWrite,
    db: DbSession,
    provider: Annotated[str, Form(max_length=20)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    shop_domain: Annotated[str, Form(max_length=300)] = "",
    webhook_secret: Annotated[str, Form(max_length=600)] = "",
    access_token: Annotated[str, Form(max_length=600)] = "",
    channel_id: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    # secrets are never sent back to the browser, not even after a refused form
    form = {
        "provider": provider,
        "name": name,
        "shop_domain": shop_domain,
        "channel_id": channel_id,
    }
    try:
        async with db.begin_nested():
            connection = await service.connect(
                db,
                _box(request),
                actor=principal.actor,
                provider=provider,
                name=name,
                shop_domain=shop_domain,
                webhook_secret=webhook_secret,
                access_token=access_token,
                channel_id=uuid.UUID(channel_id) if channel_id else None,
            )
    except ValueError:
        return await _form_page(
            request, db, form, error=CRMError("Choose a channel from the list.", status=422)
        )
    except CRMError as error:
        return await _form_page(request, db, form, error=error)
    return redirect(
        request,
        f"/integrations/{connection.id}",
        flash=f"{connection.name} is connected. Now add the webhooks in the store (see below).",
    )


async def _connection(db: DbSession, connection_id: str) -> StoreConnection:
    return await service.get_connection(db, _uuid(connection_id))


@router.get("/{connection_id}")
async def connection_page(
    connection_id: str,
    request: Request,
    principal: IntegrationsRead,
    db: DbSession,
    settings: SettingsDep,
) -> Response:
    connection = await _connection(db, connection_id)
    days = await repository.deliveries_per_day(
        db, connection.id, since=utcnow() - timedelta(days=STATUS_DAYS)
    )
    failures, _ = await repository.list_receipts(
        db, connection.id, PageParams(limit=FAILURES), status="failed"
    )
    recent, _ = await repository.list_receipts(db, connection.id, PageParams(limit=RECENT))
    context: dict[str, Any] = {
        "connection": connection,
        "label": PROVIDER_LABELS.get(connection.provider, connection.provider),
        "webhook_url": service.webhook_url(settings, connection),
        "webhook_secret": service.masked(connection.webhook_secret_tail),
        "access_token": service.masked(connection.access_token_tail),
        "counts": await repository.status_counts(db, connection.id),
        "last_delivery": (await repository.last_deliveries(db, [connection.id])).get(connection.id),
        "days": days,
        "failures": failures,
        "recent": recent,
        "can_write": principal.has("integrations:write"),
        "reads_api": connection.provider in backfill.PROVIDERS,
        "run": await repository.latest_backfill(db, connection.id),
        "default_since": (utcnow() - timedelta(days=backfill.DEFAULT_DAYS)).date().isoformat(),
        "today": utcnow().date().isoformat(),
    }
    return render(request, "integrations/detail.html", context)


@router.get("/{connection_id}/backfill")
async def backfill_progress(
    connection_id: str, request: Request, principal: IntegrationsRead, db: DbSession
) -> Response:
    """The last run's card, polled by htmx while the run is queued or running."""
    connection = await _connection(db, connection_id)
    run = await repository.latest_backfill(db, connection.id)
    return render(request, "integrations/_backfill.html", {"connection": connection, "run": run})


@router.post("/{connection_id}/test")
async def test_credentials(
    connection_id: str,
    request: Request,
    principal: IntegrationsWrite,
    db: DbSession,
    settings: SettingsDep,
) -> Response:
    connection = await _connection(db, connection_id)
    result = await backfill.test_credentials(settings, _box(request), connection)
    url = f"/integrations/{connection.id}"
    if result.ok:
        return redirect(request, url, flash=f"The credentials work. {result.message}")
    return redirect(
        request, url, flash=f"The test failed ({result.code}): {result.message}", category="danger"
    )


@router.post("/{connection_id}/backfills")
async def start_backfill(
    connection_id: str,
    request: Request,
    principal: IntegrationsWrite,
    db: DbSession,
    since: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    connection = await _connection(db, connection_id)
    url = f"/integrations/{connection.id}"
    try:
        day = date.fromisoformat(since)
    except ValueError:
        return redirect(request, url, flash="Give a date to read from.", category="danger")
    try:
        async with db.begin_nested():
            await backfill.request_run(
                db,
                connection=connection,
                actor=principal.actor,
                since=backfill.since_day(day),
            )
    except CRMError as error:
        return redirect(request, url, flash=error.message, category="danger")
    return redirect(
        request,
        url,
        flash=f"Backfill queued: customers, products and orders updated since {day:%d %b %Y}.",
    )


@router.post("/{connection_id}/status")
async def change_status(
    connection_id: str,
    request: Request,
    principal: IntegrationsWrite,
    db: DbSession,
    status: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    connection = await _connection(db, connection_id)
    url = f"/integrations/{connection.id}"
    try:
        async with db.begin_nested():
            await service.set_status(
                db, _box(request), connection, actor=principal.actor, status=status
            )
    except CRMError as error:
        return redirect(request, url, flash=error.message, category="danger")
    message = "Paused: deliveries are refused until resumed." if status == "paused" else "Resumed."
    return redirect(request, url, flash=message)


@router.post("/{connection_id}/delete")
async def remove(
    connection_id: str, request: Request, principal: IntegrationsWrite, db: DbSession
) -> Response:
    connection = await _connection(db, connection_id)
    await service.remove_connection(db, connection, actor=principal.actor)
    return redirect(
        request, "/integrations", flash=f"{connection.name} was removed; its orders stay."
    )


@router.post("/{connection_id}/receipts/{receipt_id}/reprocess")
async def reprocess(
    connection_id: str,
    receipt_id: str,
    request: Request,
    principal: IntegrationsWrite,
    db: DbSession,
) -> Response:
    connection = await _connection(db, connection_id)
    try:
        receipt = await service.get_receipt(db, connection, uuid.UUID(receipt_id))
    except ValueError:
        raise NotFound("No such delivery.", code="receipt_not_found") from None
    url = f"/integrations/{connection.id}"
    try:
        await service.reprocess(db, connection, receipt, actor=principal.actor)
    except CRMError as error:
        return redirect(request, url, flash=error.message, category="warning")
    return redirect(request, url, flash=f"The {receipt.topic} delivery is queued again.")
