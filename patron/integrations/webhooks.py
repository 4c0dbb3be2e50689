"""Inbound webhooks: ``POST /webhooks/{provider}/{connection_id}``.

No session, no CSRF token and no Idempotency-Key here: a delivery proves itself by its
signature, checked over the raw body before anything parses it, and is de-duplicated by the
store's delivery id. A verified delivery is stored and its job enqueued in one transaction,
then acknowledged at once; processing happens in the worker.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from patron.db.deps import DbSession
from patron.errors import error_body
from patron.integrations import service
from patron.integrations.shopify.topics import PRIVACY_TOPICS as SHOPIFY_PRIVACY
from patron.integrations.signatures import signature_matches
from patron.integrations.stripe import webhook as stripe
from patron.kit.crypto import SecretBox
from patron.models import StoreConnection

log = structlog.get_logger(__name__)
router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Provider:
    name: str
    signature_header: str
    topic_header: str
    delivery_header: str
    event_header: str
    domain_header: str
    kept_headers: tuple[str, ...]
    privacy_topics: frozenset[str]


SHOPIFY = Provider(
    name="shopify",
    signature_header="x-shopify-hmac-sha256",
    topic_header="x-shopify-topic",
    delivery_header="x-shopify-webhook-id",
    event_header="x-shopify-event-id",
    domain_header="x-shopify-shop-domain",
    kept_headers=(
        "x-shopify-topic",
        "x-shopify-shop-domain",
        "x-shopify-webhook-id",
        "x-shopify-event-id",
        "x-shopify-triggered-at",
        "x-shopify-api-version",
        "content-type",
    ),
    privacy_topics=SHOPIFY_PRIVACY,
)
WOOCOMMERCE = Provider(
    name="woocommerce",
    signature_header="x-wc-webhook-signature",
    topic_header="x-wc-webhook-topic",
    delivery_header="x-wc-webhook-delivery-id",
    event_header="x-wc-webhook-id",
    domain_header="x-wc-webhook-source",
    kept_headers=(
        "x-wc-webhook-topic",
        "x-wc-webhook-resource",
        "x-wc-webhook-event",
        "x-wc-webhook-source",
        "x-wc-webhook-id",
        "x-wc-webhook-delivery-id",
        "content-type",
    ),
    privacy_topics=frozenset(),
)
# WooCommerce checks a new webhook's URL with an unsigned form post of its id only
WOOCOMMERCE_PING = re.compile(rb"^webhook_id=\d{1,20}$")


def _refuse(status: int, code: str, message: str) -> JSONResponse:
    headers = {"Retry-After": "3600"} if status == 503 else None
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


async def _connection(db: DbSession, provider: str, connection_id: str) -> StoreConnection | None:
    try:
        key = uuid.UUID(connection_id)
    except ValueError:
        return None
    connection = await db.get(StoreConnection, key)
    return connection if connection is not None and connection.provider == provider else None


async def receive(
    request: Request, db: DbSession, provider: Provider, connection_id: str
) -> JSONResponse:
    body = await request.body()
    connection = await _connection(db, provider.name, connection_id)
    if connection is None:
        return _refuse(404, "connection_not_found", "No such store connection.")
    box: SecretBox = request.app.state.box
    headers = request.headers
    topic = headers.get(provider.topic_header, "")
    if not signature_matches(
        body, headers.get(provider.signature_header, ""), service.webhook_secrets(box, connection)
    ):
        log.warning(
            "webhook_signature_rejected",
            provider=provider.name,
            connection_id=str(connection.id),
            topic=topic[:100],
            signed=bool(headers.get(provider.signature_header)),
        )
        return _refuse(401, "invalid_signature", "The delivery's signature is missing or wrong.")
    domain = headers.get(provider.domain_header, "").strip().lower().rstrip("/")
    if domain and domain != connection.shop_domain.lower():
        log.warning(
            "webhook_shop_mismatch",
            provider=provider.name,
            connection_id=str(connection.id),
            shop_domain=domain[:255],
        )
        return _refuse(401, "shop_mismatch", "The delivery comes from another shop.")
    if connection.status == "paused":
        return _refuse(503, "connection_paused", "This connection is paused; retry later.")
    if connection.status == "uninstalled" and topic not in provider.privacy_topics:
        return _refuse(410, "connection_uninstalled", "The app was uninstalled from this shop.")
    delivery_id = (
        headers.get(provider.delivery_header)
        or headers.get(provider.event_header)
        or "sha256:" + hashlib.sha256(body).hexdigest()
    )
    receipt_id = await service.accept_delivery(
        db,
        connection=connection,
        topic=topic,
        delivery_id=delivery_id,
        event_id=headers.get(provider.event_header, ""),
        headers={name: headers[name][:500] for name in provider.kept_headers if name in headers},
        body=body,
    )
    if receipt_id is None:
        return JSONResponse({"status": "duplicate"})
    return JSONResponse({"status": "accepted", "receipt_id": str(receipt_id)})


@router.post("/webhooks/shopify/{connection_id}")
async def shopify_webhook(connection_id: str, request: Request, db: DbSession) -> JSONResponse:
    return await receive(request, db, SHOPIFY, connection_id)


@router.post("/webhooks/woocommerce/{connection_id}")
async def woocommerce_webhook(connection_id: str, request: Request, db: DbSession) -> JSONResponse:
    body = await request.body()
    if WOOCOMMERCE_PING.match(body) and WOOCOMMERCE.signature_header not in request.headers:
        # nothing is stored or done: the answer only tells WooCommerce the URL works
        if await _connection(db, WOOCOMMERCE.name, connection_id) is None:
            return _refuse(404, "connection_not_found", "No such store connection.")
        return JSONResponse({"status": "ping"})
    return await receive(request, db, WOOCOMMERCE, connection_id)


@router.post("/webhooks/stripe/{connection_id}")
async def stripe_webhook(connection_id: str, request: Request, db: DbSession) -> JSONResponse:
    return await stripe.receive(request, db, await _connection(db, "stripe", connection_id))
