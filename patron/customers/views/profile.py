"""The customer 360: header with figures, tabs, and editing the profile in place."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from patron.audit import service as audit
from patron.auth.principal import Principal
from patron.customers import repository, service
from patron.customers.auth import CustomerRead, CustomerWrite
from patron.customers.schemas import CustomerUpdate
from patron.customers.views.common import (
    SettingsDep,
    comma_list,
    form_errors,
    lifecycle_choices,
    optional_date,
    optional_text,
    staff_choices,
    text_field,
    validation_error,
)
from patron.db.deps import DbSession
from patron.errors import CRMError, NotFound
from patron.kit.custom_fields import definitions
from patron.kit.pagination import PageParams
from patron.models import Customer
from patron.models.customers import CONSENT_STATUSES, CONTACT_FREQUENCIES
from patron.models.timeline import KIND_GROUPS
from patron.orders import repository as orders_repository
from patron.orders.repository import OrderFilters
from patron.timeline import repository as timeline_repository
from patron.users import repository as users_repository
from patron.web.templating import redirect, render, templates

router = APIRouter()
TABS = ("timeline", "orders", "carts", "addresses", "details")
TAB_PAGE = 25
FEED_PAGE = 30
GROUPS: dict[str, str] = {
    "profile": "Profile",
    "contact": "Contact",
    "segmentation": "Segmentation",
    "preferences": "Preferences",
    "custom": "Custom fields",
}
PREFERRED_CHANNELS = ("email", "sms", "phone", "post", "whatsapp")


def customer_url(customer: Customer | uuid.UUID, tab: str = "", **params: str) -> str:
    identifier = customer.id if isinstance(customer, Customer) else customer
    query = "&".join(f"{k}={v}" for k, v in {"tab": tab, **params}.items() if v)
    return f"/customers/{identifier}" + (f"?{query}" if query else "")


def visible_tabs(principal: Principal) -> list[str]:
    tabs = list(TABS)
    if not principal.has("interactions:read"):
        tabs.remove("timeline")
    if not principal.has("orders:read"):
        tabs.remove("orders")
        tabs.remove("carts")
    return tabs


async def timeline_context(
    db: AsyncSession,
    customer: Customer,
    *,
    group: str | None,
    cursor: str | None,
) -> dict[str, Any]:
    group = group if group in KIND_GROUPS else None
    entries, next_cursor = await timeline_repository.feed(
        db, customer.id, group=group, limit=FEED_PAGE, cursor=cursor
    )
    pinned = [] if cursor or group else await timeline_repository.pinned(db, customer.id)
    files = await timeline_repository.attachments_of(
        db, [entry.id for entry in [*pinned, *entries]]
    )
    return {
        "entries": entries,
        "pinned": pinned,
        "files": files,
        "group": group or "",
        "groups": list(KIND_GROUPS),
        "next_cursor": next_cursor,
    }


async def _tab_context(
    db: AsyncSession, principal: Principal, customer: Customer, tab: str, request: Request
) -> dict[str, Any]:
    params = request.query_params
    cursor = params.get("cursor") or None
    if tab == "timeline":
        try:
            return await timeline_context(db, customer, group=params.get("group"), cursor=cursor)
        except CRMError:
            return await timeline_context(db, customer, group=params.get("group"), cursor=None)
    if tab == "orders":
        try:
            orders, next_cursor = await orders_repository.list_orders(
                db,
                principal,
                PageParams(limit=TAB_PAGE, cursor=cursor),
                filters=OrderFilters(customer_id=customer.id),
            )
        except CRMError:
            orders, next_cursor = [], None
        return {"orders": orders, "next_cursor": next_cursor}
    if tab == "carts":
        try:
            carts, next_cursor = await orders_repository.list_carts(
                db, principal, PageParams(limit=TAB_PAGE, cursor=cursor), customer_id=customer.id
            )
        except CRMError:
            carts, next_cursor = [], None
        return {"carts": carts, "next_cursor": next_cursor}
    if tab == "details":
        return {
            "other_emails": await repository.other_emails(db, customer.id),
            "other_phones": await repository.other_phones(db, customer.id),
            "external_ids": await repository.external_ids(db, customer.id),
            "channels": {c.id: c for c in await orders_repository.list_channels(db)},
            "consent_history": await repository.consent_history(db, customer.id, limit=50),
            "custom_fields": await definitions(db, "customer"),
        }
    return {}


async def profile_page(
    request: Request,
    db: AsyncSession,
    principal: Principal,
    customer: Customer,
    *,
    tab: str,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    tabs = visible_tabs(principal)
    tab = tab if tab in tabs else tabs[0]
    metrics = (await repository.metrics_for(db, [customer.id])).get(customer.id)
    owner = await users_repository.users_by_ids(
        db, {customer.owner_id} if customer.owner_id else set()
    )
    editing = extra.pop("editing", None)
    context: dict[str, Any] = {
        "customer": customer,
        "metrics": metrics,
        "owner": owner.get(customer.owner_id) if customer.owner_id else None,
        "consents": {
            c.channel: c
            for c in await repository.consents(db, customer.id)
            if c.purpose == "marketing"
        },
        "addresses": await repository.addresses(db, customer.id),
        "tab": tab,
        "tabs": tabs,
        "groups": GROUPS,
        "editing": editing,
        "errors": extra.pop("errors", {}),
        "form": extra.pop("form", {}),
        "staff": await staff_choices(db) if editing == "segmentation" else [],
        "stages": lifecycle_choices(),
        "consent_statuses": CONSENT_STATUSES,
        "frequencies": CONTACT_FREQUENCIES,
        "preferred_channels": PREFERRED_CHANNELS,
        "can_write": principal.has("customers:write"),
        "can_note": principal.has("interactions:write"),
        **await _tab_context(db, principal, customer, tab, request),
        **extra,
    }
    return render(request, "customers/detail.html", context, status_code=status_code)


@router.get("/customers/{customer_id}")
async def customer_detail(
    request: Request,
    customer_id: uuid.UUID,
    principal: CustomerRead,
    db: DbSession,
    tab: Annotated[str, Query(max_length=20)] = "",
    edit: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    customer = await repository.get_for(db, principal, customer_id)
    if customer.id != customer_id:
        query = request.url.query
        return redirect(request, f"/customers/{customer.id}" + (f"?{query}" if query else ""))
    await audit.record_read(
        db, actor=principal.actor, object_type="customer", object_id=customer.id, purpose="panel"
    )
    editing = edit if edit in GROUPS and principal.has("customers:write") else None
    return await profile_page(
        request, db, principal, customer, tab="details" if editing else tab, editing=editing
    )


# -- editing a group of fields in place ----------------------------------------------------


async def _group_fragment(
    request: Request,
    db: AsyncSession,
    principal: Principal,
    customer: Customer,
    group: str,
    *,
    editing: bool,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    saved: bool = False,
) -> HTMLResponse:
    owner = await users_repository.users_by_ids(
        db, {customer.owner_id} if customer.owner_id else set()
    )
    context = {
        "request": request,
        "customer": customer,
        "group": group,
        "title": GROUPS[group],
        "editing": group if editing else None,
        "errors": errors or {},
        "form": form or {},
        "saved": saved,
        "owner": owner.get(customer.owner_id) if customer.owner_id else None,
        "staff": await staff_choices(db) if editing and group == "segmentation" else [],
        "stages": lifecycle_choices(),
        "frequencies": CONTACT_FREQUENCIES,
        "preferred_channels": PREFERRED_CHANNELS,
        "custom_fields": await definitions(db, "customer"),
        "can_write": principal.has("customers:write"),
        "tz": principal.user.time_zone,
        "principal": principal,
        "user": principal.user,
    }
    html = templates.get_template("customers/_field_group.html").render(context)
    return HTMLResponse(html)


@router.get("/customers/{customer_id}/fields")
async def field_group(
    request: Request,
    customer_id: uuid.UUID,
    principal: CustomerRead,
    db: DbSession,
    group: Annotated[str, Query(max_length=20)] = "profile",
    edit: bool = False,
) -> Response:
    """One group of the Details tab, read-only or as a form (htmx swaps it in place)."""
    if group not in GROUPS:
        raise NotFound("No such group of fields.", code="field_group_not_found")
    customer = await repository.get_for(db, principal, customer_id)
    editing = edit and principal.has("customers:write")
    if request.headers.get("HX-Request") != "true":
        return redirect(request, customer_url(customer, "details", edit=group if editing else ""))
    return await _group_fragment(request, db, principal, customer, group, editing=editing)


def posted_values(form: FormData) -> dict[str, Any]:
    """What was typed, to show it again beside the errors (lists for multiple values)."""
    values: dict[str, Any] = {}
    for key in form:
        items = [v for v in form.getlist(key) if isinstance(v, str)]
        values[key] = items if len(items) > 1 or key == "preferred_channels" else items[0]
    return values


async def _changes(db: AsyncSession, group: str, form: FormData) -> dict[str, Any]:
    """The profile changes a group's form asks for, typed by the API's update schema."""
    raw: dict[str, Any]
    if group == "profile":
        raw = {
            "first_name": text_field(form, "first_name", 100),
            "last_name": text_field(form, "last_name", 100),
            "company": optional_text(form, "company"),
            "birthday": optional_date(form, "birthday"),
            "locale": optional_text(form, "locale", 20),
            "time_zone": optional_text(form, "time_zone", 64),
            "source": text_field(form, "source", 100),
        }
    elif group == "contact":
        raw = {
            "email": optional_text(form, "email", 320),
            "phone": optional_text(form, "phone", 40),
        }
    elif group == "segmentation":
        raw = {
            "tags": comma_list(text_field(form, "tags", 2000)),
            "lifecycle_stage": text_field(form, "lifecycle_stage", 12) or "auto",
            "owner_id": optional_text(form, "owner_id", 40),
        }
    elif group == "preferences":
        raw = {
            "preferred_channels": [str(v) for v in form.getlist("preferred_channels")],
            "interests": comma_list(text_field(form, "interests", 2000)),
            "contact_frequency": optional_text(form, "contact_frequency", 10),
        }
    else:
        values: dict[str, Any] = {}
        for definition in await definitions(db, "customer"):
            name = f"cf_{definition.key}"
            if definition.field_type == "multiselect":
                values[definition.key] = [str(v) for v in form.getlist(name)]
            elif definition.field_type == "boolean":
                values[definition.key] = text_field(form, name) or None
            else:
                values[definition.key] = text_field(form, name, 2000)
        raw = {"custom_fields": values}
    try:
        return CustomerUpdate.model_validate(raw).model_dump(exclude_unset=True)
    except ValidationError as error:
        raise validation_error(error) from None


@router.post("/customers/{customer_id}/fields")
async def save_field_group(
    request: Request,
    customer_id: uuid.UUID,
    principal: CustomerWrite,
    db: DbSession,
    settings: SettingsDep,
) -> Response:
    form = await request.form()
    group = text_field(form, "group", 20)
    if group not in GROUPS:
        raise NotFound("No such group of fields.", code="field_group_not_found")
    customer = await repository.get_for(db, principal, customer_id, for_update=True)
    htmx = request.headers.get("HX-Request") == "true"
    typed = posted_values(form)
    try:
        changes = await _changes(db, group, form)
        async with db.begin_nested():
            await service.update_customer(
                db, settings, actor=principal.actor, customer=customer, changes=changes
            )
    except CRMError as error:
        await db.refresh(customer)
        errors = form_errors(error, typed)
        if htmx:
            fragment = await _group_fragment(
                request, db, principal, customer, group, editing=True, errors=errors, form=typed
            )
            fragment.status_code = error.status
            return fragment
        return await profile_page(
            request,
            db,
            principal,
            customer,
            tab="details",
            status_code=error.status,
            editing=group,
            errors=errors,
            form=typed,
        )
    if htmx:
        return await _group_fragment(
            request, db, principal, customer, group, editing=False, saved=True
        )
    return redirect(request, customer_url(customer, "details"), flash=f"{GROUPS[group]} saved.")


@router.post("/customers/{customer_id}/consents")
async def change_consent(
    request: Request, customer_id: uuid.UUID, principal: CustomerWrite, db: DbSession
) -> Response:
    form = await request.form()
    channel = text_field(form, "channel", 10)
    status = text_field(form, "status", 12)
    customer = await repository.get_for(db, principal, customer_id, for_update=True)
    back = customer_url(customer, "details")
    if channel not in ("email", "sms") or status not in CONSENT_STATUSES:
        return redirect(request, back, flash="Choose a channel and a status.", category="danger")
    try:
        async with db.begin_nested():
            await service.set_consent(
                db,
                customer=customer,
                actor=principal.actor,
                channel=channel,
                status=status,
                source="panel",
            )
    except CRMError as error:
        return redirect(request, back, flash=error.message, category="danger")
    return redirect(request, back, flash=f"{channel.upper()} consent recorded.")


@router.post("/customers/{customer_id}/contacts")
async def add_contact(
    request: Request, customer_id: uuid.UUID, principal: CustomerWrite, db: DbSession
) -> Response:
    form = await request.form()
    kind = text_field(form, "kind", 10)
    value = text_field(form, "value", 320)
    label = text_field(form, "label", 40)
    customer = await repository.get_for(db, principal, customer_id, for_update=True)
    back = customer_url(customer, "details")
    try:
        async with db.begin_nested():
            if kind == "phone":
                await service.add_phone(
                    db, customer=customer, phone=value, label=label, actor=principal.actor
                )
            else:
                await service.add_email(
                    db, customer=customer, email=value, label=label, actor=principal.actor
                )
    except CRMError as error:
        return redirect(request, back, flash=error.message, category="danger")
    return redirect(request, back, flash=f"{'Phone' if kind == 'phone' else 'Email'} added.")


@router.post("/customers/{customer_id}/contacts/{contact_id}/delete")
async def remove_contact(
    request: Request,
    customer_id: uuid.UUID,
    contact_id: uuid.UUID,
    principal: CustomerWrite,
    db: DbSession,
) -> Response:
    customer = await repository.get_for(db, principal, customer_id, for_update=True)
    await service.remove_contact(
        db, customer=customer, contact_id=contact_id, actor=principal.actor
    )
    return redirect(request, customer_url(customer, "details"), flash="Removed.")
