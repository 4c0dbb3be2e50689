"""Privacy requests: asking for an export or an erasure, running them, and their files."""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.audit.service import Actor
from patron.auth.principal import Principal
from patron.config import Settings
from patron.errors import CRMError, InvalidInput
from patron.kit.time import utcnow
from patron.models import Customer, PrivacyRequest, StoreConnection
from patron.privacy import erasure, export, repository
from patron.timeline.service import add_entry

# what a panel user types when the customer has no email to type
NO_EMAIL_WORD = "ERASE"


class ExportUnavailable(CRMError):
    status = 410
    code = "export_expired"


def confirmation_word(customer: Customer) -> str:
    """What the panel asks the person to type before an erasure."""
    return customer.email or NO_EMAIL_WORD


def typed_confirmation_matches(customer: Customer, typed: str) -> bool:
    return typed.strip().casefold() == confirmation_word(customer).casefold()


def _new(
    *,
    kind: str,
    customer_id: uuid.UUID | None,
    source: str,
    actor: Actor,
    connection_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> PrivacyRequest:
    return PrivacyRequest(
        kind=kind,
        customer_id=customer_id,
        source=source,
        connection_id=connection_id,
        requested_by_id=actor.id if actor.type in ("user", "api_key") else None,
        requested_by_label=actor.label,
        details=details or {},
    )


async def _queue(db: AsyncSession, request: PrivacyRequest, actor: Actor) -> PrivacyRequest:
    from patron.privacy.tasks import run_privacy_request
    from patron.worker.enqueue import enqueue

    db.add(request)
    await db.flush()
    await enqueue(db, run_privacy_request, request_id=str(request.id))
    await audit.record(
        db,
        action=f"privacy.{request.kind}_requested",
        actor=actor,
        object_type="customer" if request.customer_id else "store_connection",
        object_id=request.customer_id or request.connection_id,
        details={"request_id": str(request.id), "source": request.source},
    )
    return request


async def request_export(
    db: AsyncSession,
    *,
    customer: Customer,
    actor: Actor,
    source: str,
    connection_id: uuid.UUID | None = None,
) -> PrivacyRequest:
    """Queue the export of everything Patron holds about the customer."""
    request = _new(
        kind="export",
        customer_id=customer.id,
        source=source,
        actor=actor,
        connection_id=connection_id,
    )
    await _queue(db, request, actor)
    await add_entry(
        db,
        customer_id=customer.id,
        kind="profile",
        summary="Personal data export requested",
        actor=actor,
        data={"privacy_request_id": str(request.id), "source": source},
    )
    return request


async def request_erasure(
    db: AsyncSession,
    *,
    customer: Customer,
    actor: Actor,
    source: str,
    confirmed: bool,
    connection_id: uuid.UUID | None = None,
    store_order_ids: Sequence[str] = (),
) -> PrivacyRequest:
    """Queue the erasure of the customer; an erasure already waiting is returned instead."""
    if not confirmed:
        raise InvalidInput(
            "Erasing a customer cannot be undone: confirm it explicitly.",
            code="confirmation_required",
            details=[{"field": "confirm", "message": "confirmation required"}],
        )
    waiting = await repository.pending_erasure(db, customer.id)
    if waiting is not None:
        return waiting
    details = {"store_order_ids": list(store_order_ids)} if store_order_ids else {}
    request = _new(
        kind="erasure",
        customer_id=customer.id,
        source=source,
        actor=actor,
        connection_id=connection_id,
        details=details,
    )
    return await _queue(db, request, actor)


async def request_shop_erasure(
    db: AsyncSession, *, connection: StoreConnection, actor: Actor
) -> PrivacyRequest:
    request = _new(
        kind="shop_erasure",
        customer_id=None,
        source=connection.provider if connection.provider == "shopify" else "api",
        actor=actor,
        connection_id=connection.id,
    )
    return await _queue(db, request, actor)


async def run(db: AsyncSession, settings: Settings, *, request_id: uuid.UUID) -> str | None:
    """Carry out a queued request in the caller's transaction; returns its new status (None
    when there is nothing to do, so a repeated job is harmless)."""
    request = await repository.locked_request(db, request_id)
    if request is None or request.status not in ("queued", "running"):
        return None
    request.status, request.started_at = "running", utcnow()
    try:
        if request.kind == "export":
            await _export(db, settings, request)
        elif request.kind == "erasure":
            await _erase(db, settings, request)
        else:
            await _erase_store(db, settings, request)
    except CRMError as error:
        request.status, request.error = "failed", error.message
    else:
        request.status = "done"
    request.completed_at = utcnow()
    await db.flush()
    return request.status


async def mark_failed(db: AsyncSession, *, request_id: uuid.UUID, error: BaseException) -> None:
    """After a crashed run (its transaction rolled back): say so, without the error's text,
    which may quote the data being erased."""
    request = await repository.locked_request(db, request_id)
    if request is not None and request.status in ("queued", "running"):
        request.status = "failed"
        request.error = f"The run stopped on an internal error ({type(error).__name__})."
        request.completed_at = utcnow()
        await db.flush()


async def retry(db: AsyncSession, *, request: PrivacyRequest, actor: Actor) -> PrivacyRequest:
    from patron.privacy.tasks import run_privacy_request
    from patron.worker.enqueue import enqueue

    if request.status != "failed":
        raise InvalidInput("Only a failed request can be run again.", code="not_failed")
    request.status, request.error = "queued", ""
    await db.flush()
    await enqueue(db, run_privacy_request, request_id=str(request.id))
    await audit.record(
        db,
        action="privacy.request_retried",
        actor=actor,
        object_type="privacy_request",
        object_id=request.id,
    )
    return request


def _actor(request: PrivacyRequest) -> Actor:
    return Actor("system", None, f"privacy request {request.id}")


async def _customer(db: AsyncSession, request: PrivacyRequest) -> Customer:
    customer = await db.get(Customer, request.customer_id) if request.customer_id else None
    if customer is None:
        raise CRMError("The customer no longer exists.", code="customer_not_found", status=404)
    return customer


async def _export(db: AsyncSession, settings: Settings, request: PrivacyRequest) -> None:
    customer = await _customer(db, request)
    if customer.erased_at is not None:
        raise CRMError(
            "The customer was erased; there is nothing to export.", code="customer_erased"
        )
    document = await export.build(db, customer)
    name = f"{request.id}-{secrets.token_hex(8)}.json"
    path = erasure.export_path(settings, name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = path.with_suffix(".part")
    data = json.dumps(document, ensure_ascii=False, indent=2).encode()
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
    partial.replace(path)
    request.file_path, request.file_size = name, len(data)
    request.expires_at = utcnow() + timedelta(days=settings.privacy_export_keep_days)
    await audit.record(
        db,
        action="privacy.export_completed",
        actor=_actor(request),
        object_type="customer",
        object_id=customer.id,
        details={"request_id": str(request.id), "bytes": len(data)},
    )


async def _erase(db: AsyncSession, settings: Settings, request: PrivacyRequest) -> None:
    customer = await _customer(db, request)
    store_orders = None
    order_ids = request.details.get("store_order_ids") or []
    if order_ids and request.connection_id is not None:
        connection = await db.get(StoreConnection, request.connection_id)
        if connection is not None:
            store_orders = (connection.channel_id, [str(i) for i in order_ids])
    counts = await erasure.erase_customer(
        db, settings, customer_id=customer.id, store_orders=store_orders
    )
    request.details = {**request.details, "counts": counts}
    await audit.record(
        db,
        action="customer.erased",
        actor=_actor(request),
        object_type="customer",
        object_id=customer.id,
        details={"request_id": str(request.id), "source": request.source, "counts": counts},
    )


async def _erase_store(db: AsyncSession, settings: Settings, request: PrivacyRequest) -> None:
    connection = (
        await db.get(StoreConnection, request.connection_id) if request.connection_id else None
    )
    if connection is None:
        raise CRMError("The store connection no longer exists.", code="connection_not_found")
    counts = await erasure.erase_store(db, settings, connection=connection)
    request.details = {**request.details, "counts": counts}
    await audit.record(
        db,
        action="integration.shop_redacted",
        actor=_actor(request),
        object_type="store_connection",
        object_id=connection.id,
        details={"request_id": str(request.id), "counts": counts},
    )


def is_downloadable(request: PrivacyRequest, now: datetime | None = None) -> bool:
    return (
        request.kind == "export"
        and request.status == "done"
        and bool(request.file_path)
        and request.expires_at is not None
        and request.expires_at > (now or utcnow())
    )


async def open_export(
    db: AsyncSession, settings: Settings, *, principal: Principal, request: PrivacyRequest
) -> Path:
    """The export file's path, after auditing that this person downloaded it."""
    if request.kind != "export":
        raise InvalidInput("Only exports have a file.", code="not_an_export")
    if request.status in ("queued", "running"):
        raise CRMError("The export is not ready yet.", code="export_not_ready", status=409)
    if not is_downloadable(request):
        raise ExportUnavailable("The export file has expired or was never made; request a new one.")
    path = erasure.export_path(settings, request.file_path)
    if not path.is_file():
        raise ExportUnavailable("The export file is missing; request a new one.")
    await audit.record_read(
        db,
        actor=principal.actor,
        object_type="customer",
        object_id=request.customer_id,
        fields=("privacy_export",),
        purpose=f"download privacy export {request.id}",
    )
    return path


def download_name(request: PrivacyRequest) -> str:
    return f"personal-data-{request.customer_id}.json"


async def forget_expired_exports(
    db: AsyncSession, settings: Settings, *, now: datetime | None = None
) -> int:
    """Delete export files past their expiry; returns how many went."""
    forgotten = 0
    for request in await repository.expired_exports(db, now or utcnow()):
        erasure.export_path(settings, request.file_path).unlink(missing_ok=True)
        request.file_path, request.file_size, request.status = "", None, "expired"
        forgotten += 1
    await db.flush()
    return forgotten
