"""/api/v1: the duplicate review queue and merging customers."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from patron.customers import duplicates, repository
from patron.customers.api import SettingsDep, profile, summary
from patron.customers.auth import CustomerRead, CustomerWrite
from patron.customers.merge import merge
from patron.customers.schemas import CustomerOut, DuplicateOut, DuplicatePage, MergeIn, ScanResult
from patron.customers.tasks import find_duplicates
from patron.db.deps import DbSession
from patron.kit.pagination import PageParams, page_params
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS, error_responses
from patron.worker.enqueue import enqueue

router = APIRouter(prefix=API_PREFIX, tags=["duplicates"], responses=COMMON_ERRORS)


def duplicate_out(pair: duplicates.Pair) -> DuplicateOut:
    candidate = pair.candidate
    return DuplicateOut(
        id=candidate.id,
        reason=candidate.reason,
        score=candidate.score,
        status=candidate.status,
        created_at=candidate.created_at,
        first=summary(pair.first, None),
        second=summary(pair.second, None),
    )


@router.get("/duplicates", response_model=DuplicatePage, summary="Likely duplicates to review")
async def list_duplicates(
    principal: CustomerRead,
    db: DbSession,
    page: Annotated[PageParams, Depends(page_params)],
) -> DuplicatePage:
    pairs, cursor = await duplicates.open_pairs(db, principal, page)
    return DuplicatePage(items=[duplicate_out(p) for p in pairs], next_cursor=cursor)


@router.post(
    "/duplicates/scan",
    response_model=ScanResult,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Look for new duplicates now (a background job; it also runs nightly)",
)
async def scan(principal: CustomerWrite, db: DbSession) -> ScanResult:
    return ScanResult(job_id=await enqueue(db, find_duplicates))


@router.post(
    "/duplicates/{candidate_id}/dismiss",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(404, 409),
    summary="Not the same person: never propose this pair again",
)
async def dismiss(candidate_id: uuid.UUID, principal: CustomerWrite, db: DbSession) -> None:
    candidate = await duplicates.candidate_for(db, principal, candidate_id)
    await duplicates.dismiss(db, candidate=candidate, actor=principal.actor)


@router.post(
    "/customers/{customer_id}/merge",
    response_model=CustomerOut,
    tags=["customers"],
    responses=error_responses(404),
    summary="Merge another customer into this one",
)
async def merge_customer(
    customer_id: uuid.UUID,
    body: MergeIn,
    principal: CustomerWrite,
    db: DbSession,
    settings: SettingsDep,
) -> CustomerOut:
    survivor = await repository.get_for(db, principal, customer_id, for_update=True)
    merged = await repository.get_for(db, principal, body.merge_id, for_update=True)
    await merge(
        db,
        settings,
        principal=principal,
        survivor=survivor,
        merged=merged,
        choices={str(field): side for field, side in body.fields.items()},
    )
    return await profile(db, survivor)
