"""The order upsert for custom stores: create or update by the store's ID, never go backwards."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.config import Settings
from patron.events.schemas import OrderUpsert
from patron.events.upsert import upsert_order
from patron.models import Channel, Customer, Order, TimelineEntry
from patron.orders import repository as orders
from tests.conftest import MakeKey, MakeUser, bearer, principal_for
from tests.shop import make_customer, metrics_of

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def _channel(db: AsyncSession) -> Channel:
    channel = Channel(name=f"Custom shop {uuid.uuid4().hex[:6]}", kind="online_store")
    db.add(channel)
    await db.flush()
    return channel


def _version(step: int, *, email: str | None, **overrides: Any) -> dict[str, Any]:
    """The store's order as of ``step``: two teas at 10.00, a note and tags that change."""
    return {
        "email": email,
        "lines": [{"title": "Green tea", "unit_price": "10.00", "quantity": 2}],
        "updated_at": (START + timedelta(minutes=step)).isoformat(),
        "note": f"version {step}",
        "tags": [f"v{step}"],
        **overrides,
    }


@dataclass
class Store:
    """A custom store: its admin key, its channel and one shopper's email."""

    headers: dict[str, str]
    channel: Channel
    email: str

    def url(self, external_id: str) -> str:
        return f"/api/v1/orders/by-external-id/{self.channel.id}/{external_id}"


@pytest.fixture
async def store(make_user: MakeUser, make_key: MakeKey, db: AsyncSession) -> Store:
    headers = bearer(await make_key(await make_user("admin")))
    return Store(headers, await _channel(db), f"s-{uuid.uuid4().hex[:6]}@example.com")


async def _placed_entries(db: AsyncSession, order_id: uuid.UUID) -> int:
    count = await db.scalar(
        select(func.count())
        .select_from(TimelineEntry)
        .where(TimelineEntry.order_id == order_id, TimelineEntry.kind == "order_placed")
    )
    return int(count or 0)


async def test_the_first_version_creates_the_order_and_its_customer(
    client: httpx2.AsyncClient, store: Store, db: AsyncSession
) -> None:
    headers, channel, email = store.headers, store.channel, store.email
    body = _version(0, email=email, customer_external_id="cust-7")
    response = await client.put(store.url("ord-1"), headers=headers, json=body)
    assert response.status_code == 201, response.text
    order = response.json()
    assert (order["external_id"], order["channel_id"]) == ("ord-1", str(channel.id))
    assert (order["total"], order["note"], order["applied"]) == ("20.00", "version 0", True)
    customer = await db.get(Customer, uuid.UUID(order["customer_id"]))
    assert customer is not None
    assert (customer.email, customer.source) == (email, "storefront")
    stored = await db.get(Order, uuid.UUID(order["id"]))
    assert stored is not None
    assert stored.source_updated_at == START
    assert (await metrics_of(db, customer)).orders_count == 1


async def test_a_replay_changes_nothing(
    client: httpx2.AsyncClient, store: Store, db: AsyncSession
) -> None:
    headers = store.headers
    customer = await make_customer(db)
    body = _version(0, email=customer.email or "")
    first = await client.put(store.url("ord-2"), headers=headers, json=body)
    timeline = await db.scalar(select(func.count()).select_from(TimelineEntry))
    again = await client.put(store.url("ord-2"), headers=headers, json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["applied"] is False
    assert again.json()["id"] == first.json()["id"]
    assert await db.scalar(select(func.count()).select_from(TimelineEntry)) == timeline
    assert (await metrics_of(db, customer)).orders_count == 1


async def test_a_newer_version_updates_and_an_older_one_is_ignored(
    client: httpx2.AsyncClient, store: Store, db: AsyncSession
) -> None:
    headers, email = store.headers, store.email
    url = store.url("ord-3")
    await client.put(url, headers=headers, json=_version(1, email=email))
    newer = _version(
        3,
        email=email,
        payments=[
            {"gateway": "shop", "amount": "20.00", "external_id": "pay-1", "status": "pending"}
        ],
    )
    updated = await client.put(url, headers=headers, json=newer)
    assert updated.status_code == 200, updated.text
    assert (updated.json()["note"], updated.json()["tags"]) == ("version 3", ["v3"])
    assert [p["status"] for p in updated.json()["payments"]] == ["pending"]
    paid = _version(
        4,
        email=email,
        payments=[
            {"gateway": "shop", "amount": "20.00", "external_id": "pay-1", "status": "succeeded"}
        ],
    )
    after_payment = (await client.put(url, headers=headers, json=paid)).json()
    assert [p["status"] for p in after_payment["payments"]] == ["succeeded"]
    assert after_payment["financial_status"] == "paid"
    stale = await client.put(url, headers=headers, json=_version(2, email=email))
    assert stale.json()["applied"] is False
    assert stale.json()["note"] == "version 4"


async def test_a_cancelled_version_cancels_the_order(
    client: httpx2.AsyncClient, store: Store, db: AsyncSession
) -> None:
    headers, email = store.headers, store.email
    url = store.url("ord-4")
    await client.put(url, headers=headers, json=_version(0, email=email))
    cancelled = _version(
        1, email=email, cancelled_at=START.isoformat(), cancel_reason="customer asked"
    )
    order = (await client.put(url, headers=headers, json=cancelled)).json()
    assert order["cancelled_at"] is not None
    assert order["cancel_reason"] == "customer asked"


async def test_an_existing_customer_is_found_by_the_stores_customer_id(
    client: httpx2.AsyncClient, store: Store, db: AsyncSession
) -> None:
    headers, email = store.headers, store.email
    first = await client.put(
        store.url("ord-5"),
        headers=headers,
        json=_version(0, email=email, customer_external_id="c-5"),
    )
    body = _version(0, email=None, customer_external_id="c-5")
    second = await client.put(store.url("ord-6"), headers=headers, json=body)
    assert second.status_code == 201, second.text
    assert second.json()["customer_id"] == first.json()["customer_id"]


async def test_it_refuses_what_an_order_must_not_be(
    client: httpx2.AsyncClient, store: Store, db: AsyncSession
) -> None:
    headers, channel, email = store.headers, store.channel, store.email
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        (store.url("x"), _version(0, email=email, total="99.00"), 422, "total_mismatch"),
        (store.url("x"), _version(0, email=email, external_id="y"), 422, "path_mismatch"),
        (store.url("x"), _version(0, email=None), 422, "unknown_customer"),
        (
            store.url("x"),
            _version(0, email=None, customer_id=str(uuid.uuid4())),
            422,
            "unknown_customer",
        ),
        (store.url("x"), _version(0, email=email, lines=[]), 422, "validation_error"),
        (store.url("%20"), _version(0, email=email), 422, "invalid_external_id"),
        (store.url("a%00b"), _version(0, email=email), 422, "invalid_external_id"),
        (
            f"/api/v1/orders/by-external-id/{uuid.uuid4()}/x",
            _version(0, email=email),
            404,
            "channel_not_found",
        ),
    ]
    for url, body, status, code in cases:
        response = await client.put(url, headers=headers, json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), body
    assert await orders.order_by_external_id(db, channel.id, "x") is None


async def test_another_reps_order_is_not_found(
    client: httpx2.AsyncClient,
    store: Store,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    owner = await make_user("sales")
    customer = await make_customer(db, owner_id=owner.user.id)
    admin = await make_user("admin")
    await upsert_order(
        db,
        settings,
        principal=await principal_for(db, admin.user),
        channel=store.channel,
        external_id="ord-8",
        data=OrderUpsert.model_validate(_version(0, email=customer.email)),
    )
    # a manager without a team sees only their own customers' orders
    headers = bearer(await make_key(await make_user("manager")))
    response = await client.put(
        store.url("ord-8"), headers=headers, json=_version(1, email=customer.email or "")
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "order_not_found"


# -- replays in any order end where the newest version says -----------------------------------


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[int, list[int], bool]:
    """How many versions, the order they arrive in (with repeats), whether the last cancels."""
    versions = draw(st.integers(min_value=1, max_value=5))
    repeats = draw(st.lists(st.integers(0, versions - 1), max_size=8))
    arrival = draw(st.permutations([*repeats, versions - 1]))
    return versions, list(arrival), draw(st.booleans())


def _store_version(step: int, newest: int, *, email: str, cancels: bool) -> dict[str, Any]:
    status = "succeeded" if step == newest else "pending"
    extra: dict[str, Any] = {}
    if step > 0:
        extra["payments"] = [
            {"gateway": "shop", "amount": "20.00", "external_id": "pay", "status": status}
        ]
    if cancels and step == newest:
        extra["cancelled_at"] = START.isoformat()
    return _version(step, email=email, **extra)


async def _state(db: AsyncSession, order: Order) -> dict[str, Any]:
    await db.refresh(order)
    payments = await orders.payments_of(db, order.id)
    return {
        "note": order.note,
        "tags": order.tags,
        "cancelled": order.cancelled_at is not None,
        "financial_status": order.financial_status,
        "payments": [(p.external_id, p.status, p.amount) for p in payments],
        "source_updated_at": order.source_updated_at,
        "placed_entries": await _placed_entries(db, order.id),
    }


@examples(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=deliveries())
async def test_any_sequence_of_duplicate_and_late_versions_ends_at_the_newest(
    plan: tuple[int, list[int], bool],
    db: AsyncSession,
    make_user: MakeUser,
    settings: Settings,
) -> None:
    versions, arrival, cancels = plan
    newest = versions - 1
    principal = await principal_for(db, (await make_user("admin")).user)
    channel = await _channel(db)
    email = f"p-{uuid.uuid4().hex[:8]}@example.com"

    async def deliver(external_id: str, step: int) -> Order:
        body = _store_version(step, newest, email=email, cancels=cancels)
        order, _ = await upsert_order(
            db,
            settings,
            principal=principal,
            channel=channel,
            external_id=external_id,
            data=OrderUpsert.model_validate(body),
        )
        return order

    for step in arrival:
        replayed = await deliver("replayed", step)
    only_newest = await deliver("direct", newest)
    assert await _state(db, replayed) == await _state(db, only_newest)
    assert (await _state(db, replayed))["note"] == f"version {newest}"
    count = await db.scalar(
        select(func.count()).select_from(Order).where(Order.channel_id == channel.id)
    )
    assert count == 2
