"""Shared by the integration tests: a connected shop, Shopify-shaped payloads, deliveries
signed with ``openssl`` (not with Patron's own code) and a stand-in for the worker."""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit.service import SYSTEM
from patron.config import Settings
from patron.integrations import processing, service
from patron.kit.crypto import SecretBox
from patron.models import StoreConnection, WebhookReceipt

SECRET = "shpss_0123456789abcdef0123456789abcdef"
DOMAIN = "patron-test.myshopify.com"
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def openssl_signature(secret: str, body: bytes) -> str:
    """base64(HMAC-SHA256(body)) computed by OpenSSL, independently of Patron."""
    digest = subprocess.run(
        ["openssl", "dgst", "-sha256", "-hmac", secret, "-binary"],
        input=body,
        capture_output=True,
        check=True,
    ).stdout
    encoded = subprocess.run(
        ["openssl", "base64", "-A"], input=digest, capture_output=True, check=True
    ).stdout
    return encoded.decode().strip()


async def connect_shop(
    db: AsyncSession, settings: Settings, *, domain: str = DOMAIN, name: str | None = None
) -> StoreConnection:
    return await service.connect(
        db,
        SecretBox(settings),
        actor=SYSTEM,
        provider="shopify",
        name=name or f"Shop {uuid.uuid4().hex[:6]}",
        shop_domain=domain,
        webhook_secret=SECRET,
        access_token="shpat_0123456789abcdef",
    )


def shopify_headers(
    topic: str, body: bytes, *, webhook_id: str | None = None, secret: str = SECRET
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": openssl_signature(secret, body),
        "X-Shopify-Shop-Domain": DOMAIN,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-API-Version": "2025-10",
    }


async def deliver(
    client: httpx2.AsyncClient,
    connection: StoreConnection,
    topic: str,
    payload: dict[str, Any] | bytes,
    **options: Any,
) -> httpx2.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return await client.post(
        f"/webhooks/shopify/{connection.id}",
        content=body,
        headers=shopify_headers(topic, body, **options),
    )


async def receive(
    db: AsyncSession, connection: StoreConnection, topic: str, payload: dict[str, Any]
) -> WebhookReceipt:
    """Store a delivery the way the endpoint does, without HTTP (for long sequences)."""
    receipt_id = await service.accept_delivery(
        db,
        connection=connection,
        topic=topic,
        delivery_id=str(uuid.uuid4()),
        event_id="",
        headers={"x-shopify-topic": topic},
        body=json.dumps(payload).encode(),
    )
    assert receipt_id is not None
    receipt = await db.scalar(select(WebhookReceipt).where(WebhookReceipt.id == receipt_id))
    assert receipt is not None
    return receipt


async def work(db: AsyncSession, settings: Settings) -> list[WebhookReceipt]:
    """Process every waiting receipt in arrival order, as the worker would."""
    waiting = list(
        await db.scalars(
            select(WebhookReceipt)
            .where(WebhookReceipt.status == "received")
            .order_by(WebhookReceipt.received_at, WebhookReceipt.id)
        )
    )
    for receipt in waiting:
        await processing.process(db, settings, receipt.id)
        await db.refresh(receipt)
    return waiting


def stamp(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def customer_payload(
    customer_id: int = 7001, *, email: str = "ada@example.com", minutes: int = 0, **extra: Any
) -> dict[str, Any]:
    return {
        "id": customer_id,
        "email": email,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": "+442071234567",
        "tags": "vip, newsletter",
        "created_at": stamp(0),
        "updated_at": stamp(minutes),
        "email_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in"},
        "default_address": {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "address1": "12 St James's Square",
            "city": "London",
            "zip": "SW1Y 4JH",
            "country_code": "GB",
        },
        **extra,
    }


def line_item(
    line_id: int,
    title: str,
    sku: str,
    quantity: int,
    price: str,
    *,
    current_quantity: int | None = None,
    variant_title: str | None = None,
) -> dict[str, Any]:
    """A Shopify line item; ``current_quantity`` is what an order edit left of it."""
    item: dict[str, Any] = {
        "id": line_id,
        "title": title,
        "variant_title": variant_title,
        "sku": sku,
        "quantity": quantity,
        "price": price,
        "total_discount": "0.00",
        "discount_allocations": [],
    }
    if current_quantity is not None:
        item["current_quantity"] = current_quantity
    return item


MUGS = line_item(1001, "Analytical Engine Mug", "MUG-BLUE", 2, "19.99", variant_title="Blue")
NOTEBOOK = line_item(1002, "Punch Card Notebook", "NOTE-1", 1, "45.00")


def order_payload(
    order_id: int = 450789469,
    *,
    minutes: int = 0,
    financial_status: str = "pending",
    note: str = "",
    tags: str = "",
    refunds: list[dict[str, Any]] | None = None,
    fulfillments: list[dict[str, Any]] | None = None,
    cancelled: bool = False,
    customer: dict[str, Any] | None = None,
    lines: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An order of two lines: 2 × 19.99 and 1 × 45.00, 5.00 off, 7.50 shipping, 8.00 tax
    → 95.48."""
    return {
        "id": order_id,
        "name": f"#{order_id % 10000}",
        "order_number": order_id % 10000,
        "email": "ada@example.com",
        "created_at": stamp(0),
        "updated_at": stamp(minutes),
        "processed_at": stamp(0),
        "cancelled_at": stamp(minutes) if cancelled else None,
        "cancel_reason": "customer" if cancelled else None,
        "currency": "USD",
        "subtotal_price": "79.98",
        "total_price": "95.48",
        "total_tax": "8.00",
        "total_discounts": "5.00",
        "taxes_included": False,
        "financial_status": financial_status,
        "fulfillment_status": "fulfilled" if fulfillments else None,
        "note": note,
        "tags": tags,
        "payment_gateway_names": ["shopify_payments"],
        "discount_codes": [{"code": "WELCOME5", "amount": "5.00", "type": "fixed_amount"}],
        "line_items": lines if lines is not None else [dict(MUGS), dict(NOTEBOOK)],
        "shipping_lines": [{"title": "Standard", "price": "7.50"}],
        "customer": customer if customer is not None else customer_payload(minutes=0),
        "billing_address": {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "address1": "12 St James's Square",
            "city": "London",
            "zip": "SW1Y 4JH",
            "country_code": "GB",
        },
        "shipping_address": None,
        "refunds": refunds or [],
        "fulfillments": fulfillments or [],
    }


def refund_payload(
    refund_id: int = 509562969, order_id: int = 450789469, amount: str = "20.00"
) -> dict[str, Any]:
    return {
        "id": refund_id,
        "order_id": order_id,
        "created_at": stamp(30),
        "note": "damaged mug",
        "refund_line_items": [{"line_item_id": 1001, "quantity": 1, "restock_type": "no_restock"}],
        "transactions": [{"amount": amount, "kind": "refund", "status": "success"}],
    }


def fulfillment_payload(
    fulfillment_id: int = 255858046,
    order_id: int = 450789469,
    *,
    minutes: int = 20,
    shipment_status: str | None = None,
) -> dict[str, Any]:
    return {
        "id": fulfillment_id,
        "order_id": order_id,
        "status": "success",
        "shipment_status": shipment_status,
        "tracking_company": "UPS",
        "tracking_number": "1Z2345",
        "tracking_url": "https://www.ups.com/track?tracknum=1Z2345",
        "created_at": stamp(minutes),
        "updated_at": stamp(minutes),
        "line_items": [
            {"id": 1001, "quantity": 2, "title": "Analytical Engine Mug", "sku": "MUG-BLUE"},
            {"id": 1002, "quantity": 1, "title": "Punch Card Notebook", "sku": "NOTE-1"},
        ],
    }


def product_payload(
    product_id: int = 632910392, *, minutes: int = 0, title: str = "Analytical Engine Mug"
) -> dict[str, Any]:
    return {
        "id": product_id,
        "title": title,
        "body_html": "<p>Holds tea.</p>",
        "vendor": "Babbage & Co",
        "product_type": "Mugs",
        "status": "active",
        "tags": "kitchen, gifts",
        "created_at": stamp(0),
        "updated_at": stamp(minutes),
        "variants": [
            {
                "id": 808950810,
                "product_id": product_id,
                "title": "Blue",
                "sku": f"SKU-{product_id}-BLUE",
                "price": "19.99",
                "compare_at_price": None,
                "inventory_quantity": 12,
                "inventory_item_id": 39072856,
                "position": 1,
            }
        ],
    }


def checkout_payload(checkout_id: int = 901414060, *, minutes: int = 0) -> dict[str, Any]:
    return {
        "id": checkout_id,
        "token": "b1946ac92492d2347c6235b4d2611184",
        "email": "grace@example.com",
        "currency": "USD",
        "total_price": "39.98",
        "abandoned_checkout_url": "https://patron-test.myshopify.com/checkouts/b1946/recover",
        "created_at": stamp(0),
        "updated_at": stamp(minutes),
        "completed_at": None,
        "customer": None,
        "line_items": [
            {"title": "Analytical Engine Mug", "sku": "MUG-BLUE", "quantity": 2, "price": "19.99"}
        ],
    }


def woo_order_payload(
    *, status: str = "processing", modified: str = "2026-11-02T10:00:00", **extra: Any
) -> dict[str, Any]:
    """2 × 10.00 and 1 × 25.00 with 5.00 off the first line, 4.95 shipping, 0 tax → 44.95."""
    return {
        "id": 727,
        "number": "727",
        "status": status,
        "currency": "USD",
        "date_created_gmt": "2026-11-02T09:00:00",
        "date_modified_gmt": modified,
        "date_paid_gmt": "2026-11-02T09:01:00" if status in ("processing", "completed") else None,
        "discount_total": "5.00",
        "shipping_total": "4.95",
        "total_tax": "0.00",
        "total": "44.95",
        "prices_include_tax": False,
        "customer_id": 26,
        "customer_note": "",
        "payment_method_title": "Direct bank transfer",
        "billing": {
            "first_name": "John",
            "last_name": "Doe",
            "address_1": "969 Market",
            "city": "San Francisco",
            "state": "CA",
            "postcode": "94103",
            "country": "US",
            "email": "john.doe@example.com",
            "phone": "(555) 555-5555",
        },
        "shipping": {"first_name": "John", "last_name": "Doe", "address_1": "", "city": ""},
        "line_items": [
            {
                "id": 315,
                "name": "Woo Single #1",
                "sku": "W1",
                "quantity": 2,
                "subtotal": "20.00",
                "total": "15.00",
            },
            {
                "id": 316,
                "name": "Ship Your Idea",
                "sku": "",
                "quantity": 1,
                "subtotal": "25.00",
                "total": "25.00",
            },
        ],
        "shipping_lines": [{"id": 1, "method_title": "Flat Rate", "total": "4.95"}],
        "coupon_lines": [{"code": "five", "discount": "5.00"}],
        "refunds": [],
        **extra,
    }
