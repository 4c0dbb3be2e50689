"""Exporting a segment's members as CSV or XLSX: the customer export's columns, the record
scope, and an audit row naming the segment."""

from __future__ import annotations

import csv
import io
import uuid
from decimal import Decimal
from typing import Any

import httpx2
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit.service import SYSTEM
from patron.customers.export_api import HEADERS
from patron.models import AuditEvent, Customer, CustomerMetrics
from patron.users import service as users
from tests.conftest import MakeKey, MakeUser, bearer
from tests.shop import make_customer

SEGMENTS = "/api/v1/segments"


async def _tagged(
    db: AsyncSession, name: str, tag: str, *, owner_id: uuid.UUID | None = None
) -> Customer:
    customer = await make_customer(db, first_name=name, owner_id=owner_id)
    customer.tags = [tag]
    await db.flush()
    return customer


async def _segment(client: httpx2.AsyncClient, key: str, expression: str) -> dict[str, Any]:
    name = f"Big spenders {uuid.uuid4().hex[:6]}"
    response = await client.post(
        SEGMENTS, headers=bearer(key), json={"name": name, "expression": expression}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _csv(response: httpx2.Response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))


async def _audit(db: AsyncSession, segment_id: str) -> AuditEvent:
    event = await db.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "customer.exported", AuditEvent.object_id == segment_id
        )
    )
    assert event is not None
    return event


async def test_the_csv_holds_the_customer_export_columns_for_each_member_and_is_audited(
    client: httpx2.AsyncClient, db: AsyncSession, make_user: MakeUser, make_key: MakeKey
) -> None:
    tag = f"t{uuid.uuid4().hex[:6]}"
    ann = await _tagged(db, "Ann", tag)
    await _tagged(db, '=HYPERLINK("http://evil")', f"{tag}-no")
    await db.merge(
        CustomerMetrics(customer_id=ann.id, orders_count=3, total_spent=Decimal("310.50"))
    )
    await db.flush()
    key = await make_key(await make_user("marketing"))
    segment = await _segment(client, key, f'has tag "{tag}"')

    response = await client.get(f"{SEGMENTS}/{segment['id']}/members.csv", headers=bearer(key))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="segment-big-spenders-')
    header, *rows = _csv(response)
    assert header == list(HEADERS)
    [row] = rows
    values = dict(zip(header, row, strict=True))
    assert (values["id"], values["first_name"], values["tags"]) == (str(ann.id), "Ann", tag)
    assert (values["orders_count"], values["total_spent"]) == ("3", "310.50")

    event = await _audit(db, segment["id"])
    assert event.object_type == "segment"
    assert event.details["segment"] == segment["name"]
    assert (event.details["count"], event.details["format"]) == (1, "csv")


async def test_the_xlsx_holds_the_same_rows(
    client: httpx2.AsyncClient, db: AsyncSession, make_user: MakeUser, make_key: MakeKey
) -> None:
    tag = f"t{uuid.uuid4().hex[:6]}"
    people = {await _tagged(db, name, tag) for name in ("Ann", "Bob")}
    key = await make_key(await make_user("marketing"))
    segment = await _segment(client, key, f'has tag "{tag}"')
    response = await client.get(f"{SEGMENTS}/{segment['id']}/members.xlsx", headers=bearer(key))
    assert response.status_code == 200, response.text
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
    assert sheet is not None
    header, *rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert header == list(HEADERS)
    assert {row[0] for row in rows} == {str(person.id) for person in people}
    assert (await _audit(db, segment["id"])).details["format"] == "xlsx"


async def test_a_rep_who_sees_only_their_own_customers_exports_only_their_own_members(
    client: httpx2.AsyncClient, db: AsyncSession, make_user: MakeUser, make_key: MakeKey
) -> None:
    await users.create_role(
        db,
        actor=SYSTEM,
        name="exporting_rep",
        label="Rep who exports",
        scopes=["customers:read", "customers:export", "segments:read"],
        record_scope="own",
    )
    rep = await make_user("exporting_rep")
    tag = f"t{uuid.uuid4().hex[:6]}"
    mine = await _tagged(db, "Mine", tag, owner_id=rep.user.id)
    await _tagged(db, "Theirs", tag)
    segment = await _segment(client, await make_key(await make_user("marketing")), f'tag = "{tag}"')
    assert segment["member_count"] == 2

    response = await client.get(
        f"{SEGMENTS}/{segment['id']}/members.csv", headers=bearer(await make_key(rep))
    )
    assert response.status_code == 200, response.text
    assert [row[0] for row in _csv(response)[1:]] == [str(mine.id)]
    assert (await _audit(db, segment["id"])).details["count"] == 1


async def test_an_export_is_refused_without_the_export_right_or_for_an_unknown_segment(
    client: httpx2.AsyncClient, db: AsyncSession, make_user: MakeUser, make_key: MakeKey
) -> None:
    marketer = await make_key(await make_user("marketing"))
    segment = await _segment(client, marketer, "orders_count > 100")
    rep = await make_key(await make_user("sales"))  # may see segments, may not export
    refused = await client.get(f"{SEGMENTS}/{segment['id']}/members.csv", headers=bearer(rep))
    assert refused.status_code == 403
    unknown = await client.get(f"{SEGMENTS}/{uuid.uuid4()}/members.csv", headers=bearer(marketer))
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "segment_not_found")
    audited = await db.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "customer.exported", AuditEvent.object_type == "segment"
        )
    )
    assert audited is None
