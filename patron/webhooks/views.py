"""Panel pages for outbound webhooks: the list, a new subscription, its page with the delivery
log, and the buttons (test, re-deliver, enable/disable, rotate the secret, delete)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth.dependencies import get_settings
from patron.auth.principal import Principal
from patron.config import Settings
from patron.db.deps import DbSession
from patron.errors import CRMError
from patron.kit.pagination import PageParams
from patron.kit.time import utcnow
from patron.models import WebhookSubscription
from patron.web.templating import redirect, render
from patron.webhooks import repository, service
from patron.webhooks.auth import WebhooksRead, WebhooksWrite
from patron.webhooks.catalogue import EVENT_TYPES

router = APIRouter(prefix="/admin/webhooks")
SettingsDep = Annotated[Settings, Depends(get_settings)]
Cursor = Annotated[str, Query(max_length=500)]
PAGE_SIZE = 25


def _page_url(base: str, cursor: str | None) -> str | None:
    return f"{base}?cursor={cursor}" if cursor else None


@router.get("")
async def subscription_list(
    request: Request, principal: WebhooksRead, db: DbSession, cursor: Cursor = ""
) -> Response:
    try:
        rows, next_cursor = await repository.list_subscriptions(
            db, PageParams(limit=PAGE_SIZE, cursor=cursor or None)
        )
    except CRMError:
        return redirect(
            request, "/admin/webhooks", flash="That page no longer exists.", category="warning"
        )
    return render(
        request,
        "webhooks/list.html",
        {
            "subscriptions": rows,
            "owners": await repository.owner_labels(db, [s.owner_id for s in rows]),
            "can_write": principal.has("integrations:write"),
            "next_url": _page_url("/admin/webhooks", next_cursor),
            "first_url": "/admin/webhooks" if cursor else None,
        },
    )


def _new_form(
    request: Request, *, status_code: int = 200, error: CRMError | None = None, **typed: Any
) -> HTMLResponse:
    return render(
        request,
        "webhooks/new.html",
        {
            "event_types": EVENT_TYPES,
            "typed": typed,
            "error": error.message if error else "",
            "error_code": error.code if error else "",
        },
        status_code=status_code,
    )


@router.get("/new")
async def new_subscription(request: Request, principal: WebhooksWrite) -> Response:
    return _new_form(request, event_types=[])


def _secret_page(request: Request, subscription: WebhookSubscription, secret: str) -> HTMLResponse:
    response = render(
        request, "webhooks/secret.html", {"subscription": subscription, "secret": secret}
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/new")
async def create_subscription(
    request: Request,
    principal: WebhooksWrite,
    db: DbSession,
    settings: SettingsDep,
    url: Annotated[str, Form(max_length=2000)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    event_types: Annotated[list[str] | None, Form(max_length=50)] = None,
) -> Response:
    try:
        created = await service.create_subscription(
            db,
            settings,
            actor=principal.actor,
            owner_id=principal.user_id,
            url=url,
            event_types=event_types or [],
            name=name,
        )
    except CRMError as error:
        return _new_form(
            request,
            status_code=error.status,
            error=error,
            url=url,
            name=name,
            event_types=event_types or [],
        )
    return _secret_page(request, created.subscription, created.secret)


async def _detail_page(
    request: Request,
    db: AsyncSession,
    principal: Principal,
    subscription: WebhookSubscription,
    *,
    cursor: str = "",
    status_code: int = 200,
    error: CRMError | None = None,
    typed: dict[str, Any] | None = None,
) -> Response:
    base = f"/admin/webhooks/{subscription.id}"
    try:
        deliveries, next_cursor = await repository.list_deliveries(
            db, subscription.id, PageParams(limit=PAGE_SIZE, cursor=cursor or None)
        )
    except CRMError:
        return redirect(request, base, flash="That page no longer exists.", category="warning")
    return render(
        request,
        "webhooks/detail.html",
        {
            "subscription": subscription,
            "owners": await repository.owner_labels(db, [subscription.owner_id]),
            "deliveries": deliveries,
            "attempts": await repository.attempts_of(db, [d.id for d in deliveries]),
            "event_types": EVENT_TYPES,
            "now": utcnow(),
            "can_write": principal.has("integrations:write"),
            "next_url": _page_url(base, next_cursor),
            "first_url": base if cursor else None,
            "error": error.message if error else "",
            "error_code": error.code if error else "",
            "typed": typed
            or {
                "url": subscription.url,
                "name": subscription.name,
                "event_types": subscription.event_types,
            },
        },
        status_code=status_code,
    )


@router.get("/{subscription_id}")
async def subscription_detail(
    request: Request,
    subscription_id: uuid.UUID,
    principal: WebhooksRead,
    db: DbSession,
    cursor: Cursor = "",
) -> Response:
    subscription = await service.get_subscription(db, subscription_id)
    return await _detail_page(request, db, principal, subscription, cursor=cursor)


@router.post("/{subscription_id}/edit")
async def edit_subscription(
    request: Request,
    subscription_id: uuid.UUID,
    principal: WebhooksWrite,
    db: DbSession,
    settings: SettingsDep,
    url: Annotated[str, Form(max_length=2000)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    event_types: Annotated[list[str] | None, Form(max_length=50)] = None,
) -> Response:
    subscription = await service.get_subscription(db, subscription_id)
    typed = {"url": url, "name": name, "event_types": event_types or []}
    try:
        await service.update_subscription(
            db, settings, subscription, actor=principal.actor, changes=typed
        )
    except CRMError as error:
        return await _detail_page(
            request, db, principal, subscription, status_code=error.status, error=error, typed=typed
        )
    return redirect(
        request, f"/admin/webhooks/{subscription.id}", flash="The subscription is saved."
    )


@router.post("/{subscription_id}/test")
async def send_test(
    request: Request, subscription_id: uuid.UUID, principal: WebhooksWrite, db: DbSession
) -> Response:
    subscription = await service.get_subscription(db, subscription_id)
    await service.send_test(db, subscription, actor=principal.actor)
    return redirect(
        request, f"/admin/webhooks/{subscription.id}", flash="A test event is on its way."
    )


@router.post("/{subscription_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(
    request: Request,
    subscription_id: uuid.UUID,
    delivery_id: uuid.UUID,
    principal: WebhooksWrite,
    db: DbSession,
) -> Response:
    subscription = await service.get_subscription(db, subscription_id)
    delivery = await service.get_delivery(db, subscription, delivery_id)
    await service.redeliver(db, subscription, delivery, actor=principal.actor)
    return redirect(
        request, f"/admin/webhooks/{subscription.id}", flash="The delivery is sent again."
    )


@router.post("/{subscription_id}/disable")
async def disable(
    request: Request,
    subscription_id: uuid.UUID,
    principal: WebhooksWrite,
    db: DbSession,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    subscription = await service.get_subscription(db, subscription_id)
    await service.disable(
        db,
        subscription,
        actor=principal.actor,
        reason=reason.strip() or f"Disabled by {principal.user.email}.",
    )
    return redirect(
        request, f"/admin/webhooks/{subscription.id}", flash="The subscription is disabled."
    )


@router.post("/{subscription_id}/enable")
async def enable(
    request: Request, subscription_id: uuid.UUID, principal: WebhooksWrite, db: DbSession
) -> Response:
    subscription = await service.get_subscription(db, subscription_id)
    await service.enable(db, subscription, actor=principal.actor)
    return redirect(
        request, f"/admin/webhooks/{subscription.id}", flash="The subscription is enabled."
    )


@router.post("/{subscription_id}/rotate-secret")
async def rotate_secret(
    request: Request,
    subscription_id: uuid.UUID,
    principal: WebhooksWrite,
    db: DbSession,
    settings: SettingsDep,
    keep_old_hours: Annotated[int, Form(ge=0, le=service.MAX_KEEP_OLD_HOURS)] = 0,
) -> Response:
    subscription = await service.get_subscription(db, subscription_id)
    secret = await service.rotate_secret(
        db, settings, subscription, actor=principal.actor, keep_old_hours=keep_old_hours
    )
    return _secret_page(request, subscription, secret)


@router.get("/{subscription_id}/delete")
async def confirm_delete(
    request: Request, subscription_id: uuid.UUID, principal: WebhooksWrite, db: DbSession
) -> Response:
    subscription = await service.get_subscription(db, subscription_id)
    return render(request, "webhooks/delete.html", {"subscription": subscription})


@router.post("/{subscription_id}/delete")
async def delete(
    request: Request, subscription_id: uuid.UUID, principal: WebhooksWrite, db: DbSession
) -> Response:
    subscription = await service.get_subscription(db, subscription_id)
    await service.delete(db, subscription, actor=principal.actor)
    return redirect(request, "/admin/webhooks", flash="The subscription is deleted.")
