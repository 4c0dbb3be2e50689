"""Panel: exporting and erasing a customer from their page, and the privacy requests list."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import FileResponse, Response

from patron.auth.dependencies import get_settings
from patron.config import Settings
from patron.customers import repository as customers
from patron.db.deps import DbSession
from patron.errors import CRMError
from patron.kit.pagination import PageParams
from patron.models import PrivacyRequest
from patron.models.privacy import PRIVACY_STATUSES
from patron.privacy import repository, service
from patron.privacy.auth import PrivacyErase, PrivacyExport
from patron.web.templating import redirect, render

router = APIRouter()
SettingsDep = Annotated[Settings, Depends(get_settings)]
LIST = "/admin/privacy"
PAGE_SIZE = 50


@router.post("/customers/{customer_id}/privacy-export")
async def request_export(
    request: Request, customer_id: uuid.UUID, principal: PrivacyExport, db: DbSession
) -> Response:
    customer = await customers.get_for(db, principal, customer_id)
    queued = await service.request_export(
        db, customer=customer, actor=principal.actor, source="staff"
    )
    return redirect(
        request,
        f"{LIST}#request-{queued.id}",
        flash="The export is being prepared; download it here once it is done.",
    )


@router.get("/customers/{customer_id}/erase")
async def erase_form(
    request: Request, customer_id: uuid.UUID, principal: PrivacyErase, db: DbSession
) -> Response:
    customer = await customers.get_for(db, principal, customer_id)
    return await _erase_page(request, db, customer_id=customer.id, principal=principal)


async def _erase_page(
    request: Request,
    db: DbSession,
    *,
    customer_id: uuid.UUID,
    principal: PrivacyErase,
    error: str = "",
    error_code: str = "",
    status_code: int = 200,
) -> Response:
    customer = await customers.get_for(db, principal, customer_id)
    return render(
        request,
        "privacy/erase.html",
        {
            "customer": customer,
            "belongings": await customers.belongings(db, customer.id),
            "word": service.confirmation_word(customer),
            "error": error,
            "error_code": error_code,
        },
        status_code=status_code,
    )


@router.post("/customers/{customer_id}/erase")
async def erase(
    request: Request,
    customer_id: uuid.UUID,
    principal: PrivacyErase,
    db: DbSession,
    confirmation: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    customer = await customers.get_for(db, principal, customer_id, for_update=True)
    if not service.typed_confirmation_matches(customer, confirmation):
        word = service.confirmation_word(customer)
        return await _erase_page(
            request,
            db,
            customer_id=customer.id,
            principal=principal,
            error=f"Type {word} exactly to confirm; nothing was erased.",
            error_code="confirmation_mismatch",
            status_code=422,
        )
    queued = await service.request_erasure(
        db, customer=customer, actor=principal.actor, source="staff", confirmed=True
    )
    return redirect(
        request,
        f"{LIST}#request-{queued.id}",
        flash="The erasure is queued; the customer's personal data will be gone in a moment.",
    )


@router.get(LIST)
async def request_list(
    request: Request,
    principal: PrivacyExport,
    db: DbSession,
    status: Annotated[str, Query(max_length=10)] = "",
    cursor: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    status = status if status in PRIVACY_STATUSES else ""
    try:
        rows, next_cursor = await repository.requests_page(
            db, principal, PageParams(limit=PAGE_SIZE, cursor=cursor or None), status=status
        )
    except CRMError:
        return redirect(request, LIST, flash="That page no longer exists.", category="warning")
    people = await repository.customer_labels(db, {r.customer_id for r in rows if r.customer_id})
    stores = await repository.connection_names(
        db, {r.connection_id for r in rows if r.connection_id}
    )
    base = f"{LIST}?status={status}&" if status else f"{LIST}?"
    return render(
        request,
        "privacy/list.html",
        {
            "requests": rows,
            "people": people,
            "stores": stores,
            "status": status,
            "statuses": PRIVACY_STATUSES,
            "downloadable": {r.id for r in rows if service.is_downloadable(r)},
            "next_url": f"{base}cursor={next_cursor}" if next_cursor else None,
            "first_url": base.rstrip("?&") if cursor else None,
        },
    )


@router.get(LIST + "/{request_id}/download")
async def download(
    request_id: uuid.UUID, principal: PrivacyExport, db: DbSession, settings: SettingsDep
) -> Response:
    found = await repository.request_for(db, principal, request_id, kind="export")
    path = await service.open_export(db, settings, principal=principal, request=found)
    return FileResponse(
        path,
        media_type="application/json",
        filename=service.download_name(found),
        content_disposition_type="attachment",
    )


@router.post(LIST + "/{request_id}/retry")
async def retry(
    request: Request, request_id: uuid.UUID, principal: PrivacyExport, db: DbSession
) -> Response:
    found: PrivacyRequest = await repository.request_for(db, principal, request_id)
    try:
        await service.retry(db, request=found, actor=principal.actor)
    except CRMError as error:
        return redirect(request, LIST, flash=error.message, category="warning")
    return redirect(request, f"{LIST}#request-{found.id}", flash="The request runs again.")
