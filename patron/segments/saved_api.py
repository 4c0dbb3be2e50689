"""/api/v1/segments: saved segments, their members, refreshes and size history."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from patron.db.deps import DbSession
from patron.kit.pagination import Page, PageParams, page_params
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS, error_responses
from patron.segments import repository, service
from patron.segments.auth import (
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
async def delete_segment(segment_id: uuid.UUID, _: SegmentWrite, db: DbSession) -> None:
    await service.delete_segment(db, await repository.get_segment(db, segment_id))


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
