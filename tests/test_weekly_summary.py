"""The weekly summary email: chosen on the profile page, sent on Monday over real SMTP to
each person who chose it, once per week however often the job runs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from email.message import Message
from pathlib import Path

import httpx2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics.rollups import refresh_queued
from patron.analytics.sales.tasks import weekly_summary
from patron.audit.service import SYSTEM
from patron.config import Settings
from patron.models import MailMessage, StaffUser, WeeklySummarySent
from patron.orders import service as orders
from patron.orders.service import LineRequest
from patron.users import service as users
from patron.worker.app import run_worker, set_runtime
from tests.conftest import (
    Inbox,
    IsolatedDatabase,
    MakeUser,
    audit_actions,
    form_token,
    make_settings,
    sign_in,
)
from tests.shop import make_catalog, make_customer
from tests.test_reports_sales import at, sell

MONDAY = date(2026, 11, 16)
SCHEDULED = int(datetime(2026, 11, 16, 7, 0, tzinfo=UTC).timestamp())


async def _staff(db: AsyncSession, settings: Settings, role: str, email: str, *, chosen: bool,
                 active: bool = True) -> StaffUser:  # fmt: skip
    user = await users.create_user(
        db,
        settings,
        actor=SYSTEM,
        email=email,
        name=email.split("@")[0].title(),
        role=role,
        password="correct horse battery staple",
        send_invite=False,
    )
    user.weekly_summary = chosen
    user.is_active = active
    return user


async def _shop(db: AsyncSession, settings: Settings) -> None:
    """Last week (9–15 Nov): 2 shirts + a mug (92.50) and a mug (12.50), 10.00 refunded.
    The week before: one shirt (40.00)."""
    catalog = await make_catalog(db, settings)
    ada = await make_customer(db)
    shirt, mug = catalog.shirt.id, catalog.mug.id
    big = await sell(
        db,
        settings,
        ada,
        [LineRequest(2, variant_id=shirt), LineRequest(1, variant_id=mug)],
        when=at(date(2026, 11, 10)),
    )
    await sell(db, settings, ada, [LineRequest(1, variant_id=mug)], when=at(date(2026, 11, 15), 23))
    await sell(db, settings, ada, [LineRequest(1, variant_id=shirt)], when=at(date(2026, 11, 3)))
    await orders.record_refund(
        db,
        settings,
        big,
        actor=SYSTEM,
        amount=Decimal("10.00"),
        processed_at=at(date(2026, 11, 12)),
    )
    # this Monday's order is not part of last week
    await sell(db, settings, ada, [LineRequest(3, variant_id=shirt)], when=at(MONDAY, 6))


def text_of(message: Message, kind: str = "text/plain") -> str:
    for part in message.walk():
        if part.get_content_type() == kind:
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError(f"no {kind} part")


async def test_the_weekly_summary_reaches_each_chosen_person_once_per_week(
    isolated_database: IsolatedDatabase,
    smtp_server: tuple[Inbox, int],
    tmp_path: Path,
) -> None:
    inbox, port = smtp_server
    settings = make_settings(isolated_database.url, tmp_path, smtp_host="127.0.0.1", smtp_port=port)
    set_runtime(settings, isolated_database.database)
    async with isolated_database.database.transaction() as db:
        await _shop(db, settings)
        await _staff(db, settings, "manager", "maria@shop.test", chosen=True)
        await _staff(db, settings, "analyst", "otto@shop.test", chosen=False)
        await _staff(db, settings, "marketing", "gone@shop.test", chosen=True, active=False)
        await _staff(db, settings, "support", "sam@shop.test", chosen=True)  # no reports:read
    await refresh_queued()  # the orders' rollup rows, as the job keeps them

    assert await weekly_summary(timestamp=SCHEDULED) == 1
    await run_worker(isolated_database.database, wait=False, concurrency=1)

    [received] = inbox.messages
    assert received["To"] == "maria@shop.test"
    assert received["Subject"] == "Your week in sales: 09 Nov to 15 Nov 2026"
    body = text_of(received)
    html = text_of(received, "text/html")
    assert "Revenue: 105.00 USD (▲ 162.5%; before: 40.00 USD)" in body
    assert "Orders: 2 (▲ 100.0%; before: 1)" in body
    assert "Average order: 52.50 USD (▲ 31.2%; before: 40.00 USD)" in body
    assert "Refunds: 10.00 USD (new; before: 0.00 USD)" in body
    assert "1. Linen Shirt: 2 sold, 80.00 USD" in body
    assert "2. Stoneware Mug: 2 sold, 25.00 USD" in body
    assert "http://testserver/reports?from=2026-11-09&to=2026-11-15&grain=day" in body
    assert "<li>Linen Shirt: 2 sold, 80.00 USD</li>" in html

    # the job retried (even a day late) or run twice sends nothing more for that week
    assert await weekly_summary(timestamp=SCHEDULED) == 0
    assert await weekly_summary(timestamp=SCHEDULED + 86400) == 0
    await run_worker(isolated_database.database, wait=False, concurrency=1)
    assert len(inbox.messages) == 1
    async with isolated_database.database.transaction() as db:
        [sent] = (await db.scalars(select(WeeklySummarySent))).all()
        assert sent.week_start == date(2026, 11, 9)
        message = await db.get(MailMessage, sent.message_id)
        assert message is not None
        assert message.status == "sent"

    # the next Monday is a new week
    assert await weekly_summary(timestamp=SCHEDULED + 7 * 86400) == 1
    await run_worker(isolated_database.database, wait=False, concurrency=1)
    assert len(inbox.messages) == 2
    next_week = text_of(inbox.messages[1])
    assert "from 16 Nov to 22 Nov 2026" in next_week
    assert "Orders: 1 (▼ 50.0%; before: 2)" in next_week  # this Monday's early order


async def test_staff_choose_the_summary_on_their_profile(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    manager = await make_user("manager")
    await sign_in(client, manager)
    page = await client.get("/account")
    assert 'name="weekly_summary"' in page.text
    token = await form_token(client)
    response = await client.post(
        "/account",
        data={"name": "Maria", "time_zone": "UTC", "weekly_summary": "true", "csrf_token": token},
    )
    assert response.status_code == 303
    await db.refresh(manager.user)
    assert manager.user.weekly_summary is True
    assert "checked" in (await client.get("/account")).text.split('name="weekly_summary"')[1][:40]

    await client.post("/account", data={"name": "Maria", "time_zone": "UTC", "csrf_token": token})
    await db.refresh(manager.user)
    assert manager.user.weekly_summary is False
    assert "user.updated" in await audit_actions(db, manager.user.id)


async def test_people_without_reports_are_not_offered_the_summary(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    support = await make_user("support")
    await sign_in(client, support)
    assert 'name="weekly_summary"' not in (await client.get("/account")).text
    token = await form_token(client)
    await client.post(
        "/account",
        data={"name": "Sam", "time_zone": "UTC", "weekly_summary": "true", "csrf_token": token},
    )
    await db.refresh(support.user)
    assert support.user.weekly_summary is False


async def test_an_administrator_can_choose_the_summary_for_a_colleague(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    colleague = await make_user("manager")
    await sign_in(client, await make_user("admin"))
    path = f"/admin/users/{colleague.user.id}"
    token = await form_token(client, path)
    fields = {"name": "Maria", "role": "manager", "time_zone": "UTC", "csrf_token": token}
    response = await client.post(path, data={**fields, "weekly_summary": "true"})
    assert response.status_code == 303
    await db.refresh(colleague.user)
    assert colleague.user.weekly_summary is True
    assert (
        'id="weekly_summary" name="weekly_summary" value="true" checked'
        in (await client.get(path)).text
    )
    await client.post(path, data=fields)
    await db.refresh(colleague.user)
    assert colleague.user.weekly_summary is False
