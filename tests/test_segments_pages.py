"""The panel's segment pages: the list, the editor with its live preview, a segment's page."""

from __future__ import annotations

import html
import json
import re
import uuid
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.models import AuditEvent, Customer, CustomerMetrics, CustomFieldDefinition, Segment
from tests.conftest import MakeKey, MakeUser, Persona, bearer, form_token, sign_in
from tests.shop import make_customer


@pytest.fixture
async def admin(client: httpx2.AsyncClient, make_user: MakeUser) -> Persona:
    person = await make_user("admin", name="Ada Admin")
    await sign_in(client, person)
    return person


async def tagged(db: AsyncSession, tag: str, *names: str) -> list[Customer]:
    customers = []
    for name in names:
        customer = await make_customer(
            db, first_name=name, email=f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.com"
        )
        customer.tags = [tag]
        customers.append(customer)
    await db.flush()
    return customers


async def save(client: httpx2.AsyncClient, **fields: str) -> httpx2.Response:
    token = await form_token(client, "/segments/new")
    return await client.post("/segments/new", data={"csrf_token": token, **fields})


async def segment_named(db: AsyncSession, name: str) -> Segment:
    found = await db.scalar(select(Segment).where(Segment.name == name))
    assert found is not None
    return found


async def preview(client: httpx2.AsyncClient, expression: str) -> str:
    token = await form_token(client, "/segments/new")
    response = await client.post(
        "/segments/preview",
        data={"expression": expression},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )
    assert response.status_code == 200, response.text
    return response.text


def text_of(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


async def test_the_list_says_there_are_no_segments_yet_and_offers_to_make_one(
    client: httpx2.AsyncClient, admin: Persona
) -> None:
    page = await client.get("/segments")
    assert page.status_code == 200
    assert "No segments yet" in page.text
    assert 'href="/segments/new"' in page.text
    assert '<a class="nav-link active" href="/segments"' in page.text


async def test_the_list_shows_each_segment_finds_them_by_name_and_pages(
    client: httpx2.AsyncClient, db: AsyncSession, admin: Persona
) -> None:
    tag = f"t{uuid.uuid4().hex[:6]}"
    await tagged(db, tag, "Ann", "Bob")
    assert (await save(client, name="Tagged buyers", expression=f'has tag "{tag}"')).is_redirect
    listed = await client.get("/segments")
    row = re.search(r'<tr data-segment="[^"]+">(.*?)</tr>', listed.text, re.S)
    assert row is not None
    assert text_of(row.group(1)).startswith("Tagged buyers Dynamic 2")

    for number in range(26):
        assert (await save(client, name=f"Batch {number:02}", kind="static")).is_redirect
    first = await client.get("/segments?q=batch")
    names = re.findall(r'<a href="/segments/[^"]+">(Batch \d+)</a>', first.text)
    assert names == [f"Batch {n:02}" for n in range(25)]
    assert "Tagged buyers" not in first.text
    next_url = re.search(r'href="(/segments\?q=batch&amp;cursor=[^"]+)" rel="next"', first.text)
    assert next_url is not None
    second = await client.get(html.unescape(next_url.group(1)))
    assert re.findall(r'<a href="/segments/[^"]+">(Batch \d+)</a>', second.text) == ["Batch 25"]
    nothing = await client.get("/segments?q=nobody-is-called-this")
    assert "No segment matches “nobody-is-called-this”" in html.unescape(nothing.text)


async def test_the_preview_counts_the_matches_and_links_the_first_ten(
    client: httpx2.AsyncClient, db: AsyncSession, admin: Persona
) -> None:
    tag = f"t{uuid.uuid4().hex[:6]}"
    customers = await tagged(db, tag, *[f"Cust{n}" for n in range(12)])
    page = await preview(client, f'has  tag "{tag}"')
    assert re.search(r"data-preview-count>12<", page)
    links = re.findall(r'href="/customers/([0-9a-f-]+)"', page)
    assert len(links) == 10
    assert set(links) <= {str(c.id) for c in customers}
    assert "and 2 more" in page
    assert f"<code data-canonical>has tag &#34;{tag}&#34;</code>" in page


async def test_the_preview_of_nothing_asks_for_an_expression(
    client: httpx2.AsyncClient, admin: Persona
) -> None:
    assert 'data-preview-state="empty"' in await preview(client, "   ")


async def test_the_preview_marks_where_a_field_name_is_wrong_and_suggests_the_right_one(
    client: httpx2.AsyncClient, admin: Persona
) -> None:
    page = await preview(client, 'country = "DE" and\n  totl_spent > 100')
    assert 'data-error-code="unknown_field"' in page
    assert "Line 2, column 3" in page
    assert "data-problem-message>There is no field &#39;totl_spent&#39;.</p>" in page
    assert "<mark>totl_spent</mark> &gt; 100</code>" in page
    assert "Did you mean <code>total_spent</code>?" in page
    assert 'data-use-suggestion="total_spent" data-line="2" data-column="3"' in page


async def test_the_preview_says_what_was_expected_at_a_syntax_error(
    client: httpx2.AsyncClient, admin: Persona
) -> None:
    page = await preview(client, "orders_count >= and total_spent > 1")
    assert 'data-error-code="segment_syntax"' in page
    assert "Line 1, column 17" in page
    assert "orders_count &gt;= <mark>and</mark> total_spent" in page
    expected = re.search(r"data-problem-expected>(.*?)</p>", page, re.S)
    assert expected is not None
    assert "a number" in text_of(expected.group(1))


async def test_the_editor_offers_built_in_and_custom_fields_and_saved_segment_names(
    client: httpx2.AsyncClient, db: AsyncSession, admin: Persona
) -> None:
    db.add(
        CustomFieldDefinition(
            entity="customer", key="shoe_size", label="Shoe size", field_type="number"
        )
    )
    await db.flush()
    assert (await save(client, name="VIP list", kind="static")).is_redirect
    page = await client.get("/segments/new")
    found = re.search(r'data-catalog="([^"]+)"', page.text)
    assert found is not None
    catalog: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    fields = {field["name"]: field["kind"] for field in catalog["fields"]}
    assert fields["total_spent"] == "number"
    assert fields["custom.shoe_size"] == "number"
    assert catalog["segments"] == ["VIP list"]


async def test_saving_a_dynamic_segment_opens_its_page_with_members_and_history(
    client: httpx2.AsyncClient, db: AsyncSession, admin: Persona
) -> None:
    tag = f"t{uuid.uuid4().hex[:6]}"
    ann, bob = await tagged(db, tag, "Ann", "Bob")
    await db.merge(CustomerMetrics(customer_id=ann.id, total_spent=Decimal("250")))
    await db.flush()
    response = await save(
        client,
        name="Big spenders",
        kind="dynamic",
        expression=f'has tag "{tag}" and total_spent>100',
    )
    segment = await segment_named(db, "Big spenders")
    assert response.headers["location"] == f"/segments/{segment.id}"
    page = await client.get(f"/segments/{segment.id}")
    assert "Segment “Big spenders” saved with 1 member." in html.unescape(page.text)
    assert f"has tag &#34;{tag}&#34; and total_spent &gt; 100" in page.text
    assert re.search(r"data-segment-size>1<", page.text)
    assert f'data-member="{ann.id}"' in page.text
    assert f'data-member="{bob.id}"' not in page.text
    assert 'data-change="entered"' in page.text
    assert f'href="/customers/{ann.id}"' in page.text
    assert 'data-chart="line"' in page.text
    assert "chart.umd.min.js" in page.text
    assert "Refresh now" in page.text
    assert f'href="/customers?segment={segment.id}"' in page.text
    download = await client.get(f"/api/v1/segments/{segment.id}/members.csv")
    assert download.status_code == 200
    assert f"{ann.email}" in download.text
    assert f"{bob.email}" not in download.text

    await db.merge(CustomerMetrics(customer_id=bob.id, total_spent=Decimal("300")))
    ann.tags = []
    await db.flush()
    token = await form_token(client, f"/segments/{segment.id}")
    refreshed = await client.post(f"/segments/{segment.id}/refresh", data={"csrf_token": token})
    assert refreshed.status_code == 303
    page = await client.get(f"/segments/{segment.id}")
    assert "Refreshed: 1 members, 1 entered, 1 left." in page.text
    assert f'data-member="{bob.id}"' in page.text
    assert f'data-member="{ann.id}"' not in page.text
    assert page.text.count('data-change="exited"') == 1


async def test_a_refused_save_shows_why_and_keeps_what_was_typed(
    client: httpx2.AsyncClient, db: AsyncSession, admin: Persona
) -> None:
    nameless = await save(client, name="  ", description="Why", expression="orders_count > 1")
    assert nameless.status_code == 422
    assert 'data-error-code="segment_name_missing"' in nameless.text
    assert ">Why</textarea>" in nameless.text
    assert ">orders_count &gt; 1</textarea>" in nameless.text

    wrong = await save(client, name="Typo", expression="totl_spent > 1")
    assert wrong.status_code == 422
    assert "data-save-problem" in wrong.text
    assert "<mark>totl_spent</mark>" in wrong.text
    assert 'value="Typo"' in wrong.text
    assert ">totl_spent &gt; 1</textarea>" in wrong.text

    empty = await save(client, name="Nothing", kind="dynamic", expression="")
    assert 'data-error-code="dynamic_needs_expression"' in empty.text

    assert (await save(client, name="Taken", expression="orders_count > 1")).is_redirect
    again = await save(client, name="Taken", kind="static", expression="")
    assert again.status_code == 409
    assert 'data-error-code="segment_name_taken"' in again.text
    assert 'id="kind-static" value="static" checked' in again.text
    count = await db.scalar(select(func.count()).select_from(Segment))
    assert count == 1


async def test_editing_a_dynamic_segment_changes_its_members_and_says_who_moved(
    client: httpx2.AsyncClient, db: AsyncSession, admin: Persona
) -> None:
    tag, other = f"t{uuid.uuid4().hex[:6]}", f"o{uuid.uuid4().hex[:6]}"
    await tagged(db, tag, "Ann")
    await tagged(db, other, "Bob", "Cy")
    assert (await save(client, name="Tagged", expression=f'has tag "{tag}"')).is_redirect
    segment = await segment_named(db, "Tagged")
    form = await client.get(f"/segments/{segment.id}/edit")
    assert f"has tag &#34;{tag}&#34;</textarea>" in form.text
    token = await form_token(client, f"/segments/{segment.id}/edit")
    url = f"/segments/{segment.id}/edit"
    data = {"csrf_token": token, "name": "Other tag", "description": "moved"}

    broken = await client.post(url, data={**data, "expression": "has tag"})
    assert broken.status_code == 422
    assert "<mark> </mark>" in broken.text
    await db.refresh(segment)
    assert (segment.name, segment.expression) == ("Tagged", f'has tag "{tag}"')

    saved = await client.post(url, data={**data, "expression": f'has tag "{other}"'})
    assert saved.headers["location"] == f"/segments/{segment.id}"
    page = await client.get(f"/segments/{segment.id}")
    assert "2 members: 2 entered, 1 left." in page.text
    assert '<h1 class="h3 mb-1 text-break">Other tag</h1>' in page.text


async def test_deleting_a_segment_asks_first(
    client: httpx2.AsyncClient, db: AsyncSession, admin: Persona
) -> None:
    assert (await save(client, name="Short lived", kind="static")).is_redirect
    segment = await segment_named(db, "Short lived")
    question = await client.get(f"/segments/{segment.id}/delete")
    assert "Delete the segment “Short lived”?" in html.unescape(question.text)
    assert await db.get(Segment, segment.id) is not None
    token = await form_token(client, f"/segments/{segment.id}/delete")
    deleted = await client.post(f"/segments/{segment.id}/delete", data={"csrf_token": token})
    assert deleted.headers["location"] == "/segments"
    listed = await client.get("/segments")
    assert "Segment “Short lived” deleted." in html.unescape(listed.text)
    assert await db.scalar(select(Segment.id).where(Segment.id == segment.id)) is None
    gone = await client.get(f"/segments/{segment.id}")
    assert gone.status_code == 404


async def test_a_static_list_takes_customers_by_email_and_loses_them_by_hand(
    client: httpx2.AsyncClient, db: AsyncSession, admin: Persona
) -> None:
    (ann,) = await tagged(db, f"t{uuid.uuid4().hex[:6]}", "Ann")
    assert (await save(client, name="Hand picked", kind="static")).is_redirect
    segment = await segment_named(db, "Hand picked")
    base = f"/segments/{segment.id}"
    page = await client.get(base)
    assert "No members" in page.text
    assert "Refresh now" not in page.text
    token = await form_token(client, base)

    unknown = await client.post(
        f"{base}/members", data={"csrf_token": token, "email": "nobody@example.com"}
    )
    assert unknown.status_code == 422
    assert 'data-error-code="unknown_customer_email"' in unknown.text
    assert 'value="nobody@example.com"' in unknown.text

    added = await client.post(f"{base}/members", data={"csrf_token": token, "email": ann.email})
    assert added.status_code == 303
    page = await client.get(base)
    assert f"{ann.email} added to the list." in page.text
    assert f'data-member="{ann.id}"' in page.text
    assert 'data-change="entered"' in page.text
    await db.refresh(segment)
    assert segment.member_count == 1

    removed = await client.post(f"{base}/members/{ann.id}/remove", data={"csrf_token": token})
    assert removed.status_code == 303
    page = await client.get(base)
    assert "removed from the list." in page.text
    assert f'data-member="{ann.id}"' not in page.text
    assert 'data-change="exited"' in page.text


async def test_a_dynamic_segment_takes_no_customers_by_hand(
    client: httpx2.AsyncClient, db: AsyncSession, admin: Persona
) -> None:
    (ann,) = await tagged(db, f"t{uuid.uuid4().hex[:6]}", "Ann")
    assert (await save(client, name="Rule", expression="orders_count > 5")).is_redirect
    segment = await segment_named(db, "Rule")
    page = await client.get(f"/segments/{segment.id}")
    assert "Add to list" not in page.text
    token = await form_token(client, f"/segments/{segment.id}")
    refused = await client.post(
        f"/segments/{segment.id}/members", data={"csrf_token": token, "email": ann.email}
    )
    assert refused.status_code == 409
    assert 'data-error-code="segment_not_static"' in refused.text


async def test_a_support_agent_without_segments_read_is_refused(
    client: httpx2.AsyncClient, make_user: MakeUser
) -> None:
    await sign_in(client, await make_user("support"))
    home = await client.get("/")
    assert 'href="/segments"' not in home.text
    refused = await client.get("/segments")
    assert refused.status_code == 403
    assert (await client.get("/segments/new")).status_code == 403


async def test_a_sales_rep_may_look_but_not_change(
    client: httpx2.AsyncClient, db: AsyncSession, make_user: MakeUser, admin: Persona
) -> None:
    assert (await save(client, name="Looked at", expression="orders_count > 1")).is_redirect
    segment = await segment_named(db, "Looked at")
    client.cookies.clear()
    await sign_in(client, await make_user("sales"))
    listed = await client.get("/segments")
    assert listed.status_code == 200
    assert "Looked at" in listed.text
    assert 'href="/segments/new"' not in listed.text
    page = await client.get(f"/segments/{segment.id}")
    assert page.status_code == 200
    assert "Refresh now" not in page.text
    assert f'href="/customers?segment={segment.id}"' in page.text
    assert "members.csv" not in page.text  # sales reps may not export customers
    assert (await client.get(f"/segments/{segment.id}/edit")).status_code == 403


async def test_the_api_turns_a_builder_tree_into_canonical_text_and_back(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    key = await make_key(await make_user("marketing"))
    written = 'orders_count>=2 and (country = "DE" or not bought category "Shoes" within 3 months)'
    parsed = await client.post(
        "/api/v1/segments/text",
        headers=bearer(key),
        json={"ast": {"type": "text", "text": written}},
    )
    answer = parsed.json()
    canonical = (
        'orders_count >= 2 and (country = "DE" or not bought category "Shoes" within 3 months)'
    )
    assert (answer["valid"], answer["text"]) == (True, canonical)
    first, either = answer["ast"]["items"]
    assert first["text"] == "orders_count >= 2"
    assert either["items"][1]["item"]["text"] == 'bought category "Shoes" within 3 months'

    tree = answer["ast"]
    tree["type"] = "or"
    tree["items"].append({"type": "text", "text": "has tag 'x'"})
    broken = await client.post("/api/v1/segments/text", headers=bearer(key), json={"ast": tree})
    assert broken.status_code == 200
    problem = broken.json()["errors"][0]
    assert (problem["code"], problem["line"], problem["column"]) == ("segment_syntax", 1, 9)
    assert problem["message"].startswith("ast.items[2]: ")

    tree["items"][2] = {"type": "text", "text": 'has tag "x"'}
    rewritten = await client.post("/api/v1/segments/text", headers=bearer(key), json={"ast": tree})
    assert rewritten.json()["text"] == (
        'orders_count >= 2 or (country = "DE" or not bought category "Shoes" within 3 months)'
        ' or has tag "x"'
    )


async def test_the_api_refuses_a_malformed_or_too_deep_builder_tree_with_a_code(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    key = await make_key(await make_user("marketing"))
    deep: dict[str, Any] = {"type": "text", "text": "orders_count > 1"}
    for _ in range(60):
        deep = {"type": "not", "item": deep}
    cases = {
        "too_complex": deep,
        "segment_syntax": {"type": "and", "items": []},
    }
    for code, tree in cases.items():
        answer = await client.post("/api/v1/segments/text", headers=bearer(key), json={"ast": tree})
        assert answer.status_code == 200
        assert answer.json()["valid"] is False
        assert answer.json()["errors"][0]["code"] == code


async def test_the_members_of_a_big_segment_come_in_pages(
    client: httpx2.AsyncClient, db: AsyncSession, admin: Persona
) -> None:
    tag = f"t{uuid.uuid4().hex[:6]}"
    customers = await tagged(db, tag, *[f"Member{n:02}" for n in range(27)])
    response = await save(client, name="Many", kind="static", expression=f'has tag "{tag}"')
    assert response.is_redirect
    first = await client.get(response.headers["location"])
    shown = re.findall(r'data-member="([0-9a-f-]+)"', first.text)
    assert len(shown) == 25
    next_url = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert next_url is not None
    second = await client.get(html.unescape(next_url.group(1)))
    rest = re.findall(r'data-member="([0-9a-f-]+)"', second.text)
    assert sorted(shown + rest) == sorted(str(c.id) for c in customers)
    assert 'rel="next"' not in second.text
    assert "First page" in second.text


async def test_the_preview_suggests_the_closest_saved_segment_name(
    client: httpx2.AsyncClient, admin: Persona
) -> None:
    assert (await save(client, name="VIPs", kind="static")).is_redirect
    page = await preview(client, 'in segment "VIP"')
    assert 'data-error-code="unknown_segment"' in page
    assert "data-problem-message>There is no saved segment &#39;VIP&#39;.</p>" in page
    assert "Did you mean <code>vips</code>?" in page


async def test_editing_a_static_list_renames_it_and_keeps_its_members(
    client: httpx2.AsyncClient, db: AsyncSession, admin: Persona
) -> None:
    tag = f"t{uuid.uuid4().hex[:6]}"
    await tagged(db, tag, "Ann", "Bob")
    assert (
        await save(client, name="Frozen", kind="static", expression=f'has tag "{tag}"')
    ).is_redirect
    segment = await segment_named(db, "Frozen")
    form = await client.get(f"/segments/{segment.id}/edit")
    assert "readonly" in form.text
    assert 'id="segment-preview"' not in form.text
    token = await form_token(client, f"/segments/{segment.id}/edit")
    saved = await client.post(
        f"/segments/{segment.id}/edit",
        data={"csrf_token": token, "name": "Thawed", "expression": "orders_count > 100"},
    )
    assert saved.status_code == 303
    await db.refresh(segment)
    assert (segment.name, segment.expression, segment.member_count) == (
        "Thawed",
        f'has tag "{tag}"',
        2,
    )


async def audit_rows(db: AsyncSession, segment_id: uuid.UUID) -> list[tuple[str, str, Any]]:
    rows = await db.execute(
        select(AuditEvent.action, AuditEvent.actor_label, AuditEvent.details)
        .where(AuditEvent.object_type == "segment", AuditEvent.object_id == str(segment_id))
        .order_by(AuditEvent.occurred_at, AuditEvent.id)
    )
    return [(row.action, row.actor_label, row.details) for row in rows]


async def test_saving_editing_and_deleting_segments_is_in_the_audit_log(
    client: httpx2.AsyncClient, db: AsyncSession, admin: Persona
) -> None:
    tag, other = f"t{uuid.uuid4().hex[:6]}", f"o{uuid.uuid4().hex[:6]}"
    (ann,) = await tagged(db, tag, "Ann")
    await tagged(db, other, "Bob")
    assert (await save(client, name="Tagged", expression=f'has tag "{tag}"')).is_redirect
    segment = await segment_named(db, "Tagged")
    url = f"/segments/{segment.id}/edit"
    token = await form_token(client, url)
    data = {"csrf_token": token, "name": "Other tag", "description": "moved"}
    refused = await client.post(url, data={**data, "expression": "has tag"})
    assert refused.status_code == 422
    unchanged = await client.post(
        url, data={**data, "name": "Tagged", "description": "", "expression": f'has tag "{tag}"'}
    )
    assert unchanged.status_code == 303
    saved = await client.post(url, data={**data, "expression": f'has tag "{other}"'})
    assert saved.status_code == 303

    created, updated = await audit_rows(db, segment.id)
    assert created == (
        "segment.created",
        admin.email,
        {
            "name": "Tagged",
            "description": "",
            "kind": "dynamic",
            "expression": f'has tag "{tag}"',
            "members": 1,
        },
    )
    assert updated[:2] == ("segment.updated", admin.email)
    assert updated[2] == {
        "changes": {
            "name": {"from": "Tagged", "to": "Other tag"},
            "description": {"from": "", "to": "moved"},
            "expression": {"from": f'has tag "{tag}"', "to": f'has tag "{other}"'},
        }
    }

    assert (await save(client, name="Hand picked", kind="static")).is_redirect
    listed = await segment_named(db, "Hand picked")
    base = f"/segments/{listed.id}"
    await client.post(f"{base}/members", data={"csrf_token": token, "email": ann.email})
    await client.post(f"{base}/members", data={"csrf_token": token, "email": ann.email})  # again
    await client.post(f"{base}/members/{ann.id}/remove", data={"csrf_token": token})
    deleted = await client.post(f"{base}/delete", data={"csrf_token": token})
    assert deleted.headers["location"] == "/segments"

    rows = await audit_rows(db, listed.id)
    assert [(action, details) for action, _, details in rows] == [
        (
            "segment.created",
            {
                "name": "Hand picked",
                "description": "",
                "kind": "static",
                "expression": "",
                "members": 0,
            },
        ),
        (
            "segment.members_changed",
            {"added": 1, "removed": 0, "added_ids": [str(ann.id)], "removed_ids": [], "members": 1},
        ),
        (
            "segment.members_changed",
            {"added": 0, "removed": 1, "added_ids": [], "removed_ids": [str(ann.id)], "members": 0},
        ),
        (
            "segment.deleted",
            {
                "name": "Hand picked",
                "description": "",
                "kind": "static",
                "expression": "",
                "members": 0,
            },
        ),
    ]
