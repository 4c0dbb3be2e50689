"""``POST /webhooks/stripe/{connection_id}``: the Stripe-Signature is checked over the raw
body, then the event's ``id`` (evt_...) is the delivery id and its ``type`` the topic, and the
delivery goes through the same receipt pipeline as the stores' (stored with its job in one
transaction, de-duplicated, processed by the worker)."""

from __future__ import annotations

import hashlib
import json
import time

import structlog
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from patron.config import Settings
from patron.errors import json_error
from patron.integrations import service
from patron.integrations.stripe import signature
from patron.kit.crypto import SecretBox
from patron.models import StoreConnection

log = structlog.get_logger(__name__)
KEPT = ("content-type", "user-agent")


def _identity(body: bytes) -> tuple[str, str]:
    """The event's id and type, read only after the signature held; a body that is not a
    Stripe event is still stored (under its hash) and fails in processing, visibly."""
    try:
        event = json.loads(body)
    except ValueError:
        event = None
    if isinstance(event, dict):
        event_id, kind = event.get("id"), event.get("type")
        if isinstance(event_id, str) and event_id.strip():
            return event_id.strip(), kind if isinstance(kind, str) else ""
    return "sha256:" + hashlib.sha256(body).hexdigest(), ""


async def receive(
    request: Request, db: AsyncSession, connection: StoreConnection | None
) -> JSONResponse:
    body = await request.body()
    if connection is None:
        return json_error(404, "connection_not_found", "No such store connection.")
    settings: Settings = request.app.state.settings
    box: SecretBox = request.app.state.box
    header = request.headers.get("stripe-signature", "")
    verdict = signature.verify(
        body,
        header,
        service.webhook_secrets(box, connection),
        now=time.time(),
        tolerance=settings.stripe_signature_tolerance,
    )
    if not verdict.ok:
        log.warning(
            "webhook_signature_rejected",
            provider="stripe",
            connection_id=str(connection.id),
            reason=verdict.code,
            signed=bool(header),
        )
        return json_error(401, verdict.code, verdict.message)
    if connection.status == "paused":
        return json_error(
            503,
            "connection_paused",
            "This connection is paused; retry later.",
            headers={"Retry-After": "3600"},
        )
    event_id, kind = _identity(body)
    receipt_id = await service.accept_delivery(
        db,
        connection=connection,
        topic=kind,
        delivery_id=event_id,
        event_id=event_id,
        headers={name: request.headers[name][:500] for name in KEPT if name in request.headers},
        body=body,
    )
    if receipt_id is None:
        return JSONResponse({"status": "duplicate"})
    return JSONResponse({"status": "accepted", "receipt_id": str(receipt_id)})
