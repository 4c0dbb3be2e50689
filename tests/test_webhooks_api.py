"""Webhook subscriptions through the JSON API and the panel, and the events that changes queue
(each test in a rolled-back transaction; delivery itself is tested in test_webhooks_delivery)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.config import Settings
from patron.errors import InvalidInput
from patron.kit.crypto import SecretBox
from patron.models import Customer, OutboundDelivery, WebhookSubscription
from patron.webhooks.service import check_target
from tests.conftest import (
    TEST_SECRET,
    MakeKey,
    MakeUser,
    bearer,
    csrf_from,
    form_token,
    make_settings,
    sign_in,
)
from tests.shop import make_catalog, order_body, place

Headers = dict[str, str]
RECEIVER = "https://hooks.example.com/patron"


@pytest.fixture
async def admin(make_user: MakeUser, make_key: MakeKey) -> Headers:
    return bearer(await make_key(await make_user("admin")))


async def subscribe(
    client: httpx2.AsyncClient, headers: Headers, *event_types: str, url: str = RECEIVER
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/webhooks",
        json={"url": url, "event_types": list(event_types)},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def payloads(db: AsyncSession, event_type: str | None = None) -> list[dict[str, Any]]:
    query = select(OutboundDelivery).order_by(OutboundDelivery.created_at, OutboundDelivery.id)
    if event_type:
        query = query.where(OutboundDelivery.event_type == event_type)
    return [d.payload for d in await db.scalars(query)]


async def test_a_subscription_is_created_with_a_secret_shown_once_and_stored_encrypted(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession, settings: Settings
) -> None:
    created = await subscribe(client, admin, "order.created", "customer.created")
    assert created["secret"].startswith("whsec_")
    assert created["event_types"] == ["customer.created", "order.created"]
    assert created["active"] is True
    stored = await db.get(WebhookSubscription, uuid.UUID(created["id"]))
    assert stored is not None
    assert created["secret"].encode() not in stored.secret_encrypted
    assert SecretBox(settings).decrypt(stored.secret_encrypted) == created["secret"]

    shown = await client.get(f"/api/v1/webhooks/{created['id']}", headers=admin)
    assert shown.status_code == 200
    assert "secret" not in shown.json()
    listed = await client.get("/api/v1/webhooks", headers=admin)
    assert [s["id"] for s in listed.json()["items"]] == [created["id"]]


async def test_the_event_catalogue_is_published(client: httpx2.AsyncClient, admin: Headers) -> None:
    response = await client.get("/api/v1/webhooks/event-types", headers=admin)
    types = {item["type"] for item in response.json()}
    assert {
        "customer.created",
        "customer.updated",
        "customer.merged",
        "customer.deleted",
        "order.created",
        "order.updated",
        "consent.changed",
    } <= types


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "ftp://files.example.com/x", "event_types": ["order.created"]}, "invalid_url"),
        ({"url": "not a url", "event_types": ["order.created"]}, "invalid_url"),
        ({"url": RECEIVER, "event_types": ["order.exploded"]}, "unknown_event_type"),
        ({"url": RECEIVER, "event_types": []}, "no_event_types"),
        ({"url": "http://127.0.0.1:9/x", "event_types": ["order.created"]}, "address_not_allowed"),
        ({"url": "http://localhost/x", "event_types": ["order.created"]}, "address_not_allowed"),
        ({"url": "http://[::1]/x", "event_types": ["order.created"]}, "address_not_allowed"),
        (
            {"url": "http://169.254.169.254/", "event_types": ["order.created"]},
            "address_not_allowed",
        ),
        ({"url": RECEIVER, "event_types": ["order.created"], "colour": "red"}, "validation_error"),
        ({"event_types": ["order.created"]}, "validation_error"),
    ],
)
async def test_bad_subscriptions_are_refused_with_a_stable_code(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession, body: dict[str, Any], code: str
) -> None:
    response = await client.post("/api/v1/webhooks", json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code
    assert await db.scalar(select(WebhookSubscription.id).limit(1)) is None


def test_production_requires_https_and_development_allows_http(tmp_path: Path) -> None:
    production = make_settings("", tmp_path, environment="production", secret_key=TEST_SECRET)
    with pytest.raises(InvalidInput) as refused:
        check_target(production, "http://hooks.example.com/x")
    assert refused.value.code == "https_required"
    assert check_target(production, RECEIVER) == RECEIVER
    development = make_settings("", tmp_path)
    assert check_target(development, "http://hooks.example.com/x") == "http://hooks.example.com/x"


async def test_reading_needs_integrations_read_and_managing_needs_integrations_write(
    client: httpx2.AsyncClient, admin: Headers, make_user: MakeUser, make_key: MakeKey
) -> None:
    created = await subscribe(client, admin, "order.created")
    reader = bearer(await make_key(await make_user("admin"), scopes=["integrations:read"]))
    assert (await client.get("/api/v1/webhooks", headers=reader)).status_code == 200
    for method, path in [
        ("POST", "/api/v1/webhooks"),
        ("POST", f"/api/v1/webhooks/{created['id']}/test"),
        ("POST", f"/api/v1/webhooks/{created['id']}/rotate-secret"),
        ("DELETE", f"/api/v1/webhooks/{created['id']}"),
    ]:
        response = await client.request(method, path, headers=reader, json={})
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["code"] == "missing_scope"
    support = bearer(await make_key(await make_user("support")))
    response = await client.get("/api/v1/webhooks", headers=support)
    assert response.status_code == 403
    missing = await client.get(f"/api/v1/webhooks/{uuid.uuid4()}", headers=admin)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


async def test_a_subscription_can_be_changed_disabled_enabled_rotated_and_deleted(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession, settings: Settings
) -> None:
    created = await subscribe(client, admin, "order.created")
    path = f"/api/v1/webhooks/{created['id']}"
    changed = await client.patch(
        path, json={"event_types": ["order.updated", "consent.changed"]}, headers=admin
    )
    assert changed.json()["event_types"] == ["consent.changed", "order.updated"]
    bad = await client.patch(path, json={"event_types": ["nope"]}, headers=admin)
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "unknown_event_type"

    disabled = await client.post(f"{path}/disable", json={"reason": "Maintenance"}, headers=admin)
    assert (disabled.json()["active"], disabled.json()["disabled_reason"]) == (
        False,
        "Maintenance",
    )
    enabled = await client.post(f"{path}/enable", headers=admin)
    assert (enabled.json()["active"], enabled.json()["disabled_reason"]) == (True, "")

    rotated = await client.post(f"{path}/rotate-secret", headers=admin)
    secret = rotated.json()["secret"]
    assert secret.startswith("whsec_")
    assert secret != created["secret"]
    stored = await db.get(WebhookSubscription, uuid.UUID(created["id"]))
    assert stored is not None
    assert SecretBox(settings).decrypt(stored.secret_encrypted) == secret

    assert (await client.delete(path, headers=admin)).status_code == 204
    assert (await client.get(path, headers=admin)).status_code == 404
    actions = await db.scalars(
        text("SELECT action FROM audit_event WHERE object_id = :id ORDER BY occurred_at, id"),
        {"id": created["id"]},
    )
    assert list(actions) == [
        "webhook.created",
        "webhook.updated",
        "webhook.disabled",
        "webhook.enabled",
        "webhook.secret_rotated",
        "webhook.deleted",
    ]


async def test_changes_queue_one_delivery_per_subscriber_with_a_snapshot(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession, settings: Settings
) -> None:
    await subscribe(client, admin, "customer.created", "customer.updated", "consent.changed")
    await subscribe(client, admin, "customer.created", url="https://other.example.com/hook")
    created = await client.post(
        "/api/v1/customers",
        json={"email": "ada@example.com", "first_name": "Ada", "phone": "+14155550100"},
        headers=admin,
    )
    customer_id = created.json()["id"]
    [first, second] = await payloads(db, "customer.created")
    assert first == second  # one event, the same id, for each subscriber
    assert first["data"]["id"] == customer_id
    assert "phone" not in first["data"]

    await client.patch(
        f"/api/v1/customers/{customer_id}", json={"last_name": "Lovelace"}, headers=admin
    )
    [updated] = await payloads(db, "customer.updated")
    assert updated["data"]["last_name"] == "Lovelace"
    assert updated["data"]["changed_fields"] == ["last_name"]

    await client.put(
        f"/api/v1/customers/{customer_id}/consents/email",
        json={"status": "subscribed", "source": "checkout"},
        headers=admin,
    )
    [consent] = await payloads(db, "consent.changed")
    assert consent["data"]["customer_id"] == customer_id
    assert (consent["data"]["channel"], consent["data"]["to"]) == ("email", "subscribed")
    jobs = await db.scalar(
        text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'webhooks.deliver'")
    )
    assert jobs == len(await payloads(db))


async def test_orders_and_merges_raise_their_events(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession, settings: Settings
) -> None:
    await subscribe(client, admin, "order.created", "order.updated", "customer.merged")
    one = (await client.post("/api/v1/customers", json={"first_name": "A"}, headers=admin)).json()
    two = (await client.post("/api/v1/customers", json={"first_name": "B"}, headers=admin)).json()
    catalog = await make_catalog(db, settings)
    customer = await db.get(Customer, uuid.UUID(one["id"]))
    assert customer is not None
    order = await place(client, admin, order_body(customer, catalog))
    [placed] = await payloads(db, "order.created")
    assert placed["data"]["id"] == order["id"]
    assert placed["data"]["total"] == "97.50"
    assert placed["data"]["currency"]
    cancelled = await client.post(f"/api/v1/orders/{order['id']}/cancel", json={}, headers=admin)
    assert cancelled.status_code in (200, 201), cancelled.text
    [changed] = await payloads(db, "order.updated")
    assert changed["data"]["change"] == "cancelled"

    merged = await client.post(
        f"/api/v1/customers/{one['id']}/merge", json={"merge_id": two["id"]}, headers=admin
    )
    assert merged.status_code == 200, merged.text
    [event] = await payloads(db, "customer.merged")
    assert (event["data"]["id"], event["data"]["merged_id"]) == (one["id"], two["id"])


async def test_nothing_is_queued_without_a_subscriber_or_while_disabled(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession
) -> None:
    await client.post("/api/v1/customers", json={"first_name": "Nobody"}, headers=admin)
    created = await subscribe(client, admin, "customer.created")
    await client.post(f"/api/v1/webhooks/{created['id']}/disable", headers=admin)
    await client.post("/api/v1/customers", json={"first_name": "Still"}, headers=admin)
    assert await payloads(db) == []


# -- the panel ------------------------------------------------------------------------------


async def test_an_admin_subscribes_in_the_panel_and_sees_the_secret_once(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    await sign_in(client, await make_user("admin"))
    form = await client.get("/admin/webhooks/new")
    assert form.status_code == 200
    assert 'value="customer.merged"' in form.text
    token = csrf_from(form.text)
    refused = await client.post(
        "/admin/webhooks/new",
        data={"csrf_token": token, "url": "gopher://x", "event_types": ["order.created"]},
    )
    assert refused.status_code == 422
    assert 'data-error-code="invalid_url"' in refused.text
    assert 'value="order.created" id="event-5" checked' in refused.text
    none = await client.post("/admin/webhooks/new", data={"csrf_token": token, "url": RECEIVER})
    assert 'data-error-code="no_event_types"' in none.text

    created = await client.post(
        "/admin/webhooks/new",
        data={
            "csrf_token": token,
            "url": RECEIVER,
            "name": "Warehouse",
            "event_types": ["order.created", "customer.created"],
        },
    )
    assert created.status_code == 200
    assert "data-webhook-secret" in created.text
    assert created.headers["cache-control"] == "no-store"
    subscription = await db.scalar(select(WebhookSubscription))
    assert subscription is not None
    assert subscription.name == "Warehouse"

    listed = await client.get("/admin/webhooks")
    assert f'data-webhook="{subscription.id}"' in listed.text
    page = await client.get(f"/admin/webhooks/{subscription.id}")
    assert "Nothing delivered yet" in page.text
    assert "whsec_" not in page.text


async def test_the_subscription_page_drives_tests_redeliveries_and_deletion(
    client: httpx2.AsyncClient, make_user: MakeUser, admin: Headers, db: AsyncSession
) -> None:
    created = await subscribe(client, admin, "customer.created")
    base = f"/admin/webhooks/{created['id']}"
    await sign_in(client, await make_user("admin"))
    token = await form_token(client, base)

    tested = await client.post(f"{base}/test", data={"csrf_token": token})
    assert tested.status_code == 303
    page = await client.get(base)
    delivery = await db.scalar(select(OutboundDelivery))
    assert delivery is not None
    assert f'data-delivery="{delivery.id}"' in page.text
    assert "webhook.test" in page.text

    again = await client.post(
        f"{base}/deliveries/{delivery.id}/redeliver", data={"csrf_token": token}
    )
    assert again.status_code == 303
    missing = await client.post(
        f"{base}/deliveries/{uuid.uuid4()}/redeliver", data={"csrf_token": token}
    )
    assert missing.status_code == 404

    await client.post(f"{base}/disable", data={"csrf_token": token, "reason": "Moving servers"})
    assert "Moving servers" in (await client.get(base)).text
    await client.post(f"{base}/enable", data={"csrf_token": token})
    assert "data-webhook-status>Active" in (await client.get(base)).text

    rotated = await client.post(f"{base}/rotate-secret", data={"csrf_token": token})
    assert "data-webhook-secret" in rotated.text

    confirm = await client.get(f"{base}/delete")
    assert "Delete subscription" in confirm.text
    deleted = await client.post(f"{base}/delete", data={"csrf_token": token})
    assert deleted.headers["location"] == "/admin/webhooks"
    assert await db.get(WebhookSubscription, uuid.UUID(created["id"])) is None


async def test_a_reader_sees_the_log_without_the_buttons(
    client: httpx2.AsyncClient, make_user: MakeUser, admin: Headers
) -> None:
    created = await subscribe(client, admin, "customer.created")
    await sign_in(client, await make_user("manager"))  # integrations:read, not :write
    page = await client.get(f"/admin/webhooks/{created['id']}")
    assert page.status_code == 200
    assert "Send a test event" not in page.text
    assert (await client.get("/admin/webhooks/new")).status_code == 403


async def test_a_subscription_is_edited_in_the_panel_and_a_refused_edit_changes_nothing(
    client: httpx2.AsyncClient, make_user: MakeUser, admin: Headers, db: AsyncSession
) -> None:
    created = await subscribe(client, admin, "customer.created")
    base = f"/admin/webhooks/{created['id']}"
    await sign_in(client, await make_user("admin"))
    token = await form_token(client, base)

    refused = await client.post(
        f"{base}/edit",
        data={"csrf_token": token, "url": "https://new.example.com/hook", "event_types": []},
    )
    assert refused.status_code == 422
    assert 'data-error-code="no_event_types"' in refused.text
    assert 'value="https://new.example.com/hook"' in refused.text  # what was typed is kept
    stored = await db.get(WebhookSubscription, uuid.UUID(created["id"]))
    assert stored is not None
    await db.refresh(stored)
    assert (stored.url, stored.event_types) == (RECEIVER, ["customer.created"])

    saved = await client.post(
        f"{base}/edit",
        data={
            "csrf_token": token,
            "url": "https://new.example.com/hook",
            "name": "New home",
            "event_types": ["order.created", "order.updated"],
        },
    )
    assert saved.status_code == 303
    await db.refresh(stored)
    assert (stored.url, stored.name, stored.event_types) == (
        "https://new.example.com/hook",
        "New home",
        ["order.created", "order.updated"],
    )
