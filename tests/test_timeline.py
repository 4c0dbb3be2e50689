"""The customer timeline: notes, mentions, activities, pins, files, filters."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx2
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit.service import SYSTEM
from patron.config import Settings
from patron.kit.time import utcnow
from patron.models import MailMessage, StaffNotification
from patron.timeline.service import add_entry
from tests.conftest import MakeKey, MakeUser, Persona, audit_actions, bearer

Headers = dict[str, str]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
async def admin(make_user: MakeUser) -> Persona:
    return await make_user("admin", email="ada@example.com", name="Ada Admin")


@pytest.fixture
async def headers(admin: Persona, make_key: MakeKey) -> Headers:
    return bearer(await make_key(admin))


@pytest.fixture
async def customer(client: httpx2.AsyncClient, headers: Headers) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/customers",
        json={"first_name": "Tina", "email": "tina@example.com"},
        headers=headers,
    )
    assert response.status_code == 201
    result: dict[str, Any] = response.json()
    return result


async def note(
    client: httpx2.AsyncClient, headers: Headers, customer_id: str, body: str, **extra: Any
) -> httpx2.Response:
    return await client.post(
        f"/api/v1/customers/{customer_id}/notes", json={"body": body, **extra}, headers=headers
    )


async def test_a_note_is_rendered_as_safe_html(
    client: httpx2.AsyncClient, headers: Headers, customer: dict[str, Any]
) -> None:
    response = await note(
        client,
        headers,
        customer["id"],
        "Called about **sizes**\n<script>alert(1)</script> [x](javascript:alert(1)) "
        "[site](https://shop.example)",
    )
    assert response.status_code == 201, response.text
    entry = response.json()
    assert entry["summary"] == "Called about **sizes**"
    html = entry["body_html"]
    assert "<strong>sizes</strong>" in html
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert 'href="javascript' not in html
    assert 'href="https://shop.example"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


async def test_mentioned_colleagues_are_notified_once_but_not_the_author(
    client: httpx2.AsyncClient,
    headers: Headers,
    customer: dict[str, Any],
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
) -> None:
    sue = await make_user("support", email="sue@example.com", name="Sue Support")
    response = await note(
        client, headers, customer["id"], "@sue please call back, cc @ada and @nobody @sue"
    )
    assert response.json()["data"]["mentions"] == [str(sue.user.id)]
    notices = list(await db.scalars(select(StaffNotification)))
    assert [(n.user_id, n.kind) for n in notices] == [(sue.user.id, "mention")]
    mails = list(await db.scalars(select(MailMessage).where(MailMessage.kind == "mention")))
    assert [m.to_address for m in mails] == ["sue@example.com"]
    assert "Tina" in mails[0].subject

    sue_headers = bearer(await make_key(sue))
    mine = (await client.get("/api/v1/notifications?unread=true", headers=sue_headers)).json()
    assert mine[0]["link"] == f"/customers/{customer['id']}"
    read = await client.post(f"/api/v1/notifications/{mine[0]['id']}/read", headers=sue_headers)
    assert read.status_code == 204
    again = await client.post(f"/api/v1/notifications/{mine[0]['id']}/read", headers=headers)
    assert again.status_code == 404  # not Ada's, and already read


@pytest.mark.parametrize(
    ("body", "code"), [("   ", "validation_error"), ("x" * 20_001, "validation_error")]
)
async def test_empty_or_huge_notes_are_refused(
    client: httpx2.AsyncClient,
    headers: Headers,
    customer: dict[str, Any],
    body: str,
    code: str,
) -> None:
    response = await note(client, headers, customer["id"], body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code


async def test_the_feed_filters_by_kind_pages_and_shows_pins_first(
    client: httpx2.AsyncClient, headers: Headers, customer: dict[str, Any], db: AsyncSession
) -> None:
    customer_id = customer["id"]
    pinned = (await note(client, headers, customer_id, "Important", pinned=True)).json()
    for index in range(4):
        await note(client, headers, customer_id, f"note {index}")
    await add_entry(
        db,
        customer_id=uuid.UUID(customer_id),
        kind="order_placed",
        summary="Order #1001 placed",
        actor=SYSTEM,
    )
    await client.post(
        f"/api/v1/customers/{customer_id}/activities",
        json={"kind": "call", "summary": "Asked about returns", "duration_minutes": 5},
        headers=headers,
    )
    base = f"/api/v1/customers/{customer_id}/timeline"
    first = (await client.get(base, params={"limit": 3}, headers=headers)).json()
    assert [p["id"] for p in first["pinned"]] == [pinned["id"]]
    assert first["items"][0]["kind"] == "call"
    second = (
        await client.get(base, params={"limit": 3, "cursor": first["next_cursor"]}, headers=headers)
    ).json()
    assert second["pinned"] == []
    orders = (await client.get(base, params={"group": "orders"}, headers=headers)).json()
    assert [e["summary"] for e in orders["items"]] == ["Order #1001 placed"]
    activities = (await client.get(base, params={"group": "activities"}, headers=headers)).json()
    assert activities["items"][0]["data"]["duration_minutes"] == 5
    unknown = await client.get(base, params={"group": "gossip"}, headers=headers)
    assert unknown.status_code == 422


async def test_only_the_author_or_an_admin_edits_a_note_and_history_stays(
    client: httpx2.AsyncClient,
    headers: Headers,
    customer: dict[str, Any],
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
) -> None:
    support = bearer(await make_key(await make_user("support")))
    theirs = (await note(client, support, customer["id"], "first text")).json()
    mine = (await note(client, headers, customer["id"], "admin's note")).json()
    base = f"/api/v1/customers/{customer['id']}/timeline"

    denied = await client.patch(f"{base}/{mine['id']}", json={"body": "edited"}, headers=support)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "not_the_author"
    edited = await client.patch(f"{base}/{theirs['id']}", json={"body": "*new*"}, headers=support)
    assert edited.json()["body_html"] == "<p><em>new</em></p>\n"
    pinned = await client.patch(f"{base}/{mine['id']}", json={"pinned": True}, headers=support)
    assert pinned.json()["pinned"] is True  # pinning is teamwork, not authorship

    order_entry = await add_entry(
        db, customer_id=uuid.UUID(customer["id"]), kind="order_placed", summary="x", actor=SYSTEM
    )
    refused = await client.delete(f"{base}/{order_entry.id}", headers=headers)
    assert refused.json()["error"]["code"] == "not_deletable"
    assert (await client.delete(f"{base}/{theirs['id']}", headers=headers)).status_code == 204
    assert "customer.note_deleted" in await audit_actions(db, customer["id"])
    gone = await client.delete(f"{base}/{theirs['id']}", headers=headers)
    assert gone.json()["error"]["code"] == "entry_not_found"


async def test_an_activity_cannot_be_logged_in_the_future(
    client: httpx2.AsyncClient, headers: Headers, customer: dict[str, Any]
) -> None:
    response = await client.post(
        f"/api/v1/customers/{customer['id']}/activities",
        json={"kind": "meeting", "occurred_at": (utcnow() + timedelta(days=1)).isoformat()},
        headers=headers,
    )
    assert response.json()["error"]["code"] == "activity_in_future"


async def test_files_are_checked_by_content_stored_and_downloaded_with_an_audit(
    client: httpx2.AsyncClient,
    headers: Headers,
    customer: dict[str, Any],
    settings: Settings,
    db: AsyncSession,
) -> None:
    base = f"/api/v1/customers/{customer['id']}/attachments"
    uploaded = await client.post(
        base, files={"file": ("../../etc/receipt.png", PNG, "text/html")}, headers=headers
    )
    assert uploaded.status_code == 201, uploaded.text
    attachment = uploaded.json()
    assert (attachment["filename"], attachment["content_type"]) == ("receipt.png", "image/png")
    stored = list((settings.data_dir / "attachments").rglob("*"))
    assert any(path.is_file() and path.read_bytes() == PNG for path in stored)

    download = await client.get(f"{base}/{attachment['id']}", headers=headers)
    assert download.content == PNG
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "customer.read" in await audit_actions(db, customer["id"])
    feed = (
        await client.get(f"/api/v1/customers/{customer['id']}/timeline", headers=headers)
    ).json()
    assert feed["items"][0]["attachments"][0]["id"] == attachment["id"]

    program = await client.post(
        base,
        files={"file": ("invoice.pdf", b"MZ\x90\x00\x03\x00\x00\x00", "application/pdf")},
        headers=headers,
    )
    assert program.json()["error"]["code"] == "file_type_not_allowed"
    settings.attachment_max_bytes = 1024
    big = await client.post(base, files={"file": ("a.txt", b"a" * 5000)}, headers=headers)
    assert big.status_code == 413
    assert big.json()["error"]["code"] == "file_too_large"
    assert len([p for p in (settings.data_dir / "attachments").rglob("*") if p.is_file()]) == 1


async def test_a_sales_rep_cannot_read_or_write_another_reps_customer_timeline(
    client: httpx2.AsyncClient,
    customer: dict[str, Any],
    make_user: MakeUser,
    make_key: MakeKey,
) -> None:
    rep = bearer(await make_key(await make_user("sales")))
    base = f"/api/v1/customers/{customer['id']}"
    assert (await client.get(f"{base}/timeline", headers=rep)).status_code == 404
    assert (await note(client, rep, customer["id"], "sneaky")).status_code == 404
