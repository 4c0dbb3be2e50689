"""The Timeline tab: the feed (filter, load more), quick notes, logged calls and meetings,
pins and files."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from patron.auth.principal import Principal
from patron.customers import repository
from patron.customers.auth import InteractionRead, InteractionWrite
from patron.customers.views.common import SettingsDep, field_error, field_errors, text_field
from patron.customers.views.profile import customer_url, profile_page, timeline_context
from patron.db.deps import DbSession
from patron.errors import CRMError
from patron.models import Customer
from patron.timeline import files, service
from patron.timeline import repository as timeline_repository
from patron.web.templating import redirect, templates

router = APIRouter()
ACTIVITY_LABELS = {"call": "Call", "meeting": "Meeting", "email_logged": "Email"}


def _is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _fragment(request: Request, template: str, context: dict[str, Any]) -> HTMLResponse:
    principal: Principal = request.state.principal
    html = templates.get_template(template).render(
        {
            "request": request,
            "principal": principal,
            "user": principal.user,
            "tz": principal.user.time_zone,
            "can_note": principal.has("interactions:write"),
            **context,
        }
    )
    return HTMLResponse(html)


@router.get("/customers/{customer_id}/timeline")
async def timeline_page(
    request: Request,
    customer_id: uuid.UUID,
    principal: InteractionRead,
    db: DbSession,
    group: Annotated[str, Query(max_length=20)] = "",
    cursor: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    """More of the feed (htmx "Load more"); without htmx, the customer page at that point."""
    customer = await repository.get_for(db, principal, customer_id)
    if not _is_htmx(request):
        return redirect(request, customer_url(customer, "timeline", group=group, cursor=cursor))
    try:
        context = await timeline_context(db, customer, group=group, cursor=cursor or None)
    except CRMError:
        context = await timeline_context(db, customer, group=group, cursor=None)
    return _fragment(request, "customers/_timeline_entries.html", {"customer": customer, **context})


async def _after_change(
    request: Request,
    db: DbSession,
    principal: Principal,
    customer: Customer,
    message: str,
) -> Response:
    if _is_htmx(request):
        context = await timeline_context(db, customer, group=None, cursor=None)
        return _fragment(
            request,
            "customers/_timeline.html",
            {"customer": customer, "note_saved": message, **context},
        )
    return redirect(request, customer_url(customer, "timeline"), flash=message)


async def _failed(
    request: Request,
    db: DbSession,
    principal: Principal,
    customer: Customer,
    error: CRMError,
    form: dict[str, str],
) -> Response:
    errors = field_errors(error) or {}
    errors.setdefault("_", error.message)
    if _is_htmx(request):
        context = await timeline_context(db, customer, group=None, cursor=None)
        response = _fragment(
            request,
            "customers/_timeline.html",
            {"customer": customer, "note_errors": errors, "note_form": form, **context},
        )
        response.status_code = error.status
        return response
    return await profile_page(
        request,
        db,
        principal,
        customer,
        tab="timeline",
        status_code=error.status,
        note_errors=errors,
        note_form=form,
    )


@router.post("/customers/{customer_id}/notes")
async def add_note(
    request: Request,
    customer_id: uuid.UUID,
    principal: InteractionWrite,
    db: DbSession,
    settings: SettingsDep,
) -> Response:
    form = await request.form()
    body = text_field(form, "body", 20_000)
    pinned = form.get("pinned") == "on"
    customer = await repository.get_for(db, principal, customer_id)
    try:
        async with db.begin_nested():
            await service.add_note(
                db, settings, principal=principal, customer=customer, body=body, pinned=pinned
            )
    except CRMError as error:
        return await _failed(
            request, db, principal, customer, error, {"body": body, "form": "note"}
        )
    return await _after_change(request, db, principal, customer, "Note added.")


def _when(value: str, time_zone: str) -> datetime | None:
    """A ``datetime-local`` value in the person's time zone, as UTC."""
    if not value:
        return None
    try:
        local = datetime.fromisoformat(value)
    except ValueError:
        raise field_error("occurred_at", "Give the date and time it happened.") from None
    try:
        zone = ZoneInfo(time_zone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return local.replace(tzinfo=zone).astimezone(UTC)


@router.post("/customers/{customer_id}/activities")
async def log_activity(
    request: Request, customer_id: uuid.UUID, principal: InteractionWrite, db: DbSession
) -> Response:
    form = await request.form()
    values = {
        "kind": text_field(form, "kind", 20),
        "summary": text_field(form, "summary", 500),
        "body": text_field(form, "body", 20_000),
        "occurred_at": text_field(form, "occurred_at", 20),
        "duration_minutes": text_field(form, "duration_minutes", 6),
        "form": "activity",
    }
    customer = await repository.get_for(db, principal, customer_id)
    try:
        duration = values["duration_minutes"]
        if duration and (not duration.isdigit() or int(duration) > 24 * 60):
            raise field_error("duration_minutes", "Give the length in minutes (up to a day).")
        async with db.begin_nested():
            await service.log_activity(
                db,
                principal=principal,
                customer=customer,
                kind=values["kind"],
                summary=values["summary"],
                body=values["body"],
                occurred_at=_when(values["occurred_at"], principal.user.time_zone),
                duration_minutes=int(duration) if duration else None,
            )
    except CRMError as error:
        return await _failed(request, db, principal, customer, error, values)
    label = ACTIVITY_LABELS.get(values["kind"], "Activity")
    return await _after_change(request, db, principal, customer, f"{label} logged.")


@router.post("/customers/{customer_id}/timeline/{entry_id}/pin")
async def pin_entry(
    request: Request,
    customer_id: uuid.UUID,
    entry_id: uuid.UUID,
    principal: InteractionWrite,
    db: DbSession,
) -> Response:
    form = await request.form()
    pinned = form.get("pinned") != "false"
    customer = await repository.get_for(db, principal, customer_id)
    entry = await timeline_repository.entry(db, customer.id, entry_id)
    try:
        await service.set_pinned(db, principal=principal, entry=entry, pinned=pinned)
    except CRMError as error:
        return redirect(
            request, customer_url(customer, "timeline"), flash=error.message, category="danger"
        )
    return await _after_change(
        request, db, principal, customer, "Pinned." if pinned else "Unpinned."
    )


@router.post("/customers/{customer_id}/timeline/{entry_id}/edit")
async def edit_entry(
    request: Request,
    customer_id: uuid.UUID,
    entry_id: uuid.UUID,
    principal: InteractionWrite,
    db: DbSession,
) -> Response:
    """Change the text of a note or logged activity; only its author or an admin may."""
    form = await request.form()
    body = text_field(form, "body", 20_000)
    customer = await repository.get_for(db, principal, customer_id)
    entry = await timeline_repository.entry(db, customer.id, entry_id)
    try:
        async with db.begin_nested():
            await service.edit_note(db, principal=principal, entry=entry, body=body)
    except CRMError as error:
        return redirect(
            request, customer_url(customer, "timeline"), flash=error.message, category="danger"
        )
    return await _after_change(request, db, principal, customer, "Saved.")


@router.post("/customers/{customer_id}/timeline/{entry_id}/delete")
async def delete_entry(
    request: Request,
    customer_id: uuid.UUID,
    entry_id: uuid.UUID,
    principal: InteractionWrite,
    db: DbSession,
) -> Response:
    customer = await repository.get_for(db, principal, customer_id)
    entry = await timeline_repository.entry(db, customer.id, entry_id)
    try:
        await service.delete_note(db, principal=principal, entry=entry)
    except CRMError as error:
        return redirect(
            request, customer_url(customer, "timeline"), flash=error.message, category="danger"
        )
    return await _after_change(request, db, principal, customer, "Deleted.")


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(files.CHUNK):
        yield chunk


@router.post("/customers/{customer_id}/attachments")
async def upload_attachment(
    request: Request,
    customer_id: uuid.UUID,
    principal: InteractionWrite,
    db: DbSession,
    settings: SettingsDep,
) -> Response:
    form = await request.form()
    upload = form.get("file")
    customer = await repository.get_for(db, principal, customer_id)
    back = customer_url(customer, "timeline")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return redirect(request, back, flash="Choose a file to attach.", category="danger")
    try:
        async with db.begin_nested():
            attachment = await files.save_attachment(
                db,
                settings,
                principal=principal,
                customer=customer,
                filename=upload.filename,
                chunks=_chunks(upload),
            )
    except CRMError as error:
        return redirect(request, back, flash=error.message, category="danger")
    return redirect(request, back, flash=f"{attachment.filename} attached.")
