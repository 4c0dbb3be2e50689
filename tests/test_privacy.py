"""Privacy: a customer's export holds everything about them, and an erasure leaves nothing
of them anywhere in the database, while their orders stay for the books."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit.service import SYSTEM
from patron.config import Settings
from patron.kit.time import utcnow
from patron.models import (
    Channel,
    Customer,
    CustomFieldDefinition,
    MailMessage,
    Order,
    PrivacyRequest,
    Segment,
    SegmentMember,
    WebhookSubscription,
)
from patron.privacy import service
from patron.privacy.erasure import erase_customer
from patron.privacy.scrub import Needles, redact_audit_details
from patron.timeline.files import storage_path
from patron.worker.app import run_worker, set_runtime
from tests.conftest import (
    IsolatedDatabase,
    MakeKey,
    MakeUser,
    audit_actions,
    bearer,
    make_settings,
)

Headers = dict[str, str]
EMAIL = "augusta.byronova@example.com"
OTHER_EMAIL = "a.byronova@work.example"
PHONE = "+442071234567"
STREET = "12 St James's Square"
FIRST, LAST = "Augusta", "Byronova"
# what must be gone from every column of every table after the erasure
TRACES = (EMAIL, OTHER_EMAIL, PHONE, STREET, LAST, f"{FIRST} {LAST}")


@dataclass
class Person:
    id: str
    order_id: str
    attachment_key: str


@pytest.fixture
async def admin(make_user: MakeUser, make_key: MakeKey) -> Headers:
    return bearer(await make_key(await make_user("admin")))


def _ok(response: httpx2.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def address(**extra: str) -> dict[str, str]:
    return {
        "first_name": FIRST,
        "last_name": LAST,
        "line1": STREET,
        "city": "London",
        "postal_code": "SW1Y 4JH",
        "country": "GB",
        **extra,
    }


async def rich_customer(
    client: httpx2.AsyncClient, db: AsyncSession, headers: Headers, *, email: str = EMAIL
) -> Person:
    """A customer with something in every place Patron keeps data about a person."""
    channel = Channel(name=f"Web {uuid.uuid4().hex[:6]}", kind="online_store")
    db.add(channel)
    shoe = select(CustomFieldDefinition.id).where(CustomFieldDefinition.key == "shoe_size")
    if await db.scalar(shoe) is None:
        db.add(
            CustomFieldDefinition(
                entity="customer", key="shoe_size", label="Shoe", field_type="text"
            )
        )
    db.add(
        WebhookSubscription(
            url="https://hooks.example.com/crm",
            event_types=["customer.updated", "order.created"],
            secret_encrypted=b"unused",
        )
    )
    await db.flush()
    created = _ok(
        await client.post(
            "/api/v1/customers",
            json={
                "first_name": FIRST,
                "last_name": LAST,
                "email": email,
                "phone": PHONE,
                "birthday": "1990-12-10",
                "tags": ["vip"],
                "interests": ["mugs"],
                "custom_fields": {"shoe_size": "38"},
                "addresses": [address()],
                "external_ids": [{"channel_id": str(channel.id), "external_id": "web-77"}],
                "consents": [{"channel": "email", "status": "subscribed", "source": "checkout"}],
            },
            headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
        ),
        201,
    )
    cid = created["id"]
    base = f"/api/v1/customers/{cid}"
    if email == EMAIL:
        _ok(await client.post(f"{base}/emails", json={"value": OTHER_EMAIL}, headers=headers), 201)
    _ok(await client.patch(base, json={"locale": "en-GB"}, headers=headers))
    _ok(
        await client.put(f"{base}/consents/email", json={"status": "unsubscribed"}, headers=headers)
    )
    note = f"{FIRST} {LAST} asked us to deliver to {STREET} only."
    _ok(await client.post(f"{base}/notes", json={"body": note}, headers=headers), 201)
    attached = _ok(
        await client.post(
            f"{base}/attachments",
            files={"file": ("letter.txt", f"Dear {FIRST} {LAST}".encode(), "text/plain")},
            headers=headers,
        ),
        201,
    )
    order = _ok(
        await client.post(
            "/api/v1/orders",
            json={
                "customer_id": cid,
                "channel_id": str(channel.id),
                "external_id": f"web-order-{uuid.uuid4().hex[:6]}",
                "currency": "USD",
                "lines": [{"title": "Engine Mug", "unit_price": "20.00", "quantity": 2}],
                "shipping_total": "5.00",
                "billing_address": address(),
                "shipping_address": address(),
                "note": f"Leave it with {FIRST} {LAST}'s neighbour",
                "payments": [{"gateway": "card", "amount": "45.00"}],
            },
            headers=headers,
        ),
        201,
    )
    oid = order["id"]
    shipment = _ok(
        await client.post(
            f"/api/v1/orders/{oid}/shipments",
            json={"carrier": "UPS", "tracking_number": "1Z999AA1", "status": "in_transit"},
            headers=headers,
        ),
        201,
    )
    _ok(
        await client.post(
            f"/api/v1/orders/{oid}/shipments/{shipment['id']}/events",
            json={"status": "delivered", "location": "Front door, 12 St James's Square"},
            headers=headers,
        ),
        201,
    )
    _ok(
        await client.post(
            f"/api/v1/orders/{oid}/refunds",
            json={"amount": "5.00", "reason": "late", "note": f"sorry {FIRST} {LAST}"},
            headers=headers,
        ),
        201,
    )
    _ok(
        await client.put(
            f"/api/v1/carts/by-external-id/{channel.id}/cart-{uuid.uuid4().hex[:6]}",
            json={
                "email": email,
                "currency": "USD",
                "items": [{"title": "Engine Mug", "quantity": 1, "unit_price": "20.00"}],
                "checkout_url": "https://shop.example.com/checkouts/secret-token",
            },
            headers=headers,
        ),
        201,
    )
    visitor = f"anon-{uuid.uuid4().hex[:8]}"
    events = [
        {"customer_id": cid, "name": "viewed_product", "properties": {"sku": "MUG"}},
        {"anonymous_id": visitor, "name": "searched", "properties": {"query": "mugs"}},
    ]
    for event in events:
        _ok(await client.post("/api/v1/events", json=event, headers=headers), 201)
    _ok(
        await client.post(
            "/api/v1/events/identify",
            json={"anonymous_id": visitor, "customer_id": cid},
            headers=headers,
        )
    )
    segment = Segment(
        name=f"VIPs {uuid.uuid4().hex[:6]}",
        kind="static",
        expression=f'email = "{email}"',
        description=f"Started with {FIRST} {LAST}",
    )
    db.add(segment)
    await db.flush()
    db.add(SegmentMember(segment_id=segment.id, customer_id=uuid.UUID(cid)))
    db.add(
        MailMessage(
            to_address="staff@shop.test",
            subject=f"You were mentioned on {FIRST} {LAST}",
            body_text=f"About {email}",
            kind="mention",
        )
    )
    await db.flush()
    return Person(cid, oid, await _storage_key(db, attached["id"]))


async def _storage_key(db: AsyncSession, attachment_id: str) -> str:
    key = await db.scalar(
        text("SELECT storage_key FROM attachment WHERE id = :id"), {"id": attachment_id}
    )
    assert key
    return str(key)


async def columns_holding(db: AsyncSession, needle: str) -> list[str]:
    """Every column of every table whose text (JSON, arrays and raw bytes included) contains
    ``needle``, as ``table.column``."""
    columns = await db.execute(
        text(
            """
            SELECT c.table_name, c.column_name, c.data_type, c.udt_name
            FROM information_schema.columns c
            JOIN information_schema.tables t
              ON t.table_schema = c.table_schema AND t.table_name = c.table_name
            WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
              AND (c.data_type IN ('text', 'character varying', 'jsonb', 'json', 'bytea',
                                   'ARRAY', 'character')
                   OR c.udt_name = 'citext')
            """
        )
    )
    pattern = "%" + needle.replace("%", "\\%").replace("_", "\\_") + "%"
    found = []
    for table, column, data_type, _udt in columns:
        value = f'"{column}"::text'
        if data_type == "bytea":
            value = f'patron_bytes_text("{column}")'
        hits = await db.scalar(
            text(f'SELECT count(*) FROM "{table}" WHERE {value} ILIKE :pattern'),
            {"pattern": pattern},
        )
        if hits:
            found.append(f"{table}.{column}")
    return found


async def export_of(db: AsyncSession, settings: Settings, request_id: str) -> dict[str, Any]:
    assert await service.run(db, settings, request_id=uuid.UUID(request_id)) == "done"
    request = await db.get(PrivacyRequest, uuid.UUID(request_id))
    assert request is not None
    path = settings.data_dir / "privacy" / request.file_path
    document: dict[str, Any] = json.loads(path.read_text())
    return document


async def erase(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings, cid: str, headers: Headers
) -> dict[str, Any]:
    request = _ok(
        await client.post(
            f"/api/v1/customers/{cid}/erasure", json={"confirm": True}, headers=headers
        ),
        202,
    )
    assert await service.run(db, settings, request_id=uuid.UUID(request["id"])) == "done"
    return request


# -- export -----------------------------------------------------------------------------------


async def test_the_export_holds_everything_patron_has_about_the_customer(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings, admin: Headers
) -> None:
    person = await rich_customer(client, db, admin)
    queued = _ok(
        await client.post(f"/api/v1/customers/{person.id}/privacy-export", headers=admin), 202
    )
    assert (queued["kind"], queued["status"], queued["download_url"]) == ("export", "queued", None)
    document = await export_of(db, settings, queued["id"])

    profile = document["customer"]
    assert (profile["email"], profile["phone"], profile["last_name"]) == (EMAIL, PHONE, LAST)
    assert profile["birthday"] == "1990-12-10"
    assert document["custom_fields"] == {"shoe_size": "38"}
    assert document["preferences"]["locale"] == "en-GB"
    assert document["preferences"]["interests"] == ["mugs"]
    assert [e["email"] for e in document["emails"]] == [OTHER_EMAIL]
    assert [a["line1"] for a in document["addresses"]] == [STREET]
    assert [x["external_id"] for x in document["external_ids"]] == ["web-77"]
    assert [c["status"] for c in document["consents"]] == ["unsubscribed"]
    assert [c["status"] for c in document["consent_history"]] == ["subscribed", "unsubscribed"]
    (order,) = document["orders"]
    assert order["total"] == "45.00"
    assert order["billing_address"]["line1"] == STREET
    assert [line["title"] for line in order["lines"]] == ["Engine Mug"]
    assert [p["amount"] for p in order["payments"]] == ["45.00"]
    assert [r["note"] for r in order["refunds"]] == [f"sorry {FIRST} {LAST}"]
    assert order["shipments"][0]["tracking_number"] == "1Z999AA1"
    assert order["shipments"][0]["events"][-1]["status"] == "delivered"
    assert [c["email"] for c in document["carts"]] == [EMAIL]
    notes = [e["body"] for e in document["timeline"] if e["kind"] == "note" and e["body"]]
    assert notes == [f"{FIRST} {LAST} asked us to deliver to {STREET} only."]
    assert [a["filename"] for a in document["attachments"]] == ["letter.txt"]
    assert "storage_key" not in document["attachments"][0]
    assert sorted(e["name"] for e in document["tracking_events"]) == ["searched", "viewed_product"]
    assert len(document["anonymous_ids"]) == 1
    assert len(document["segments"]) == 1
    assert {d["event_type"] for d in document["outbound_webhooks"]} >= {
        "customer.updated",
        "order.created",
    }
    assert "customer.created" in {row["action"] for row in document["audit_log"]}


async def test_an_export_is_downloaded_by_permitted_staff_until_it_expires(
    client: httpx2.AsyncClient,
    db: AsyncSession,
    settings: Settings,
    admin: Headers,
    make_user: MakeUser,
    make_key: MakeKey,
) -> None:
    created = _ok(
        await client.post(
            "/api/v1/customers", json={"email": EMAIL, "first_name": FIRST}, headers=admin
        ),
        201,
    )
    queued = _ok(
        await client.post(f"/api/v1/customers/{created['id']}/privacy-export", headers=admin), 202
    )
    url = f"/api/v1/privacy/requests/{queued['id']}/download"
    not_ready = await client.get(url, headers=admin)
    assert (not_ready.status_code, not_ready.json()["error"]["code"]) == (409, "export_not_ready")
    await service.run(db, settings, request_id=uuid.UUID(queued["id"]))

    status = _ok(await client.get(f"/api/v1/privacy/requests/{queued['id']}", headers=admin))
    assert (status["status"], status["download_url"]) == ("done", url)
    download = await client.get(url, headers=admin)
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    assert json.loads(download.content)["customer"]["email"] == EMAIL
    assert "customer.read" in await audit_actions(db, created["id"])

    support = bearer(await make_key(await make_user("support")))
    refused = await client.get(url, headers=support)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "missing_scope")

    request = await db.get(PrivacyRequest, uuid.UUID(queued["id"]))
    assert request is not None
    path = settings.data_dir / "privacy" / request.file_path
    assert await service.forget_expired_exports(db, settings) == 0
    later = utcnow() + timedelta(days=settings.privacy_export_keep_days, minutes=1)
    assert await service.forget_expired_exports(db, settings, now=later) == 1
    assert not path.exists()
    gone = await client.get(url, headers=admin)
    assert (gone.status_code, gone.json()["error"]["code"]) == (410, "export_expired")
    status = _ok(await client.get(f"/api/v1/privacy/requests/{queued['id']}", headers=admin))
    assert (status["status"], status["download_url"]) == ("expired", None)


async def test_an_export_of_a_missing_or_forbidden_customer_is_a_404(
    client: httpx2.AsyncClient, admin: Headers, make_user: MakeUser, make_key: MakeKey
) -> None:
    missing = await client.post(f"/api/v1/customers/{uuid.uuid4()}/privacy-export", headers=admin)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "customer_not_found")
    theirs = _ok(
        await client.post("/api/v1/customers", json={"first_name": "Bo"}, headers=admin), 201
    )
    manager = bearer(await make_key(await make_user("manager")))  # team scope, not the owner
    hidden = await client.post(f"/api/v1/customers/{theirs['id']}/privacy-export", headers=manager)
    assert hidden.status_code == 404
    unknown = await client.get(f"/api/v1/privacy/requests/{uuid.uuid4()}", headers=admin)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (
        404,
        "privacy_request_not_found",
    )


# -- erasure ----------------------------------------------------------------------------------


async def test_after_an_erasure_no_column_of_any_table_holds_the_person(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings, admin: Headers
) -> None:
    person = await rich_customer(client, db, admin)
    export = _ok(
        await client.post(f"/api/v1/customers/{person.id}/privacy-export", headers=admin), 202
    )
    await service.run(db, settings, request_id=uuid.UUID(export["id"]))
    before = {trace: await columns_holding(db, trace) for trace in TRACES}
    assert all(before.values()), before  # the scan does find them while they are there

    request = await erase(client, db, settings, person.id, admin)

    after = {trace: await columns_holding(db, trace) for trace in TRACES}
    assert after == {trace: [] for trace in TRACES}
    assert not storage_path(settings, person.attachment_key).exists()
    assert not list((settings.data_dir / "privacy").iterdir())  # the earlier export went too
    done = _ok(await client.get(f"/api/v1/privacy/requests/{request['id']}", headers=admin))
    assert done["status"] == "done"
    assert done["counts"]["orders_anonymised"] == 1
    assert done["counts"]["tracking_events"] == 2


async def test_the_orders_stay_with_their_amounts_on_an_anonymous_tombstone(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings, admin: Headers
) -> None:
    person = await rich_customer(client, db, admin)
    await erase(client, db, settings, person.id, admin)

    order = await db.get(Order, uuid.UUID(person.order_id))
    assert order is not None
    await db.refresh(order)
    assert (str(order.total), str(order.refunded_total), order.currency) == ("45.00", "5.00", "USD")
    assert order.billing_address == {"country": "GB"}
    assert order.note == ""
    tombstone = await db.get(Customer, uuid.UUID(person.id))
    assert tombstone is not None
    await db.refresh(tombstone)
    assert tombstone.erased_at is not None
    assert (tombstone.email, tombstone.first_name, tombstone.birthday) == (None, "", None)
    order_page = _ok(await client.get(f"/api/v1/orders/{person.order_id}", headers=admin))
    assert order_page["total"] == "45.00"
    gone = await client.get(f"/api/v1/customers/{person.id}", headers=admin)
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "customer_erased")
    listed = _ok(await client.get("/api/v1/customers", params={"q": person.id}, headers=admin))
    assert person.id not in [c["id"] for c in listed["items"]]
    actions = await audit_actions(db, person.id)
    assert actions[-1] == "customer.erased"


async def test_an_erasure_leaves_another_customer_untouched(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings, admin: Headers
) -> None:
    other = await rich_customer(client, db, admin, email="grace@example.org")
    person = await rich_customer(client, db, admin)
    await erase(client, db, settings, person.id, admin)

    kept = _ok(await client.get(f"/api/v1/customers/{other.id}", headers=admin))
    assert (kept["email"], kept["last_name"], kept["phone"]) == ("grace@example.org", LAST, PHONE)
    assert [a["line1"] for a in kept["addresses"]] == [STREET]
    timeline = _ok(await client.get(f"/api/v1/customers/{other.id}/timeline", headers=admin))
    assert any(FIRST in (e.get("body") or "") for e in timeline["items"])
    assert storage_path(settings, other.attachment_key).exists()
    order = await db.get(Order, uuid.UUID(other.order_id))
    assert order is not None
    assert order.billing_address is not None
    assert order.billing_address["line1"] == STREET


async def test_running_an_erasure_twice_changes_nothing_more(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings, admin: Headers
) -> None:
    person = await rich_customer(client, db, admin)
    request = await erase(client, db, settings, person.id, admin)
    assert await service.run(db, settings, request_id=uuid.UUID(request["id"])) is None
    again = await erase_customer(db, settings, customer_id=uuid.UUID(person.id))
    assert again == {}
    repeat = await client.post(
        f"/api/v1/customers/{person.id}/erasure", json={"confirm": True}, headers=admin
    )
    assert (repeat.status_code, repeat.json()["error"]["code"]) == (404, "customer_erased")


async def test_an_erasure_without_confirmation_is_refused_and_erases_nothing(
    client: httpx2.AsyncClient, db: AsyncSession, admin: Headers
) -> None:
    person = await rich_customer(client, db, admin)
    for body in ({}, {"confirm": False}):
        refused = await client.post(
            f"/api/v1/customers/{person.id}/erasure", json=body, headers=admin
        )
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "confirmation_required"
    malformed: list[dict[str, Any]] = [
        {"confirm": "yes"},
        {"confirm": 1},
        {"confirm": True, "why": "asked"},
    ]
    for wrong in malformed:
        invalid = await client.post(
            f"/api/v1/customers/{person.id}/erasure", json=wrong, headers=admin
        )
        assert (invalid.status_code, invalid.json()["error"]["code"]) == (422, "validation_error")
    assert (
        await db.scalar(select(PrivacyRequest.id).where(PrivacyRequest.kind == "erasure")) is None
    )
    kept = _ok(await client.get(f"/api/v1/customers/{person.id}", headers=admin))
    assert kept["email"] == EMAIL


async def test_only_staff_allowed_to_erase_can_ask_for_an_erasure(
    client: httpx2.AsyncClient,
    db: AsyncSession,
    admin: Headers,
    make_user: MakeUser,
    make_key: MakeKey,
) -> None:
    created = _ok(await client.post("/api/v1/customers", json={"email": EMAIL}, headers=admin), 201)
    for role in ("manager", "support", "marketing"):
        headers = bearer(await make_key(await make_user(role)))
        refused = await client.post(
            f"/api/v1/customers/{created['id']}/erasure", json={"confirm": True}, headers=headers
        )
        assert refused.status_code == 403, role
    assert await db.scalar(select(PrivacyRequest.id)) is None


async def test_an_id_merged_into_an_erased_customer_answers_erased(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings, admin: Headers
) -> None:
    survivor = _ok(
        await client.post(
            "/api/v1/customers", json={"email": EMAIL, "last_name": LAST}, headers=admin
        ),
        201,
    )
    merged = _ok(
        await client.post(
            "/api/v1/customers",
            json={"email": OTHER_EMAIL, "first_name": FIRST, "last_name": LAST},
            headers=admin,
        ),
        201,
    )
    _ok(
        await client.post(
            f"/api/v1/customers/{survivor['id']}/merge",
            json={"merge_id": merged["id"], "fields": {}},
            headers=admin,
        )
    )
    await erase(client, db, settings, merged["id"], admin)  # the old id reaches the survivor
    for cid in (survivor["id"], merged["id"]):
        gone = await client.get(f"/api/v1/customers/{cid}", headers=admin)
        assert (gone.status_code, gone.json()["error"]["code"]) == (404, "customer_erased")
    for trace in (EMAIL, OTHER_EMAIL, LAST):
        assert await columns_holding(db, trace) == []


async def test_a_second_erasure_request_while_one_waits_returns_the_waiting_one(
    client: httpx2.AsyncClient, db: AsyncSession, admin: Headers
) -> None:
    created = _ok(await client.post("/api/v1/customers", json={"email": EMAIL}, headers=admin), 201)
    url = f"/api/v1/customers/{created['id']}/erasure"
    first = _ok(await client.post(url, json={"confirm": True}, headers=admin), 202)
    second = _ok(await client.post(url, json={"confirm": True}, headers=admin), 202)
    assert first["id"] == second["id"]
    jobs = await db.scalar(
        text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'privacy.run'")
    )
    assert jobs == 1


async def test_a_worker_carries_out_a_committed_erasure_request(
    isolated_database: IsolatedDatabase, tmp_path: Path
) -> None:
    database = isolated_database.database
    settings = make_settings(isolated_database.url, tmp_path)
    async with database.transaction() as db:
        customer = Customer(email=EMAIL, first_name=FIRST, last_name=LAST)
        db.add(customer)
        await db.flush()
        request = await service.request_erasure(
            db, customer=customer, actor=SYSTEM, source="api", confirmed=True
        )
    set_runtime(settings, database)
    await run_worker(database, wait=False, concurrency=1)
    async with database.transaction() as db:
        done = await db.get(PrivacyRequest, request.id)
        erased = await db.get(Customer, customer.id)
    assert done is not None
    assert erased is not None
    assert (done.status, erased.email, erased.erased_at is not None) == ("done", None, True)


async def test_the_request_list_shows_each_role_only_the_kinds_it_may_handle(
    client: httpx2.AsyncClient,
    db: AsyncSession,
    admin: Headers,
    make_user: MakeUser,
    make_key: MakeKey,
) -> None:
    one = _ok(await client.post("/api/v1/customers", json={"email": EMAIL}, headers=admin), 201)
    two = _ok(
        await client.post("/api/v1/customers", json={"email": OTHER_EMAIL}, headers=admin), 201
    )
    export = _ok(
        await client.post(f"/api/v1/customers/{one['id']}/privacy-export", headers=admin), 202
    )
    erasure = _ok(
        await client.post(
            f"/api/v1/customers/{two['id']}/erasure", json={"confirm": True}, headers=admin
        ),
        202,
    )

    def ids(page: dict[str, Any]) -> list[str]:
        return [item["id"] for item in page["items"]]

    everything = _ok(await client.get("/api/v1/privacy/requests", headers=admin))
    assert ids(everything) == [erasure["id"], export["id"]]
    only_exports = _ok(
        await client.get("/api/v1/privacy/requests", params={"kind": "export"}, headers=admin)
    )
    assert ids(only_exports) == [export["id"]]
    first = _ok(await client.get("/api/v1/privacy/requests", params={"limit": 1}, headers=admin))
    rest = _ok(
        await client.get(
            "/api/v1/privacy/requests",
            params={"limit": 1, "cursor": first["next_cursor"]},
            headers=admin,
        )
    )
    assert ids(first) + ids(rest) == [erasure["id"], export["id"]]
    marketing = bearer(await make_key(await make_user("marketing")))  # export, not erase
    assert ids(_ok(await client.get("/api/v1/privacy/requests", headers=marketing))) == [
        export["id"]
    ]
    hidden = await client.get(f"/api/v1/privacy/requests/{erasure['id']}", headers=marketing)
    assert hidden.status_code == 404
    bad = await client.get("/api/v1/privacy/requests", params={"status": "lost"}, headers=admin)
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "validation_error")


EMAILS = st.emails().map(str.lower)
JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))


def _case_mixed(value: str, flips: list[bool]) -> str:
    return "".join(c.upper() if flips[i % len(flips)] else c.lower() for i, c in enumerate(value))


@given(
    emails=st.lists(EMAILS, min_size=1, max_size=3),
    filler=st.lists(st.text(max_size=15), min_size=1, max_size=4),
    flips=st.lists(st.booleans(), min_size=1, max_size=8),
    extra=st.dictionaries(st.text(max_size=8), JSON_LEAVES, max_size=4),
)
def test_scrubbing_leaves_no_copy_of_an_email_in_any_case_anywhere_in_the_json(
    emails: list[str], filler: list[str], flips: list[bool], extra: dict[str, Any]
) -> None:
    needles = Needles.of(emails)
    sentence = " ".join(
        f"{filler[i % len(filler)]} {_case_mixed(email, flips)}" for i, email in enumerate(emails)
    )
    details = {**extra, "note": sentence, "nested": [{"to": emails[-1]}, sentence]}
    for cleaned in (needles.scrub(details), redact_audit_details(details, needles)):
        text_form = json.dumps(cleaned).lower()
        assert not any(email in text_form for email in emails)
    kept = redact_audit_details({"request_id": "r-1", "fields": ["email"]}, needles)
    assert kept == {"request_id": "r-1", "fields": ["email"]}
