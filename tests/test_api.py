"""The REST API: users, roles, teams, audit log, pagination and the error format."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx2
from sqlalchemy.ext.asyncio import AsyncSession

from patron.config import Settings
from patron.models import Role
from tests.conftest import MakeKey, MakeUser, audit_actions, bearer, form_token, sign_in


async def _admin_key(make_user: MakeUser, make_key: MakeKey) -> str:
    return await make_key(await make_user("admin"))


async def test_an_admin_invites_a_user_and_changes_their_role(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey, db: AsyncSession
) -> None:
    key = await _admin_key(make_user, make_key)
    created = await client.post(
        "/api/v1/users",
        headers=bearer(key),
        json={"email": "Rep@Shop.example", "name": "Rita Rep", "role": "sales"},
    )
    assert created.status_code == 201
    user = created.json()
    assert user["role"] == "sales"
    assert user["is_active"] is True
    duplicate = await client.post(
        "/api/v1/users",
        headers=bearer(key),
        json={"email": "rep@shop.EXAMPLE", "name": "Again", "role": "sales"},
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "email_taken"

    changed = await client.patch(
        f"/api/v1/users/{user['id']}",
        headers=bearer(key),
        json={"role": "manager", "time_zone": "America/New_York"},
    )
    assert changed.status_code == 200
    assert changed.json()["role"] == "manager"
    actions = await audit_actions(db, user["id"])
    assert actions[:2] == ["user.created", "user.invited"]
    assert "user.role_changed" in actions


async def test_user_changes_are_validated(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    key = await _admin_key(make_user, make_key)
    sales = await make_user("sales")
    for body, code in (
        ({"role": "emperor"}, "unknown_role"),
        ({"time_zone": "Mars/Olympus"}, "invalid_time_zone"),
        ({"name": None}, "null_not_allowed"),
        ({"team_id": str(uuid.uuid4())}, "unknown_team"),
        ({"nickname": "x"}, "validation_error"),
        ({"is_active": "maybe"}, "validation_error"),
    ):
        response = await client.patch(
            f"/api/v1/users/{sales.user.id}", headers=bearer(key), json=body
        )
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == code, body
    missing = await client.patch(f"/api/v1/users/{uuid.uuid4()}", headers=bearer(key), json={})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


async def test_the_last_active_admin_cannot_be_demoted_or_disabled(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey, db: AsyncSession
) -> None:
    from sqlalchemy import update

    from patron.models import StaffUser

    admin = await make_user("admin")
    await db.execute(
        update(StaffUser)
        .where(StaffUser.id != admin.user.id, StaffUser.role == "admin")
        .values(is_active=False)
    )
    key = await make_key(admin)
    for body in ({"role": "sales"}, {"is_active": False}):
        response = await client.patch(
            f"/api/v1/users/{admin.user.id}", headers=bearer(key), json=body
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "last_admin"


async def test_disabling_a_user_signs_them_out_everywhere(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    key = await _admin_key(make_user, make_key)
    support = await make_user("support")
    agent = httpx2.AsyncClient(transport=client._transport, base_url="http://testserver")
    await sign_in(agent, support)
    response = await client.patch(
        f"/api/v1/users/{support.user.id}", headers=bearer(key), json={"is_active": False}
    )
    assert response.json()["is_active"] is False
    assert (await agent.get("/account")).status_code == 303
    await agent.aclose()


async def test_users_are_listed_a_page_at_a_time_and_searchable(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    key = await _admin_key(make_user, make_key)
    for i in range(5):
        await make_user("support", email=f"agent{i}@pagination.test", name=f"Agent {i}")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2, "q": "pagination.test"}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/users", headers=bearer(key), params=params)).json()
        seen += [u["email"] for u in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == [f"agent{i}@pagination.test" for i in range(5)]
    assert len(set(seen)) == 5
    wildcard = await client.get("/api/v1/users", headers=bearer(key), params={"q": "%"})
    assert wildcard.json()["items"] == []
    bad = await client.get("/api/v1/users", headers=bearer(key), params={"cursor": "garbage"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_cursor"
    too_many = await client.get("/api/v1/users", headers=bearer(key), params={"limit": 1000})
    assert too_many.status_code == 422


async def test_roles_are_edited_but_the_admin_role_stays_complete(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey, db: AsyncSession
) -> None:
    key = await _admin_key(make_user, make_key)
    roles = (await client.get("/api/v1/roles", headers=bearer(key))).json()
    assert {r["name"] for r in roles} >= {
        "admin",
        "manager",
        "sales",
        "support",
        "marketing",
        "analyst",
    }
    analyst = next(r for r in roles if r["name"] == "analyst")
    assert all(scope.endswith(":read") for scope in analyst["scopes"])

    changed = await client.patch(
        "/api/v1/roles/support",
        headers=bearer(key),
        json={"require_2fa": True, "record_scope": "team"},
    )
    assert changed.status_code == 200
    assert changed.json()["require_2fa"] is True
    fixed = await client.patch(
        "/api/v1/roles/admin", headers=bearer(key), json={"scopes": ["users:read"]}
    )
    assert fixed.status_code == 409
    assert fixed.json()["error"]["code"] == "admin_role_fixed"
    assert "role.updated" in await audit_actions(db, "support")


async def test_a_custom_role_is_created_and_deleted_only_when_unused(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    key = await _admin_key(make_user, make_key)
    created = await client.post(
        "/api/v1/roles",
        headers=bearer(key),
        json={
            "name": "wholesale",
            "label": "Wholesale desk",
            "scopes": ["customers:read"],
            "record_scope": "team",
        },
    )
    assert created.status_code == 201
    member = await make_user("wholesale")
    in_use = await client.delete("/api/v1/roles/wholesale", headers=bearer(key))
    assert in_use.status_code == 409
    await client.patch(
        f"/api/v1/users/{member.user.id}", headers=bearer(key), json={"role": "sales"}
    )
    assert (await client.delete("/api/v1/roles/wholesale", headers=bearer(key))).status_code == 204
    builtin = await client.delete("/api/v1/roles/sales", headers=bearer(key))
    assert builtin.json()["error"]["code"] == "builtin_role"


async def test_teams_are_created_once(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    key = await _admin_key(make_user, make_key)
    assert (
        await client.post("/api/v1/teams", headers=bearer(key), json={"name": "EMEA"})
    ).status_code == 201
    again = await client.post("/api/v1/teams", headers=bearer(key), json={"name": "emea"})
    assert again.status_code == 409


async def test_the_audit_log_is_searchable_by_actor_action_object_and_date(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    admin = await make_user("admin", email="auditor@shop.test")
    key = await make_key(admin)
    sales = await make_user("sales")
    await client.patch(
        f"/api/v1/users/{sales.user.id}", headers=bearer(key), json={"role": "support"}
    )

    async def search(**params: str) -> list[dict[str, object]]:
        response = await client.get("/api/v1/audit-events", headers=bearer(key), params=params)
        assert response.status_code == 200
        items: list[dict[str, object]] = response.json()["items"]
        return items

    by_object = await search(object_id=str(sales.user.id))
    assert next(e["action"] for e in by_object) == "user.role_changed"
    change = by_object[0]
    assert change["details"] == {"changes": {"role": {"from": "sales", "to": "support"}}}
    assert str(change["actor_label"]).startswith("auditor@shop.test")
    assert change["ip"] == "203.0.113.7"
    assert change["request_id"]
    assert await search(actor="auditor@", action="user.role_changed")
    assert all(str(e["action"]).startswith("api_key.") for e in await search(action="api_key"))
    assert await search(since="2999-01-01T00:00:00Z") == []
    assert await search(object_type="staff_user", until="2000-01-01T00:00:00Z") == []


async def test_the_audit_log_cannot_be_changed_or_deleted(
    db: AsyncSession, make_user: MakeUser
) -> None:
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    await make_user("sales")
    for statement in ("UPDATE audit_event SET action = 'forged'", "DELETE FROM audit_event"):
        savepoint = await db.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            await db.execute(text(statement))
        await savepoint.rollback()


async def test_errors_share_one_format(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey, settings: Settings
) -> None:
    key = await _admin_key(make_user, make_key)
    headers = {**bearer(key), "Content-Type": "application/json"}
    malformed = await client.post("/api/v1/teams", headers=headers, content=b'{"name": ')
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "malformed_json"
    invalid = await client.post("/api/v1/teams", headers=headers, content=b'{"name": ""}')
    assert invalid.status_code == 422
    error = invalid.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["field"] == "name"
    huge = b'{"name": "' + b"x" * (settings.max_body_bytes + 10) + b'"}'
    too_big = await client.post("/api/v1/teams", headers=headers, content=huge)
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "payload_too_large"

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(settings.max_body_bytes // 4096 + 2):
            yield b"x" * 4096

    streamed = await client.post("/api/v1/teams", headers=headers, content=stream())
    assert streamed.status_code == 413
    assert streamed.json()["error"]["code"] == "payload_too_large"
    nul = await client.get(
        "/api/v1/audit-events", headers=bearer(key), params={"object_type": "staff\x00user"}
    )
    assert nul.status_code == 422
    assert nul.json()["error"]["code"] == "invalid_input"
    # "\ud800" is valid JSON but no character: a typed field refuses it, and free-form JSON
    # (a custom field's value) is refused by the database; either way a 422, never a 500
    typed = await client.post("/api/v1/teams", headers=headers, content=b'{"name": "T \\ud800"}')
    assert (typed.status_code, typed.json()["error"]["code"]) == (422, "validation_error")
    field = {"entity": "customer", "label": "Nickname", "key": "nickname", "field_type": "text"}
    assert (await client.post("/api/v1/custom-fields", headers=headers, json=field)).is_success
    lone = await client.post(
        "/api/v1/customers",
        headers=headers,
        content=b'{"first_name": "Ada", "custom_fields": {"nickname": "Ada \\udc00"}}',
    )
    assert (lone.status_code, lone.json()["error"]["code"]) == (422, "invalid_input"), lone.text
    paired = await client.post(
        "/api/v1/teams", headers=headers, content=b'{"name": "Team \\ud83d\\ude00"}'
    )
    assert paired.status_code == 201, paired.text
    assert paired.json()["name"] == "Team \U0001f600"
    nowhere = await client.get("/api/v1/nowhere", headers=bearer(key))
    assert nowhere.status_code == 404
    assert nowhere.json()["error"]["code"] == "not_found"
    wrong_method = await client.put("/api/v1/me", headers=bearer(key))
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


async def test_every_response_has_a_request_id_and_security_headers(
    client: httpx2.AsyncClient,
) -> None:
    response = await client.get("/login", headers={"X-Request-ID": "trace-123"})
    assert response.headers["x-request-id"] == "trace-123"
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "strict-transport-security" not in response.headers
    generated = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert generated.headers["x-request-id"] != "bad id with spaces"
    assert len(generated.headers["x-request-id"]) == 32


async def test_hsts_is_sent_behind_https(settings: Settings, database: object) -> None:
    from patron.app import create_app

    https = settings.model_copy(update={"public_url": "https://crm.shop.test"})
    app = create_app(https, database=database)  # type: ignore[arg-type]
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="https://crm.shop.test") as http:
        response = await http.get("/healthz")
    assert "max-age=" in response.headers["strict-transport-security"]


async def test_the_panel_session_works_on_the_api_with_a_csrf_header_for_writes(
    client: httpx2.AsyncClient, make_user: MakeUser
) -> None:
    admin = await make_user("admin")
    await sign_in(client, admin)
    me = await client.get("/api/v1/me")
    assert me.json()["via"] == "session"
    refused = await client.post("/api/v1/teams", json={"name": "Night shift"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    token = await form_token(client)
    wrong = await client.post(
        "/api/v1/teams", json={"name": "Night shift"}, headers={"X-CSRF-Token": "0" * 64}
    )
    assert wrong.status_code == 403
    ok = await client.post(
        "/api/v1/teams", json={"name": "Night shift"}, headers={"X-CSRF-Token": token}
    )
    assert ok.status_code == 201


async def test_panel_forms_without_the_csrf_token_are_refused(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    admin = await make_user("admin")
    sales = await make_user("sales")
    await sign_in(client, admin)
    missing = await client.post(f"/admin/users/{sales.user.id}/disable")
    forged = await client.post(
        f"/admin/users/{sales.user.id}/disable", data={"csrf_token": "f" * 64}
    )
    for response in (missing, forged):
        assert response.status_code == 403
        assert "csrf_failed" in response.text
    await db.refresh(sales.user)
    assert sales.user.is_active
    no_cookie = httpx2.AsyncClient(transport=client._transport, base_url="http://testserver")
    login = await no_cookie.post(
        "/login", data={"email": admin.email, "password": "x", "csrf_token": "f" * 64}
    )
    assert login.status_code == 403
    await no_cookie.aclose()


async def test_the_builtin_roles_match_the_documented_permissions(db: AsyncSession) -> None:
    from sqlalchemy import select

    roles = {r.name: r for r in (await db.scalars(select(Role))).all()}
    assert roles["analyst"].scopes
    assert all(s.endswith(":read") for s in roles["analyst"].scopes)
    assert "settings:admin" not in roles["manager"].scopes
    assert roles["sales"].record_scope == "own"
    assert roles["manager"].record_scope == "team"
    assert "audit:read" in roles["manager"].scopes
    assert "audit:read" not in roles["support"].scopes
