"""API keys: shown once, stored hashed, scoped, expiring, revocable."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import httpx2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.kit.time import utcnow
from patron.models import ApiKey
from tests.conftest import MakeKey, MakeUser, audit_actions, bearer, form_token, sign_in


async def test_a_key_authenticates_as_its_owner_with_only_its_scopes(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    manager = await make_user("manager")
    secret = await make_key(manager, ["users:read"])
    me = await client.get("/api/v1/me", headers=bearer(secret))
    assert me.status_code == 200
    body = me.json()
    assert body["email"] == manager.email
    assert body["scopes"] == ["users:read"]
    assert body["via"] == "api_key"
    assert body["record_scope"] == "team"
    denied = await client.get("/api/v1/audit-events", headers=bearer(secret))
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "missing_scope"


async def test_the_key_is_stored_only_as_a_hash(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey, db: AsyncSession
) -> None:
    admin = await make_user("admin")
    secret = await make_key(admin)
    key = await db.scalar(select(ApiKey).where(ApiKey.user_id == admin.user.id))
    assert key is not None
    assert secret.startswith("ptk_")
    assert key.key_hash == hashlib.sha256(secret.encode()).digest()
    assert secret not in repr(key.__dict__)
    assert key.prefix == secret[:12]


async def test_a_key_cannot_hold_scopes_its_creator_lacks(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    sales = await make_user("sales")
    secret = await make_key(sales, ["users:read"])
    response = await client.post(
        "/api/v1/api-keys",
        headers=bearer(secret),
        json={"name": "escalation", "scopes": ["settings:admin"]},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "scope_not_held"
    unknown = await client.post(
        "/api/v1/api-keys", headers=bearer(secret), json={"name": "typo", "scopes": ["users:reed"]}
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "unknown_scope"


async def test_a_key_loses_scopes_its_owner_loses(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey, db: AsyncSession
) -> None:
    admin = await make_user("admin")
    secret = await make_key(admin, ["audit:read", "users:read"])
    assert (await client.get("/api/v1/audit-events", headers=bearer(secret))).status_code == 200
    admin.user.role = "sales"
    await db.flush()
    me = await client.get("/api/v1/me", headers=bearer(secret))
    assert me.json()["scopes"] == ["users:read"]
    assert (await client.get("/api/v1/audit-events", headers=bearer(secret))).status_code == 403


async def test_a_revoked_key_stops_working_at_once(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey, db: AsyncSession
) -> None:
    support = await make_user("support")
    secret = await make_key(support, ["users:read"])
    listed = await client.get("/api/v1/api-keys", headers=bearer(secret))
    [key] = listed.json()["items"]
    assert "secret" not in key
    revoked = await client.delete(f"/api/v1/api-keys/{key['id']}", headers=bearer(secret))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    again = await client.get("/api/v1/me", headers=bearer(secret))
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "api_key_revoked"
    assert "api_key.revoked" in await audit_actions(db, key["id"])


async def test_an_expired_key_is_refused(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey, db: AsyncSession
) -> None:
    analyst = await make_user("analyst")
    secret = await make_key(analyst, ["users:read"], expires_at=utcnow() + timedelta(hours=1))
    key = await db.scalar(select(ApiKey).where(ApiKey.user_id == analyst.user.id))
    assert key is not None
    key.expires_at = utcnow() - timedelta(seconds=1)
    await db.flush()
    response = await client.get("/api/v1/me", headers=bearer(secret))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "api_key_expired"


async def test_a_key_cannot_be_made_to_expire_in_the_past(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    admin = await make_user("admin")
    secret = await make_key(admin)
    response = await client.post(
        "/api/v1/api-keys",
        headers=bearer(secret),
        json={"name": "old", "scopes": ["users:read"], "expires_at": "2001-01-01T00:00:00Z"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_expiry"


async def test_made_up_and_malformed_credentials_are_refused(client: httpx2.AsyncClient) -> None:
    for header, code in (
        ("Bearer ptk_" + "x" * 40, "invalid_api_key"),
        ("Bearer nonsense", "invalid_api_key"),
        ("Basic dXNlcjpwYXNz", "invalid_authorization"),
        ("Bearer ", "invalid_authorization"),
    ):
        response = await client.get("/api/v1/me", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json()["error"]["code"] == code
    anonymous = await client.get("/api/v1/me")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"


async def test_a_disabled_owner_disables_the_key(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey, db: AsyncSession
) -> None:
    marketing = await make_user("marketing")
    secret = await make_key(marketing, ["users:read"])
    marketing.user.is_active = False
    await db.flush()
    response = await client.get("/api/v1/me", headers=bearer(secret))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "account_disabled"


async def test_the_key_records_when_it_was_last_used(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey, db: AsyncSession
) -> None:
    sales = await make_user("sales")
    secret = await make_key(sales, ["users:read"])
    await client.get("/api/v1/me", headers=bearer(secret))
    key = await db.scalar(select(ApiKey).where(ApiKey.user_id == sales.user.id))
    assert key is not None
    await db.refresh(key)
    assert key.last_used_at is not None
    assert key.last_used_ip == "203.0.113.7"


async def test_an_admin_makes_a_key_for_a_service_account_but_not_for_a_colleague(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    admin = await make_user("admin")
    service = await make_user("analyst", kind="service", name="Warehouse sync")
    colleague = await make_user("sales")
    secret = await make_key(admin)
    made = await client.post(
        "/api/v1/api-keys",
        headers=bearer(secret),
        json={"name": "warehouse", "scopes": ["users:read"], "user_id": str(service.user.id)},
    )
    assert made.status_code == 201
    body = made.json()
    assert body["secret"].startswith("ptk_")
    assert body["user_id"] == str(service.user.id)
    service_me = await client.get("/api/v1/me", headers=bearer(body["secret"]))
    assert service_me.json()["email"] == service.email
    refused = await client.post(
        "/api/v1/api-keys",
        headers=bearer(secret),
        json={"name": "impersonate", "scopes": ["users:read"], "user_id": str(colleague.user.id)},
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "not_a_service_account"


async def test_someone_elses_key_is_not_found(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    sales = await make_user("sales")
    support = await make_user("support")
    theirs = await make_key(support, ["users:read"])
    mine = await make_key(sales, ["users:read"])
    [their_key] = (await client.get("/api/v1/api-keys", headers=bearer(theirs))).json()["items"]
    for method in ("GET", "DELETE"):
        response = await client.request(
            method, f"/api/v1/api-keys/{their_key['id']}", headers=bearer(mine)
        )
        assert response.status_code == 404
    everyone = await client.get("/api/v1/api-keys?all=true", headers=bearer(mine))
    assert everyone.status_code == 403


async def test_a_key_made_in_the_panel_is_shown_once(
    client: httpx2.AsyncClient, make_user: MakeUser
) -> None:
    sales = await make_user("sales")
    await sign_in(client, sales)
    token = await form_token(client, "/account/api-keys")
    created = await client.post(
        "/account/api-keys",
        data={
            "csrf_token": token,
            "name": "Zapier",
            "scopes": ["users:read", "customers:read"],
            "expires_on": "2099-12-31",
        },
    )
    assert created.status_code == 200
    assert "Copy the key now" in created.text
    secret = created.text.split("data-api-key-secret")[0].rsplit('value="', 1)[1].split('"')[0]
    assert secret.startswith("ptk_")
    listing = await client.get("/account/api-keys")
    assert "Zapier" in listing.text
    assert secret not in listing.text
    me = await client.get("/api/v1/me", headers=bearer(secret))
    assert sorted(me.json()["scopes"]) == ["customers:read", "users:read"]
    refused = await client.post(
        "/account/api-keys",
        data={"csrf_token": token, "name": "Too much", "scopes": ["settings:admin"]},
    )
    assert refused.status_code == 403
    assert "cannot hold scopes you do not have" in refused.text
