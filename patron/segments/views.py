"""Panel pages for segments: the list, the editor (text and visual builder, with a live
preview), a segment's page (history, changes, members) and its buttons."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth.principal import Principal
from patron.customers import repository as customers_repository
from patron.db.deps import DbSession
from patron.errors import CRMError, InvalidInput
from patron.kit.pagination import PageParams
from patron.models import Segment
from patron.segments import repository, service
from patron.segments.auth import (
    SegmentMembersWrite,
    SegmentPreview,
    SegmentRead,
    SegmentWrite,
)
from patron.segments.errors import SegmentError
from patron.segments.fields import BUILTIN
from patron.segments.language import compile_for
from patron.segments.schemas import MAX_BODY_EXPRESSION
from patron.segments.text import to_text
from patron.web.templating import local_time, redirect, render

router = APIRouter(prefix="/segments")
Cursor = Annotated[str, Query(max_length=500)]
PAGE_SIZE = 25
MEMBERS_PAGE_SIZE = 25
PREVIEW_MEMBERS = 10
EXPECTED_SHOWN = 10
KINDS = {"dynamic": "Dynamic", "static": "Static list"}
POSITION = re.compile(r"^Line \d+, column \d+: ")


# -- the error with its position ----------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A segment error as the editor shows it: the expression cut around the offending spot."""

    code: str
    message: str
    line: int | None
    column: int | None
    expected: list[str]
    more_expected: int
    suggestion: str | None
    before: str
    marked: str
    after: str


def problem_of(error: SegmentError, expression: str) -> Problem:
    before, marked, after = expression, "", ""
    if error.line is not None and error.column is not None:
        lines = expression.split("\n")
        offset = sum(len(line) + 1 for line in lines[: error.line - 1]) + error.column - 1
        offset = max(0, min(offset, len(expression)))
        end = offset
        while end < len(expression) and not expression[end].isspace():
            end += 1
        # an unexpected end, or a space: mark one blank so the position still shows
        before, marked, after = expression[:offset], expression[offset:end] or " ", expression[end:]
    # the position and the suggestion are shown on their own
    message = POSITION.sub("", error.message)
    if error.suggestion:
        for hint in (error.suggestion, f"'{error.suggestion}'"):
            message = message.removesuffix(f" Did you mean {hint}?")
    return Problem(
        code=error.code,
        message=message[:1].upper() + message[1:],
        line=error.line,
        column=error.column,
        expected=error.expected[:EXPECTED_SHOWN],
        more_expected=max(0, len(error.expected) - EXPECTED_SHOWN),
        suggestion=error.suggestion,
        before=before,
        marked=marked,
        after=after,
    )


# -- the list -------------------------------------------------------------------------------------


@router.get("")
async def segment_list(
    request: Request,
    principal: SegmentRead,
    db: DbSession,
    q: Annotated[str, Query(max_length=100)] = "",
    cursor: Cursor = "",
) -> Response:
    search = q.strip()
    base = "/segments" + (f"?{urlencode({'q': search})}" if search else "")
    try:
        rows, next_cursor = await repository.segments_page(
            db, PageParams(limit=PAGE_SIZE, cursor=cursor or None), search=search
        )
    except CRMError:
        return redirect(request, base, flash="That page no longer exists.", category="warning")
    joiner = "&" if search else "?"
    return render(
        request,
        "segments/list.html",
        {
            "segments": rows,
            "search": search,
            "kinds": KINDS,
            "can_write": principal.has("segments:write"),
            "next_url": f"{base}{joiner}cursor={next_cursor}" if next_cursor else None,
            "first_url": base if cursor else None,
        },
    )


# -- the editor -----------------------------------------------------------------------------------


async def _catalog(db: AsyncSession) -> dict[str, Any]:
    """Field names (with their kinds, for the builder's value boxes) and saved segment names."""
    catalog = await repository.load_catalog(db)
    specs = [*BUILTIN.values(), *catalog.custom.values()]
    return {
        "fields": [
            {"name": spec.name, "kind": spec.kind, "options": list(spec.options)} for spec in specs
        ],
        "segments": await repository.segment_names(db),
    }


async def _editor(
    request: Request,
    db: AsyncSession,
    *,
    segment: Segment | None,
    typed: dict[str, str],
    error: CRMError | None = None,
) -> HTMLResponse:
    problem = None
    if isinstance(error, SegmentError):
        problem = problem_of(error, typed.get("expression", ""))
    return render(
        request,
        "segments/edit.html",
        {
            "segment": segment,
            "typed": typed,
            "kinds": KINDS,
            "catalog": await _catalog(db),
            "error": error.message if error else "",
            "error_code": error.code if error else "",
            "problem": problem,
        },
        status_code=error.status if error else 200,
    )


@router.get("/new")
async def new_segment(request: Request, principal: SegmentWrite, db: DbSession) -> Response:
    typed = {"name": "", "description": "", "kind": "dynamic", "expression": ""}
    return await _editor(request, db, segment=None, typed=typed)


def _checked_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("Give the segment a name.", code="segment_name_missing")
    if len(name) > 100:
        raise InvalidInput("A name may be at most 100 characters.", code="segment_name_too_long")
    return name


Name = Annotated[str, Form(max_length=1000)]
Description = Annotated[str, Form(max_length=2000)]
Expression = Annotated[str, Form(max_length=MAX_BODY_EXPRESSION)]


@router.post("/new")
async def create_segment(
    request: Request,
    principal: SegmentWrite,
    db: DbSession,
    name: Name = "",
    description: Description = "",
    kind: Annotated[str, Form(max_length=10)] = "dynamic",
    expression: Expression = "",
) -> Response:
    typed = {"name": name, "description": description, "kind": kind, "expression": expression}
    try:
        if kind not in KINDS:
            raise InvalidInput("Choose dynamic or static.", code="invalid_segment_kind")
        segment = await service.create_segment(
            db,
            principal=principal,
            name=_checked_name(name),
            description=description.strip(),
            kind=kind,
            expression=expression.strip() or None,
            customer_ids=[],
        )
    except CRMError as error:
        return await _editor(request, db, segment=None, typed=typed, error=error)
    count = segment.member_count
    return redirect(
        request,
        f"/segments/{segment.id}",
        flash=f"Segment “{segment.name}” saved with {count} member{'s' * (count != 1)}.",
    )


@router.post("/preview")
async def preview(
    request: Request,
    principal: SegmentPreview,
    db: DbSession,
    expression: Expression = "",
) -> Response:
    """The live count and first members, or the error with its position (always a 200:
    an expression being typed is not a failed request)."""
    context: dict[str, Any] = {"expression": expression, "empty": not expression.strip()}
    if not context["empty"]:
        try:
            compiled = await compile_for(db, expression)
            found = await repository.preview(
                db,
                repository.member_queries(principal, compiled.alternatives),
                limit=PREVIEW_MEMBERS,
            )
            context.update(found=found, canonical=to_text(compiled.tree))
        except SegmentError as error:
            context["problem"] = problem_of(error, expression)
        except CRMError as error:  # counting took too long
            context["slow"] = error.message
    return render(request, "segments/_preview.html", context)


# -- one segment ----------------------------------------------------------------------------------


async def _detail(
    request: Request,
    db: AsyncSession,
    principal: Principal,
    segment: Segment,
    *,
    cursor: str = "",
    error: CRMError | None = None,
    email: str = "",
) -> Response:
    base = f"/segments/{segment.id}"
    members: list[Any] = []
    next_cursor = None
    can_see_customers = principal.has("customers:read")
    if can_see_customers:
        try:
            members, next_cursor = await repository.members_page(
                db,
                principal,
                segment.id,
                PageParams(limit=MEMBERS_PAGE_SIZE, cursor=cursor or None),
            )
        except CRMError:
            return redirect(request, base, flash="That page no longer exists.", category="warning")
    sizes = list(reversed(await repository.sizes(db, segment.id)))
    tz = principal.user.time_zone
    chart = {
        "labels": [local_time(row.recorded_at, tz) for row in sizes],
        "datasets": [{"label": "Members", "data": [row.size for row in sizes], "tension": 0.2}],
    }
    return render(
        request,
        "segments/detail.html",
        {
            "segment": segment,
            "kinds": KINDS,
            "sizes": sizes,
            "chart": chart,
            "changes": (
                await repository.recent_changes(db, principal, segment.id)
                if can_see_customers
                else []
            ),
            "members": members,
            "can_see_customers": can_see_customers,
            "can_export": can_see_customers and principal.has("customers:export"),
            "can_write": principal.has("segments:write"),
            "can_change_members": segment.kind == "static"
            and principal.has("segments:write", "customers:read"),
            "next_url": f"{base}?cursor={next_cursor}#members" if next_cursor else None,
            "first_url": f"{base}#members" if cursor else None,
            "error": error.message if error else "",
            "error_code": error.code if error else "",
            "email": email,
        },
        status_code=error.status if error else 200,
    )


@router.get("/{segment_id}")
async def segment_detail(
    request: Request,
    segment_id: uuid.UUID,
    principal: SegmentRead,
    db: DbSession,
    cursor: Cursor = "",
) -> Response:
    segment = await repository.get_segment(db, segment_id)
    return await _detail(request, db, principal, segment, cursor=cursor)


@router.get("/{segment_id}/edit")
async def edit_segment(
    request: Request, segment_id: uuid.UUID, principal: SegmentWrite, db: DbSession
) -> Response:
    segment = await repository.get_segment(db, segment_id)
    typed = {
        "name": segment.name,
        "description": segment.description,
        "kind": segment.kind,
        "expression": segment.expression,
    }
    return await _editor(request, db, segment=segment, typed=typed)


@router.post("/{segment_id}/edit")
async def save_segment(
    request: Request,
    segment_id: uuid.UUID,
    principal: SegmentWrite,
    db: DbSession,
    name: Name = "",
    description: Description = "",
    expression: Expression = "",
) -> Response:
    segment = await repository.get_segment(db, segment_id, for_update=True)
    typed = {
        "name": name,
        "description": description,
        "kind": segment.kind,
        "expression": expression if segment.kind == "dynamic" else segment.expression,
    }
    try:
        async with db.begin_nested():  # a refused change leaves the segment as it was
            changed = await service.update_segment(
                db,
                actor=principal.actor,
                segment=segment,
                name=_checked_name(name),
                description=description.strip(),
                expression=expression if segment.kind == "dynamic" else None,
            )
    except CRMError as error:
        await db.refresh(segment)
        return await _editor(request, db, segment=segment, typed=typed, error=error)
    message = f"Segment “{segment.name}” saved."
    if changed is not None:
        message += f" {changed.size} members: {changed.entered} entered, {changed.exited} left."
    return redirect(request, f"/segments/{segment.id}", flash=message)


@router.post("/{segment_id}/refresh")
async def refresh_segment(
    request: Request, segment_id: uuid.UUID, principal: SegmentWrite, db: DbSession
) -> Response:
    segment = await repository.get_segment(db, segment_id, for_update=True)
    try:
        changed = await service.refresh_segment(db, segment)
    except CRMError as error:
        return redirect(request, f"/segments/{segment.id}", flash=error.message, category="danger")
    return redirect(
        request,
        f"/segments/{segment.id}",
        flash=f"Refreshed: {changed.size} members, {changed.entered} entered, "
        f"{changed.exited} left.",
    )


@router.get("/{segment_id}/delete")
async def confirm_delete(
    request: Request, segment_id: uuid.UUID, principal: SegmentWrite, db: DbSession
) -> Response:
    segment = await repository.get_segment(db, segment_id)
    return render(request, "segments/delete.html", {"segment": segment})


@router.post("/{segment_id}/delete")
async def delete_segment(
    request: Request, segment_id: uuid.UUID, principal: SegmentWrite, db: DbSession
) -> Response:
    segment = await repository.get_segment(db, segment_id, for_update=True)
    name = segment.name
    await service.delete_segment(db, segment, actor=principal.actor)
    return redirect(request, "/segments", flash=f"Segment “{name}” deleted.")


@router.post("/{segment_id}/members")
async def add_member(
    request: Request,
    segment_id: uuid.UUID,
    principal: SegmentMembersWrite,
    db: DbSession,
    email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    segment = await repository.get_segment(db, segment_id, for_update=True)
    address = email.strip()
    try:
        customer_id = await customers_repository.id_by_email(db, address) if address else None
        if customer_id is None:
            raise InvalidInput(
                f"No customer has the email “{address}”." if address else "Enter an email.",
                code="unknown_customer_email",
            )
        async with db.begin_nested():
            changed = await service.change_members(
                db, principal=principal, segment=segment, add=[customer_id], remove=[]
            )
    except CRMError as error:
        await db.refresh(segment)
        return await _detail(request, db, principal, segment, error=error, email=email)
    message = (
        f"{address} added to the list." if changed.entered else f"{address} is in the list already."
    )
    return redirect(request, f"/segments/{segment.id}#members", flash=message)


@router.post("/{segment_id}/members/{customer_id}/remove")
async def remove_member(
    request: Request,
    segment_id: uuid.UUID,
    customer_id: uuid.UUID,
    principal: SegmentMembersWrite,
    db: DbSession,
) -> Response:
    segment = await repository.get_segment(db, segment_id, for_update=True)
    customer = await customers_repository.get_for(db, principal, customer_id)
    try:
        changed = await service.change_members(
            db, principal=principal, segment=segment, add=[], remove=[customer.id]
        )
    except CRMError as error:
        return redirect(request, f"/segments/{segment.id}", flash=error.message, category="danger")
    message = (
        f"{customer.name or customer.email or 'The customer'} removed from the list."
        if changed.exited
        else "That customer was not in the list."
    )
    return redirect(request, f"/segments/{segment.id}#members", flash=message)
