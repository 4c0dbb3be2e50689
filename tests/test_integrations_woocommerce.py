"""WooCommerce webhooks through the same receipt pipeline: signatures, the ping sent when a
webhook is created, and orders, customers and products created, updated and deleted."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import httpx2
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit.service import SYSTEM
from patron.config import Settings
from patron.integrations import service
from patron.kit.crypto import SecretBox
from patron.models import (
    Customer,
    CustomerExternalId,
    Order,
    Payment,
    Product,
    Shipment,
    StoreConnection,
    WebhookReceipt,
)
from tests.test_integrations_helpers import openssl_signature, work
from tests.test_integrations_helpers import woo_order_payload as _order

SITE = "https://shop.example.com"
SECRET = "wc-secret-0123456789"


async def _connect(db: AsyncSession, settings: Settings) -> StoreConnection:
    return await service.connect(
        db,
        SecretBox(settings),
        actor=SYSTEM,
        provider="woocommerce",
        name="Woo shop",
        shop_domain=SITE + "/",
        webhook_secret=SECRET,
    )


async def _send(
    client: httpx2.AsyncClient,
    connection: StoreConnection,
    topic: str,
    payload: dict[str, Any] | bytes,
    *,
    secret: str = SECRET,
) -> httpx2.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    resource, _, event = topic.partition(".")
    return await client.post(
        f"/webhooks/woocommerce/{connection.id}",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-WC-Webhook-Source": SITE + "/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": openssl_signature(secret, body),
            "X-WC-Webhook-ID": "14",
            "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
        },
    )


async def test_the_ping_sent_when_a_webhook_is_created_is_accepted_and_stores_nothing(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await _connect(db, settings)
    response = await client.post(
        f"/webhooks/woocommerce/{connection.id}",
        content=b"webhook_id=14",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (response.status_code, response.json()) == (200, {"status": "ping"})
    assert await db.scalar(select(func.count()).select_from(WebhookReceipt)) == 0
    unknown = await client.post(f"/webhooks/woocommerce/{uuid.uuid4()}", content=b"webhook_id=1")
    assert unknown.status_code == 404


async def test_an_unsigned_or_wrongly_signed_delivery_is_refused(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await _connect(db, settings)
    unsigned = await client.post(
        f"/webhooks/woocommerce/{connection.id}",
        content=json.dumps(_order()).encode(),
        headers={"X-WC-Webhook-Topic": "order.created"},
    )
    wrong = await _send(client, connection, "order.created", _order(), secret="another-secret")
    assert (unsigned.status_code, wrong.status_code) == (401, 401)
    assert wrong.json()["error"]["code"] == "invalid_signature"
    assert await db.scalar(select(func.count()).select_from(WebhookReceipt)) == 0


async def test_a_shopify_connection_does_not_take_woocommerce_deliveries(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    shopify = await service.connect(
        db,
        SecretBox(settings),
        actor=SYSTEM,
        provider="shopify",
        name="S",
        shop_domain="s-shop.myshopify.com",
        webhook_secret=SECRET,
    )
    response = await _send(client, shopify, "order.created", _order())
    assert response.status_code == 404


async def test_orders_are_placed_paid_completed_refunded_and_cancelled_when_deleted(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await _connect(db, settings)
    assert (await _send(client, connection, "order.created", _order())).status_code == 200
    completed = _order(
        status="completed",
        modified="2026-11-03T10:00:00",
        refunds=[{"id": 726, "reason": "scratched", "total": "-5.00"}],
    )
    await _send(client, connection, "order.updated", completed)
    await _send(client, connection, "order.updated", _order(modified="2026-11-02T11:00:00"))
    receipts = await work(db, settings)
    assert [r.status for r in receipts] == ["processed"] * 3, [r.error for r in receipts]
    order = await db.scalar(select(Order).where(Order.external_id == "727"))
    assert order is not None
    await db.refresh(order)
    assert (order.number, order.total, order.channel_id) == (
        "#727",
        Decimal("44.95"),
        connection.channel_id,
    )
    assert order.discount_codes == ["FIVE"]
    assert (order.financial_status, order.fulfillment_status) == ("partially_refunded", "fulfilled")
    assert order.refunded_total == Decimal("5.00")
    [payment] = await db.scalars(select(Payment).where(Payment.order_id == order.id))
    assert (payment.amount, payment.gateway) == (Decimal("44.95"), "Direct bank transfer")
    assert await db.scalar(select(func.count()).select_from(Shipment)) == 1
    customer = await db.get(Customer, order.customer_id)
    assert customer is not None
    assert customer.email == "john.doe@example.com"
    await _send(client, connection, "order.deleted", {"id": 727})
    await work(db, settings)
    await db.refresh(order)
    assert order.cancelled_at is not None


async def test_customers_and_products_follow_the_store(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await _connect(db, settings)
    customer = {
        "id": 25,
        "email": "jane@example.com",
        "first_name": "Jane",
        "last_name": "Roe",
        "date_modified_gmt": "2026-11-01T08:00:00",
        "billing": {"phone": "+14155550100", "country": "US"},
    }
    product = {
        "id": 794,
        "name": "Premium Quality",
        "status": "publish",
        "sku": "PQ-1",
        "price": "21.99",
        "regular_price": "21.99",
        "stock_quantity": 7,
        "date_modified_gmt": "2026-11-01T08:00:00",
        "tags": [{"id": 1, "name": "tees"}],
    }
    await _send(client, connection, "customer.created", customer)
    await _send(
        client,
        connection,
        "customer.updated",
        {**customer, "first_name": "Janet", "date_modified_gmt": "2026-11-01T09:00:00"},
    )
    await _send(client, connection, "product.created", product)
    await _send(
        client,
        connection,
        "product.updated",
        {**product, "stock_quantity": 3, "date_modified_gmt": "2026-11-01T09:00:00"},
    )
    await _send(client, connection, "coupon.created", {"id": 1})
    receipts = await work(db, settings)
    assert [r.status for r in receipts] == ["processed"] * 4 + ["ignored"], [
        r.error for r in receipts
    ]
    [person] = await db.scalars(select(Customer))
    await db.refresh(person)
    assert (person.first_name, person.email) == ("Janet", "jane@example.com")
    [item] = await db.scalars(select(Product))
    await db.refresh(item)
    assert (item.title, item.status, list(item.tags)) == ("Premium Quality", "active", ["tees"])
    await _send(client, connection, "customer.deleted", {"id": 25})
    await _send(client, connection, "product.deleted", {"id": 794})
    await work(db, settings)
    await db.refresh(item)
    assert item.status == "archived"
    assert await db.scalar(select(func.count()).select_from(CustomerExternalId)) == 0


async def test_a_woocommerce_order_without_dates_fails_with_the_field_named(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await _connect(db, settings)
    broken = _order()
    del broken["date_created_gmt"]
    await _send(client, connection, "order.created", broken)
    [receipt] = await work(db, settings)
    assert (receipt.status, receipt.error_code) == ("failed", "invalid_payload")
    assert "date_created_gmt" in receipt.error
