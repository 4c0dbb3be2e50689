"""/api/v1/events: tracking events from a storefront, identify; a customer's events."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from patron.auth.dependencies import get_settings
from patron.config import Settings
from patron.customers import repository as customers
from patron.db.deps import DbSession
from patron.errors import CRMError
from patron.events import repository, service
from patron.events.auth import EventRead, EventWrite
from patron.events.schemas import (
    BatchIn,
    BatchItem,
    BatchOut,
    EventAccepted,
    EventIn,
    EventOut,
    IdentifyIn,
    IdentifyOut,
)
from patron.kit.pagination import Page, PageParams, page_params
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS, ErrorInfo, error_responses

router = APIRouter(prefix=API_PREFIX, tags=["events"], responses=COMMON_ERRORS)
SettingsDep = Annotated[Settings, Depends(get_settings)]
# naming a store's customer id that another customer already holds
CONFLICT = error_responses(409)
Paging = Annotated[PageParams, Depends(page_params)]
EventName = Annotated[str | None, Query(max_length=100, description="Only events of this name")]


@router.post(
    "/events",
    response_model=EventAccepted,
    status_code=status.HTTP_201_CREATED,
    summary="Send one tracking event (201; 200 when its idempotency key was seen before)",
    responses={
        **CONFLICT,
        200: {"model": EventAccepted, "description": "A duplicate: nothing stored"},
    },
)
async def track_event(
    body: EventIn, principal: EventWrite, db: DbSession, settings: SettingsDep, response: Response
) -> EventAccepted:
    accepted = await service.track(db, settings, principal=principal, event=body)
    if accepted.status == "duplicate":
        response.status_code = status.HTTP_200_OK
    return EventAccepted.model_validate(accepted)


def _item(index: int, result: service.Accepted | CRMError) -> BatchItem:
    if isinstance(result, CRMError):
        error = ErrorInfo.model_validate(
            {"code": result.code, "message": result.message, "details": result.details}
        )
        return BatchItem(index=index, status="rejected", error=error)
    return BatchItem(
        index=index, status=result.status, id=result.id, customer_id=result.customer_id
    )


@router.post(
    "/events/batch",
    response_model=BatchOut,
    summary="Send up to 500 events; each is accepted or rejected on its own",
)
async def track_batch(
    body: BatchIn, principal: EventWrite, db: DbSession, settings: SettingsDep
) -> BatchOut:
    results = await service.track_batch(db, settings, principal=principal, events=body.events)
    items = [_item(index, result) for index, result in enumerate(results)]
    return BatchOut(
        created=sum(item.status == "created" for item in items),
        duplicates=sum(item.status == "duplicate" for item in items),
        rejected=sum(item.status == "rejected" for item in items),
        items=items,
    )


@router.post(
    "/events/identify",
    response_model=IdentifyOut,
    responses=CONFLICT,
    summary="Tie an anonymous visitor to a customer: their earlier and later events join",
)
async def identify(
    body: IdentifyIn, principal: EventWrite, db: DbSession, settings: SettingsDep
) -> IdentifyOut:
    identified = await service.identify(db, settings, principal=principal, identity=body)
    return IdentifyOut(
        anonymous_id=body.anonymous_id,
        customer_id=identified.customer.id,
        events_joined=identified.joined,
    )


@router.get(
    "/customers/{customer_id}/events",
    response_model=Page[EventOut],
    responses=error_responses(404),
    summary="A customer's tracking events, newest first",
)
async def customer_events(
    customer_id: uuid.UUID,
    principal: EventRead,
    db: DbSession,
    page: Paging,
    name: EventName = None,
) -> Page[EventOut]:
    customer = await customers.get_for(db, principal, customer_id)
    rows, cursor = await repository.customer_events(db, customer.id, page, name=name)
    return Page(items=[EventOut.model_validate(row) for row in rows], next_cursor=cursor)
