"""Idempotency-Key: a retried write gets the first answer instead of doing it twice."""

from __future__ import annotations

import httpx2
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.models import Customer
from tests.conftest import MakeKey, MakeUser, bearer

Headers = dict[str, str]


@pytest.fixture
async def admin(make_user: MakeUser, make_key: MakeKey) -> Headers:
    return bearer(await make_key(await make_user("admin")))


async def customers(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(Customer)) or 0)


async def test_a_retried_create_returns_the_first_answer_and_creates_once(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession
) -> None:
    headers = {**admin, "Idempotency-Key": "order-import-0001"}
    body = {"first_name": "Once", "email": "once@example.com"}
    first = await client.post("/api/v1/customers", json=body, headers=headers)
    second = await client.post("/api/v1/customers", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await customers(db) == 1


async def test_the_same_key_for_a_different_request_is_refused(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession
) -> None:
    headers = {**admin, "Idempotency-Key": "k-1"}
    await client.post("/api/v1/customers", json={"first_name": "A"}, headers=headers)
    other = await client.post("/api/v1/customers", json={"first_name": "B"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert await customers(db) == 1


async def test_keys_belong_to_their_credential_and_errors_are_replayed_too(
    client: httpx2.AsyncClient,
    admin: Headers,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
) -> None:
    other = bearer(await make_key(await make_user("manager")))
    body = {"first_name": "Shared key"}
    mine = await client.post(
        "/api/v1/customers", json=body, headers={**admin, "Idempotency-Key": "same"}
    )
    theirs = await client.post(
        "/api/v1/customers", json=body, headers={**other, "Idempotency-Key": "same"}
    )
    assert mine.json()["id"] != theirs.json()["id"]

    bad = {"email": "not-an-email"}
    refused = await client.post(
        "/api/v1/customers", json=bad, headers={**admin, "Idempotency-Key": "bad"}
    )
    again = await client.post(
        "/api/v1/customers", json=bad, headers={**admin, "Idempotency-Key": "bad"}
    )
    assert refused.status_code == again.status_code == 422
    assert again.headers["idempotent-replayed"] == "true"
    assert await customers(db) == 2


async def test_requests_without_a_key_or_with_a_broken_one(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession
) -> None:
    for _ in range(2):
        await client.post("/api/v1/customers", json={"first_name": "Twice"}, headers=admin)
    assert await customers(db) == 2
    broken = await client.post(
        "/api/v1/customers",
        json={"first_name": "X"},
        headers={**admin, "Idempotency-Key": "x" * 201},
    )
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "invalid_idempotency_key"
