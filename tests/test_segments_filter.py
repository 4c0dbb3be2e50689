"""The customer list filtered by a saved segment: API, panel, saved views and exports."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.models import AuditEvent, Customer, SavedView
from tests.conftest import MakeKey, MakeUser, bearer, form_token, sign_in
from tests.shop import make_customer

CUSTOMERS = "/api/v1/customers"
SEGMENTS = "/api/v1/segments"


async def _tagged(
    db: AsyncSession, name: str, tags: list[str], *, owner_id: uuid.UUID | None = None
) -> Customer:
    customer = await make_customer(db, first_name=name, owner_id=owner_id)
    customer.tags = tags
    await db.flush()
    return customer


async def _segment(client: httpx2.AsyncClient, key: str, name: str, **body: Any) -> dict[str, Any]:
    response = await client.post(SEGMENTS, headers=bearer(key), json={"name": name, **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _listed(client: httpx2.AsyncClient, key: str, **params: str) -> set[str]:
    response = await client.get(CUSTOMERS, headers=bearer(key), params={"limit": "100", **params})
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


async def test_the_api_lists_a_dynamic_segments_members_as_of_its_last_refresh(
    client: httpx2.AsyncClient, db: AsyncSession, make_user: MakeUser, make_key: MakeKey
) -> None:
    tag = f"t{uuid.uuid4().hex[:6]}"
    ann = await _tagged(db, "Ann", [tag])
    bob = await _tagged(db, "Bob", [tag])
    cat = await _tagged(db, "Cat", [])
    key = await make_key(await make_user("marketing"))
    segment = await _segment(client, key, f"Tagged {tag}", expression=f'has tag "{tag}"')

    assert await _listed(client, key, segment=segment["id"]) == {str(ann.id), str(bob.id)}
    assert await _listed(client, key, segment=segment["id"], q="Bob") == {str(bob.id)}
    cat.tags = [tag]  # written behind the services' back: nothing marks Cat as changed
    await db.flush()
    assert str(cat.id) not in await _listed(client, key, segment=segment["id"])
    await client.post(f"{SEGMENTS}/{segment['id']}/refresh", headers=bearer(key))
    assert str(cat.id) in await _listed(client, key, segment=segment["id"])
    counted = await client.get(
        CUSTOMERS, headers=bearer(key), params={"segment": segment["id"], "with_total": "true"}
    )
    assert counted.json()["total"] == 3


async def test_a_static_list_filters_by_its_members_and_a_rep_sees_only_their_own(
    client: httpx2.AsyncClient, db: AsyncSession, make_user: MakeUser, make_key: MakeKey
) -> None:
    rep = await make_user("sales")
    mine = await _tagged(db, "Mine", [], owner_id=rep.user.id)
    theirs = await _tagged(db, "Theirs", [])
    await _tagged(db, "Outsider", [])
    marketer = await make_key(await make_user("marketing"))
    listed = await _segment(
        client,
        marketer,
        f"List {uuid.uuid4().hex[:6]}",
        kind="static",
        customer_ids=[str(mine.id), str(theirs.id)],
    )
    assert await _listed(client, marketer, segment=listed["id"]) == {str(mine.id), str(theirs.id)}
    assert await _listed(client, await make_key(rep), segment=listed["id"]) == {str(mine.id)}


async def test_an_unknown_or_malformed_segment_is_refused_with_a_stable_code(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    key = await make_key(await make_user("marketing"))
    unknown = await client.get(
        CUSTOMERS, headers=bearer(key), params={"segment": str(uuid.uuid4())}
    )
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "unknown_segment")
    assert unknown.json()["error"]["details"][0]["field"] == "segment"
    malformed = await client.get(CUSTOMERS, headers=bearer(key), params={"segment": "vip"})
    assert (malformed.status_code, malformed.json()["error"]["code"]) == (422, "validation_error")
    exported = await client.get(
        f"{CUSTOMERS}/export.csv", headers=bearer(key), params={"segment": str(uuid.uuid4())}
    )
    assert (exported.status_code, exported.json()["error"]["code"]) == (422, "unknown_segment")


async def test_filtering_by_segment_needs_the_right_to_see_segments(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    segment = await _segment(
        client,
        await make_key(await make_user("marketing")),
        f"s{uuid.uuid4().hex[:6]}",
        expression="orders_count > 0",
    )
    support = await make_key(await make_user("support"))
    refused = await client.get(
        CUSTOMERS, headers=bearer(support), params={"segment": segment["id"]}
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        403,
        "segment_filter_forbidden",
    )


async def test_the_customer_export_takes_the_segment_filter_and_audits_it(
    client: httpx2.AsyncClient, db: AsyncSession, make_user: MakeUser, make_key: MakeKey
) -> None:
    tag = f"t{uuid.uuid4().hex[:6]}"
    ann = await _tagged(db, "Ann", [tag])
    await _tagged(db, "Bob", [])
    key = await make_key(await make_user("marketing"))
    segment = await _segment(client, key, f"Export {tag}", expression=f'has tag "{tag}"')
    response = await client.get(
        f"{CUSTOMERS}/export.csv", headers=bearer(key), params={"segment": segment["id"]}
    )
    assert response.status_code == 200, response.text
    rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert [row[0] for row in rows[1:]] == [str(ann.id)]
    event = await db.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == "customer.exported")
        .order_by(AuditEvent.occurred_at.desc())
    )
    assert event is not None
    assert event.details["filter"] == {"segment": segment["id"]}
    assert event.details["count"] == 1


async def test_the_panel_offers_saved_segments_and_explains_an_unknown_one(
    client: httpx2.AsyncClient, db: AsyncSession, make_user: MakeUser, make_key: MakeKey
) -> None:
    tag = f"t{uuid.uuid4().hex[:6]}"
    ann = await _tagged(db, "Annabel", [tag])
    bob = await _tagged(db, "Bobby", [])
    marketer = await make_user("marketing")
    segment = await _segment(
        client, await make_key(marketer), f"Panel {tag}", expression=f'has tag "{tag}"'
    )
    await sign_in(client, marketer)

    page = await client.get("/customers", params={"segment": segment["id"]})
    assert page.status_code == 200
    page_filter = f"segment={segment['id']}"
    assert f'<option value="{segment["id"]}" selected>Panel {tag}</option>' in page.text
    assert f"Segment: Panel {tag}" in page.text
    assert f"/customers/{ann.id}" in page.text
    assert f"/customers/{bob.id}" not in page.text
    assert f'name="filter" value="segment={segment["id"]}"' in page.text  # export and bulk
    csrf = await form_token(client, "/customers")
    export = await client.post(
        "/customers/bulk",
        data={"csrf_token": csrf, "action": "export", "scope": "all", "filter": page_filter},
    )
    assert 'data-matched="1"' in export.text

    gone = await client.get("/customers", params={"segment": str(uuid.uuid4())})
    assert gone.status_code == 200
    assert "Ignored a filter — segment: There is no such segment" in gone.text
    assert f"/customers/{bob.id}" in gone.text

    saved = await client.post(
        "/customers/views",
        data={
            "csrf_token": await form_token(client, "/customers"),
            "name": f"View {tag}",
            "query": f"segment={segment['id']}",
        },
    )
    assert saved.status_code == 303, saved.text
    view = await db.scalar(select(SavedView).where(SavedView.name == f"View {tag}"))
    assert view is not None
    assert view.query == f"segment={segment['id']}"
