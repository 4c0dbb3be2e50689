"""Administration pages: users, teams, roles and every API key."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from patron.account.views import TIME_ZONES, parse_expiry
from patron.auth import apikeys, repository
from patron.auth.dependencies import SettingsAdmin, get_settings
from patron.auth.principal import Principal
from patron.auth.scopes import RECORD_SCOPES, SCOPES
from patron.config import Settings
from patron.db.deps import DbSession
from patron.errors import CRMError, NotFound
from patron.kit.pagination import PageParams
from patron.kit.time import utcnow
from patron.users import repository as users_repository
from patron.users import service
from patron.web.templating import redirect, render

router = APIRouter(prefix="/admin")
SettingsDep = Annotated[Settings, Depends(get_settings)]
PAGE_SIZE = 50
USER_ACTIONS = {
    "disable": "Account disabled; its sessions are signed out.",
    "enable": "Account enabled.",
    "unlock": "Account unlocked.",
    "invite": "Invitation sent again.",
    "reset-2fa": "Two-factor authentication reset; they will set it up again.",
}


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


async def _choices(db: DbSession) -> dict[str, object]:
    return {
        "roles": await repository.all_roles(db),
        "teams": await repository.all_teams(db),
        "time_zones": TIME_ZONES,
    }


@router.get("/users")
async def users(
    request: Request,
    principal: SettingsAdmin,
    db: DbSession,
    q: Annotated[str, Query(max_length=200)] = "",
    role: Annotated[str, Query(max_length=40)] = "",
    team: Annotated[str, Query(max_length=40)] = "",
    status: Annotated[str, Query(max_length=10)] = "",
    cursor: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    filters = {"q": q, "role": role, "team": team, "status": status}
    active = {"active": True, "disabled": False}.get(status)
    try:
        rows, next_cursor = await users_repository.list_users(
            db,
            PageParams(limit=PAGE_SIZE, cursor=cursor or None),
            q=q or None,
            role=role or None,
            team_id=_uuid_or_none(team),
            active=active,
        )
    except CRMError:
        return redirect(
            request, "/admin/users", flash="That page no longer exists.", category="warning"
        )
    query = {k: v for k, v in filters.items() if v}
    return render(
        request,
        "admin/users.html",
        {
            **await _choices(db),
            "users": rows,
            "filters": filters,
            "now": utcnow(),
            "next_url": f"/admin/users?{urlencode({**query, 'cursor': next_cursor})}"
            if next_cursor
            else None,
            "first_url": f"/admin/users?{urlencode(query)}" if cursor else None,
        },
    )


@router.get("/users/new")
async def new_user_form(request: Request, principal: SettingsAdmin, db: DbSession) -> Response:
    return render(request, "admin/user_new.html", {**await _choices(db), "form": {}})


@router.post("/users/new")
async def create_user(
    request: Request,
    principal: SettingsAdmin,
    db: DbSession,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=40)] = "",
    team_id: Annotated[str, Form(max_length=40)] = "",
    time_zone: Annotated[str, Form(max_length=64)] = "UTC",
    kind: Annotated[str, Form(max_length=10)] = "person",
) -> Response:
    form = {
        "email": email,
        "name": name,
        "role": role,
        "team_id": team_id,
        "time_zone": time_zone,
        "kind": kind,
    }
    try:
        if "@" not in email or not name.strip():
            raise CRMError("Give an email address and a name.", code="invalid_input", status=422)
        user = await service.create_user(
            db,
            settings,
            actor=principal.actor,
            email=email,
            name=name,
            role=role,
            team_id=_uuid_or_none(team_id),
            time_zone=time_zone,
            kind="service" if kind == "service" else "person",
        )
    except CRMError as error:
        return render(
            request,
            "admin/user_new.html",
            {**await _choices(db), "form": form, "error": error.message},
            status_code=error.status,
        )
    message = (
        f"Invitation sent to {user.email}."
        if user.kind == "person"
        else f"Service account {user.name} created; now give it an API key."
    )
    return redirect(request, f"/admin/users/{user.id}", flash=message)


async def _user_page(
    request: Request,
    db: DbSession,
    principal: Principal,
    user_id: uuid.UUID,
    *,
    status_code: int = 200,
    **extra: object,
) -> Response:
    user = await service.get_user(db, user_id)
    keys, _ = await users_repository.list_api_keys(db, PageParams(limit=200), owner=user.id)
    return render(
        request,
        "admin/user_detail.html",
        {
            **await _choices(db),
            "subject": user,
            "keys": keys,
            "now": utcnow(),
            "scopes": {s: d for s, d in SCOPES.items() if principal.has(s)},
            **extra,
        },
        status_code=status_code,
    )


@router.get("/users/{user_id}")
async def user_detail(
    request: Request, user_id: uuid.UUID, principal: SettingsAdmin, db: DbSession
) -> Response:
    return await _user_page(request, db, principal, user_id)


@router.post("/users/{user_id}")
async def update_user(
    request: Request,
    user_id: uuid.UUID,
    principal: SettingsAdmin,
    db: DbSession,
    name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=40)] = "",
    team_id: Annotated[str, Form(max_length=40)] = "",
    time_zone: Annotated[str, Form(max_length=64)] = "UTC",
    weekly_summary: Annotated[bool, Form()] = False,
) -> Response:
    user = await service.get_user(db, user_id)
    try:
        await service.update_user(
            db,
            user,
            actor=principal.actor,
            changes={
                "name": name,
                "role": role,
                "team_id": _uuid_or_none(team_id),
                "time_zone": time_zone,
                "weekly_summary": weekly_summary and user.kind == "person",
            },
        )
    except CRMError as error:
        await db.refresh(user)
        return await _user_page(
            request, db, principal, user_id, status_code=error.status, error=error.message
        )
    return redirect(request, f"/admin/users/{user_id}", flash="Saved.")


@router.post("/users/{user_id}/{action}")
async def user_action(
    request: Request,
    user_id: uuid.UUID,
    action: str,
    principal: SettingsAdmin,
    db: DbSession,
    settings: SettingsDep,
) -> Response:
    if action not in USER_ACTIONS:
        raise NotFound("No such action.")
    user = await service.get_user(db, user_id)
    actor = principal.actor
    try:
        if action in ("disable", "enable"):
            changes = {"is_active": action == "enable"}
            await service.update_user(db, user, actor=actor, changes=changes)
        elif action == "unlock":
            await service.unlock(db, user, actor=actor)
        elif action == "invite":
            await service.invite(db, settings, user, actor=actor)
        else:
            await service.reset_two_factor(db, user, actor=actor)
    except CRMError as error:
        return redirect(request, f"/admin/users/{user_id}", flash=error.message, category="danger")
    return redirect(request, f"/admin/users/{user_id}", flash=USER_ACTIONS[action])


@router.post("/users/{user_id}/api-keys")
async def create_service_key(
    request: Request,
    user_id: uuid.UUID,
    principal: SettingsAdmin,
    db: DbSession,
    name: Annotated[str, Form(max_length=100)] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
    expires_on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    owner = await service.get_user(db, user_id)
    try:
        created = await apikeys.create_key(
            db,
            principal,
            name=name,
            scopes=scopes or [],
            owner=owner,
            expires_at=parse_expiry(expires_on),
        )
    except CRMError as error:
        return await _user_page(
            request, db, principal, user_id, status_code=error.status, key_error=error.message
        )
    return render(
        request,
        "account/api_key_created.html",
        {"key": created.key, "secret": created.secret, "back": f"/admin/users/{user_id}"},
    )


@router.post("/teams")
async def create_team(
    request: Request,
    principal: SettingsAdmin,
    db: DbSession,
    name: Annotated[str, Form(max_length=80)] = "",
) -> Response:
    try:
        team = await service.create_team(db, actor=principal.actor, name=name)
    except CRMError as error:
        return redirect(request, "/admin/users", flash=error.message, category="danger")
    return redirect(request, "/admin/users", flash=f"Team “{team.name}” created.")


@router.get("/roles")
async def roles(request: Request, principal: SettingsAdmin, db: DbSession) -> Response:
    return render(
        request,
        "admin/roles.html",
        {
            "roles": await repository.all_roles(db),
            "members": await repository.role_member_counts(db),
            "scope_count": len(SCOPES),
        },
    )


def _role_form_context(role: object, **extra: object) -> dict[str, object]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for scope, description in SCOPES.items():
        groups.setdefault(scope.split(":")[0], []).append((scope, description))
    return {"role": role, "scope_groups": groups, "record_scopes": RECORD_SCOPES, **extra}


@router.get("/roles/new")
async def new_role_form(request: Request, principal: SettingsAdmin) -> Response:
    return render(request, "admin/role_edit.html", _role_form_context(None))


@router.post("/roles/new")
async def create_role(
    request: Request,
    principal: SettingsAdmin,
    db: DbSession,
    name: Annotated[str, Form(max_length=40)] = "",
    label: Annotated[str, Form(max_length=80)] = "",
    description: Annotated[str, Form(max_length=500)] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
    record_scope: Annotated[str, Form(max_length=8)] = "own",
    require_2fa: Annotated[bool, Form()] = False,
) -> Response:
    try:
        if not name or not name.replace("-", "").replace("_", "").isalnum() or not name.islower():
            raise CRMError(
                "The name is 2 to 40 lowercase letters, digits, - or _.",
                code="invalid_name",
                status=422,
            )
        role = await service.create_role(
            db,
            actor=principal.actor,
            name=name,
            label=label,
            scopes=scopes or [],
            record_scope=record_scope,
            description=description,
            require_2fa=require_2fa,
        )
    except CRMError as error:
        form = {
            "name": name,
            "label": label,
            "description": description,
            "scopes": scopes or [],
            "record_scope": record_scope,
            "require_2fa": require_2fa,
        }
        return render(
            request,
            "admin/role_edit.html",
            _role_form_context(None, form=form, error=error.message),
            status_code=error.status,
        )
    return redirect(request, f"/admin/roles/{role.name}", flash=f"Role “{role.label}” created.")


@router.get("/roles/{name}")
async def role_detail(
    request: Request, name: str, principal: SettingsAdmin, db: DbSession
) -> Response:
    role = await service.get_role(db, name)
    return render(request, "admin/role_edit.html", _role_form_context(role))


@router.post("/roles/{name}")
async def update_role(
    request: Request,
    name: str,
    principal: SettingsAdmin,
    db: DbSession,
    label: Annotated[str, Form(max_length=80)] = "",
    description: Annotated[str, Form(max_length=500)] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
    record_scope: Annotated[str, Form(max_length=8)] = "own",
    require_2fa: Annotated[bool, Form()] = False,
) -> Response:
    role = await service.get_role(db, name)
    changes: dict[str, object] = {
        "label": label,
        "description": description,
        "require_2fa": require_2fa,
    }
    if role.name != "admin":
        changes.update(scopes=scopes or [], record_scope=record_scope)
    try:
        await service.update_role(db, role, actor=principal.actor, changes=changes)
    except CRMError as error:
        await db.refresh(role)
        return render(
            request,
            "admin/role_edit.html",
            _role_form_context(role, error=error.message),
            status_code=error.status,
        )
    return redirect(request, f"/admin/roles/{name}", flash="Role saved.")


@router.post("/roles/{name}/delete")
async def delete_role(
    request: Request, name: str, principal: SettingsAdmin, db: DbSession
) -> Response:
    role = await service.get_role(db, name)
    try:
        await service.delete_role(db, role, actor=principal.actor)
    except CRMError as error:
        return redirect(request, f"/admin/roles/{name}", flash=error.message, category="danger")
    return redirect(request, "/admin/roles", flash="Role deleted.")


@router.get("/api-keys")
async def all_api_keys(
    request: Request,
    principal: SettingsAdmin,
    db: DbSession,
    cursor: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    try:
        keys, next_cursor = await users_repository.list_api_keys(
            db, PageParams(limit=PAGE_SIZE, cursor=cursor or None), owner=None
        )
    except CRMError:
        return redirect(request, "/admin/api-keys")
    owners = await users_repository.users_by_ids(db, {k.user_id for k in keys})
    return render(
        request,
        "admin/api_keys.html",
        {
            "keys": keys,
            "owners": owners,
            "now": utcnow(),
            "next_url": f"/admin/api-keys?cursor={next_cursor}" if next_cursor else None,
            "first_url": "/admin/api-keys" if cursor else None,
        },
    )


@router.post("/api-keys/{key_id}/revoke")
async def revoke_any_key(
    request: Request, key_id: uuid.UUID, principal: SettingsAdmin, db: DbSession
) -> Response:
    key = await apikeys.revoke_key(db, principal, key_id)
    return redirect(request, "/admin/api-keys", flash=f"The key “{key.name}” is revoked.")
