"""Duplicates and merge: the review queue, and two customers becoming one without loss."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.config import Settings
from patron.customers import metrics
from patron.customers.duplicates import find_duplicates
from patron.kit.time import utcnow
from patron.models import (
    Channel,
    Consent,
    CustomerEmail,
    DuplicateCandidate,
    Order,
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


async def place_order(
    db: AsyncSession, settings: Settings, customer_id: str, number: str, total: str
) -> Order:
    order = Order(
        number=number,
        customer_id=uuid.UUID(customer_id),
        currency="USD",
        subtotal=Decimal(total),
        total=Decimal(total),
        items_count=1,
        placed_at=utcnow() - timedelta(days=3),
        financial_status="paid",
    )
    db.add(order)
    await db.flush()
    await metrics.refresh(db, settings, [order.customer_id])
    return order


async def merge(
    client: httpx2.AsyncClient, headers: Headers, survivor: str, merged: str, **fields: str
) -> httpx2.Response:
    return await client.post(
        f"/api/v1/customers/{survivor}/merge",
        json={"merge_id": merged, "fields": fields},
        headers=headers,
    )


async def test_a_customer_cannot_be_merged_into_itself(
    client: httpx2.AsyncClient, admin: Headers
) -> None:
    one = await create(client, admin, first_name="Solo")
    response = await merge(client, admin, one["id"], one["id"])
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "merge_into_self"


async def test_merging_moves_everything_to_the_survivor_and_loses_nothing(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession, settings: Settings
) -> None:
    channel = Channel(name="Shopify", kind="shopify")
    db.add(channel)
    await db.flush()
    survivor = await create(
        client,
        admin,
        first_name="Kim",
        last_name="Lee",
        email="kim@example.com",
        tags=["vip"],
        addresses=[{"line1": "1 Main St", "city": "Austin", "country": "US"}],
    )
    merged = await create(
        client,
        admin,
        first_name="Kimberly",
        email="kimberly.lee@example.org",
        phone="+15125550199",
        tags=["newsletter"],
        addresses=[{"line1": "9 Side Rd", "city": "Dallas", "country": "US"}],
        external_ids=[{"channel_id": str(channel.id), "external_id": "shop-42"}],
        consents=[{"channel": "email", "status": "subscribed", "source": "checkout"}],
    )
    await place_order(db, settings, survivor["id"], "1001", "50.00")
    await place_order(db, settings, merged["id"], "1002", "70.00")
    await client.post(
        f"/api/v1/customers/{merged['id']}/notes", json={"body": "prefers email"}, headers=admin
    )

    response = await merge(client, admin, survivor["id"], merged["id"], email="merged")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["id"] == survivor["id"]
    assert result["first_name"] == "Kim"  # survivor's value by default
    assert result["email"] == "kimberly.lee@example.org"  # chosen from the merged customer
    assert result["phone"] == "+15125550199"  # the survivor had none
    assert [e["email"] for e in result["other_emails"]] == ["kim@example.com"]
    assert sorted(result["tags"]) == ["newsletter", "vip"]
    assert len(result["addresses"]) == 2
    assert sum(a["is_default_billing"] for a in result["addresses"]) == 1
    assert result["external_ids"][0]["external_id"] == "shop-42"
    assert result["consents"][0]["status"] == "subscribed"
    assert result["metrics"]["orders_count"] == 2
    assert result["metrics"]["total_spent"] == "120.00"

    orders = await db.scalar(
        select(func.count()).where(Order.customer_id == uuid.UUID(survivor["id"]))
    )
    assert orders == 2
    kinds = list(
        await db.scalars(
            select(TimelineEntry.kind).where(TimelineEntry.customer_id == uuid.UUID(survivor["id"]))
        )
    )
    assert "note" in kinds
    assert "merge" in kinds
    assert "customer.merged" in await audit_actions(db, survivor["id"])

    old = (await client.get(f"/api/v1/customers/{merged['id']}", headers=admin)).json()
    assert (old["id"], old["merged_from"]) == (survivor["id"], merged["id"])
    again = await merge(client, admin, survivor["id"], merged["id"])
    assert again.json()["error"]["code"] == "merge_into_self"  # the old id is the survivor now


async def test_the_more_recent_consent_decision_wins_a_merge(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession
) -> None:
    first = await create(
        client,
        admin,
        email="a@example.com",
        consents=[{"channel": "email", "status": "subscribed"}],
    )
    second = await create(client, admin, email="b@example.com")
    await client.put(
        f"/api/v1/customers/{second['id']}/consents/email",
        json={"status": "unsubscribed", "source": "unsubscribe link"},
        headers=admin,
    )
    await merge(client, admin, first["id"], second["id"])
    consents = list(
        await db.scalars(select(Consent).where(Consent.customer_id == uuid.UUID(first["id"])))
    )
    assert [(c.channel, c.status, c.source) for c in consents] == [
        ("email", "unsubscribed", "unsubscribe link")
    ]


async def test_a_sales_rep_cannot_merge_a_customer_they_do_not_own(
    client: httpx2.AsyncClient, admin: Headers, make_user: MakeUser, make_key: MakeKey
) -> None:
    rep = bearer(await make_key(await make_user("sales")))
    mine = await create(client, rep, first_name="Mine")
    theirs = await create(client, admin, first_name="Theirs")
    response = await merge(client, rep, mine["id"], theirs["id"])
    assert response.status_code == 404


async def test_likely_duplicates_are_found_reviewed_and_never_proposed_twice(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession
) -> None:
    address = {"line1": "12 Baker Street", "city": "London", "postal_code": "NW1", "country": "GB"}
    by_email = await create(client, admin, first_name="Ann", email="ann@example.com")
    other = await create(client, admin, first_name="Annie", email="annie@example.com")
    db.add(CustomerEmail(customer_id=uuid.UUID(other["id"]), email="ann@example.com"))
    phone_a = await create(client, admin, first_name="Bo", phone="+447700900123")
    phone_b = await create(client, admin, first_name="Bob", phone="+447700900123")
    name_a = await create(
        client, admin, first_name="Sherlock", last_name="Holmes", addresses=[address]
    )
    name_b = await create(
        client,
        admin,
        first_name="Sherlok",
        last_name="Holmes",
        addresses=[{**address, "line1": "12, Baker street"}],
    )
    await create(client, admin, first_name="Mrs", last_name="Hudson", addresses=[address])
    await db.flush()

    assert await find_duplicates(db) == 3
    assert await find_duplicates(db) == 0
    listed = (await client.get("/api/v1/duplicates", headers=admin)).json()["items"]
    pairs = {
        (item["reason"], frozenset((item["first"]["id"], item["second"]["id"]))) for item in listed
    }
    assert pairs == {
        ("same_email", frozenset((by_email["id"], other["id"]))),
        ("same_phone", frozenset((phone_a["id"], phone_b["id"]))),
        ("similar_name_same_address", frozenset((name_a["id"], name_b["id"]))),
    }
    phone_pair = next(item for item in listed if item["reason"] == "same_phone")
    dismissed = await client.post(f"/api/v1/duplicates/{phone_pair['id']}/dismiss", headers=admin)
    assert dismissed.status_code == 204
    twice = await client.post(f"/api/v1/duplicates/{phone_pair['id']}/dismiss", headers=admin)
    assert twice.json()["error"]["code"] == "already_reviewed"
    assert await find_duplicates(db) == 0

    await merge(client, admin, name_a["id"], name_b["id"])
    statuses = dict(
        (await db.execute(select(DuplicateCandidate.reason, DuplicateCandidate.status))).all()
    )
    assert statuses["similar_name_same_address"] == "merged"
    remaining = (await client.get("/api/v1/duplicates", headers=admin)).json()["items"]
    assert [item["reason"] for item in remaining] == ["same_email"]


async def test_a_duplicate_scan_is_queued_as_a_job(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession
) -> None:
    response = await client.post("/api/v1/duplicates/scan", headers=admin)
    assert response.status_code == 202
    task = await db.scalar(
        text("SELECT task_name FROM procrastinate_jobs WHERE id = :id"),
        {"id": response.json()["job_id"]},
    )
    assert task == "customers.find_duplicates"
