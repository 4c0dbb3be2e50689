"""The customer list on the metrics indexes: every customer has a metrics row, metric sorts
keep "never ordered" in place and page through everyone once, and a search answered from the
first rows in the list's order gives the same pages as one answered from the trigram indexes.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.customers import listing
from patron.kit.time import utcnow
from patron.models import CustomerMetrics
from tests.conftest import MakeKey, MakeUser, bearer

Headers = dict[str, str]
METRIC_SORTS = ("orders_count", "total_spent", "last_order_at")


@pytest.fixture
async def admin(make_user: MakeUser, make_key: MakeKey) -> Headers:
    return bearer(await make_key(await make_user("admin")))


async def _create(client: httpx2.AsyncClient, headers: Headers, **body: Any) -> str:
    response = await client.post("/api/v1/customers", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _figures(db: AsyncSession, customer_id: str, orders: int, days_ago: int) -> None:
    metrics = await db.get(CustomerMetrics, uuid.UUID(customer_id))
    assert metrics is not None
    metrics.orders_count = orders
    metrics.total_spent = Decimal(orders * 25)
    metrics.last_order_at = utcnow() - timedelta(days=days_ago)
    await db.flush()


async def _pages(client: httpx2.AsyncClient, headers: Headers, **params: Any) -> list[str]:
    """Every id of the list, page after page (failing on a loop)."""
    seen: list[str] = []
    cursor = None
    for _ in range(50):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/v1/customers", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the pages never ended")


async def test_a_customer_inserted_by_sql_gets_a_zero_metrics_row(db: AsyncSession) -> None:
    made = await db.scalars(
        text(
            "INSERT INTO customer (id, first_name) SELECT gen_random_uuid(), 'Bulk ' || n"
            " FROM generate_series(1, 3) n RETURNING id"
        )
    )
    ids = list(made)
    rows = (
        await db.execute(
            text(
                "SELECT orders_count, total_spent, last_order_at FROM customer_metrics"
                " WHERE customer_id = ANY(:ids)"
            ),
            {"ids": ids},
        )
    ).all()
    assert [tuple(row) for row in rows] == [(0, Decimal("0.00"), None)] * 3


async def test_never_ordered_customers_sort_as_zero_and_as_the_oldest_order(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession
) -> None:
    buyer = await _create(client, admin, first_name="Buyer")
    newcomer = await _create(client, admin, first_name="Newcomer")
    await _figures(db, buyer, orders=2, days_ago=3)

    async def ids(**params: Any) -> list[str]:
        response = await client.get("/api/v1/customers", params=params, headers=admin)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    for sort in METRIC_SORTS:
        assert await ids(sort=f"-{sort}") == [buyer, newcomer], sort
        assert await ids(sort=sort) == [newcomer, buyer], sort
    assert await ids(orders_max=0) == [newcomer]
    assert await ids(spent_max="0") == [newcomer]
    assert await ids(orders_min=1) == [buyer]
    listed = (await client.get("/api/v1/customers", headers=admin)).json()["items"]
    newcomer_row = next(c for c in listed if c["id"] == newcomer)
    assert newcomer_row["metrics"]["orders_count"] == 0


async def test_metric_sorts_page_through_everyone_once_despite_ties(
    client: httpx2.AsyncClient, admin: Headers, db: AsyncSession
) -> None:
    created = [await _create(client, admin, first_name=f"Tie {i}") for i in range(9)]
    # three buyers share a figure, two others differ, four never ordered
    for customer_id, orders, days_ago in zip(
        created, (1, 1, 1, 4, 2), (10, 10, 10, 1, 5), strict=False
    ):
        await _figures(db, customer_id, orders, days_ago)
    for sort in METRIC_SORTS:
        for key in (sort, f"-{sort}"):
            seen = await _pages(client, admin, sort=key, limit=2)
            assert sorted(seen) == sorted(created), key
            assert len(seen) == len(set(seen)), key
            whole = await _pages(client, admin, sort=key, limit=100)
            assert seen == whole, key  # the pages follow the one-page order


async def test_a_common_search_term_pages_like_a_rare_one(
    client: httpx2.AsyncClient,
    admin: Headers,
    db: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    anns = [
        await _create(
            client, admin, first_name="Ann", last_name=f"Lee{i}", email=f"a{i}@shop.example.org"
        )
        for i in range(8)
    ]
    others = [await _create(client, admin, first_name=f"Other {i}") for i in range(4)]
    for index, customer_id in enumerate(anns[:5]):
        await _figures(db, customer_id, orders=index % 2 + 1, days_ago=index)
    # the reference: a window larger than the list, so every search takes the trigram path
    monkeypatch.setattr(listing, "SEARCH_WINDOW", 10_000)
    reference = {
        sort: await _pages(client, admin, q="ann", sort=sort, limit=100)
        for sort in ("-created_at", "name", "-orders_count", "last_order_at")
    }
    assert sorted(reference["name"]) == sorted(anns)
    # a window of a few rows: most pages come from it (widened when its matches say a wider
    # one would fill the page, or not), the last ones fall back
    monkeypatch.setattr(listing, "SEARCH_WINDOW", 6)
    for widest in (0, 9, 10_000):
        monkeypatch.setattr(listing, "SEARCH_WINDOW_MAX", widest)
        for sort, expected in reference.items():
            pages = await _pages(client, admin, q="ann", sort=sort, limit=2)
            assert pages == expected, (sort, widest)
            assert await _pages(client, admin, q="ann", sort=sort, limit=100) == expected, sort
    # a rare match far outside the window is still found, and typos still match
    assert await _pages(client, admin, q="a7@shop.example.org") == [anns[7]]
    assert sorted(await _pages(client, admin, q="Othr")) == sorted(others)
    assert await _pages(client, admin, q="a5@shop.example.org", orders_min=1) == []
    assert await _pages(client, admin, q="a3@shop.example.org", orders_min=1) == [anns[3]]
