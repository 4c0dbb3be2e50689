"""Signing in through the panel: passwords, lockout, rate limits, sessions, sign-out."""

from __future__ import annotations

from datetime import timedelta

import httpx2
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth.passwords import hash_password
from patron.auth.sessions import SESSION_COOKIE
from patron.config import Settings
from patron.kit.time import utcnow
from patron.models import StaffSession, StaffUser
from tests.conftest import PASSWORD, MakeUser, audit_actions, csrf_from, form_token, sign_in


async def _post_login(
    client: httpx2.AsyncClient, email: str, password: str, **extra: str
) -> httpx2.Response:
    page = await client.get("/login")
    return await client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_from(page.text), **extra},
    )


async def test_a_signed_out_visitor_is_sent_to_the_sign_in_page(
    client: httpx2.AsyncClient,
) -> None:
    response = await client.get("/admin/users?role=sales")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/admin/users%3Frole%3Dsales"


async def test_it_signs_in_with_the_right_password_and_returns_to_the_page_asked_for(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    support = await make_user("support")
    response = await _post_login(client, support.email.upper(), PASSWORD, next="/account")
    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    cookie = response.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in cookie
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert (await client.get("/account")).status_code == 200
    assert "auth.sign_in.succeeded" in await audit_actions(db, support.user.id)


async def test_it_never_redirects_to_another_site_after_sign_in(
    client: httpx2.AsyncClient, make_user: MakeUser
) -> None:
    support = await make_user("support")
    response = await _post_login(client, support.email, PASSWORD, next="//evil.example/steal")
    assert response.headers["location"] == "/"


async def test_it_refuses_a_wrong_password_without_saying_whether_the_account_exists(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    sales = await make_user("sales")
    wrong = await _post_login(client, sales.email, "not the password")
    unknown = await _post_login(client, "nobody@shop.test", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "The email or password is not correct." in wrong.text
    assert "The email or password is not correct." in unknown.text
    assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")
    assert "auth.sign_in.failed" in await audit_actions(db, sales.user.id)


async def test_it_locks_an_account_after_repeated_failures_even_for_the_right_password(
    client: httpx2.AsyncClient, make_user: MakeUser, settings: Settings, db: AsyncSession
) -> None:
    sales = await make_user("sales")
    for _ in range(settings.login_max_failures - 1):
        assert (await _post_login(client, sales.email, "wrong")).status_code == 401
    locking = await _post_login(client, sales.email, "wrong")
    assert locking.status_code == 403
    assert 'data-error-code="account_locked"' in locking.text
    right = await _post_login(client, sales.email, PASSWORD)
    assert right.status_code == 403
    assert "locked" in right.text
    assert "auth.account.locked" in await audit_actions(db, sales.user.id)


async def test_a_lock_lifts_by_itself_after_the_delay(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    sales = await make_user("sales")
    sales.user.locked_until = utcnow() - timedelta(seconds=1)
    await db.flush()
    assert (await _post_login(client, sales.email, PASSWORD)).status_code == 303


async def test_an_admin_unlocks_a_locked_account(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    admin = await make_user("admin")
    sales = await make_user("sales")
    sales.user.locked_until = utcnow() + timedelta(minutes=10)
    await db.flush()
    await sign_in(client, admin)
    token = await form_token(client)
    response = await client.post(f"/admin/users/{sales.user.id}/unlock", data={"csrf_token": token})
    assert response.status_code == 303
    await db.refresh(sales.user)
    assert sales.user.locked_until is None
    assert "user.unlocked" in await audit_actions(db, sales.user.id)


async def test_a_disabled_account_cannot_sign_in(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    analyst = await make_user("analyst")
    analyst.user.is_active = False
    await db.flush()
    response = await _post_login(client, analyst.email, PASSWORD)
    assert response.status_code == 401
    assert 'data-error-code="account_disabled"' in response.text


async def test_sign_in_attempts_from_one_address_are_rate_limited(
    client: httpx2.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one fixed moment, so a slow machine cannot cross into the next one-minute window
    monkeypatch.setattr("patron.auth.ratelimit.time.time", lambda: 1_800_000_030.0)
    for _ in range(settings.rate_limit_login_per_minute):
        assert (await _post_login(client, "someone@shop.test", "guess")).status_code == 401
    limited = await _post_login(client, "someone@shop.test", "guess")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60


async def test_it_rehashes_a_password_stored_with_older_parameters(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    from argon2 import PasswordHasher

    sales = await make_user("sales")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    sales.user.password_hash = weak
    await db.flush()
    await sign_in(client, sales)
    await db.refresh(sales.user)
    assert sales.user.password_hash != weak
    assert sales.user.password_hash.startswith("$argon2id$")
    assert hash_password(PASSWORD) != sales.user.password_hash  # salted


async def test_signing_out_ends_the_session_for_good(
    client: httpx2.AsyncClient, make_user: MakeUser
) -> None:
    marketing = await make_user("marketing")
    await sign_in(client, marketing)
    stolen = client.cookies.get(SESSION_COOKIE)
    token = await form_token(client)
    response = await client.post("/logout", data={"csrf_token": token})
    assert response.headers["location"] == "/login"
    client.cookies.set(SESSION_COOKIE, stolen or "")
    assert (await client.get("/account")).status_code == 303


async def test_a_session_idle_too_long_or_past_its_absolute_expiry_is_over(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession, settings: Settings
) -> None:
    manager = await make_user("manager")
    await sign_in(client, manager)
    session_row = await db.scalar(
        select(StaffSession).where(StaffSession.user_id == manager.user.id)
    )
    assert session_row is not None
    idle = timedelta(minutes=settings.session_idle_minutes + 1)
    await db.execute(
        update(StaffSession)
        .where(StaffSession.id == session_row.id)
        .values(last_seen_at=utcnow() - idle)
    )
    assert (await client.get("/account")).status_code == 303

    await sign_in(client, manager)
    await db.execute(
        update(StaffSession)
        .where(StaffSession.user_id == manager.user.id)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    assert (await client.get("/account")).status_code == 303


async def test_a_person_sees_their_sessions_and_signs_out_the_others(
    client: httpx2.AsyncClient, app: object, make_user: MakeUser, db: AsyncSession
) -> None:
    admin = await make_user("admin")
    other = httpx2.AsyncClient(transport=client._transport, base_url="http://testserver")
    await sign_in(other, admin)
    await sign_in(client, admin)
    page = await client.get("/account/security")
    assert page.text.count("data-session=") == 2
    response = await client.post(
        "/account/sessions/revoke-others", data={"csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 303
    assert (await other.get("/account")).status_code == 303
    assert (await client.get("/account")).status_code == 200
    assert "auth.session.revoked_all" in await audit_actions(db, admin.user.id)
    await other.aclose()


async def test_a_password_change_needs_the_current_password_and_signs_out_other_sessions(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    support = await make_user("support")
    other = httpx2.AsyncClient(transport=client._transport, base_url="http://testserver")
    await sign_in(other, support)
    await sign_in(client, support)
    token = await form_token(client, "/account/security")
    new = "a brand new passphrase for support"
    wrong = await client.post(
        "/account/password",
        data={"csrf_token": token, "current_password": "nope", "password": new, "confirm": new},
    )
    assert wrong.status_code == 422
    assert "current password is not correct" in wrong.text
    weak = await client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": PASSWORD,
            "password": "password1",
            "confirm": "password1",
        },
    )
    assert weak.status_code == 422
    ok = await client.post(
        "/account/password",
        data={"csrf_token": token, "current_password": PASSWORD, "password": new, "confirm": new},
    )
    assert ok.status_code == 303
    assert (await other.get("/account")).status_code == 303
    assert (await client.get("/account")).status_code == 200
    user = await db.scalar(select(StaffUser).where(StaffUser.id == support.user.id))
    assert user is not None
    assert user.password_changed_at is not None
    assert "auth.password.changed" in await audit_actions(db, support.user.id)
    await other.aclose()
