"""Connecting stores: the JSON API and the panel pages (list, connect, status, pause, remove,
re-process), with secrets that are encrypted and never shown again."""

from __future__ import annotations

import uuid

import httpx2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.config import Settings
from patron.models import Channel, StoreConnection, WebhookReceipt
from tests.conftest import MakeKey, MakeUser, audit_actions, bearer, form_token, sign_in
from tests.test_integrations_helpers import DOMAIN, SECRET, deliver, order_payload, work

API = "/api/v1/integrations/connections"
NEW_SHOP = {
    "provider": "shopify",
    "name": "EU shop",
    "shop_domain": "https://EU-Shop.myshopify.com/",
    "webhook_secret": "shpss_secret_value_1234",
    "access_token": "shpat_token_value_5678",
}


async def _admin_key(make_user: MakeUser, make_key: MakeKey) -> dict[str, str]:
    return bearer(await make_key(await make_user("admin")))


async def test_an_admin_connects_a_store_and_sees_only_masked_secrets(
    client: httpx2.AsyncClient, db: AsyncSession, make_user: MakeUser, make_key: MakeKey
) -> None:
    headers = await _admin_key(make_user, make_key)
    response = await client.post(API, json=NEW_SHOP, headers=headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["shop_domain"] == "eu-shop.myshopify.com"
    assert body["webhook_secret"] == "••••1234"
    assert body["access_token"] == "••••5678"
    assert body["webhook_url"].endswith(f"/webhooks/shopify/{body['id']}")
    assert "shpss_secret_value_1234" not in response.text
    connection = await db.get(StoreConnection, uuid.UUID(body["id"]))
    assert connection is not None
    assert b"shpss_secret_value_1234" not in connection.webhook_secret
    channel = await db.get(Channel, connection.channel_id)
    assert channel is not None
    assert (channel.name, channel.kind) == ("EU shop", "shopify")
    assert "integration.connected" in await audit_actions(db, connection.id)
    listed = await client.get(API, headers=headers)
    assert [c["id"] for c in listed.json()] == [body["id"]]
    assert "shpss_secret_value_1234" not in listed.text


async def test_a_store_connected_without_an_admin_api_token_is_fine(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    headers = await _admin_key(make_user, make_key)
    webhooks_only = {key: value for key, value in NEW_SHOP.items() if key != "access_token"}
    response = await client.post(API, json=webhooks_only, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["access_token"] == ""
    assert response.json()["webhook_secret"] == "••••1234"
    shown = await client.get(f"{API}/{response.json()['id']}", headers=headers)
    assert shown.status_code == 200, shown.text


async def test_connecting_refuses_bad_input_with_stable_codes(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    headers = await _admin_key(make_user, make_key)
    cases: list[tuple[dict[str, object], int, str]] = [
        ({"shop_domain": "evil.example.com"}, 422, "invalid_shop_domain"),
        ({"webhook_secret": "short"}, 422, "validation_error"),
        ({"provider": "stripe"}, 422, "invalid_stripe_account"),
        ({"provider": "magento"}, 422, "validation_error"),
        ({"channel_id": str(uuid.uuid4())}, 422, "unknown_channel"),
        ({"unexpected": 1}, 422, "validation_error"),
    ]
    for change, status, code in cases:
        response = await client.post(API, json={**NEW_SHOP, **change}, headers=headers)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), change
    assert (await client.post(API, json=NEW_SHOP, headers=headers)).status_code == 201
    again = await client.post(API, json={**NEW_SHOP, "name": "Other"}, headers=headers)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "connection_exists")


async def test_a_connection_is_paused_resumed_and_its_status_shows_deliveries(
    client: httpx2.AsyncClient,
    db: AsyncSession,
    settings: Settings,
    make_user: MakeUser,
    make_key: MakeKey,
) -> None:
    headers = await _admin_key(make_user, make_key)
    created = (
        await client.post(
            API, json={**NEW_SHOP, "shop_domain": DOMAIN, "webhook_secret": SECRET}, headers=headers
        )
    ).json()
    url = f"{API}/{created['id']}"
    connection = await db.get(StoreConnection, uuid.UUID(created["id"]))
    assert connection is not None
    await deliver(client, connection, "orders/create", b"not json")
    await work(db, settings)
    status = (await client.get(url, headers=headers)).json()
    assert status["receipts_by_status"] == {"failed": 1}
    assert status["days"][0]["deliveries"] == 1
    assert status["days"][0]["failures"] == 1
    assert status["last_delivery_at"] is not None
    paused = await client.patch(url, json={"status": "paused"}, headers=headers)
    assert paused.json()["status"] == "paused"
    refused = await deliver(client, connection, "orders/create", order_payload())
    assert refused.status_code == 503
    resumed = await client.patch(url, json={"status": "active"}, headers=headers)
    assert resumed.json()["status"] == "active"
    bad = await client.patch(url, json={"status": "uninstalled"}, headers=headers)
    assert bad.status_code == 422
    missing = await client.get(f"{API}/{uuid.uuid4()}", headers=headers)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "connection_not_found")


async def test_a_failed_receipt_is_listed_and_reprocessed_through_the_api(
    client: httpx2.AsyncClient,
    db: AsyncSession,
    settings: Settings,
    make_user: MakeUser,
    make_key: MakeKey,
) -> None:
    headers = await _admin_key(make_user, make_key)
    created = (
        await client.post(
            API, json={**NEW_SHOP, "shop_domain": DOMAIN, "webhook_secret": SECRET}, headers=headers
        )
    ).json()
    connection = await db.get(StoreConnection, uuid.UUID(created["id"]))
    assert connection is not None
    await deliver(client, connection, "orders/create", b'{"id": ')
    await work(db, settings)
    failed = await client.get(f"{API}/{created['id']}/receipts?status=failed", headers=headers)
    [item] = failed.json()["items"]
    assert (item["error_code"], item["topic"]) == ("malformed_json", "orders/create")
    path = f"{API}/{created['id']}/receipts/{item['id']}/reprocess"
    first = await client.post(path, headers=headers)
    assert (first.status_code, first.json()["status"]) == (200, "received")
    second = await client.post(path, headers=headers)
    assert (second.status_code, second.json()["error"]["code"]) == (409, "already_queued")
    unknown = await client.post(
        f"{API}/{created['id']}/receipts/{uuid.uuid4()}/reprocess", headers=headers
    )
    assert unknown.status_code == 404


async def test_removing_a_connection_keeps_its_channel(
    client: httpx2.AsyncClient, db: AsyncSession, make_user: MakeUser, make_key: MakeKey
) -> None:
    headers = await _admin_key(make_user, make_key)
    created = (await client.post(API, json=NEW_SHOP, headers=headers)).json()
    assert (await client.delete(f"{API}/{created['id']}", headers=headers)).status_code == 204
    assert (await client.get(f"{API}/{created['id']}", headers=headers)).status_code == 404
    assert await db.get(Channel, uuid.UUID(created["channel_id"])) is not None


async def test_a_manager_may_look_but_not_connect(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    headers = bearer(await make_key(await make_user("manager")))
    assert (await client.get(API, headers=headers)).status_code == 200
    refused = await client.post(API, json=NEW_SHOP, headers=headers)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "missing_scope")


# -- the panel -------------------------------------------------------------------------------


async def test_an_admin_connects_a_store_in_the_panel_and_follows_its_deliveries(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings, make_user: MakeUser
) -> None:
    await sign_in(client, await make_user("admin"))
    empty = await client.get("/integrations")
    assert "No store connected yet" in empty.text
    token = await form_token(client, "/integrations/new")
    form = {
        "csrf_token": token,
        "provider": "shopify",
        "name": "Main shop",
        "shop_domain": "not a domain",
        "webhook_secret": SECRET,
    }
    refused = await client.post("/integrations/new", data=form)
    assert refused.status_code == 422
    assert "myshopify.com domain" in refused.text
    assert SECRET not in refused.text  # a refused form never echoes a secret
    done = await client.post("/integrations/new", data={**form, "shop_domain": DOMAIN})
    assert done.status_code == 303
    page_url = done.headers["location"]
    connection = await db.scalar(
        select(StoreConnection).where(StoreConnection.shop_domain == DOMAIN)
    )
    assert connection is not None
    await deliver(client, connection, "orders/create", b"{broken")
    await work(db, settings)
    page = await client.get(page_url)
    assert page.status_code == 200
    assert f"/webhooks/shopify/{connection.id}" in page.text
    assert SECRET not in page.text
    assert f"••••{SECRET[-4:]}" in page.text
    assert "malformed_json" in page.text
    [receipt] = await db.scalars(select(WebhookReceipt))
    again = await client.post(
        f"{page_url}/receipts/{receipt.id}/reprocess", data={"csrf_token": token}
    )
    assert again.status_code == 303
    await db.refresh(receipt)
    assert receipt.status == "received"
    paused = await client.post(f"{page_url}/status", data={"csrf_token": token, "status": "paused"})
    assert paused.status_code == 303
    await db.refresh(connection)
    assert connection.status == "paused"
    assert "Resume" in (await client.get(page_url)).text
    removed = await client.post(f"{page_url}/delete", data={"csrf_token": token})
    assert removed.headers["location"] == "/integrations"
    assert (await client.get(page_url)).status_code == 404


async def test_panel_pages_answer_404_for_unknown_or_malformed_ids(
    client: httpx2.AsyncClient, make_user: MakeUser
) -> None:
    await sign_in(client, await make_user("admin"))
    assert (await client.get(f"/integrations/{uuid.uuid4()}")).status_code == 404
    assert (await client.get("/integrations/not-an-id")).status_code == 404
