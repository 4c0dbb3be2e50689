"""Shopify webhooks: signatures, durable receipts, de-duplication, and what each topic does."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from decimal import Decimal

import httpx2
from pydantic import SecretStr
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from structlog.testing import capture_logs

from patron.audit.service import SYSTEM
from patron.config import Settings
from patron.integrations import processing, service
from patron.integrations.signatures import signature_matches
from patron.kit.crypto import SecretBox
from patron.kit.time import utcnow
from patron.models import (
    Cart,
    Customer,
    CustomerExternalId,
    Order,
    Payment,
    Product,
    ProductVariant,
    Refund,
    Shipment,
    StoreConnection,
    WebhookReceipt,
)
from tests.test_integrations_helpers import (
    DOMAIN,
    SECRET,
    checkout_payload,
    connect_shop,
    customer_payload,
    deliver,
    fulfillment_payload,
    openssl_signature,
    order_payload,
    product_payload,
    receive,
    refund_payload,
    stamp,
    work,
)


async def _receipts(db: AsyncSession, connection: StoreConnection) -> list[WebhookReceipt]:
    rows = await db.scalars(
        select(WebhookReceipt)
        .where(WebhookReceipt.connection_id == connection.id)
        .order_by(WebhookReceipt.received_at)
    )
    return list(rows)


async def _jobs_for(db: AsyncSession, receipt_id: uuid.UUID) -> int:
    return int(
        await db.scalar(
            text(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = "
                "'integrations.process_receipt' AND args->>'receipt_id' = :id"
            ),
            {"id": str(receipt_id)},
        )
        or 0
    )


# -- signatures ---------------------------------------------------------------------------


def test_the_signature_check_agrees_with_a_published_hmac_vector() -> None:
    # HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), as published
    digest = bytes.fromhex("f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8")
    header = base64.b64encode(digest).decode()
    body = b"The quick brown fox jumps over the lazy dog"
    assert signature_matches(body, header, [b"key"])
    assert not signature_matches(body + b".", header, [b"key"])
    assert not signature_matches(body, header, [b"other"])
    assert not signature_matches(body, "", [b"key"])


def test_the_signature_check_agrees_with_openssl() -> None:
    body = json.dumps(order_payload()).encode()
    assert signature_matches(body, openssl_signature(SECRET, body), [SECRET.encode()])


# -- receiving ----------------------------------------------------------------------------


async def test_a_signed_delivery_is_stored_with_its_job_and_acknowledged(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    response = await deliver(client, connection, "orders/create", order_payload())
    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    [receipt] = await _receipts(db, connection)
    assert receipt.status == "received"
    assert receipt.topic == "orders/create"
    assert receipt.headers["x-shopify-shop-domain"] == DOMAIN
    assert json.loads(receipt.body)["id"] == 450789469
    assert await _jobs_for(db, receipt.id) == 1


async def test_a_wrong_signature_is_refused_and_nothing_is_stored_but_a_log_line(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    with capture_logs() as logs:
        response = await deliver(
            client, connection, "orders/create", order_payload(), secret="not-the-secret"
        )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert await _receipts(db, connection) == []
    assert any(line["event"] == "webhook_signature_rejected" for line in logs)


async def test_a_missing_signature_is_refused(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    response = await client.post(
        f"/webhooks/shopify/{connection.id}",
        content=b'{"id": 1}',
        headers={"X-Shopify-Topic": "orders/create", "Content-Type": "application/json"},
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert await _receipts(db, connection) == []


async def test_the_signature_covers_the_raw_bytes_not_the_parsed_json(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    signed = json.dumps(order_payload()).encode()
    reformatted = json.dumps(order_payload(), indent=2).encode()
    headers = {
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": openssl_signature(SECRET, signed),
    }
    response = await client.post(
        f"/webhooks/shopify/{connection.id}", content=reformatted, headers=headers
    )
    assert response.status_code == 401


async def test_a_delivery_from_another_shop_is_refused(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    body = b'{"id": 1}'
    response = await client.post(
        f"/webhooks/shopify/{connection.id}",
        content=body,
        headers={
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Hmac-Sha256": openssl_signature(SECRET, body),
            "X-Shopify-Shop-Domain": "someone-else.myshopify.com",
        },
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "shop_mismatch"


async def test_an_unknown_connection_is_not_found(client: httpx2.AsyncClient) -> None:
    for connection_id in (str(uuid.uuid4()), "not-a-uuid"):
        response = await client.post(f"/webhooks/shopify/{connection_id}", content=b"{}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "connection_not_found"


async def test_a_paused_connection_asks_the_store_to_retry_later(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    await service.set_status(db, SecretBox(settings), connection, actor=SYSTEM, status="paused")
    response = await deliver(client, connection, "orders/create", order_payload())
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "connection_paused"
    assert await _receipts(db, connection) == []


async def test_the_same_delivery_twice_is_acknowledged_but_stored_once(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    webhook_id = str(uuid.uuid4())
    first = await deliver(
        client, connection, "orders/create", order_payload(), webhook_id=webhook_id
    )
    again = await deliver(
        client, connection, "orders/create", order_payload(), webhook_id=webhook_id
    )
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["status"] == "duplicate"
    assert len(await _receipts(db, connection)) == 1


async def test_the_previous_webhook_secret_still_verifies_after_a_rotation(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    await service.update_connection(
        db,
        SecretBox(settings),
        connection,
        actor=SYSTEM,
        changes={"webhook_secret": "shpss_the_new_secret_0000"},
    )
    old = await deliver(client, connection, "orders/create", order_payload())
    new = await deliver(
        client, connection, "orders/create", order_payload(), secret="shpss_the_new_secret_0000"
    )
    assert (old.status_code, new.status_code) == (200, 200)
    assert connection.webhook_secret_tail == "0000"


async def test_webhooks_ignore_the_idempotency_key_middleware(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    body = json.dumps(order_payload()).encode()
    response = await client.post(
        f"/webhooks/shopify/{connection.id}",
        content=body,
        headers={
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Hmac-Sha256": openssl_signature(SECRET, body),
            "Idempotency-Key": "abc",
        },
    )
    assert response.status_code == 200
    assert "idempotent-replayed" not in response.headers


# -- failures are recorded, never a 500 -----------------------------------------------------


async def test_malformed_json_is_recorded_as_failed_and_can_be_reprocessed(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    response = await deliver(client, connection, "orders/create", b'{"id": 1, "line_items": [')
    assert response.status_code == 200
    [receipt] = await work(db, settings)
    assert (receipt.status, receipt.error_code) == ("failed", "malformed_json")
    receipt.body = json.dumps(order_payload()).encode()  # as if the cause were fixed
    await service.reprocess(db, connection, receipt, actor=SYSTEM)
    assert await _jobs_for(db, receipt.id) == 2
    await work(db, settings)
    assert receipt.status == "processed"


async def test_a_payload_of_the_wrong_shape_fails_with_the_fields_named(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    bad = order_payload()
    del bad["line_items"]
    bad["currency"] = 12
    await deliver(client, connection, "orders/create", bad)
    await deliver(client, connection, "orders/create", [1, 2])  # type: ignore[arg-type]
    first, second = await work(db, settings)
    assert (first.status, first.error_code) == ("failed", "invalid_payload")
    assert "line_items" in first.error
    assert "currency" in first.error
    assert second.error_code == "invalid_payload"
    assert await db.scalar(select(func.count()).select_from(Order)) == 0


async def test_a_refused_business_rule_fails_the_receipt_and_undoes_its_partial_work(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    foreign = order_payload()
    foreign["currency"] = "JPY"  # no exchange rate: the order service refuses it
    await deliver(client, connection, "orders/create", foreign)
    [receipt] = await work(db, settings)
    assert (receipt.status, receipt.error_code) == ("failed", "exchange_rate_required")
    # the customer made before the order was refused was rolled back with it
    assert await db.scalar(select(func.count()).select_from(Customer)) == 0


async def test_an_unknown_topic_is_recorded_and_ignored(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    response = await deliver(client, connection, "collections/create", {"id": 5})
    assert response.status_code == 200
    [receipt] = await work(db, settings)
    assert receipt.status == "ignored"


# -- orders ---------------------------------------------------------------------------------


async def _order(db: AsyncSession) -> Order:
    order = await db.scalar(select(Order).where(Order.external_id == "450789469"))
    assert order is not None
    await db.refresh(order)
    return order


async def test_orders_create_places_the_order_with_its_customer_in_the_shop_channel(
    db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    await receive(db, connection, "orders/create", order_payload())
    [receipt] = await work(db, settings)
    assert receipt.status == "processed", receipt.error
    order = await _order(db)
    assert order.channel_id == connection.channel_id
    assert (order.number, order.total, order.currency) == ("#9469", Decimal("95.48"), "USD")
    assert (order.discount_total, order.shipping_total) == (Decimal("5.00"), Decimal("7.50"))
    assert order.financial_status == "pending"
    customer = await db.get(Customer, order.customer_id)
    assert customer is not None
    assert customer.email == "ada@example.com"
    link = await db.scalar(
        select(CustomerExternalId).where(CustomerExternalId.customer_id == customer.id)
    )
    assert link is not None
    assert link.external_id == "7001"


async def test_paid_fulfilled_refunded_and_cancelled_orders_follow_the_store(
    db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    await receive(db, connection, "orders/create", order_payload())
    await receive(db, connection, "orders/paid", order_payload(minutes=5, financial_status="paid"))
    await receive(
        db,
        connection,
        "orders/fulfilled",
        order_payload(minutes=20, financial_status="paid", fulfillments=[fulfillment_payload()]),
    )
    await receive(db, connection, "refunds/create", refund_payload())
    await receive(
        db,
        connection,
        "orders/cancelled",
        order_payload(
            minutes=40,
            financial_status="partially_refunded",
            fulfillments=[fulfillment_payload()],
            refunds=[refund_payload()],
            cancelled=True,
        ),
    )
    receipts = await work(db, settings)
    assert [r.status for r in receipts] == ["processed"] * 5, [r.error for r in receipts]
    order = await _order(db)
    assert order.financial_status == "partially_refunded"
    assert order.fulfillment_status == "fulfilled"
    assert order.refunded_total == Decimal("20.00")
    assert order.cancelled_at is not None
    payments = list(await db.scalars(select(Payment).where(Payment.order_id == order.id)))
    assert [(p.amount, p.status) for p in payments] == [(Decimal("95.48"), "succeeded")]
    assert len(list(await db.scalars(select(Refund).where(Refund.order_id == order.id)))) == 1
    shipments = list(await db.scalars(select(Shipment).where(Shipment.order_id == order.id)))
    assert [(s.external_id, s.tracking_number) for s in shipments] == [("255858046", "1Z2345")]


async def test_an_older_version_never_overwrites_a_newer_one(
    db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    await receive(db, connection, "orders/updated", order_payload(minutes=10, note="newest"))
    await receive(db, connection, "orders/updated", order_payload(minutes=5, note="older"))
    await receive(db, connection, "orders/create", order_payload(minutes=0, note=""))
    await work(db, settings)
    order = await _order(db)
    assert order.note == "newest"
    assert order.source_updated_at is not None
    assert order.source_updated_at.minute == 10


async def test_a_refund_before_its_order_fails_and_succeeds_when_reprocessed(
    db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    await receive(db, connection, "refunds/create", refund_payload())
    [early] = await work(db, settings)
    assert (early.status, early.error_code) == ("failed", "order_not_found")
    await receive(db, connection, "orders/paid", order_payload(minutes=5, financial_status="paid"))
    await work(db, settings)
    await service.reprocess(db, connection, early, actor=SYSTEM)
    await work(db, settings)
    assert early.status == "processed"
    assert (await _order(db)).refunded_total == Decimal("20.00")


async def test_a_fulfilment_update_moves_the_shipment_forward_only(
    db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    await receive(db, connection, "orders/paid", order_payload(minutes=5, financial_status="paid"))
    await receive(db, connection, "fulfillments/create", fulfillment_payload())
    await receive(
        db,
        connection,
        "fulfillments/update",
        fulfillment_payload(minutes=50, shipment_status="delivered"),
    )
    await receive(
        db,
        connection,
        "fulfillments/update",
        fulfillment_payload(minutes=30, shipment_status="in_transit"),
    )
    receipts = await work(db, settings)
    assert [r.status for r in receipts] == ["processed"] * 4, [r.error for r in receipts]
    order = await _order(db)
    [shipment] = await db.scalars(select(Shipment).where(Shipment.order_id == order.id))
    assert shipment.status == "delivered"
    assert order.fulfillment_status == "fulfilled"


# -- customers, products, carts, the app and privacy -----------------------------------------


async def test_customers_are_created_updated_and_unlinked_when_deleted(
    db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    await receive(db, connection, "customers/create", customer_payload())
    await receive(
        db, connection, "customers/update", customer_payload(minutes=10, first_name="Augusta")
    )
    await receive(db, connection, "customers/update", customer_payload(minutes=5, first_name="Old"))
    receipts = await work(db, settings)
    assert [r.status for r in receipts] == ["processed"] * 3, [r.error for r in receipts]
    [customer] = await db.scalars(select(Customer))
    await db.refresh(customer)
    assert (customer.first_name, customer.phone) == ("Augusta", "+442071234567")
    assert {"vip", "newsletter"} <= set(customer.tags)
    await receive(db, connection, "customers/delete", {"id": 7001})
    await receive(db, connection, "customers/update", customer_payload(minutes=20))
    await work(db, settings)
    assert await db.scalar(select(func.count()).select_from(CustomerExternalId)) == 0
    assert await db.scalar(select(func.count()).select_from(Customer)) == 1


async def test_products_variants_and_stock_follow_the_store(
    db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    await receive(db, connection, "products/create", product_payload())
    await receive(db, connection, "products/update", product_payload(minutes=5, title="Mug v2"))
    await receive(
        db,
        connection,
        "inventory_levels/update",
        {
            "inventory_item_id": 39072856,
            "location_id": 1,
            "available": 3,
            "updated_at": stamp(9),
        },
    )
    receipts = await work(db, settings)
    assert [r.status for r in receipts] == ["processed"] * 3, [r.error for r in receipts]
    [product] = await db.scalars(select(Product))
    [variant] = await db.scalars(select(ProductVariant))
    await db.refresh(product)
    await db.refresh(variant)
    assert (product.title, variant.inventory_quantity) == ("Mug v2", 3)
    await receive(db, connection, "products/delete", {"id": 632910392})
    await work(db, settings)
    await db.refresh(product)
    assert product.status == "archived"


async def test_checkouts_become_carts_for_recovery(db: AsyncSession, settings: Settings) -> None:
    connection = await connect_shop(db, settings)
    await receive(db, connection, "checkouts/create", checkout_payload())
    await receive(db, connection, "checkouts/update", checkout_payload(minutes=3))
    anonymous = checkout_payload(checkout_id=5)
    anonymous["email"] = ""
    await receive(db, connection, "checkouts/create", anonymous)
    first, second, third = await work(db, settings)
    assert (first.status, second.status, third.status) == ("processed", "processed", "ignored")
    [cart] = await db.scalars(select(Cart))
    assert (cart.email, cart.value, cart.channel_id) == (
        "grace@example.com",
        Decimal("39.98"),
        connection.channel_id,
    )


async def test_app_uninstalled_stops_the_connection_but_privacy_topics_still_arrive(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    await deliver(client, connection, "app/uninstalled", {"id": 1, "domain": DOMAIN})
    await work(db, settings)
    await db.refresh(connection)
    assert connection.status == "uninstalled"
    refused = await deliver(client, connection, "orders/create", order_payload())
    assert refused.status_code == 410
    redact = {"shop_id": 1, "shop_domain": DOMAIN}
    assert (await deliver(client, connection, "shop/redact", redact)).status_code == 200


async def test_privacy_requests_are_handed_to_the_privacy_module(
    db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    await receive(db, connection, "customers/create", customer_payload())
    request = {
        "shop_id": 1,
        "shop_domain": DOMAIN,
        "customer": {"id": 7001, "email": "ada@example.com", "phone": None},
        "orders_to_redact": [450789469],
    }
    await receive(db, connection, "customers/data_request", request)
    await receive(db, connection, "customers/redact", request)
    receipts = await work(db, settings)
    assert [r.status for r in receipts] == ["processed", "processed", "processed"]
    assert "Export" in receipts[1].outcome
    assert "Erasure" in receipts[2].outcome
    assert all("ada@example.com" not in r.outcome for r in receipts)


# -- reliability ----------------------------------------------------------------------------


async def test_a_receipt_whose_job_was_lost_is_enqueued_again_by_the_sweep(
    db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    receipt = await receive(db, connection, "orders/create", order_payload())
    await db.execute(
        text("DELETE FROM procrastinate_jobs WHERE args->>'receipt_id' = :id"),
        {"id": str(receipt.id)},
    )
    assert await service.requeue_stuck(db) == 0  # too recent to be called stuck
    assert await service.requeue_stuck(db, now=utcnow() + timedelta(hours=1)) == 1
    assert await _jobs_for(db, receipt.id) == 1


async def test_receipts_older_than_the_retention_are_purged_with_their_keys(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    webhook_id = str(uuid.uuid4())
    await deliver(client, connection, "orders/create", order_payload(), webhook_id=webhook_id)
    assert await service.purge_old_receipts(db, settings) == 0
    later = utcnow() + timedelta(days=settings.webhook_receipt_keep_days + 1)
    assert await service.purge_old_receipts(db, settings, now=later) == 1
    assert await _receipts(db, connection) == []
    # the key went too: a replay that old is accepted again (and processing skips it)
    again = await deliver(
        client, connection, "orders/create", order_payload(), webhook_id=webhook_id
    )
    assert again.json()["status"] == "accepted"


async def test_processing_twice_does_nothing_the_second_time(
    db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    receipt = await receive(db, connection, "orders/create", order_payload())
    assert await processing.process(db, settings, receipt.id) == "processed"
    assert await processing.process(db, settings, receipt.id) is None
    assert await db.scalar(select(func.count()).select_from(Order)) == 1


async def test_secrets_are_encrypted_and_survive_a_key_rotation(
    db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    assert SECRET.encode() not in connection.webhook_secret
    rotated = settings.model_copy(
        update={
            "secret_key": SecretStr("a-brand-new-key-" + "x" * 32),
            "old_secret_keys": [settings.secret_key],
        }
    )
    new_box = SecretBox(rotated)
    assert service.webhook_secrets(new_box, connection) == [SECRET.encode()]
    assert await service.rotate_secrets(db, new_box) >= 1
    only_new = SecretBox(rotated.model_copy(update={"old_secret_keys": []}))
    assert service.webhook_secrets(only_new, connection) == [SECRET.encode()]
    assert only_new.decrypt(connection.access_token or b"") == "shpat_0123456789abcdef"
