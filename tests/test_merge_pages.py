"""The panel's duplicate review queue and merge pages."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx2
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.config import Settings
from patron.customers import service
from patron.customers.duplicates import find_duplicates
from patron.customers.schemas import CustomerCreate
from patron.models import Customer, CustomerEmail, DuplicateCandidate, TimelineEntry
from tests.conftest import (
    MakeKey,
    MakeUser,
    Persona,
    audit_actions,
    bearer,
    form_token,
    principal_for,
    sign_in,
)

ADDRESS = {"line1": "12 Baker Street", "city": "London", "postal_code": "NW1", "country": "GB"}


@pytest.fixture
async def admin(client: httpx2.AsyncClient, make_user: MakeUser) -> Persona:
    person = await make_user("admin", name="Ada Admin")
    await sign_in(client, person)
    return person


async def add_customer(
    db: AsyncSession, settings: Settings, owner: Persona, **fields: Any
) -> Customer:
    principal = await principal_for(db, owner.user)
    data = CustomerCreate.model_validate(fields)
    return await service.create_customer(db, settings, principal=principal, data=data)


async def kim_and_kimberly(
    db: AsyncSession, settings: Settings, owner: Persona
) -> tuple[Customer, Customer]:
    kim = await add_customer(
        db, settings, owner, first_name="Kim", last_name="Lee", email="kim@example.com",
        addresses=[ADDRESS], tags=["vip"],
    )  # fmt: skip
    kimberly = await add_customer(
        db, settings, owner, first_name="Kimberly", last_name="Lee",
        email="kimberly@example.org", other_emails=["kim@example.com"],
        phone="+447700900123", company="Lee Ltd",
        addresses=[{**ADDRESS, "line1": "12, Baker street"}], tags=["newsletter"],
    )  # fmt: skip
    return kim, kimberly


def pairs_on(html: str) -> list[str]:
    return re.findall(r'data-pair="([0-9a-f-]+)"', html)


def checked(html: str, field: str) -> str:
    found = re.search(rf'name="field\.{field}" value="(\w+)"[^>]*checked', html)
    assert found, f"no choice is ticked for {field}"
    return found.group(1)


async def merge_form(
    client: httpx2.AsyncClient, survivor: Customer, merged: Customer, **fields: str
) -> httpx2.Response:
    data = {
        "csrf_token": await form_token(client, "/customers/duplicates"),
        "survivor": str(survivor.id),
        "merged": str(merged.id),
        **{f"field.{name}": side for name, side in fields.items()},
    }
    return await client.post("/customers/merge", data=data)


# -- the queue -----------------------------------------------------------------------------


async def test_the_queue_shows_each_pair_side_by_side_with_its_reason(
    client: httpx2.AsyncClient, admin: Persona, db: AsyncSession, settings: Settings
) -> None:
    kim, kimberly = await kim_and_kimberly(db, settings, admin)
    assert await find_duplicates(db) == 1

    page = await client.get("/customers/duplicates")
    assert page.status_code == 200
    html = page.text
    assert len(pairs_on(html)) == 1
    assert 'data-reason="same_email"' in html
    assert "Same email" in html
    for expected in ("Kim Lee", "Kimberly Lee", "kimberly@example.org", "London, United Kingdom"):
        assert expected in html
    assert f"/customers/merge?survivor={kim.id}&amp;merged={kimberly.id}" in html
    assert 'href="/customers/duplicates"' in html  # the navigation's entry
    assert re.search(r'nav-link active" href="/customers/duplicates"\s+aria-current="page"', html)


async def test_an_empty_queue_says_the_nightly_scan_looks_again(
    client: httpx2.AsyncClient, admin: Persona
) -> None:
    page = await client.get("/customers/duplicates")
    assert "No likely duplicates — the nightly scan looks again" in page.text
    assert "Merge two customers by id or email" in page.text


async def test_not_a_duplicate_takes_the_pair_off_the_queue_for_good(
    client: httpx2.AsyncClient, admin: Persona, db: AsyncSession, settings: Settings
) -> None:
    await kim_and_kimberly(db, settings, admin)
    await find_duplicates(db)
    [pair] = pairs_on((await client.get("/customers/duplicates")).text)
    token = await form_token(client, "/customers/duplicates")

    response = await client.post(
        f"/customers/duplicates/{pair}/dismiss", data={"csrf_token": token}
    )
    assert response.status_code == 303
    after = await client.get("/customers/duplicates")
    assert pairs_on(after.text) == []
    assert "won&#39;t be proposed again" in after.text
    assert await find_duplicates(db) == 0
    candidate = await db.get(DuplicateCandidate, uuid.UUID(pair))
    assert candidate is not None
    assert candidate.status == "dismissed"

    again = await client.post(f"/customers/duplicates/{pair}/dismiss", data={"csrf_token": token})
    assert "already dismissed" in (await client.get(again.headers["location"])).text


async def test_scan_now_queues_the_job_once_and_says_so(
    client: httpx2.AsyncClient, admin: Persona, db: AsyncSession
) -> None:
    token = await form_token(client, "/customers/duplicates")
    for _ in range(2):  # a second press while the first waits is no error
        response = await client.post("/customers/duplicates/scan", data={"csrf_token": token})
        assert response.status_code == 303
    page = await client.get(response.headers["location"])
    assert "Scanning; refresh in a moment." in page.text
    queued = await db.scalar(
        text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = :name AND status = 'todo'"),
        {"name": "customers.find_duplicates"},
    )
    assert queued == 1


async def test_the_strongest_pairs_come_first_whatever_order_they_were_found_in(
    client: httpx2.AsyncClient, admin: Persona, db: AsyncSession, settings: Settings
) -> None:
    ids = []
    for n in range(3):
        first = await add_customer(db, settings, admin, first_name="Pat", phone=f"+4477008{n:05d}")
        second = await add_customer(db, settings, admin, first_name="Sam", phone=f"+4477008{n:05d}")
        ids.append((first.id, second.id))
    assert await find_duplicates(db) == 3
    scores = {0: 0.5, 1: 0.9, 2: 0.7}  # the middle pair, found second, is the likeliest
    for n, (first_id, second_id) in enumerate(ids):
        await db.execute(
            text("UPDATE duplicate_candidate SET score = :score WHERE customer_a_id IN (:a, :b)"),
            {"score": scores[n], "a": first_id, "b": second_id},
        )
    candidates = {row.id: row.score for row in await db.scalars(select(DuplicateCandidate))}
    page = await client.get("/customers/duplicates")
    shown = [candidates[uuid.UUID(pair)] for pair in pairs_on(page.text)]
    assert shown == [0.9, 0.7, 0.5]


async def test_the_queue_pages_with_a_keyset_cursor(
    client: httpx2.AsyncClient, admin: Persona, db: AsyncSession, settings: Settings
) -> None:
    for n in range(26):
        await add_customer(db, settings, admin, first_name=f"Twin{n}", phone=f"+4477009{n:05d}")
        await add_customer(db, settings, admin, first_name=f"Twin{n}b", phone=f"+4477009{n:05d}")
    assert await find_duplicates(db) == 26
    first = await client.get("/customers/duplicates")
    assert len(pairs_on(first.text)) == 25
    found = re.search(r'href="(/customers/duplicates\?cursor=[^"]+)" rel="next"', first.text)
    assert found
    second = await client.get(found.group(1).replace("&amp;", "&"))
    assert len(pairs_on(second.text)) == 1
    assert set(pairs_on(second.text)).isdisjoint(pairs_on(first.text))
    broken = await client.get("/customers/duplicates?cursor=not-a-cursor")
    assert broken.status_code == 303


async def test_the_api_scan_returns_the_waiting_job_instead_of_queueing_another(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    headers = bearer(await make_key(await make_user("admin")))
    first = await client.post("/api/v1/duplicates/scan", headers=headers)
    second = await client.post("/api/v1/duplicates/scan", headers=headers)
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["job_id"] == second.json()["job_id"]


# -- merging -------------------------------------------------------------------------------


async def test_the_merge_page_compares_every_field_and_preselects_the_defaults(
    client: httpx2.AsyncClient, admin: Persona, db: AsyncSession, settings: Settings
) -> None:
    kim, kimberly = await kim_and_kimberly(db, settings, admin)
    page = await client.get(f"/customers/merge?survivor={kim.id}&merged={kimberly.id}")
    assert page.status_code == 200
    html = page.text
    assert checked(html, "first_name") == "survivor"
    assert checked(html, "email") == "survivor"
    assert checked(html, "phone") == "merged"  # Kim has none
    assert checked(html, "company") == "merged"
    assert 'data-field="last_name"' not in html  # the same on both: nothing to choose
    assert "Merge Kimberly Lee into Kim Lee? This cannot be undone." in html
    assert f"/customers/merge?survivor={kimberly.id}&amp;merged={kim.id}" in html  # swap
    assert "1 address" in html
    assert "customer.read" in await audit_actions(db, kimberly.id)

    by_email = await client.get(
        "/customers/merge", params={"survivor": "kim@example.com", "merged": "KIMBERLY@example.org"}
    )
    assert by_email.status_code == 200
    assert f'name="merged" value="{kimberly.id}"' in by_email.text


async def test_merging_keeps_the_chosen_values_and_shows_on_the_survivor_and_the_audit_log(
    client: httpx2.AsyncClient, admin: Persona, db: AsyncSession, settings: Settings
) -> None:
    kim, kimberly = await kim_and_kimberly(db, settings, admin)
    await find_duplicates(db)

    response = await merge_form(client, kim, kimberly, email="merged", company="survivor")
    assert response.status_code == 303
    assert response.headers["location"] == f"/customers/{kim.id}"
    survivor_page = await client.get(response.headers["location"])
    html = survivor_page.text
    assert "Merged Kimberly Lee into Kim Lee." in html
    assert "kimberly@example.org" in html
    assert "Lee Ltd" not in html  # Kim had no company, and that was chosen

    await db.refresh(kim)
    assert (kim.first_name, kim.email, kim.company) == ("Kim", "kimberly@example.org", None)
    assert kim.phone == "+447700900123"
    assert sorted(kim.tags) == ["newsletter", "vip"]
    others = await db.scalars(
        select(CustomerEmail.email).where(CustomerEmail.customer_id == kim.id)
    )
    assert list(others) == ["kim@example.com"]
    await db.refresh(kimberly)
    assert kimberly.merged_into_id == kim.id
    kinds = await db.scalars(select(TimelineEntry.customer_id).where(TimelineEntry.kind == "merge"))
    assert set(kinds) == {kim.id, kimberly.id}
    assert "customer.merged" in await audit_actions(db, kim.id)
    assert pairs_on((await client.get("/customers/duplicates")).text) == []

    old_link = await client.get(f"/customers/{kimberly.id}")
    assert old_link.status_code == 303
    assert old_link.headers["location"] == f"/customers/{kim.id}"
    reloaded = await client.get(f"/customers/merge?survivor={kim.id}&merged={kimberly.id}")
    assert reloaded.status_code == 422
    assert "already merged into Kim Lee" in reloaded.text


async def test_a_customer_cannot_be_merged_into_itself(
    client: httpx2.AsyncClient, admin: Persona, db: AsyncSession, settings: Settings
) -> None:
    kim, _ = await kim_and_kimberly(db, settings, admin)
    response = await merge_form(client, kim, kim)
    assert response.status_code == 422
    assert 'data-error-code="merge_into_self"' in response.text
    assert "A customer cannot be merged into itself." in response.text
    page = await client.get(f"/customers/merge?survivor={kim.id}&merged={kim.id}")
    assert page.status_code == 422


async def test_unknown_customers_are_explained_not_an_error_page(
    client: httpx2.AsyncClient, admin: Persona
) -> None:
    page = await client.get(
        "/customers/merge", params={"survivor": "nobody@example.com", "merged": "x"}
    )
    assert page.status_code == 404
    assert "No customer with the id or email “nobody@example.com”." in page.text
    assert 'value="nobody@example.com"' in page.text
    half = await client.get("/customers/merge", params={"survivor": "kim@example.com"})
    assert half.status_code == 422
    assert "Give both customers." in half.text
    blank = await client.get("/customers/merge")
    assert blank.status_code == 200
    assert "Keep this customer" in blank.text


async def test_a_sales_rep_cannot_merge_another_reps_customer(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings, make_user: MakeUser
) -> None:
    rep = await make_user("sales")
    other_rep = await make_user("sales")
    mine = await add_customer(db, settings, rep, first_name="Mine")
    theirs = await add_customer(db, settings, other_rep, first_name="Theirs")
    await sign_in(client, rep)

    page = await client.get(f"/customers/merge?survivor={mine.id}&merged={theirs.id}")
    assert page.status_code == 404
    assert "No such customer." in page.text
    response = await merge_form(client, mine, theirs)
    assert response.status_code == 404
    await db.refresh(theirs)
    assert theirs.merged_into_id is None


async def test_a_sales_rep_sees_only_pairs_of_their_own_customers(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings, make_user: MakeUser
) -> None:
    rep = await make_user("sales")
    other_rep = await make_user("sales")
    await add_customer(db, settings, rep, first_name="Bo", phone="+447700900555")
    await add_customer(db, settings, other_rep, first_name="Bob", phone="+447700900555")
    assert await find_duplicates(db) == 1
    await sign_in(client, rep)
    page = await client.get("/customers/duplicates")
    assert page.status_code == 200
    assert pairs_on(page.text) == []
