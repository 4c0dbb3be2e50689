"""TOTP two-factor authentication: enrolment, sign-in, recovery codes, role requirement."""

from __future__ import annotations

import re

import httpx2
from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth.sessions import SESSION_COOKIE
from patron.config import Settings
from patron.kit.crypto import SecretBox
from patron.models import Role
from tests.conftest import PASSWORD, MakeUser, Persona, audit_actions, csrf_from, sign_in

RECOVERY = re.compile(r"data-recovery-code>([a-z0-9-]+)<")


async def _password_step(client: httpx2.AsyncClient, persona: Persona) -> httpx2.Response:
    page = await client.get("/login")
    return await client.post(
        "/login",
        data={
            "email": persona.email,
            "password": persona.password,
            "csrf_token": csrf_from(page.text),
        },
    )


async def _code_step(client: httpx2.AsyncClient, code: str) -> httpx2.Response:
    page = await client.get("/login/2fa")
    return await client.post("/login/2fa", data={"code": code, "csrf_token": csrf_from(page.text)})


async def _enrol(client: httpx2.AsyncClient, settings: Settings, persona: Persona) -> list[str]:
    """Turn on 2FA through the pages; returns the recovery codes shown."""
    page = await client.get("/account/2fa/setup")
    assert page.status_code == 200
    secret = re.search(r"data-totp-secret>([A-Z2-7 ]+)<", page.text)
    assert secret
    persona.totp_secret = secret.group(1).replace(" ", "")
    qr = await client.get("/account/2fa/qr.svg")
    assert qr.headers["content-type"].startswith("image/svg+xml")
    assert qr.content.startswith(b'<svg xmlns="http://www.w3.org/2000/svg"')
    done = await client.post(
        "/account/2fa/setup", data={"code": persona.totp_code(), "csrf_token": csrf_from(page.text)}
    )
    assert done.status_code == 200, done.text
    return RECOVERY.findall(done.text)


async def test_a_person_enrols_with_a_qr_code_and_then_needs_a_code_to_sign_in(
    client: httpx2.AsyncClient, make_user: MakeUser, settings: Settings, db: AsyncSession
) -> None:
    sales = await make_user("sales")
    await sign_in(client, sales)
    codes = await _enrol(client, settings, sales)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert "auth.2fa.enabled" in await audit_actions(db, sales.user.id)

    fresh = httpx2.AsyncClient(transport=client._transport, base_url="http://testserver")
    step = await _password_step(fresh, sales)
    assert step.headers["location"].startswith("/login/2fa")
    # the half-signed-in session opens nothing but the code page
    assert (await fresh.get("/account")).status_code == 303
    # a code already used (at enrolment) is refused
    assert (await _code_step(fresh, sales.totp_code())).status_code == 422
    ok = await _code_step(fresh, sales.totp_code(offset_steps=1))
    assert ok.status_code == 303
    assert (await fresh.get("/account")).status_code == 200
    await fresh.aclose()


async def test_a_wrong_confirmation_code_does_not_turn_2fa_on(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    support = await make_user("support")
    await sign_in(client, support)
    page = await client.get("/account/2fa/setup")
    response = await client.post(
        "/account/2fa/setup", data={"code": "000000", "csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 422
    assert "does not match" in response.text
    await db.refresh(support.user)
    assert support.user.totp_enabled_at is None


async def test_a_recovery_code_works_once(
    client: httpx2.AsyncClient, make_user: MakeUser, settings: Settings, db: AsyncSession
) -> None:
    analyst = await make_user("analyst")
    await sign_in(client, analyst)
    codes = await _enrol(client, settings, analyst)
    for attempt, expected in ((codes[0].upper().replace("-", " "), 303), (codes[0], 422)):
        fresh = httpx2.AsyncClient(transport=client._transport, base_url="http://testserver")
        await _password_step(fresh, analyst)
        assert (await _code_step(fresh, attempt)).status_code == expected
        await fresh.aclose()
    assert "auth.2fa.recovery_code_used" in await audit_actions(db, analyst.user.id)


async def test_too_many_wrong_codes_end_the_challenge_and_count_towards_lockout(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    manager = await make_user("manager", totp=True)
    await _password_step(client, manager)
    for _ in range(4):
        assert (await _code_step(client, "123456")).status_code == 422
    final = await _code_step(client, "123456")
    assert final.status_code == 303
    assert final.headers["location"] == "/login"
    assert (await client.get("/login/2fa")).headers["location"] == "/login"
    await db.refresh(manager.user)
    assert manager.user.failed_logins == 5


async def test_turning_2fa_off_needs_the_password(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    marketing = await make_user("marketing", totp=True)
    await sign_in(client, marketing)
    page = await client.get("/account/security")
    wrong = await client.post(
        "/account/2fa/disable", data={"password": "wrong", "csrf_token": csrf_from(page.text)}
    )
    assert wrong.status_code == 422
    ok = await client.post(
        "/account/2fa/disable", data={"password": PASSWORD, "csrf_token": csrf_from(page.text)}
    )
    assert ok.status_code == 303
    await db.refresh(marketing.user)
    assert marketing.user.totp_secret is None
    assert "auth.2fa.disabled" in await audit_actions(db, marketing.user.id)


async def test_new_recovery_codes_replace_the_old_ones(
    client: httpx2.AsyncClient, make_user: MakeUser, settings: Settings
) -> None:
    sales = await make_user("sales")
    await sign_in(client, sales)
    old = await _enrol(client, settings, sales)
    page = await client.get("/account/security")
    response = await client.post(
        "/account/2fa/recovery-codes",
        data={"password": PASSWORD, "csrf_token": csrf_from(page.text)},
    )
    new = RECOVERY.findall(response.text)
    assert len(new) == 10
    assert not set(new) & set(old)
    fresh = httpx2.AsyncClient(transport=client._transport, base_url="http://testserver")
    await _password_step(fresh, sales)
    assert (await _code_step(fresh, old[1])).status_code == 422
    assert (await _code_step(fresh, new[1])).status_code == 303
    await fresh.aclose()


async def test_a_role_that_requires_2fa_sends_its_members_to_set_it_up_first(
    client: httpx2.AsyncClient, make_user: MakeUser, settings: Settings, db: AsyncSession
) -> None:
    role = await db.get(Role, "support")
    assert role is not None
    role.require_2fa = True
    await db.flush()
    support = await make_user("support")
    await sign_in(client, support)
    home = await client.get("/")
    assert home.status_code == 303
    assert home.headers["location"] == "/account/2fa/setup"
    api = await client.get("/api/v1/users", headers={"Accept": "application/json"})
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "two_factor_enrolment_required"
    await _enrol(client, settings, support)
    assert (await client.get("/")).status_code == 200
    page = await client.get("/account/security")
    refused = await client.post(
        "/account/2fa/disable", data={"password": PASSWORD, "csrf_token": csrf_from(page.text)}
    )
    assert refused.status_code == 409


async def test_an_admin_resets_the_2fa_of_someone_who_lost_their_phone(
    client: httpx2.AsyncClient, make_user: MakeUser, settings: Settings, db: AsyncSession
) -> None:
    admin = await make_user("admin", totp=True)
    sales = await make_user("sales", totp=True)
    await sign_in(client, admin)
    page = await client.get(f"/admin/users/{sales.user.id}")
    response = await client.post(
        f"/admin/users/{sales.user.id}/reset-2fa", data={"csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 303
    await db.refresh(sales.user)
    assert sales.user.totp_enabled_at is None
    assert "user.2fa_reset" in await audit_actions(db, sales.user.id)


async def test_totp_secrets_are_encrypted_at_rest_and_survive_key_rotation(
    make_user: MakeUser, settings: Settings
) -> None:
    sales = await make_user("sales", totp=True)
    stored = sales.user.totp_secret
    assert stored is not None
    assert sales.totp_secret is not None
    assert sales.totp_secret.encode() not in stored
    rotated = settings.model_copy(
        update={
            "secret_key": settings.secret_key.__class__(
                "a-completely-new-secret-key-0123456789abc"
            ),
            "old_secret_keys": [settings.secret_key],
        }
    )
    assert SecretBox(rotated).decrypt(stored) == sales.totp_secret


async def test_the_pending_cookie_is_short_lived(
    client: httpx2.AsyncClient, make_user: MakeUser
) -> None:
    sales = await make_user("sales", totp=True)
    step = await _password_step(client, sales)
    cookie = step.headers["set-cookie"]
    assert SESSION_COOKIE in cookie
    assert "Max-Age=600" in cookie
