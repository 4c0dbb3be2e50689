"""The customer list: search, filters, sort, keyset pages, saved views, bulk actions, export."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams

from patron.customers import bulk, listing, saved_views
from patron.customers.auth import CustomerExport, CustomerRead, CustomerWrite
from patron.customers.export_api import export_response
from patron.customers.listing import CustomerQuery
from patron.customers.schemas import BulkAction
from patron.customers.views.common import (
    PAGE_SIZE,
    SORTS,
    SettingsDep,
    describe_filters,
    filter_count,
    lifecycle_choices,
    optional_uuid,
    parse_filters,
    query_string,
    segment_choices,
    staff_choices,
)
from patron.db.deps import DbSession, get_read_session
from patron.errors import CRMError
from patron.kit.custom_fields import definitions
from patron.models.customers import CONSENT_STATUSES
from patron.users import repository as users_repository
from patron.web.templating import redirect, render

router = APIRouter()
StreamSession = Annotated[AsyncSession, Depends(get_read_session)]
BULK_VERBS = {
    "tag": "tag",
    "untag": "remove a tag from",
    "set_owner": "set the owner of",
    "set_lifecycle": "set the lifecycle stage of",
    "export": "export",
}


def _list_url(filters: str) -> str:
    return f"/customers?{filters}" if filters else "/customers"


@router.get("/customers")
async def customer_list(
    request: Request,
    principal: CustomerRead,
    db: DbSession,
    cursor: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    query, problems = parse_filters(request.query_params)
    try:
        await listing.check_segment(db, principal, query)
    except CRMError as error:
        problems.append(f"segment: {error.message}")
        query = query.model_copy(update={"segment": None})
    segments = await segment_choices(db, principal)
    canonical = query_string(query)
    try:
        rows, next_cursor = await listing.list_customers(
            db, principal, query, limit=PAGE_SIZE, cursor=cursor or None
        )
    except CRMError:
        return redirect(
            request, _list_url(canonical), flash="That page no longer exists.", category="warning"
        )
    total = await listing.count_customers(db, principal, query)
    staff = await staff_choices(db)
    owners = await users_repository.users_by_ids(
        db, {c.owner_id for c, _ in rows if c.owner_id is not None}
    )
    return render(
        request,
        "customers/list.html",
        {
            "rows": rows,
            "total": total,
            "query": query,
            "canonical": canonical,
            "problems": problems,
            "active_count": filter_count(query),
            "owners": owners,
            "staff": staff,
            "described": describe_filters(query, staff, segments),
            "segments": segments,
            "views": await saved_views.list_views(
                db, user_id=principal.user_id, entity="customers"
            ),
            "custom_fields": await definitions(db, "customer"),
            "custom_values": dict(item.split(":", 1) for item in query.custom if ":" in item),
            "sorts": SORTS,
            "stages": lifecycle_choices(),
            "consent_statuses": CONSENT_STATUSES,
            "can_write": principal.has("customers:write"),
            "can_export": principal.has("customers:export"),
            "next_url": f"/customers?{query_string(query, cursor=next_cursor)}"
            if next_cursor
            else None,
            "first_url": _list_url(canonical) if cursor else None,
        },
    )


@router.get("/customers/export.csv")
async def export_csv(
    request: Request, stream_db: StreamSession, principal: CustomerExport, db: DbSession
) -> Response:
    """Same as the API's export (the stream's session first: it outlives the route's)."""
    query, _ = parse_filters(request.query_params)
    try:
        return await export_response(db, stream_db, principal, query, fmt="csv")
    except CRMError as error:
        return redirect(
            request, _list_url(query_string(query)), flash=error.message, category="danger"
        )


@router.get("/customers/export.xlsx")
async def export_xlsx(request: Request, principal: CustomerExport, db: DbSession) -> Response:
    query, _ = parse_filters(request.query_params)
    try:
        return await export_response(db, db, principal, query, fmt="xlsx")
    except CRMError as error:
        return redirect(
            request, _list_url(query_string(query)), flash=error.message, category="danger"
        )


@router.post("/customers/views")
async def save_view(
    request: Request,
    principal: CustomerRead,
    db: DbSession,
    name: Annotated[str, Form(max_length=100)] = "",
    query: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        view = await saved_views.create_view(
            db, user_id=principal.user_id, entity="customers", name=name, query=query
        )
    except CRMError as error:
        return redirect(request, _list_url(query), flash=error.message, category="danger")
    return redirect(request, _list_url(view.query), flash=f"View “{view.name}” saved.")


@router.post("/customers/views/{view_id}/delete")
async def delete_view(
    request: Request, view_id: uuid.UUID, principal: CustomerRead, db: DbSession
) -> Response:
    view = await saved_views.delete_view(db, user_id=principal.user_id, view_id=view_id)
    return redirect(request, "/customers", flash=f"View “{view.name}” deleted.")


def _bulk_action(fields: dict[str, Any], query: CustomerQuery, *, confirm: bool) -> BulkAction:
    ids = [i for i in (optional_uuid(v) for v in fields["ids"]) if i is not None]
    everyone = fields["scope"] == "all"
    if not everyone and not ids:
        raise CRMError(
            "Tick the customers first, or choose every customer matching the filter.",
            code="nothing_selected",
            status=422,
        )
    owner = fields["owner"]
    try:
        return BulkAction.model_validate(
            {
                "action": fields["action"],
                "ids": None if everyone else ids,
                "filter": {**query.active_filters(), "sort": query.sort} if everyone else None,
                "tag": fields["tag"] or None,
                "owner_id": None if owner in ("", "none") else owner,
                "lifecycle_stage": fields["lifecycle_stage"] or None,
                "confirm": confirm,
            }
        )
    except ValidationError as error:
        problem = error.errors()[0]
        field = str(problem["loc"][0]) if problem["loc"] else "action"
        raise CRMError(
            f"Choose what to do: {field.replace('_', ' ')} — {problem['msg']}.",
            code="invalid_bulk_action",
            status=422,
        ) from None


class BulkForm:
    """The bulk-action form, as posted from the list or from the confirmation page."""

    def __init__(
        self,
        action: Annotated[str, Form(max_length=20)] = "",
        scope: Annotated[str, Form(max_length=10)] = "selected",
        ids: Annotated[list[str] | None, Form(max_length=10_000)] = None,
        tag: Annotated[str, Form(max_length=50)] = "",
        owner: Annotated[str, Form(max_length=40)] = "",
        lifecycle_stage: Annotated[str, Form(max_length=12)] = "",
        filter: Annotated[str, Form(max_length=4000)] = "",
    ) -> None:
        self.fields: dict[str, Any] = {
            "action": action,
            "scope": scope,
            "ids": ids or [],
            "tag": tag.strip(),
            "owner": owner,
            "lifecycle_stage": lifecycle_stage,
            "filter": filter,
        }
        self.query, _ = parse_filters(QueryParams(filter))


BulkFields = Annotated[BulkForm, Depends()]


@router.post("/customers/bulk")
async def bulk_preview(
    request: Request,
    principal: CustomerRead,
    db: DbSession,
    settings: SettingsDep,
    form: BulkFields,
) -> Response:
    """Count what a bulk action would change and ask to confirm; nothing changes yet."""
    fields, query = form.fields, form.query
    back = _list_url(query_string(query))
    if fields["action"] == "export":
        if not principal.has("customers:export"):
            return redirect(request, back, flash="You may not export customers.", category="danger")
        try:
            matched = await listing.count_customers(db, principal, query)
        except CRMError as error:
            return redirect(request, back, flash=error.message, category="danger")
    else:
        if not principal.has("customers:write"):
            return redirect(request, back, flash="You may not change customers.", category="danger")
        try:
            action = _bulk_action(fields, query, confirm=False)
            matched = (await bulk.apply(db, settings, principal=principal, action=action)).matched
        except CRMError as error:
            return redirect(request, back, flash=error.message, category="danger")
    owner = optional_uuid(fields["owner"])
    owners = await users_repository.users_by_ids(db, {owner} if owner else set())
    return render(
        request,
        "customers/bulk_confirm.html",
        {
            "fields": fields,
            "matched": matched,
            "verb": BULK_VERBS.get(fields["action"], fields["action"]),
            "owner": owners.get(owner) if owner else None,
            "back": back,
            "canonical": query_string(query),
            "described": describe_filters(
                query, await staff_choices(db), await segment_choices(db, principal)
            ),
        },
    )


@router.post("/customers/bulk/apply")
async def bulk_apply(
    request: Request,
    principal: CustomerWrite,
    db: DbSession,
    settings: SettingsDep,
    form: BulkFields,
) -> Response:
    back = _list_url(query_string(form.query))
    try:
        action = _bulk_action(form.fields, form.query, confirm=True)
        result = await bulk.apply(db, settings, principal=principal, action=action)
    except CRMError as error:
        return redirect(request, back, flash=error.message, category="danger")
    unchanged = result.matched - result.changed
    message = f"Done: {result.changed:,} customer{'s' if result.changed != 1 else ''} changed"
    if unchanged:
        message += f", {unchanged:,} already as asked"
    return redirect(request, back, flash=message + ".")
