"""/api/v1: the caller, staff users, roles, scopes and teams."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status

from patron.auth import repository
from patron.auth.dependencies import SettingsAdmin, Signed, UsersRead, get_settings
from patron.auth.scopes import SCOPES
from patron.config import Settings
from patron.db.deps import DbSession
from patron.kit.pagination import Page, PageParams, page_params
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS, error_responses
from patron.users import repository as users_repository
from patron.users import service
from patron.users.schemas import (
    MeOut,
    RoleCreate,
    RoleOut,
    RoleUpdate,
    ScopeOut,
    TeamCreate,
    TeamOut,
    UserCreate,
    UserOut,
    UserUpdate,
)

router = APIRouter(prefix=API_PREFIX, responses=COMMON_ERRORS)
NOT_FOUND = error_responses(404)
CONFLICT = error_responses(404, 409)
SettingsDep = Annotated[Settings, Depends(get_settings)]


@router.get("/me", response_model=MeOut, tags=["me"], summary="Who am I")
async def me(principal: Signed) -> MeOut:
    base = UserOut.model_validate(principal.user).model_dump()
    return MeOut(
        **base,
        scopes=sorted(principal.scopes),
        record_scope=principal.record_scope,
        via="api_key" if principal.api_key else "session",
    )


@router.get("/users", response_model=Page[UserOut], tags=["users"], summary="List staff")
async def list_users(
    principal: UsersRead,
    db: DbSession,
    page: Annotated[PageParams, Depends(page_params)],
    q: Annotated[str | None, Query(max_length=200, description="Search name or email")] = None,
    role: Annotated[str | None, Query(max_length=40)] = None,
    team_id: uuid.UUID | None = None,
    active: bool | None = None,
    kind: Literal["person", "service"] | None = None,
) -> Page[UserOut]:
    users, cursor = await users_repository.list_users(
        db, page, q=q, role=role, team_id=team_id, active=active, kind=kind
    )
    return Page(items=[UserOut.model_validate(u) for u in users], next_cursor=cursor)


@router.post(
    "/users",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    tags=["users"],
    summary="Invite a staff member or add a service account",
    responses=CONFLICT,
)
async def create_user(
    body: UserCreate, principal: SettingsAdmin, db: DbSession, settings: SettingsDep
) -> UserOut:
    user = await service.create_user(
        db,
        settings,
        actor=principal.actor,
        email=str(body.email),
        name=body.name,
        role=body.role,
        team_id=body.team_id,
        time_zone=body.time_zone,
        kind=body.kind,
    )
    return UserOut.model_validate(user)


@router.get("/users/{user_id}", response_model=UserOut, tags=["users"], responses=NOT_FOUND)
async def get_user(user_id: uuid.UUID, principal: UsersRead, db: DbSession) -> UserOut:
    return UserOut.model_validate(await service.get_user(db, user_id))


@router.patch(
    "/users/{user_id}",
    response_model=UserOut,
    tags=["users"],
    responses=CONFLICT,
    summary="Change a user's name, role, team, time zone or active flag",
)
async def update_user(
    user_id: uuid.UUID, body: UserUpdate, principal: SettingsAdmin, db: DbSession
) -> UserOut:
    user = await service.get_user(db, user_id)
    changes = body.model_dump(exclude_unset=True)
    await service.update_user(db, user, actor=principal.actor, changes=changes)
    return UserOut.model_validate(user)


@router.post(
    "/users/{user_id}/unlock",
    response_model=UserOut,
    tags=["users"],
    responses=NOT_FOUND,
    summary="Lift a lockout after failed sign-ins",
)
async def unlock_user(user_id: uuid.UUID, principal: SettingsAdmin, db: DbSession) -> UserOut:
    user = await service.get_user(db, user_id)
    await service.unlock(db, user, actor=principal.actor)
    return UserOut.model_validate(user)


@router.post(
    "/users/{user_id}/invite",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["users"],
    responses=CONFLICT,
    summary="Send the invitation email again",
)
async def resend_invite(
    user_id: uuid.UUID, principal: SettingsAdmin, db: DbSession, settings: SettingsDep
) -> None:
    user = await service.get_user(db, user_id)
    await service.invite(db, settings, user, actor=principal.actor)


@router.get("/roles", response_model=list[RoleOut], tags=["roles"], summary="List roles")
async def list_roles(principal: UsersRead, db: DbSession) -> list[RoleOut]:
    return [RoleOut.model_validate(role) for role in await repository.all_roles(db)]


@router.post(
    "/roles",
    response_model=RoleOut,
    status_code=status.HTTP_201_CREATED,
    tags=["roles"],
    responses=CONFLICT,
)
async def create_role(body: RoleCreate, principal: SettingsAdmin, db: DbSession) -> RoleOut:
    role = await service.create_role(
        db,
        actor=principal.actor,
        name=body.name,
        label=body.label,
        scopes=body.scopes,
        record_scope=body.record_scope,
        description=body.description,
        require_2fa=body.require_2fa,
    )
    return RoleOut.model_validate(role)


@router.get("/roles/{name}", response_model=RoleOut, tags=["roles"], responses=NOT_FOUND)
async def get_role(name: str, principal: UsersRead, db: DbSession) -> RoleOut:
    return RoleOut.model_validate(await service.get_role(db, name))


@router.patch(
    "/roles/{name}",
    response_model=RoleOut,
    tags=["roles"],
    responses=CONFLICT,
    summary="Change a role's permissions, record scope or 2FA requirement",
)
async def update_role(
    name: str, body: RoleUpdate, principal: SettingsAdmin, db: DbSession
) -> RoleOut:
    role = await service.get_role(db, name)
    await service.update_role(
        db, role, actor=principal.actor, changes=body.model_dump(exclude_unset=True)
    )
    return RoleOut.model_validate(role)


@router.delete(
    "/roles/{name}", status_code=status.HTTP_204_NO_CONTENT, tags=["roles"], responses=CONFLICT
)
async def delete_role(name: str, principal: SettingsAdmin, db: DbSession) -> None:
    role = await service.get_role(db, name)
    await service.delete_role(db, role, actor=principal.actor)


@router.get(
    "/scopes",
    response_model=list[ScopeOut],
    tags=["roles"],
    summary="Every permission scope a role or API key can hold",
)
async def list_scopes(principal: Signed) -> list[ScopeOut]:
    return [ScopeOut(name=name, description=text) for name, text in SCOPES.items()]


@router.get("/teams", response_model=list[TeamOut], tags=["teams"])
async def list_teams(principal: UsersRead, db: DbSession) -> list[TeamOut]:
    return [TeamOut.model_validate(team) for team in await repository.all_teams(db)]


@router.post(
    "/teams",
    response_model=TeamOut,
    status_code=status.HTTP_201_CREATED,
    tags=["teams"],
    responses=error_responses(409),
)
async def create_team(body: TeamCreate, principal: SettingsAdmin, db: DbSession) -> TeamOut:
    return TeamOut.model_validate(
        await service.create_team(db, actor=principal.actor, name=body.name)
    )
