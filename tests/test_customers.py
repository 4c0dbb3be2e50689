"""Customers over the API: profiles, contact data, consent, record scope, lists and bulk."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.kit.time import utcnow
from patron.models import (
    ConsentEvent,
    Customer,
    CustomerMetrics,
    CustomFieldDefinition,
    TimelineEntry,
)
from tests.conftest import MakeKey, MakeUser, audit_actions, bearer

Headers = dict[str, str]


@pytest.fixture
async def admin(make_user: MakeUser, make_key: MakeKey) -> Headers:
    return bearer(await make_key(await make_user("admin")))


async def create(client: httpx2.AsyncClient, headers: Headers, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/customers", json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def timeline_kinds(db: AsyncSession, customer_id: str) -> list[str]:
    rows = await db.scalars(
        select(TimelineEntry.kind)
        .where(TimelineEntry.customer_id == uuid.UUID(customer_id))
        .order_by(TimelineEntry.occurred_at, TimelineEntry.id)
    )
    return list(rows)


async def test_a_new_customer_has_normalised_contact_data_and_a_country(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession
) -> None:
    customer = await create(
        client,
        admin,
        first_name="  Anna ",
        last_name="Schmidt",
        email="Anna.Schmidt@Example.DE",
        phone="030 1234567",
        tags=["VIP", " vip ", "Newsletter"],
        addresses=[{"line1": "Hauptstr. 1", "city": "Berlin", "country": "Germany"}],
        consents=[{"channel": "email", "status": "subscribed", "source": "checkout"}],
    )
    assert customer["first_name"] == "Anna"
    assert customer["email"] == "Anna.Schmidt@example.de"
    assert customer["phone"] == "+49301234567"
    assert customer["country"] == "DE"
    assert customer["tags"] == ["vip", "newsletter"]
    assert customer["addresses"][0]["is_default_billing"] is True
    assert customer["consents"][0]["status"] == "subscribed"
    assert customer["metrics"]["total_spent"] == "0.00"
    assert customer["lifecycle_stage"] == "lead"
    assert "customer.created" in await audit_actions(db, customer["id"])
    assert await timeline_kinds(db, customer["id"]) == ["consent", "profile"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"email": "not-an-email"}, "invalid_email"),
        ({"first_name": "A", "phone": "12"}, "invalid_phone"),
        ({"first_name": "A", "phone": "030 1234567"}, "invalid_phone"),  # national, no country
        (
            {"first_name": "A", "addresses": [{"line1": "x", "city": "y", "country": "Atlantis"}]},
            "invalid_country",
        ),
        ({"first_name": "A", "birthday": "2999-01-01"}, "invalid_birthday"),
        ({"first_name": "A", "time_zone": "Mars/Olympus"}, "invalid_time_zone"),
        ({}, "customer_empty"),
        ({"first_name": "A", "owner_id": str(uuid.uuid4())}, "unknown_owner"),
        ({"first_name": "A", "favourite_colour": "red"}, "validation_error"),
        ({"first_name": "A", "lifecycle_stage": "royalty"}, "validation_error"),
    ],
)
async def test_it_refuses_invalid_customers_with_a_clear_code(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession, body: dict[str, Any], code: str
) -> None:
    response = await client.post("/api/v1/customers", json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code
    assert await db.scalar(select(Customer.id).limit(1)) is None


async def test_two_live_customers_cannot_share_an_email(
    client: httpx2.AsyncClient, admin: Headers
) -> None:
    first = await create(client, admin, email="same@example.com")
    response = await client.post(
        "/api/v1/customers", json={"email": "SAME@example.com"}, headers=admin
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "duplicate_email"
    assert error["details"][0]["message"] == first["id"]


async def test_a_sales_rep_sees_only_the_customers_they_own(
    client: httpx2.AsyncClient, admin: Headers, make_user: MakeUser, make_key: MakeKey
) -> None:
    rep = bearer(await make_key(await make_user("sales")))
    theirs = await create(client, rep, first_name="Mine")
    others = await create(client, admin, first_name="Not mine")
    assert theirs["owner_id"] is not None

    listed = (await client.get("/api/v1/customers", headers=rep)).json()
    assert [c["id"] for c in listed["items"]] == [theirs["id"]]
    for method, path, body in (
        ("GET", f"/api/v1/customers/{others['id']}", None),
        ("PATCH", f"/api/v1/customers/{others['id']}", {"first_name": "Hijacked"}),
        ("PUT", f"/api/v1/customers/{others['id']}/consents/email", {"status": "unsubscribed"}),
    ):
        response = await client.request(method, path, json=body, headers=rep)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "customer_not_found"
    bulk = await client.post(
        "/api/v1/customers/bulk",
        json={"action": "tag", "tag": "x", "ids": [others["id"]], "confirm": True},
        headers=rep,
    )
    assert bulk.json() == {"matched": 0, "changed": 0, "applied": True}


async def test_reading_a_profile_is_audit_logged(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession
) -> None:
    customer = await create(client, admin, first_name="Read")
    await client.get(f"/api/v1/customers/{customer['id']}", headers=admin)
    assert "customer.read" in await audit_actions(db, customer["id"])


async def test_updates_are_audited_and_on_the_timeline(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession
) -> None:
    customer = await create(client, admin, first_name="Old", email="old@example.com")
    response = await client.patch(
        f"/api/v1/customers/{customer['id']}",
        json={"first_name": "New", "lifecycle_stage": "vip"},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["first_name"], updated["lifecycle_stage"]) == ("New", "vip")
    assert updated["lifecycle_locked"] is True
    entry = await db.scalar(
        select(TimelineEntry)
        .where(TimelineEntry.customer_id == uuid.UUID(customer["id"]))
        .order_by(TimelineEntry.occurred_at.desc())
    )
    assert entry is not None
    assert entry.summary.startswith("Profile updated: first name, lifecycle")

    back = await client.patch(
        f"/api/v1/customers/{customer['id']}", json={"lifecycle_stage": "auto"}, headers=admin
    )
    assert (back.json()["lifecycle_stage"], back.json()["lifecycle_locked"]) == ("lead", False)
    assert "customer.updated" in await audit_actions(db, customer["id"])


async def test_patch_refuses_nulls_for_required_fields_and_unknown_fields(
    client: httpx2.AsyncClient, admin: Headers
) -> None:
    customer = await create(client, admin, first_name="Keep")
    nulled = await client.patch(
        f"/api/v1/customers/{customer['id']}", json={"first_name": None}, headers=admin
    )
    assert nulled.json()["error"]["code"] == "null_not_allowed"
    unknown = await client.patch(
        f"/api/v1/customers/{customer['id']}", json={"shoe": 42}, headers=admin
    )
    assert unknown.status_code == 422


async def test_consent_keeps_its_full_history_and_needs_a_contact(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession
) -> None:
    no_phone = await create(client, admin, email="c@example.com")
    refused = await client.put(
        f"/api/v1/customers/{no_phone['id']}/consents/sms",
        json={"status": "subscribed"},
        headers=admin,
    )
    assert refused.json()["error"]["code"] == "no_phone_number"

    path = f"/api/v1/customers/{no_phone['id']}/consents/email"
    for status in ("pending", "subscribed", "unsubscribed"):
        response = await client.put(
            path,
            json={"status": status, "source": "form", "form_text_version": "v2", "ip": "192.0.2.1"},
            headers=admin,
        )
        assert response.status_code == 200, response.text
    history = (await client.get(f"{path.rsplit('/', 1)[0]}/history", headers=admin)).json()
    assert [(h["previous_status"], h["status"]) for h in history] == [
        ("subscribed", "unsubscribed"),
        ("pending", "subscribed"),
        (None, "pending"),
    ]
    assert history[0]["ip"] == "192.0.2.1"
    assert history[0]["form_text_version"] == "v2"
    events = await db.scalars(
        select(ConsentEvent).where(ConsentEvent.customer_id == uuid.UUID(no_phone["id"]))
    )
    assert len(list(events)) == 3
    assert (await timeline_kinds(db, no_phone["id"])).count("consent") == 3
    assert (await audit_actions(db, no_phone["id"])).count("customer.consent_changed") == 3


async def test_addresses_keep_one_default_and_drive_the_country(
    client: httpx2.AsyncClient, admin: Headers
) -> None:
    customer = await create(
        client,
        admin,
        first_name="Moving",
        addresses=[{"line1": "1 Rue", "city": "Paris", "country": "FR"}],
    )
    base = f"/api/v1/customers/{customer['id']}"
    added = await client.post(
        f"{base}/addresses",
        json={
            "line1": "2 Street",
            "city": "Leeds",
            "country": "uk",
            "is_default_shipping": True,
            "phone": "0113 496 0000",
        },
        headers=admin,
    )
    assert added.status_code == 201, added.text
    assert added.json()["phone"] == "+441134960000"
    profile = (await client.get(base, headers=admin)).json()
    assert profile["country"] == "GB"
    assert [a["is_default_shipping"] for a in profile["addresses"]] == [True, False]
    assert sum(a["is_default_billing"] for a in profile["addresses"]) == 1

    await client.delete(f"{base}/addresses/{added.json()['id']}", headers=admin)
    assert (await client.get(base, headers=admin)).json()["country"] == "FR"
    missing = await client.delete(f"{base}/addresses/{uuid.uuid4()}", headers=admin)
    assert missing.json()["error"]["code"] == "address_not_found"


async def test_other_emails_and_phones_are_validated_and_unique_per_customer(
    client: httpx2.AsyncClient, admin: Headers
) -> None:
    customer = await create(client, admin, email="main@example.com", phone="+14155550100")
    base = f"/api/v1/customers/{customer['id']}"
    assert (
        await client.post(f"{base}/emails", json={"value": "alt@example.com"}, headers=admin)
    ).status_code == 201
    for path, value, code in (
        ("emails", "MAIN@example.com", "duplicate_email"),
        ("emails", "alt@example.com", "duplicate_email"),
        ("emails", "nope", "invalid_email"),
        ("phones", "+1 415 555 0100", "duplicate_phone"),
        ("phones", "123", "invalid_phone"),
    ):
        response = await client.post(f"{base}/{path}", json={"value": value}, headers=admin)
        assert response.json()["error"]["code"] == code, (path, value)


async def test_a_merged_customers_old_id_resolves_to_the_survivor(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession
) -> None:
    survivor = await create(client, admin, first_name="Survivor")
    merged = await create(client, admin, first_name="Merged")
    row = await db.get(Customer, uuid.UUID(merged["id"]))
    assert row is not None
    row.merged_into_id = uuid.UUID(survivor["id"])
    await db.flush()
    answer = (await client.get(f"/api/v1/customers/{merged['id']}", headers=admin)).json()
    assert (answer["id"], answer["merged_from"]) == (survivor["id"], merged["id"])
    listed = (await client.get("/api/v1/customers", headers=admin)).json()["items"]
    assert [c["id"] for c in listed] == [survivor["id"]]


async def _with_metrics(db: AsyncSession, customer_id: str, **values: Any) -> None:
    metrics = await db.get(CustomerMetrics, uuid.UUID(customer_id))
    assert metrics is not None
    for field, value in values.items():
        setattr(metrics, field, value)
    await db.flush()


async def test_the_list_filters_by_figures_tags_consent_and_country(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession
) -> None:
    big = await create(
        client,
        admin,
        first_name="Big",
        email="big@example.com",
        tags=["vip"],
        addresses=[{"line1": "a", "city": "b", "country": "DE"}],
        consents=[{"channel": "email", "status": "subscribed"}],
    )
    small = await create(client, admin, first_name="Small", email="small@example.com")
    await _with_metrics(
        db, big["id"], total_spent=Decimal("900.00"), orders_count=5, last_order_at=utcnow()
    )
    await _with_metrics(
        db,
        small["id"],
        total_spent=Decimal("20.00"),
        orders_count=1,
        last_order_at=utcnow() - timedelta(days=400),
    )

    async def ids(**params: Any) -> list[str]:
        response = await client.get("/api/v1/customers", params=params, headers=admin)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    assert await ids(spent_min="100") == [big["id"]]
    assert await ids(spent_max="100") == [small["id"]]
    assert await ids(orders_min=2) == [big["id"]]
    assert await ids(tag="VIP") == [big["id"]]
    assert await ids(country="de") == [big["id"]]
    assert await ids(consent="email:subscribed") == [big["id"]]
    assert await ids(consent="email:never_asked") == [small["id"]]
    last_year = (utcnow() - timedelta(days=30)).date().isoformat()
    assert await ids(last_order_from=last_year) == [big["id"]]
    assert await ids(sort="-total_spent") == [big["id"], small["id"]]
    assert await ids(sort="total_spent") == [small["id"], big["id"]]
    bad = await client.get("/api/v1/customers", params={"consent": "fax:yes"}, headers=admin)
    assert bad.json()["error"]["code"] == "invalid_filter"


async def test_search_finds_names_despite_typos_and_emails_and_phones(
    client: httpx2.AsyncClient, admin: Headers
) -> None:
    john = await create(
        client,
        admin,
        first_name="John",
        last_name="Smith",
        email="jsmith@shop.example.org",
        phone="+14155550123",
    )
    await create(
        client, admin, first_name="Maria", last_name="Garcia", email="maria@shop.example.org"
    )

    async def found(q: str) -> list[str]:
        response = await client.get("/api/v1/customers", params={"q": q}, headers=admin)
        return [c["id"] for c in response.json()["items"]]

    for query in ("john smith", "jonh", "smiht", "jsmith@", "SHOP.EXAMPLE.ORG", "555 0123", "%"):
        result = await found(query)
        if query == "SHOP.EXAMPLE.ORG":
            assert len(result) == 2
        elif query == "%":
            assert result == []  # wildcards are taken literally
        else:
            assert result == [john["id"]], query


async def test_pages_follow_each_other_without_gaps_or_repeats(
    client: httpx2.AsyncClient, admin: Headers
) -> None:
    created = [(await create(client, admin, first_name=f"P{i:02d}"))["id"] for i in range(7)]
    for sort in ("-created_at", "name", "-total_spent"):
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            params: dict[str, Any] = {"limit": 3, "sort": sort}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get("/api/v1/customers", params=params, headers=admin)).json()
            seen += [c["id"] for c in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(created), sort
        assert len(seen) == len(set(seen))
    broken = await client.get("/api/v1/customers", params={"cursor": "garbage"}, headers=admin)
    assert broken.json()["error"]["code"] == "invalid_cursor"
    total = await client.get("/api/v1/customers", params={"with_total": "true"}, headers=admin)
    assert total.json()["total"] == 7


async def test_bulk_actions_count_first_and_change_only_when_confirmed(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession
) -> None:
    ids = [(await create(client, admin, first_name=f"B{i}", tags=["a"]))["id"] for i in range(3)]
    await create(client, admin, first_name="Other", tags=["b"])
    dry = await client.post(
        "/api/v1/customers/bulk",
        json={"action": "tag", "tag": "Sale", "filter": {"tag": ["a"]}},
        headers=admin,
    )
    assert dry.json() == {"matched": 3, "changed": 0, "applied": False}
    assert not await db.scalar(select(Customer.id).where(Customer.tags.contains(["sale"])))

    done = await client.post(
        "/api/v1/customers/bulk",
        json={"action": "tag", "tag": "Sale", "filter": {"tag": ["a"]}, "confirm": True},
        headers=admin,
    )
    assert done.json() == {"matched": 3, "changed": 3, "applied": True}
    again = await client.post(
        "/api/v1/customers/bulk",
        json={"action": "tag", "tag": "sale", "ids": ids, "confirm": True},
        headers=admin,
    )
    assert again.json()["changed"] == 0
    untag = await client.post(
        "/api/v1/customers/bulk",
        json={"action": "untag", "tag": "sale", "ids": ids[:1], "confirm": True},
        headers=admin,
    )
    assert untag.json()["changed"] == 1
    stage = await client.post(
        "/api/v1/customers/bulk",
        json={"action": "set_lifecycle", "lifecycle_stage": "vip", "ids": ids, "confirm": True},
        headers=admin,
    )
    assert stage.json()["changed"] == 3
    assert "customer.bulk_tag" in await audit_actions(db)
    neither = await client.post(
        "/api/v1/customers/bulk", json={"action": "tag", "tag": "x"}, headers=admin
    )
    assert neither.json()["error"]["code"] == "invalid_bulk_action"


async def test_custom_fields_are_validated_against_their_definitions(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession
) -> None:
    db.add_all(
        [
            CustomFieldDefinition(
                entity="customer", key="shoe_size", label="Shoe size", field_type="number"
            ),
            CustomFieldDefinition(
                entity="customer",
                key="style",
                label="Style",
                field_type="multiselect",
                options=["casual", "formal"],
            ),
            CustomFieldDefinition(
                entity="customer", key="vat_id", label="VAT ID", field_type="text", required=True
            ),
        ]
    )
    await db.flush()
    missing = await client.post(
        "/api/v1/customers", json={"first_name": "A", "custom_fields": {}}, headers=admin
    )
    assert missing.json()["error"]["code"] == "invalid_custom_field"
    wrong = await client.post(
        "/api/v1/customers",
        json={
            "first_name": "A",
            "custom_fields": {"vat_id": "DE1", "shoe_size": "big", "style": ["punk"], "x": 1},
        },
        headers=admin,
    )
    problems = {d["field"] for d in wrong.json()["error"]["details"]}
    assert problems == {"custom_fields.shoe_size", "custom_fields.style", "custom_fields.x"}
    good = await create(
        client,
        admin,
        first_name="A",
        custom_fields={"vat_id": "DE1", "shoe_size": "42", "style": ["formal"]},
    )
    assert good["custom_fields"] == {"vat_id": "DE1", "shoe_size": 42, "style": ["formal"]}
    found = await client.get(
        "/api/v1/customers", params={"custom": ["shoe_size:42", "style:formal"]}, headers=admin
    )
    assert [c["id"] for c in found.json()["items"]] == [good["id"]]
