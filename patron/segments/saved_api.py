"""/api/v1/segments: saved segments, their members (and their export), refreshes and size
history."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth.principal import Principal
from patron.customers.export_api import ExportSubject, Format, StreamSession, export_response
from patron.customers.listing import CustomerQuery
from patron.db.deps import DbSession
from patron.kit.export import XLSX_MEDIA_TYPE
from patron.kit.pagination import Page, PageParams, page_params
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS, error_responses
from patron.segments import repository, service
from patron.segments.auth import (
    SegmentExport,
    SegmentMembersRead,
    SegmentMembersWrite,
    SegmentRead,
    SegmentWrite,
)
from patron.segments.schemas import (
    ChangedOut,
    MembersIn,
    SegmentIn,
    SegmentMemberOut,
    SegmentOut,
    SizeOut,
)

router = APIRouter(prefix=f"{API_PREFIX}/segments", tags=["segments"], responses=COMMON_ERRORS)
Paging = Annotated[PageParams, Depends(page_params)]


@router.get("", response_model=list[SegmentOut], summary="Saved segments, by name")
async def list_segments(_: SegmentRead, db: DbSession) -> list[SegmentOut]:
    return [SegmentOut.model_validate(segment) for segment in await repository.segments(db)]


@router.post(
    "",
    response_model=SegmentOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
    summary="Save a dynamic segment or a static list",
)
async def create_segment(body: SegmentIn, principal: SegmentWrite, db: DbSession) -> SegmentOut:
    segment = await service.create_segment(
        db,
        principal=principal,
        name=body.name,
        description=body.description,
        kind=body.kind,
        expression=body.expression,
        customer_ids=body.customer_ids,
    )
    return SegmentOut.model_validate(segment)


@router.get(
    "/{segment_id}",
    response_model=SegmentOut,
    responses=error_responses(404),
    summary="One saved segment",
)
async def get_segment(segment_id: uuid.UUID, _: SegmentRead, db: DbSession) -> SegmentOut:
    return SegmentOut.model_validate(await repository.get_segment(db, segment_id))


@router.delete(
    "/{segment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(404),
    summary="Delete a saved segment",
)
async def delete_segment(segment_id: uuid.UUID, principal: SegmentWrite, db: DbSession) -> None:
    segment = await repository.get_segment(db, segment_id)
    await service.delete_segment(db, segment, actor=principal.actor)


@router.post(
    "/{segment_id}/refresh",
    response_model=ChangedOut,
    responses=error_responses(404, 409),
    summary="Bring a dynamic segment's members up to date now",
)
async def refresh_segment(segment_id: uuid.UUID, _: SegmentWrite, db: DbSession) -> ChangedOut:
    segment = await repository.get_segment(db, segment_id, for_update=True)
    return ChangedOut.model_validate(await service.refresh_segment(db, segment))


@router.get(
    "/{segment_id}/members",
    response_model=Page[SegmentMemberOut],
    responses=error_responses(404),
    summary="The members you may see, by customer id",
)
async def list_members(
    segment_id: uuid.UUID, principal: SegmentMembersRead, db: DbSession, page: Paging
) -> Page[SegmentMemberOut]:
    segment = await repository.get_segment(db, segment_id)
    rows, cursor = await repository.members_page(db, principal, segment.id, page)
    return Page(items=[SegmentMemberOut.model_validate(row) for row in rows], next_cursor=cursor)


@router.post(
    "/{segment_id}/members",
    response_model=ChangedOut,
    responses=error_responses(404, 409),
    summary="Put customers into a static list, or take them out",
)
async def change_members(
    segment_id: uuid.UUID, body: MembersIn, principal: SegmentMembersWrite, db: DbSession
) -> ChangedOut:
    segment = await repository.get_segment(db, segment_id, for_update=True)
    changed = await service.change_members(
        db, principal=principal, segment=segment, add=body.add, remove=body.remove
    )
    return ChangedOut.model_validate(changed)


@router.get(
    "/{segment_id}/history",
    response_model=list[SizeOut],
    responses=error_responses(404),
    summary="The segment's size after each refresh or change, newest first",
)
async def history(segment_id: uuid.UUID, _: SegmentRead, db: DbSession) -> list[SizeOut]:
    segment = await repository.get_segment(db, segment_id)
    return [SizeOut.model_validate(row) for row in await repository.sizes(db, segment.id)]


async def _export(
    db: AsyncSession,
    stream_db: AsyncSession,
    principal: Principal,
    segment_id: uuid.UUID,
    *,
    fmt: Format,
) -> Response:
    segment = await repository.get_segment(db, segment_id)
    subject = ExportSubject(
        name=f"segment {segment.name}",
        title="Segment members",
        object_type="segment",
        object_id=segment.id,
        details={"segment": segment.name},
    )
    query = CustomerQuery(segment=segment.id)
    return await export_response(db, stream_db, principal, query, fmt=fmt, subject=subject)


@router.get(
    "/{segment_id}/members.csv",
    summary="Export the members you may see as CSV",
    description="The customer export's columns, for the segment's members (a dynamic "
    "segment's as of its last refresh). Audited as `customer.exported`.",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, **error_responses(404)},
)
async def export_members_csv(
    segment_id: uuid.UUID, stream_db: StreamSession, principal: SegmentExport, db: DbSession
) -> Response:
    return await _export(db, stream_db, principal, segment_id, fmt="csv")


@router.get(
    "/{segment_id}/members.xlsx",
    summary="Export the members you may see as XLSX",
    description="As the CSV export; at most 100,000 customers (use CSV beyond).",
    response_class=Response,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}, **error_responses(404)},
)
async def export_members_xlsx(
    segment_id: uuid.UUID, principal: SegmentExport, db: DbSession
) -> Response:
    return await _export(db, db, principal, segment_id, fmt="xlsx")
