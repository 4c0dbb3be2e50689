"""/api/v1: a customer's personal-data export and erasure, and the requests they make."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import FileResponse

from patron.auth.dependencies import get_settings
from patron.config import Settings
from patron.customers import repository as customers
from patron.db.deps import DbSession
from patron.kit.pagination import Page, PageParams, page_params
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS, error_responses
from patron.privacy import repository, service
from patron.privacy.auth import PrivacyErase, PrivacyExport, PrivacyRead
from patron.privacy.schemas import ErasureIn, PrivacyRequestOut

router = APIRouter(prefix=API_PREFIX, tags=["privacy"], responses=COMMON_ERRORS)
SettingsDep = Annotated[Settings, Depends(get_settings)]
Status = Literal["queued", "running", "done", "failed", "expired"]
Kind = Literal["export", "erasure", "shop_erasure"]


@router.post(
    "/customers/{customer_id}/privacy-export",
    response_model=PrivacyRequestOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(404),
    summary="Export everything Patron holds about a customer (GDPR access request)",
    description="A job writes one JSON document; download it from the request's "
    "`download_url` until `expires_at`.",
)
async def request_export(
    customer_id: uuid.UUID, principal: PrivacyExport, db: DbSession
) -> PrivacyRequestOut:
    customer = await customers.get_for(db, principal, customer_id)
    request = await service.request_export(
        db, customer=customer, actor=principal.actor, source="api"
    )
    return PrivacyRequestOut.of(request)


@router.post(
    "/customers/{customer_id}/erasure",
    response_model=PrivacyRequestOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(404),
    summary="Erase a customer's personal data everywhere (GDPR erasure); cannot be undone",
    description='Needs `{"confirm": true}`. A job removes or anonymises the data; the '
    "orders stay for bookkeeping, anonymised. An erasure already queued is returned.",
)
async def request_erasure(
    customer_id: uuid.UUID, body: ErasureIn, principal: PrivacyErase, db: DbSession
) -> PrivacyRequestOut:
    customer = await customers.get_for(db, principal, customer_id, for_update=True)
    request = await service.request_erasure(
        db, customer=customer, actor=principal.actor, source="api", confirmed=body.confirm
    )
    return PrivacyRequestOut.of(request)


@router.get(
    "/privacy/requests",
    response_model=Page[PrivacyRequestOut],
    summary="Privacy requests you may see, newest first",
    description="Exports need `customers:export`, erasures `customers:erase`; filter by "
    "`status` and `kind`.",
)
async def list_requests(
    principal: PrivacyRead,
    db: DbSession,
    paging: Annotated[PageParams, Depends(page_params)],
    status: Annotated[Status | None, Query()] = None,
    kind: Annotated[Kind | None, Query()] = None,
) -> Page[PrivacyRequestOut]:
    rows, next_cursor = await repository.requests_page(
        db, principal, paging, status=status, kind=kind
    )
    return Page(items=[PrivacyRequestOut.of(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/privacy/requests/{request_id}",
    response_model=PrivacyRequestOut,
    responses=error_responses(404),
    summary="A privacy request's status",
)
async def get_request(
    request_id: uuid.UUID, principal: PrivacyRead, db: DbSession
) -> PrivacyRequestOut:
    return PrivacyRequestOut.of(await repository.request_for(db, principal, request_id))


@router.get(
    "/privacy/requests/{request_id}/download",
    response_class=FileResponse,
    responses={
        **error_responses(404, 409, 410),
        200: {"content": {"application/json": {}}},
    },
    summary="Download an export's JSON document (until it expires)",
)
async def download_export(
    request_id: uuid.UUID, principal: PrivacyExport, db: DbSession, settings: SettingsDep
) -> FileResponse:
    request = await repository.request_for(db, principal, request_id, kind="export")
    path = await service.open_export(db, settings, principal=principal, request=request)
    return FileResponse(
        path,
        media_type="application/json",
        filename=service.download_name(request),
        content_disposition_type="attachment",
    )
