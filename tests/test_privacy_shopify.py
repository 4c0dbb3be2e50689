"""Shopify's privacy topics, signed like Shopify signs them, carried out by Patron's privacy
code: a data request becomes an export, a customer redaction an erasure, a shop redaction
the erasure of that store's data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.app import create_app
from patron.audit.service import SYSTEM
from patron.config import Settings
from patron.customers import service as customers
from patron.customers.schemas import CustomerCreate, ExternalIdIn
from patron.integrations import service as integrations
from patron.models import (
    Customer,
    CustomerExternalId,
    Order,
    PrivacyRequest,
    StoreConnection,
    WebhookReceipt,
)
from patron.privacy import service
from patron.privacy.erasure import REDACTED_BODY
from patron.worker.app import run_worker, set_runtime
from tests.conftest import IsolatedDatabase, MakeUser, make_settings, principal_for
from tests.test_integrations_helpers import (
    DOMAIN,
    connect_shop,
    customer_payload,
    deliver,
    order_payload,
    work,
)
from tests.test_privacy import columns_holding

SHOPIFY_ID = 7001
ORDER_ID = 450789469
EMAIL = "ada@example.com"  # the helpers' Shopify customer: Ada Lovelace, +442071234567


def privacy_payload(**extra: Any) -> dict[str, Any]:
    return {
        "shop_id": 954889,
        "shop_domain": DOMAIN,
        "customer": {"id": SHOPIFY_ID, "email": EMAIL, "phone": "+442071234567"},
        **extra,
    }


async def shop_with_ada(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> StoreConnection:
    connection = await connect_shop(db, settings)
    for topic, payload in (
        ("customers/create", customer_payload()),
        ("orders/create", order_payload()),
    ):
        assert (await deliver(client, connection, topic, payload)).status_code == 200
    await work(db, settings)
    return connection


async def requests_of(db: AsyncSession, kind: str) -> list[PrivacyRequest]:
    rows = await db.scalars(select(PrivacyRequest).where(PrivacyRequest.kind == kind))
    return list(rows)


async def test_a_data_request_becomes_an_export_for_the_shop_owner_to_hand_over(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await shop_with_ada(client, db, settings)
    payload = privacy_payload(orders_requested=[ORDER_ID], data_request={"id": 9999})
    response = await deliver(client, connection, "customers/data_request", payload)
    assert response.status_code == 200
    (receipt,) = await work(db, settings)
    assert receipt.status == "processed"
    (request,) = await requests_of(db, "export")
    assert (request.source, request.connection_id) == ("shopify", connection.id)
    assert receipt.body == REDACTED_BODY  # acted upon: the delivery no longer names Ada
    assert EMAIL not in receipt.outcome

    assert await service.run(db, settings, request_id=request.id) == "done"
    await db.refresh(request)
    document = json.loads((settings.data_dir / "privacy" / request.file_path).read_text())
    assert document["customer"]["email"] == EMAIL
    assert [o["external_id"] for o in document["orders"]] == [str(ORDER_ID)]
    assert [x["external_id"] for x in document["external_ids"]] == [str(SHOPIFY_ID)]


async def test_a_data_request_for_someone_patron_does_not_know_exports_nothing(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await connect_shop(db, settings)
    stranger = privacy_payload(customer={"id": 1, "email": "nobody@example.com"})
    await deliver(client, connection, "customers/data_request", stranger)
    (receipt,) = await work(db, settings)
    assert (receipt.status, receipt.body) == ("processed", REDACTED_BODY)
    assert "holds nothing" in receipt.outcome
    assert await requests_of(db, "export") == []


async def test_a_customer_redaction_erases_the_customer_and_anonymises_the_named_orders(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await shop_with_ada(client, db, settings)
    grace = customer_payload(
        8001,
        email="grace@example.com",
        first_name="Grace",
        last_name="Hopper",
        phone="",
        default_address=None,
    )
    await deliver(client, connection, "customers/create", grace)
    await work(db, settings)
    redact = privacy_payload(orders_to_redact=[ORDER_ID])
    assert (await deliver(client, connection, "customers/redact", redact)).status_code == 200
    (receipt,) = await work(db, settings)
    assert receipt.status == "processed"
    (request,) = await requests_of(db, "erasure")
    assert await service.run(db, settings, request_id=request.id) == "done"

    for trace in (EMAIL, "Lovelace", "+442071234567", "St James"):
        assert await columns_holding(db, trace) == [], trace
    order = await db.scalar(select(Order).where(Order.external_id == str(ORDER_ID)))
    assert order is not None
    assert (str(order.total), order.billing_address) == ("95.48", {"country": "GB"})
    kept = await db.scalar(select(Customer).where(Customer.email == "grace@example.com"))
    assert kept is not None
    assert kept.erased_at is None


async def test_a_redaction_naming_only_orders_anonymises_them(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await shop_with_ada(client, db, settings)
    unknown = privacy_payload(customer={"id": 1}, orders_to_redact=[ORDER_ID])
    await deliver(client, connection, "customers/redact", unknown)
    (receipt,) = await work(db, settings)
    assert "1 named orders anonymised" in receipt.outcome
    order = await db.scalar(select(Order).where(Order.external_id == str(ORDER_ID)))
    assert order is not None
    assert order.billing_address == {"country": "GB"}
    assert await requests_of(db, "erasure") == []


async def test_a_redaction_acted_upon_is_harmless_when_processed_again(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await shop_with_ada(client, db, settings)
    await deliver(client, connection, "customers/redact", privacy_payload())
    (receipt,) = await work(db, settings)
    await integrations.reprocess(db, connection, receipt, actor=SYSTEM)
    (again,) = await work(db, settings)
    assert (again.id, again.status) == (receipt.id, "ignored")
    assert len(await requests_of(db, "erasure")) == 1


async def test_a_shop_redaction_erases_what_only_that_store_knew(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings, make_user: MakeUser
) -> None:
    connection = await shop_with_ada(client, db, settings)
    staff = await principal_for(db, (await make_user("admin")).user)
    known_elsewhere = await customers.create_customer(
        db,
        settings,
        principal=staff,
        data=CustomerCreate(
            first_name="Grace",
            email="grace@example.com",
            external_ids=[ExternalIdIn(channel_id=connection.channel_id, external_id="8001")],
        ),
    )
    await deliver(client, connection, "shop/redact", {"shop_id": 954889, "shop_domain": DOMAIN})
    await work(db, settings)
    (request,) = await requests_of(db, "shop_erasure")
    assert await service.run(db, settings, request_id=request.id) == "done"

    for trace in (EMAIL, "Lovelace", "St James"):
        assert await columns_holding(db, trace) == [], trace
    await db.refresh(known_elsewhere)
    assert (known_elsewhere.email, known_elsewhere.erased_at) == ("grace@example.com", None)
    links = select(func.count()).select_from(CustomerExternalId)
    assert await db.scalar(links.where(CustomerExternalId.channel_id == connection.channel_id)) == 0
    topics = await db.scalars(
        select(WebhookReceipt.topic).where(WebhookReceipt.connection_id == connection.id)
    )
    assert list(topics) == ["shop/redact"]  # kept on record, emptied
    await db.refresh(request)
    assert request.details["counts"]["customers_erased"] == 1


async def test_a_signed_redaction_is_carried_out_by_the_worker_over_real_commits(
    isolated_database: IsolatedDatabase, tmp_path: Path
) -> None:
    database = isolated_database.database
    settings = make_settings(isolated_database.url, tmp_path)
    async with database.transaction() as db:
        connection = await connect_shop(db, settings)
    app = create_app(settings, database=database)
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
            for topic, payload in (
                ("customers/create", customer_payload()),
                ("orders/create", order_payload()),
            ):
                assert (await deliver(http, connection, topic, payload)).status_code == 200
            set_runtime(settings, database)
            await run_worker(database, wait=False, concurrency=1)
            redact = privacy_payload(orders_to_redact=[ORDER_ID])
            assert (await deliver(http, connection, "customers/redact", redact)).status_code == 200
            await run_worker(database, wait=False, concurrency=1)
    async with database.transaction() as db:
        statuses = list(await db.scalars(select(PrivacyRequest.status)))
        assert statuses == ["done"]
        for trace in (EMAIL, "Lovelace", "+442071234567"):
            assert await columns_holding(db, trace) == [], trace
        assert await db.scalar(select(func.count()).select_from(Order)) == 1
