"""/api/v1/segments: the live preview and the editor's validation, as a marketer uses them."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.models import Customer, CustomerMetrics
from patron.segments import repository
from patron.segments.errors import SegmentTimeout
from tests.conftest import MakeKey, MakeUser, Persona, bearer
from tests.shop import make_customer

PREVIEW = "/api/v1/segments/preview"
VALIDATE = "/api/v1/segments/validate"


async def _spender(
    db: AsyncSession, first_name: str, spent: str, *, owner_id: uuid.UUID | None = None
) -> Customer:
    customer = await make_customer(db, first_name=first_name, owner_id=owner_id)
    customer.country = "DE"
    customer.tags = ["seg-test"]
    await db.merge(
        CustomerMetrics(customer_id=customer.id, orders_count=2, total_spent=Decimal(spent))
    )
    await db.flush()
    return customer


async def _post(
    client: httpx2.AsyncClient, key: str, path: str, expression: str
) -> httpx2.Response:
    return await client.post(path, headers=bearer(key), json={"expression": expression})


@pytest.fixture
async def marketer(make_user: MakeUser) -> Persona:
    return await make_user("marketing")


async def test_the_preview_counts_the_members_and_shows_the_first_of_them(
    client: httpx2.AsyncClient, db: AsyncSession, marketer: Persona, make_key: MakeKey
) -> None:
    big = await _spender(db, "Big", "250.00")
    await _spender(db, "Small", "20.00")
    key = await make_key(marketer)
    response = await _post(
        client, key, PREVIEW, 'has tag "seg-test" and total_spent>100 and country="de"'
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 1
    assert body["members"] == [
        {
            "id": str(big.id),
            "name": "Big Shopper",
            "email": big.email,
            "lifecycle": "lead",
            "total_spent": "250.00",
        }
    ]
    assert body["text"] == 'has tag "seg-test" and total_spent > 100 and country = "de"'
    assert body["ast"]["type"] == "and"
    assert body["ast"]["items"][1] == {
        "type": "compare",
        "field": "total_spent",
        "op": ">",
        "value": {"number": "100"},
    }


async def test_a_sales_rep_counts_only_their_own_customers(
    client: httpx2.AsyncClient, db: AsyncSession, make_user: MakeUser, make_key: MakeKey
) -> None:
    rep = await make_user("sales")
    await _spender(db, "Mine", "300.00", owner_id=rep.user.id)
    await _spender(db, "Theirs", "300.00")
    key = await make_key(rep)
    response = await _post(client, key, PREVIEW, 'has tag "seg-test"')
    assert response.status_code == 200, response.text
    assert response.json()["count"] == 1
    assert [m["name"] for m in response.json()["members"]] == ["Mine Shopper"]


async def test_validation_reports_the_position_and_what_was_expected(
    client: httpx2.AsyncClient, marketer: Persona, make_key: MakeKey
) -> None:
    key = await make_key(marketer)
    response = await _post(client, key, VALIDATE, "orders_count >=\n  and country = 'DE'")
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    [problem] = body["errors"]
    assert (problem["code"], problem["line"], problem["column"]) == ("segment_syntax", 2, 3)
    assert "a number" in problem["expected"]
    assert "total_spent" in body["fields"]


async def test_validation_suggests_the_closest_field_name(
    client: httpx2.AsyncClient, marketer: Persona, make_key: MakeKey
) -> None:
    key = await make_key(marketer)
    response = await _post(client, key, VALIDATE, "orders_count > 1 and totl_spent > 100")
    [problem] = response.json()["errors"]
    assert problem["code"] == "unknown_field"
    assert problem["suggestion"] == "total_spent"
    assert (problem["line"], problem["column"]) == (1, 22)


async def test_a_valid_expression_validates_with_its_tree_and_canonical_text(
    client: httpx2.AsyncClient, marketer: Persona, make_key: MakeKey
) -> None:
    key = await make_key(marketer)
    response = await _post(client, key, VALIDATE, "last_order  within 90 days")
    assert response.json() == {
        "valid": True,
        "errors": [],
        "ast": {
            "type": "within",
            "field": "last_order",
            "period": {"amount": 90, "unit": "days"},
        },
        "text": "last_order within 90 days",
        "fields": response.json()["fields"],
    }


HOSTILE = [
    ("(" * 10_000, "too_complex"),
    ("(" * 5_000 + 'country = "DE"' + ")" * 5_000, "too_complex"),
    ("not " * 2_400 + 'country = "DE"', "too_complex"),
    ('country = "DE" or ' * 500 + 'country = "DE"', "too_complex"),
    ("total_spent > 9" * 1 + "9" * 5_000, "too_complex"),
    ('first_name = "' + "x" * 9_000 + '"', "too_complex"),
    ("x" * 20_000, "too_complex"),
    ("'; DROP TABLE customer; --", "segment_syntax"),
    ("country = 'DE'; DROP TABLE customer; --", "segment_syntax"),
    ("totl_spent > 100", "unknown_field"),
    ('total_spent > "lots"', "type_mismatch"),
    ('in segment "VIPs"', "unknown_segment"),
    ('first_name = "a\x00b"', "segment_syntax"),
]


async def test_hostile_expressions_get_a_clear_error_and_never_a_500(
    client: httpx2.AsyncClient,
    db: AsyncSession,
    marketer: Persona,
    make_key: MakeKey,
) -> None:
    key = await make_key(marketer)
    for expression, code in HOSTILE:
        response = await _post(client, key, PREVIEW, expression)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == code
        validated = await _post(client, key, VALIDATE, expression)
        assert validated.status_code == 200
        assert validated.json()["errors"][0]["code"] == code


async def test_sql_in_a_text_is_only_text_and_harms_nothing(
    client: httpx2.AsyncClient, db: AsyncSession, marketer: Persona, make_key: MakeKey
) -> None:
    await _spender(db, "Robert'); DROP TABLE customer; --", "1.00")
    before = await db.scalar(select(func.count()).select_from(Customer))
    key = await make_key(marketer)
    response = await _post(
        client, key, PREVIEW, 'first_name starts with "Robert\'); DROP TABLE customer; --"'
    )
    assert response.status_code == 200, response.text
    assert response.json()["count"] == 1
    injected = await _post(client, key, PREVIEW, "first_name = \"' OR '1'='1\"")
    assert injected.json()["count"] == 0
    for edge in ("created after 9999-12-31", "created before 0001-01-01", "birthday on 9999-12-31"):
        response = await _post(client, key, PREVIEW, edge)
        assert (response.status_code, response.json()["count"]) == (200, 0), edge
    assert await db.scalar(select(func.count()).select_from(Customer)) == before


async def test_a_body_without_an_expression_is_a_validation_error(
    client: httpx2.AsyncClient, marketer: Persona, make_key: MakeKey
) -> None:
    key = await make_key(marketer)
    response = await client.post(PREVIEW, headers=bearer(key), json={"expr": "x"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_a_count_that_runs_too_long_is_stopped_and_reported_as_a_timeout(
    db: AsyncSession, make_user: MakeUser
) -> None:
    slow: Any = select(Customer.id).where(text("pg_sleep(0.2) IS NOT NULL"))
    await make_customer(db)
    with pytest.raises(SegmentTimeout) as caught:
        await repository.preview(db, [slow], timeout_ms=20)
    assert (caught.value.status, caught.value.code) == (503, "segment_timeout")
    # the session goes on, and without the short timeout
    assert await db.scalar(select(func.current_setting("statement_timeout"))) != "20ms"
    assert (
        await repository.preview(db, [select(Customer.id).where(Customer.id.is_(None))])
    ).count == 0


async def test_a_support_agent_without_the_segment_permission_is_refused(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    key = await make_key(await make_user("support"))
    response = await _post(client, key, VALIDATE, "orders_count > 1")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "missing_scope"
