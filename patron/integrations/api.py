"""/api/v1/integrations: store connections, their status and their webhook receipts."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from patron.auth.dependencies import get_settings
from patron.config import Settings
from patron.db.deps import DbSession
from patron.errors import NotFound
from patron.integrations import backfill, repository, service
from patron.integrations.auth import IntegrationsRead, IntegrationsWrite
from patron.integrations.schemas import (
    BackfillCreate,
    BackfillOut,
    ConnectionCreate,
    ConnectionOut,
    ConnectionStatusOut,
    ConnectionUpdate,
    CredentialsCheckOut,
    DayOut,
    ReceiptOut,
    ReceiptStatus,
)
from patron.kit.crypto import SecretBox
from patron.kit.pagination import Page, PageParams, page_params
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS, error_responses
from patron.kit.time import utcnow
from patron.models import StoreConnection

router = APIRouter(
    prefix=f"{API_PREFIX}/integrations", responses=COMMON_ERRORS, tags=["integrations"]
)
SettingsDep = Annotated[Settings, Depends(get_settings)]
Paging = Annotated[PageParams, Depends(page_params)]
NOT_FOUND = error_responses(404)
STATUS_DAYS = 14
SECRET_FIELDS = ("webhook_secret", "access_token")


def _box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.box
    return box


def connection_out(
    settings: Settings, connection: StoreConnection, last_delivery: datetime | None
) -> ConnectionOut:
    # the row's secret columns hold ciphertext (or nothing): only their masked tails go out
    shown = {
        name: getattr(connection, name)
        for name in ConnectionOut.model_fields
        if name not in SECRET_FIELDS and hasattr(connection, name)
    }
    return ConnectionOut.model_validate(
        {
            **shown,
            "last_delivery_at": last_delivery,
            "webhook_url": service.webhook_url(settings, connection),
            "webhook_secret": service.masked(connection.webhook_secret_tail),
            "access_token": service.masked(connection.access_token_tail),
        }
    )


@router.get("/connections", response_model=list[ConnectionOut])
async def list_connections(
    principal: IntegrationsRead, db: DbSession, settings: SettingsDep
) -> list[ConnectionOut]:
    connections = await repository.list_connections(db)
    last = await repository.last_deliveries(db, [c.id for c in connections])
    return [connection_out(settings, c, last.get(c.id)) for c in connections]


@router.post(
    "/connections",
    response_model=ConnectionOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
)
async def connect(
    body: ConnectionCreate,
    request: Request,
    principal: IntegrationsWrite,
    db: DbSession,
    settings: SettingsDep,
) -> ConnectionOut:
    connection = await service.connect(
        db,
        _box(request),
        actor=principal.actor,
        provider=body.provider,
        name=body.name,
        shop_domain=body.shop_domain,
        webhook_secret=body.webhook_secret,
        access_token=body.access_token,
        channel_id=body.channel_id,
    )
    return connection_out(settings, connection, None)


@router.get(
    "/connections/{connection_id}",
    response_model=ConnectionStatusOut,
    responses=NOT_FOUND,
    summary="A connection with its delivery figures",
)
async def get_connection(
    connection_id: uuid.UUID, principal: IntegrationsRead, db: DbSession, settings: SettingsDep
) -> ConnectionStatusOut:
    connection = await service.get_connection(db, connection_id)
    last = await repository.last_deliveries(db, [connection.id])
    days = await repository.deliveries_per_day(
        db, connection.id, since=utcnow() - timedelta(days=STATUS_DAYS)
    )
    return ConnectionStatusOut(
        **connection_out(settings, connection, last.get(connection.id)).model_dump(),
        receipts_by_status=await repository.status_counts(db, connection.id),
        days=[DayOut.model_validate(day) for day in days],
    )


@router.patch(
    "/connections/{connection_id}",
    response_model=ConnectionOut,
    responses=NOT_FOUND,
    summary="Rename, pause or resume, or replace a secret",
)
async def update_connection(
    connection_id: uuid.UUID,
    body: ConnectionUpdate,
    request: Request,
    principal: IntegrationsWrite,
    db: DbSession,
    settings: SettingsDep,
) -> ConnectionOut:
    connection = await service.get_connection(db, connection_id)
    await service.update_connection(
        db,
        _box(request),
        connection,
        actor=principal.actor,
        changes=body.model_dump(exclude_unset=True),
    )
    last = await repository.last_deliveries(db, [connection.id])
    return connection_out(settings, connection, last.get(connection.id))


@router.delete(
    "/connections/{connection_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
    summary="Remove a connection and its receipts (the channel and its orders stay)",
)
async def remove_connection(
    connection_id: uuid.UUID, principal: IntegrationsWrite, db: DbSession
) -> None:
    connection = await service.get_connection(db, connection_id)
    await service.remove_connection(db, connection, actor=principal.actor)


@router.get(
    "/connections/{connection_id}/receipts",
    response_model=Page[ReceiptOut],
    responses=NOT_FOUND,
    summary="Webhook deliveries, newest first",
)
async def list_receipts(
    connection_id: uuid.UUID,
    principal: IntegrationsRead,
    db: DbSession,
    page: Paging,
    receipt_status: Annotated[ReceiptStatus | None, Query(alias="status")] = None,
) -> Page[ReceiptOut]:
    connection = await service.get_connection(db, connection_id)
    rows, cursor = await repository.list_receipts(db, connection.id, page, status=receipt_status)
    return Page(items=[ReceiptOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.post(
    "/connections/{connection_id}/receipts/{receipt_id}/reprocess",
    response_model=ReceiptOut,
    responses=error_responses(404, 409),
    summary="Process a delivery again (after fixing what made it fail)",
)
async def reprocess_receipt(
    connection_id: uuid.UUID, receipt_id: uuid.UUID, principal: IntegrationsWrite, db: DbSession
) -> ReceiptOut:
    connection = await service.get_connection(db, connection_id)
    receipt = await service.get_receipt(db, connection, receipt_id)
    await service.reprocess(db, connection, receipt, actor=principal.actor)
    return ReceiptOut.model_validate(receipt)


@router.post(
    "/connections/{connection_id}/test",
    response_model=CredentialsCheckOut,
    responses=NOT_FOUND,
    summary="Try the API credentials with a cheap read (Shopify shop.json, WooCommerce orders)",
)
async def test_credentials(
    connection_id: uuid.UUID,
    request: Request,
    principal: IntegrationsWrite,
    db: DbSession,
    settings: SettingsDep,
) -> CredentialsCheckOut:
    connection = await service.get_connection(db, connection_id)
    result = await backfill.test_credentials(settings, _box(request), connection)
    return CredentialsCheckOut(ok=result.ok, code=result.code, message=result.message)


@router.post(
    "/connections/{connection_id}/backfills",
    response_model=BackfillOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(404, 409),
    summary="Read the store's customers, products and orders updated since a day",
)
async def request_backfill(
    connection_id: uuid.UUID, body: BackfillCreate, principal: IntegrationsWrite, db: DbSession
) -> BackfillOut:
    connection = await service.get_connection(db, connection_id)
    run = await backfill.request_run(
        db, connection=connection, actor=principal.actor, since=backfill.since_day(body.since)
    )
    return BackfillOut.model_validate(run)


@router.get(
    "/connections/{connection_id}/backfills",
    response_model=Page[BackfillOut],
    responses=NOT_FOUND,
    summary="Backfill and reconciliation runs, newest first",
)
async def list_backfills(
    connection_id: uuid.UUID, principal: IntegrationsRead, db: DbSession, page: Paging
) -> Page[BackfillOut]:
    connection = await service.get_connection(db, connection_id)
    rows, cursor = await repository.list_backfills(db, connection.id, page)
    return Page(items=[BackfillOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.get(
    "/connections/{connection_id}/backfills/{backfill_id}",
    response_model=BackfillOut,
    responses=NOT_FOUND,
    summary="One run with its progress",
)
async def get_backfill(
    connection_id: uuid.UUID, backfill_id: uuid.UUID, principal: IntegrationsRead, db: DbSession
) -> BackfillOut:
    connection = await service.get_connection(db, connection_id)
    run = await repository.backfill(db, backfill_id)
    if run is None or run.connection_id != connection.id:
        raise NotFound("No such backfill.", code="backfill_not_found")
    return BackfillOut.model_validate(run)
