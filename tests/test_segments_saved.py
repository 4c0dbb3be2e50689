"""Saved segments: dynamic ones refreshed with entered/exited rows, static lists, members."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx2
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit.service import SYSTEM
from patron.models import Customer, CustomerMetrics, Segment, SegmentMembershipChange
from patron.segments import repository, service
from patron.segments.dependencies import SegmentCycle
from patron.segments.tasks import refresh_segments
from patron.worker.app import job_app
from tests.conftest import (
    IsolatedDatabase,
    MakeKey,
    MakeUser,
    audit_actions,
    bearer,
)
from tests.shop import make_customer

SEGMENTS = "/api/v1/segments"


async def _customer(
    db: AsyncSession, name: str, tag: str, *, owner_id: uuid.UUID | None = None
) -> Customer:
    customer = await make_customer(db, first_name=name, owner_id=owner_id)
    customer.tags = [tag]
    await db.flush()
    return customer


async def _changes(db: AsyncSession, segment_id: str) -> list[tuple[uuid.UUID, str]]:
    rows = await db.execute(
        select(SegmentMembershipChange.customer_id, SegmentMembershipChange.change)
        .where(SegmentMembershipChange.segment_id == uuid.UUID(segment_id))
        .order_by(SegmentMembershipChange.id)
    )
    return [(row.customer_id, row.change) for row in rows]


async def test_a_dynamic_segment_follows_the_data_and_records_who_entered_and_left(
    client: httpx2.AsyncClient, db: AsyncSession, make_user: MakeUser, make_key: MakeKey
) -> None:
    tag = f"t{uuid.uuid4().hex[:6]}"
    ann = await _customer(db, "Ann", tag)
    bob = await _customer(db, "Bob", tag)
    await db.merge(CustomerMetrics(customer_id=ann.id, total_spent=Decimal("500")))
    await db.flush()
    key = await make_key(await make_user("marketing"))
    created = await client.post(
        SEGMENTS,
        headers=bearer(key),
        json={"name": f"Big {tag}", "expression": f'has tag "{tag}" and total_spent>100'},
    )
    assert created.status_code == 201, created.text
    segment = created.json()
    assert (segment["kind"], segment["member_count"]) == ("dynamic", 1)
    assert segment["expression"] == f'has tag "{tag}" and total_spent > 100'
    assert await _changes(db, segment["id"]) == [(ann.id, "entered")]

    ann.tags = []
    await db.merge(CustomerMetrics(customer_id=bob.id, total_spent=Decimal("150")))
    await db.flush()
    refreshed = await client.post(f"{SEGMENTS}/{segment['id']}/refresh", headers=bearer(key))
    assert refreshed.json() == {"size": 1, "entered": 1, "exited": 1}
    assert await _changes(db, segment["id"]) == [
        (ann.id, "entered"),
        (bob.id, "entered"),
        (ann.id, "exited"),
    ]
    history = await client.get(f"{SEGMENTS}/{segment['id']}/history", headers=bearer(key))
    assert [(h["size"], h["entered"], h["exited"]) for h in history.json()] == [
        (1, 1, 1),
        (1, 1, 0),
    ]
    again = await client.post(f"{SEGMENTS}/{segment['id']}/refresh", headers=bearer(key))
    assert again.json() == {"size": 1, "entered": 0, "exited": 0}


async def test_a_static_list_changes_only_by_hand(
    client: httpx2.AsyncClient, db: AsyncSession, make_user: MakeUser, make_key: MakeKey
) -> None:
    tag = f"t{uuid.uuid4().hex[:6]}"
    ann = await _customer(db, "Ann", tag)
    bob = await _customer(db, "Bob", tag)
    key = await make_key(await make_user("marketing"))
    created = await client.post(
        SEGMENTS,
        headers=bearer(key),
        json={"name": f"List {tag}", "kind": "static", "expression": f'has tag "{tag}"'},
    )
    assert created.status_code == 201, created.text
    segment_id = created.json()["id"]
    assert created.json()["member_count"] == 2
    ann.tags = []
    await db.flush()
    members = await client.get(f"{SEGMENTS}/{segment_id}/members", headers=bearer(key))
    assert {m["id"] for m in members.json()["items"]} == {str(ann.id), str(bob.id)}

    removed = await client.post(
        f"{SEGMENTS}/{segment_id}/members", headers=bearer(key), json={"remove": [str(ann.id)]}
    )
    assert removed.json() == {"size": 1, "entered": 0, "exited": 1}
    added = await client.post(
        f"{SEGMENTS}/{segment_id}/members",
        headers=bearer(key),
        json={"add": [str(ann.id), str(bob.id)]},
    )
    assert added.json() == {"size": 2, "entered": 1, "exited": 0}
    refresh = await client.post(f"{SEGMENTS}/{segment_id}/refresh", headers=bearer(key))
    assert (refresh.status_code, refresh.json()["error"]["code"]) == (409, "segment_not_dynamic")
    nobody = await client.post(
        f"{SEGMENTS}/{segment_id}/members",
        headers=bearer(key),
        json={"add": [str(uuid.uuid4())]},
    )
    assert (nobody.status_code, nobody.json()["error"]["code"]) == (422, "unknown_customers")
    deleted = await client.delete(f"{SEGMENTS}/{segment_id}", headers=bearer(key))
    assert deleted.status_code == 204
    # a refused change leaves no trace; the rest is in the audit log
    assert await audit_actions(db, segment_id) == [
        "segment.created",
        "segment.members_changed",
        "segment.members_changed",
        "segment.deleted",
    ]


async def test_members_are_listed_in_keyset_pages_within_the_record_scope(
    client: httpx2.AsyncClient, db: AsyncSession, make_user: MakeUser, make_key: MakeKey
) -> None:
    tag = f"t{uuid.uuid4().hex[:6]}"
    rep = await make_user("sales")
    mine = [await _customer(db, f"Mine{i}", tag, owner_id=rep.user.id) for i in range(3)]
    await _customer(db, "Theirs", tag)
    marketer_key = await make_key(await make_user("marketing"))
    created = await client.post(
        SEGMENTS, headers=bearer(marketer_key), json={"name": tag, "expression": f'tag = "{tag}"'}
    )
    assert created.json()["member_count"] == 4
    path = f"{SEGMENTS}/{created.json()['id']}/members"
    rep_key = await make_key(rep)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(path, headers=bearer(rep_key), params=params)).json()
        seen += [member["id"] for member in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(str(c.id) for c in mine)


async def test_other_segments_can_be_named_in_an_expression(
    client: httpx2.AsyncClient, db: AsyncSession, make_user: MakeUser, make_key: MakeKey
) -> None:
    tag = f"t{uuid.uuid4().hex[:6]}"
    ann = await _customer(db, "Ann", tag)
    await _customer(db, "Bob", tag)
    key = await make_key(await make_user("marketing"))
    await client.post(
        SEGMENTS,
        headers=bearer(key),
        json={"name": f"Anns {tag}", "expression": f'has tag "{tag}" and first_name = "ann"'},
    )
    preview = await client.post(
        f"{SEGMENTS}/preview",
        headers=bearer(key),
        json={"expression": f'has tag "{tag}" and not in segment "ANNS {tag}"'},
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["count"] == 1
    assert preview.json()["members"][0]["id"] != str(ann.id)
    typo = await client.post(
        f"{SEGMENTS}/validate",
        headers=bearer(key),
        json={"expression": f'in segment "Ans {tag}"'},
    )
    [problem] = typo.json()["errors"]
    assert (problem["code"], problem["suggestion"]) == ("unknown_segment", f"anns {tag}")


async def test_bad_segments_are_refused_with_stable_codes(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    key = await make_key(await make_user("marketing"))
    name = f"s{uuid.uuid4().hex[:6]}"
    first = await client.post(
        SEGMENTS, headers=bearer(key), json={"name": name, "expression": "orders_count > 1"}
    )
    assert first.status_code == 201
    cases = [
        ({"name": name.upper(), "expression": "orders_count > 1"}, 409, "segment_name_taken"),
        ({"name": f"{name}-2", "expression": "totl_spent > 1"}, 422, "unknown_field"),
        ({"name": f"{name}-3"}, 422, "dynamic_needs_expression"),
        ({"name": f"{name}-4", "expression": "(" * 100}, 422, "too_complex"),
    ]
    for body, status, code in cases:
        response = await client.post(SEGMENTS, headers=bearer(key), json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), body
    segment_id = first.json()["id"]
    add = await client.post(
        f"{SEGMENTS}/{segment_id}/members",
        headers=bearer(key),
        json={"add": [str(uuid.uuid4())]},
    )
    assert (add.status_code, add.json()["error"]["code"]) == (409, "segment_not_static")
    listed = await client.get(SEGMENTS, headers=bearer(key))
    assert name in [segment["name"] for segment in listed.json()]
    assert (await client.delete(f"{SEGMENTS}/{segment_id}", headers=bearer(key))).status_code == 204
    gone = await client.get(f"{SEGMENTS}/{segment_id}", headers=bearer(key))
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "segment_not_found")


@pytest.mark.usefixtures("job_settings")
async def test_the_refresh_job_runs_every_quarter_hour_and_skips_a_segment_that_no_longer_compiles(
    isolated_database: IsolatedDatabase,
) -> None:
    periodic = {task.task.name: task for task in job_app.periodic_registry.periodic_tasks.values()}
    assert periodic["segments.refresh"].cron == "*/15 * * * *"
    async with isolated_database.database.transaction() as db:
        customer = await _customer(db, "Ann", "job")
        good = Segment(name="Job tag", kind="dynamic", expression='has tag "job"')
        broken = Segment(name="Broken", kind="dynamic", expression='custom.gone = "x"')
        db.add_all([good, broken])
    assert await refresh_segments(timestamp=0) == 1
    async with isolated_database.database.transaction() as db:
        assert await _changes(db, str(good.id)) == [(customer.id, "entered")]
        assert (await db.get(Segment, good.id)).member_count == 1  # type: ignore[union-attr]
        assert await _changes(db, str(broken.id)) == []


async def test_a_segment_that_would_include_itself_is_refused(
    client: httpx2.AsyncClient, db: AsyncSession, make_user: MakeUser, make_key: MakeKey
) -> None:
    tag = f"t{uuid.uuid4().hex[:6]}"
    key = await make_key(await make_user("marketing"))
    base = await client.post(
        SEGMENTS,
        headers=bearer(key),
        json={"name": f"Base {tag}", "expression": "orders_count > 1"},
    )
    over = await client.post(
        SEGMENTS,
        headers=bearer(key),
        json={"name": f"Over {tag}", "expression": f'in segment "Base {tag}"'},
    )
    assert over.status_code == 201, over.text
    segment = await repository.get_segment(db, uuid.UUID(base.json()["id"]), for_update=True)
    for expression, chain in (
        (f'in segment "over {tag}" or orders_count > 5', f"“Base {tag}” → “Over {tag}” → “Base"),
        (f'in segment "Base {tag}"', f"“Base {tag}” → “Base {tag}”"),
    ):
        with pytest.raises(SegmentCycle) as refused:
            await service.update_segment(
                db,
                actor=SYSTEM,
                segment=segment,
                name=segment.name,
                description="",
                expression=expression,
            )
        assert refused.value.code == "segment_cycle"
        assert chain in refused.value.message
        await db.refresh(segment)
    assert segment.expression == "orders_count > 1"
