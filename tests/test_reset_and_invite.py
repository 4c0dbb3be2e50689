"""Forgotten passwords and invitations: emailed single-use links that expire."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx2
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from patron.config import Settings
from patron.kit.time import utcnow
from patron.models import AuthToken, MailMessage
from tests.conftest import MakeUser, Persona, audit_actions, csrf_from, form_token, sign_in

NEW_PASSWORD = "lantern orchard velvet compass"
LINK = re.compile(r"http://testserver(/(?:password/reset|invite)/[A-Za-z0-9_-]+)")


async def _mails_to(db: AsyncSession, email: str) -> list[MailMessage]:
    rows = await db.scalars(
        select(MailMessage).where(MailMessage.to_address == email).order_by(MailMessage.created_at)
    )
    return list(rows)


async def _ask_for_reset(client: httpx2.AsyncClient, email: str) -> httpx2.Response:
    page = await client.get("/password/forgot")
    return await client.post(
        "/password/forgot", data={"email": email, "csrf_token": csrf_from(page.text)}
    )


async def _reset_link(client: httpx2.AsyncClient, db: AsyncSession, persona: Persona) -> str:
    await _ask_for_reset(client, persona.email)
    mails = await _mails_to(db, persona.email)
    found = LINK.search(mails[-1].body_text)
    assert found, mails[-1].body_text
    return found.group(1)


async def _choose(client: httpx2.AsyncClient, link: str, password: str) -> httpx2.Response:
    page = await client.get(link)
    if page.status_code != 200:
        return page
    return await client.post(
        link, data={"password": password, "confirm": password, "csrf_token": csrf_from(page.text)}
    )


async def test_a_reset_link_is_emailed_and_sets_a_new_password(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    sales = await make_user("sales")
    answer = await _ask_for_reset(client, sales.email)
    assert "we have emailed it a link" in answer.text
    [mail] = await _mails_to(db, sales.email)
    assert mail.subject == "Reset your Patron password"
    assert mail.kind == "password_reset"
    assert "<a" in mail.body_html
    assert "href" in mail.body_html
    job = await db.scalar(
        text(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'mail.send' "
            "AND args->>'message_id' = :id"
        ),
        {"id": str(mail.id)},
    )
    assert job == 1  # queued in the same transaction as the message

    found = LINK.search(mail.body_text)
    assert found
    done = await _choose(client, found.group(1), NEW_PASSWORD)
    assert done.status_code == 303
    assert done.headers["location"] == "/login"
    await sign_in(client, Persona(sales.user, NEW_PASSWORD))
    assert "auth.password.reset" in await audit_actions(db, sales.user.id)


async def test_a_reset_link_works_only_once(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    support = await make_user("support")
    link = await _reset_link(client, db, support)
    assert (await _choose(client, link, NEW_PASSWORD)).status_code == 303
    replay = await client.get(link)
    assert replay.status_code == 410
    assert "no longer works" in replay.text
    page = await client.get("/password/forgot")
    forced = await client.post(
        link,
        data={
            "password": "another long passphrase here",
            "confirm": "another long passphrase here",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert forced.status_code == 410


async def test_an_expired_reset_link_is_refused(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    analyst = await make_user("analyst")
    link = await _reset_link(client, db, analyst)
    await db.execute(
        update(AuthToken)
        .where(AuthToken.user_id == analyst.user.id)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    assert (await client.get(link)).status_code == 410


async def test_asking_again_makes_the_earlier_link_stop_working(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    marketing = await make_user("marketing")
    first = await _reset_link(client, db, marketing)
    second = await _reset_link(client, db, marketing)
    assert (await client.get(first)).status_code == 410
    assert (await client.get(second)).status_code == 200


async def test_an_unknown_email_gets_the_same_answer_and_no_mail(
    client: httpx2.AsyncClient, db: AsyncSession
) -> None:
    answer = await _ask_for_reset(client, "stranger@shop.test")
    assert answer.status_code == 200
    assert "we have emailed it a link" in answer.text
    assert await _mails_to(db, "stranger@shop.test") == []


async def test_a_weak_or_mismatched_new_password_is_refused_and_the_link_still_works(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    sales = await make_user("sales")
    link = await _reset_link(client, db, sales)
    page = await client.get(link)
    weak = await client.post(
        link,
        data={
            "password": "qwerty12345",
            "confirm": "qwerty12345",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert weak.status_code == 422
    assert "too easy to guess" in weak.text
    differ = await client.post(
        link,
        data={
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD + "x",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert differ.status_code == 422
    assert (await _choose(client, link, NEW_PASSWORD)).status_code == 303


async def test_reset_requests_are_rate_limited(
    client: httpx2.AsyncClient, settings: Settings
) -> None:
    for _ in range(settings.rate_limit_reset_per_hour):
        assert (await _ask_for_reset(client, "x@shop.test")).status_code == 200
    limited = await _ask_for_reset(client, "x@shop.test")
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0


async def test_an_invited_person_chooses_a_password_and_is_signed_in(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    admin = await make_user("admin")
    await sign_in(client, admin)
    token = await form_token(client, "/admin/users/new")
    created = await client.post(
        "/admin/users/new",
        data={
            "csrf_token": token,
            "kind": "person",
            "email": "new.agent@shop.test",
            "name": "New Agent",
            "role": "support",
            "time_zone": "Europe/Paris",
        },
    )
    assert created.status_code == 303
    [invite] = await _mails_to(db, "new.agent@shop.test")
    assert invite.kind == "invite"
    found = LINK.search(invite.body_text)
    assert found

    newcomer = httpx2.AsyncClient(transport=client._transport, base_url="http://testserver")
    page = await newcomer.get(found.group(1))
    assert "Welcome, New Agent" in page.text
    joined = await newcomer.post(
        found.group(1),
        data={
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
            "csrf_token": csrf_from(page.text),
        },
    )
    assert joined.status_code == 303
    assert "Hello, New Agent" in (await newcomer.get("/")).text
    assert (await newcomer.get(found.group(1))).status_code == 410
    await newcomer.aclose()


async def test_an_expired_invitation_can_be_sent_again(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    admin = await make_user("admin")
    invited = await make_user("sales", password=None)
    await sign_in(client, admin)
    token = await form_token(client)
    await client.post(f"/admin/users/{invited.user.id}/invite", data={"csrf_token": token})
    [first] = await _mails_to(db, invited.email)
    await db.execute(
        update(AuthToken)
        .where(AuthToken.user_id == invited.user.id)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    found = LINK.search(first.body_text)
    assert found
    assert (await client.get(found.group(1))).status_code == 410
    await client.post(f"/admin/users/{invited.user.id}/invite", data={"csrf_token": token})
    second = (await _mails_to(db, invited.email))[-1]
    again = LINK.search(second.body_text)
    assert again
    assert again.group(1) != found.group(1)
    assert (await client.get(again.group(1))).status_code == 200
