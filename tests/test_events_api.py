"""Tracking events over the API: sending, deduplicating, identifying, listing, refusing."""

from __future__ import annotations

import importlib.util
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth import repository as auth_repository
from patron.kit.time import utcnow
from patron.models import Channel, Customer, CustomerExternalId, TimelineEntry, TrackingEvent
from tests.conftest import MakeKey, MakeUser, bearer
from tests.shop import make_customer

MIGRATION = Path(__file__).parent.parent / "migrations/versions/20261123_0009_tracking_events.py"


async def _storefront(make_user: MakeUser, make_key: MakeKey) -> dict[str, str]:
    return bearer(await make_key(await make_user("marketing"), ["events:write"]))


@pytest.fixture
async def headers(make_user: MakeUser, make_key: MakeKey) -> dict[str, str]:
    """A storefront's key: it may only send events."""
    return await _storefront(make_user, make_key)


async def _events_of(db: AsyncSession, **where: Any) -> list[TrackingEvent]:
    query = select(TrackingEvent).order_by(TrackingEvent.occurred_at, TrackingEvent.id)
    for column, value in where.items():
        query = query.where(getattr(TrackingEvent, column) == value)
    return list(await db.scalars(query))


async def _send(
    client: httpx2.AsyncClient, headers: dict[str, str], **body: Any
) -> httpx2.Response:
    return await client.post("/api/v1/events", headers=headers, json=body)


async def _refused(client: httpx2.AsyncClient, headers: dict[str, str], **body: Any) -> str:
    response = await _send(client, headers, **body)
    assert response.status_code == 422, response.text
    code: str = response.json()["error"]["code"]
    return code


# -- sending ----------------------------------------------------------------------------------


async def test_a_storefront_key_sends_an_event_for_a_customer_known_by_email(
    client: httpx2.AsyncClient, headers: dict[str, str], db: AsyncSession
) -> None:
    customer = await make_customer(db)
    response = await _send(
        client,
        headers,
        email=customer.email.upper() if customer.email else None,
        name="viewed_product",
        properties={"product_id": "sku-1", "price": "19.90"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "created"
    assert body["customer_id"] == str(customer.id)
    [event] = await _events_of(db, customer_id=customer.id)
    assert event.name == "viewed_product"
    assert event.properties == {"product_id": "sku-1", "price": "19.90"}
    assert event.source.startswith("key:")
    assert str(event.id) == body["id"]
    assert event.id.version == 7


async def test_an_unknown_email_becomes_a_new_customer(
    client: httpx2.AsyncClient, headers: dict[str, str], db: AsyncSession
) -> None:
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    response = await _send(client, headers, email=email, name="signed_up")
    assert response.status_code == 201, response.text
    customer = await db.get(Customer, uuid.UUID(response.json()["customer_id"]))
    assert customer is not None
    assert (customer.email, customer.source) == (email, "storefront")


async def test_a_custom_event_keeps_its_timestamp(
    client: httpx2.AsyncClient, headers: dict[str, str], db: AsyncSession
) -> None:
    customer = await make_customer(db)
    when = utcnow() - timedelta(days=40)
    response = await _send(
        client,
        headers,
        customer_id=str(customer.id),
        name="wishlist.item-added:v2",
        timestamp=when.isoformat(),
    )
    assert response.status_code == 201, response.text
    [event] = await _events_of(db, customer_id=customer.id)
    assert event.occurred_at == when
    assert event.received_at > when


async def test_the_same_idempotency_key_is_stored_once(
    client: httpx2.AsyncClient, headers: dict[str, str], db: AsyncSession
) -> None:
    customer = await make_customer(db)
    body = {"customer_id": str(customer.id), "name": "added_to_cart", "idempotency_key": "k-1"}
    first = await _send(client, headers, **body)
    # a retry without a timestamp would land at another "now": still the same event
    second = await _send(client, headers, **body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == {**first.json(), "status": "duplicate"}
    assert len(await _events_of(db, customer_id=customer.id)) == 1


async def test_idempotency_keys_belong_to_their_source(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey, db: AsyncSession
) -> None:
    shop_a = await _storefront(make_user, make_key)
    shop_b = await _storefront(make_user, make_key)
    customer = await make_customer(db)
    body = {"customer_id": str(customer.id), "name": "searched", "idempotency_key": "same"}
    assert (await _send(client, shop_a, **body)).status_code == 201
    assert (await _send(client, shop_b, **body)).status_code == 201
    assert len(await _events_of(db, customer_id=customer.id)) == 2


# -- refusing ---------------------------------------------------------------------------------


async def test_it_refuses_bad_event_names(
    client: httpx2.AsyncClient, headers: dict[str, str], db: AsyncSession
) -> None:
    customer = await make_customer(db)
    for name in ("", "Viewed Product", "1st_visit", "viewed product", "a" * 101, "añadido"):
        code = await _refused(client, headers, customer_id=str(customer.id), name=name)
        assert code == "invalid_event_name", name
    assert await _events_of(db, customer_id=customer.id) == []


async def test_it_refuses_properties_over_the_size_limit(
    client: httpx2.AsyncClient, headers: dict[str, str], db: AsyncSession
) -> None:
    customer = await make_customer(db)
    big = {"blob": "x" * (16 * 1024)}
    code = await _refused(
        client, headers, customer_id=str(customer.id), name="viewed_product", properties=big
    )
    assert code == "properties_too_large"
    nul = {"text": "a\x00b"}
    code = await _refused(
        client, headers, customer_id=str(customer.id), name="viewed_product", properties=nul
    )
    assert code == "invalid_properties"


async def test_properties_with_text_that_cannot_be_stored_are_refused(
    client: httpx2.AsyncClient, headers: dict[str, str]
) -> None:
    raw = b'{"anonymous_id": "v", "name": "searched", "properties": {"q": "\\ud800"}}'
    for path, body in (
        ("/api/v1/events", raw),
        ("/api/v1/events/batch", b'{"events": [%s]}' % raw),
    ):
        response = await client.post(
            path, headers={**headers, "content-type": "application/json"}, content=body
        )
        assert response.status_code in (200, 422), response.text
        assert "invalid_properties" in response.text


async def test_properties_must_be_a_json_object(
    client: httpx2.AsyncClient, headers: dict[str, str], db: AsyncSession
) -> None:
    customer = await make_customer(db)
    code = await _refused(
        client, headers, customer_id=str(customer.id), name="searched", properties=["a"]
    )
    assert code == "validation_error"


async def test_it_refuses_timestamps_in_the_future_beyond_clock_skew(
    client: httpx2.AsyncClient, headers: dict[str, str], db: AsyncSession
) -> None:
    customer = await make_customer(db)
    later = (utcnow() + timedelta(days=2)).isoformat()
    code = await _refused(
        client, headers, customer_id=str(customer.id), name="searched", timestamp=later
    )
    assert code == "timestamp_in_future"
    skewed = (utcnow() + timedelta(minutes=1)).isoformat()
    response = await _send(
        client, headers, customer_id=str(customer.id), name="searched", timestamp=skewed
    )
    assert response.status_code == 201
    code = await _refused(
        client,
        headers,
        customer_id=str(customer.id),
        name="searched",
        timestamp="0001-01-01T00:00:00+14:00",
    )
    assert code == "timestamp_too_old"


async def test_it_refuses_unknown_customers_and_events_from_nobody(
    client: httpx2.AsyncClient, headers: dict[str, str], db: AsyncSession
) -> None:
    unknown = str(uuid.uuid4())
    assert await _refused(client, headers, customer_id=unknown, name="searched") == (
        "unknown_customer"
    )
    assert await _refused(client, headers, name="searched") == "missing_identity"
    assert await _refused(client, headers, email="not-an-email", name="searched") == (
        "invalid_email"
    )
    assert await _events_of(db, name="searched") == []


async def test_a_store_customer_id_needs_its_channel_and_an_email_the_first_time(
    client: httpx2.AsyncClient, headers: dict[str, str], db: AsyncSession
) -> None:
    channel = Channel(name=f"Custom shop {uuid.uuid4().hex[:6]}", kind="online_store")
    db.add(channel)
    await db.flush()
    assert await _refused(client, headers, external_id="c-9", name="searched") == (
        "channel_required"
    )
    store_ref = {"external_id": "c-9", "channel_id": str(channel.id)}
    assert await _refused(client, headers, **store_ref, name="searched") == "unknown_customer"
    email = f"c9-{uuid.uuid4().hex[:6]}@example.com"
    first = await _send(client, headers, **store_ref, email=email, name="searched")
    assert first.status_code == 201, first.text
    again = await _send(client, headers, **store_ref, name="viewed_product")
    assert again.json()["customer_id"] == first.json()["customer_id"]
    linked = await db.scalar(
        select(CustomerExternalId.customer_id).where(CustomerExternalId.external_id == "c-9")
    )
    assert str(linked) == first.json()["customer_id"]


async def test_a_key_without_events_write_is_refused_and_a_storefront_key_reads_nothing(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey, db: AsyncSession
) -> None:
    customer = await make_customer(db)
    reader = bearer(await make_key(await make_user("admin"), ["customers:read"]))
    response = await _send(client, reader, customer_id=str(customer.id), name="searched")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "missing_scope"
    storefront = await _storefront(make_user, make_key)
    for path in ("/api/v1/customers", f"/api/v1/customers/{customer.id}/events"):
        assert (await client.get(path, headers=storefront)).status_code == 403


async def test_marketing_and_managers_may_send_events_and_sales_reps_may_not(
    db: AsyncSession,
) -> None:
    for name, expected in (("admin", True), ("manager", True), ("marketing", True)):
        role = await auth_repository.role_by_name(db, name)
        assert role is not None
        assert ("events:write" in role.scopes or name == "admin") is expected
    for name in ("sales", "support", "analyst"):
        role = await auth_repository.role_by_name(db, name)
        assert role is not None
        assert "events:write" not in role.scopes


async def test_the_migration_gives_existing_manager_and_marketing_roles_the_new_scope(
    db: AsyncSession,
) -> None:
    spec = importlib.util.spec_from_file_location("tracking_migration", MIGRATION)
    assert spec is not None
    assert spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    await db.execute(text(migration.REVOKE_SCOPE))
    await db.execute(text(migration.GRANT_SCOPE))
    await db.execute(text(migration.GRANT_SCOPE))  # twice: still once
    for name in ("manager", "marketing"):
        role = await auth_repository.role_by_name(db, name)
        assert role is not None
        await db.refresh(role)
        assert role.scopes.count("events:write") == 1


# -- batches ----------------------------------------------------------------------------------


async def test_a_batch_keeps_the_good_events_and_reports_the_bad_ones_by_position(
    client: httpx2.AsyncClient, headers: dict[str, str], db: AsyncSession
) -> None:
    customer = await make_customer(db)
    who = {"customer_id": str(customer.id)}
    events: list[Any] = [
        {**who, "name": "viewed_product", "idempotency_key": "b-1"},
        {**who, "name": "Bad Name"},
        {**who, "name": "searched", "properties": {"q": "x" * 20_000}},
        {"customer_id": str(uuid.uuid4()), "name": "searched"},
        {**who, "name": "searched", "timestamp": (utcnow() + timedelta(days=1)).isoformat()},
        {**who, "name": "searched", "surprise": True},
        "not an event",
        {**who, "name": "viewed_product", "idempotency_key": "b-1"},
        {**who, "name": "added_to_cart", "properties": {"sku": "A"}},
    ]
    response = await client.post("/api/v1/events/batch", headers=headers, json={"events": events})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["duplicates"], body["rejected"]) == (2, 1, 6)
    codes = [item["error"]["code"] if item["error"] else item["status"] for item in body["items"]]
    assert codes == [
        "created",
        "invalid_event_name",
        "properties_too_large",
        "unknown_customer",
        "timestamp_in_future",
        "invalid_event",
        "invalid_event",
        "duplicate",
        "created",
    ]
    assert body["items"][7]["id"] == body["items"][0]["id"]
    stored = await _events_of(db, customer_id=customer.id)
    assert sorted(e.name for e in stored) == ["added_to_cart", "viewed_product"]


async def test_a_batch_is_stored_by_one_statement_so_the_rollup_triggers_run_once(
    client: httpx2.AsyncClient, headers: dict[str, str], db: AsyncSession
) -> None:
    """Row by row (psycopg's executemany), every event fired the statement triggers that keep
    the segment rollups, and concurrent batches upserting the same rollup rows in their own
    orders deadlocked (HTTP 500 under load). One INSERT's rows share a command id."""
    customer = await make_customer(db)
    names = ["viewed_product", "searched", "viewed_product", "added_to_cart"]
    events = [{"customer_id": str(customer.id), "name": name} for name in names]
    response = await client.post("/api/v1/events/batch", headers=headers, json={"events": events})
    assert response.json()["created"] == 4
    ids = [uuid.UUID(item["id"]) for item in response.json()["items"]]
    commands = text("SELECT count(DISTINCT cmin::text) FROM tracking_event WHERE id = ANY(:ids)")
    assert await db.scalar(commands, {"ids": ids}) == 1
    kept = text(
        "SELECT name, cardinality(recent) FROM customer_event_recent WHERE customer_id = :c"
    )
    assert dict((await db.execute(kept, {"c": customer.id})).all()) == {
        "viewed_product": 2,
        "searched": 1,
        "added_to_cart": 1,
    }


async def test_a_batch_has_at_most_500_events(
    client: httpx2.AsyncClient, headers: dict[str, str]
) -> None:
    events = [{"anonymous_id": "v", "name": "searched"}] * 501
    response = await client.post("/api/v1/events/batch", headers=headers, json={"events": events})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_a_batch_creates_each_new_customer_once_and_identifies_its_visitor(
    client: httpx2.AsyncClient, headers: dict[str, str], db: AsyncSession
) -> None:
    visitor, email = f"anon-{uuid.uuid4().hex}", f"new-{uuid.uuid4().hex[:8]}@example.com"
    events = [
        {"anonymous_id": visitor, "name": "viewed_product"},
        {"anonymous_id": visitor, "email": email, "name": "signed_up"},
        {"anonymous_id": visitor, "name": "added_to_cart"},
        {"email": email.upper(), "name": "searched", "idempotency_key": "s-1"},
        {"email": email, "name": "searched", "idempotency_key": "s-1"},
    ]
    response = await client.post("/api/v1/events/batch", headers=headers, json={"events": events})
    items = response.json()["items"]
    assert [item["status"] for item in items] == ["created"] * 4 + ["duplicate"]
    customers = {item["customer_id"] for item in items}
    assert len(customers) == 1
    assert None not in customers
    count = await db.scalar(
        select(func.count()).select_from(Customer).where(Customer.email == email)
    )
    assert count == 1
    assert len(await _events_of(db, customer_id=uuid.UUID(customers.pop()))) == 4


# -- identify ---------------------------------------------------------------------------------


async def test_identify_joins_the_visitors_earlier_events_and_attaches_later_ones(
    client: httpx2.AsyncClient, headers: dict[str, str], db: AsyncSession
) -> None:
    visitor = f"anon-{uuid.uuid4().hex}"
    for name in ("viewed_product", "added_to_cart"):
        response = await _send(client, headers, anonymous_id=visitor, name=name)
        assert response.json()["customer_id"] is None
    customer = await make_customer(db)
    identify = {"anonymous_id": visitor, "email": customer.email}
    response = await client.post("/api/v1/events/identify", headers=headers, json=identify)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "anonymous_id": visitor,
        "customer_id": str(customer.id),
        "events_joined": 2,
    }
    later = await _send(client, headers, anonymous_id=visitor, name="started_checkout")
    assert later.json()["customer_id"] == str(customer.id)
    events = await _events_of(db, anonymous_id=visitor)
    assert {e.customer_id for e in events} == {customer.id}
    assert len(events) == 3
    again = await client.post("/api/v1/events/identify", headers=headers, json=identify)
    assert again.json()["events_joined"] == 0
    entries = await db.scalar(
        select(func.count())
        .select_from(TimelineEntry)
        .where(TimelineEntry.customer_id == customer.id, TimelineEntry.kind == "profile")
    )
    assert entries == 1  # one line for the identification, none per event


async def test_an_event_carrying_both_ids_identifies_the_visitor(
    client: httpx2.AsyncClient, headers: dict[str, str], db: AsyncSession
) -> None:
    visitor = f"anon-{uuid.uuid4().hex}"
    await _send(client, headers, anonymous_id=visitor, name="viewed_product")
    customer = await make_customer(db)
    response = await _send(
        client, headers, anonymous_id=visitor, customer_id=str(customer.id), name="signed_in"
    )
    assert response.status_code == 201
    events = await _events_of(db, anonymous_id=visitor)
    assert [e.customer_id for e in events] == [customer.id, customer.id]


async def test_identify_needs_the_visitor_and_the_customer(
    client: httpx2.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/events/identify", headers=headers, json={"anonymous_id": "v-1"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "missing_identity"
    response = await client.post(
        "/api/v1/events/identify", headers=headers, json={"email": "a@example.com"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


# -- a customer's events ----------------------------------------------------------------------


async def test_a_customers_events_come_newest_first_in_keyset_pages(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey, db: AsyncSession
) -> None:
    sender = await _storefront(make_user, make_key)
    reader = bearer(await make_key(await make_user("admin")))
    customer = await make_customer(db)
    start = utcnow() - timedelta(days=70)
    for day in range(5):
        await _send(
            client,
            sender,
            customer_id=str(customer.id),
            name="searched" if day % 2 else "viewed_product",
            timestamp=(start + timedelta(days=day * 15)).isoformat(),
            properties={"day": day},
        )
    days: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await client.get(
            f"/api/v1/customers/{customer.id}/events", headers=reader, params=params
        )
        assert response.status_code == 200, response.text
        page = response.json()
        days += [item["properties"]["day"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert days == [4, 3, 2, 1, 0]
    searched = await client.get(
        f"/api/v1/customers/{customer.id}/events", headers=reader, params={"name": "searched"}
    )
    assert [i["properties"]["day"] for i in searched.json()["items"]] == [3, 1]
    broken = await client.get(
        f"/api/v1/customers/{customer.id}/events", headers=reader, params={"cursor": "nope"}
    )
    assert broken.status_code == 422
    assert broken.json()["error"]["code"] == "invalid_cursor"


async def test_another_reps_customer_has_no_events_to_show(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey, db: AsyncSession
) -> None:
    rep, other = await make_user("sales"), await make_user("sales")
    mine = await make_customer(db, owner_id=rep.user.id)
    theirs = await make_customer(db, owner_id=other.user.id)
    headers = bearer(await make_key(rep))
    assert (await client.get(f"/api/v1/customers/{mine.id}/events", headers=headers)).json() == {
        "items": [],
        "next_cursor": None,
    }
    response = await client.get(f"/api/v1/customers/{theirs.id}/events", headers=headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "customer_not_found"
