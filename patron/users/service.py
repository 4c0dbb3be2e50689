"""Staff administration: accounts, invitations, roles and teams."""

from __future__ import annotations

import uuid
import zoneinfo
from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.audit.service import Actor
from patron.auth import repository, twofactor
from patron.auth.passwords import check_password_policy, hash_password
from patron.auth.scopes import BUILTIN_ROLES, RECORD_SCOPES, SCOPES
from patron.auth.service import issue_link
from patron.config import Settings
from patron.errors import Conflict, InvalidInput, NotFound
from patron.kit.time import utcnow
from patron.mail.service import queue_email
from patron.models import Role, StaffUser, Team
from patron.users.repository import count_active_admins, count_role_members

USER_FIELDS = (
    "email",
    "name",
    "role",
    "team_id",
    "is_active",
    "time_zone",
    "kind",
    "weekly_summary",
)


def snapshot(user: StaffUser) -> dict[str, Any]:
    return {
        field: (str(value) if isinstance(value := getattr(user, field), uuid.UUID) else value)
        for field in USER_FIELDS
    }


def _invalid(field: str, message: str, code: str) -> InvalidInput:
    return InvalidInput(message, code=code, details=[{"field": field, "message": message}])


def _reject_nulls(changes: dict[str, Any], *, nullable: frozenset[str] = frozenset()) -> None:
    for field, value in changes.items():
        if value is None and field not in nullable:
            raise _invalid(field, f"{field} cannot be null.", "null_not_allowed")


def check_time_zone(name: str) -> str:
    if name not in zoneinfo.available_timezones():
        raise _invalid(
            "time_zone",
            f"{name!r} is not a known time zone (e.g. Europe/Paris).",
            "invalid_time_zone",
        )
    return name


async def _role(db: AsyncSession, name: str) -> Role:
    role = await repository.role_by_name(db, name)
    if role is None:
        raise _invalid("role", f"There is no role named {name!r}.", "unknown_role")
    return role


async def _team(db: AsyncSession, team_id: uuid.UUID | None) -> uuid.UUID | None:
    if team_id is not None and await db.get(Team, team_id) is None:
        raise _invalid("team_id", "There is no such team.", "unknown_team")
    return team_id


async def create_user(
    db: AsyncSession,
    settings: Settings,
    *,
    actor: Actor,
    email: str,
    name: str,
    role: str,
    team_id: uuid.UUID | None = None,
    time_zone: str = "UTC",
    kind: str = "person",
    password: str | None = None,
    send_invite: bool = True,
    is_demo: bool = False,
) -> StaffUser:
    """Add a staff member (invited by email unless a password is given) or a service account."""
    email = email.strip()
    if await repository.user_by_email(db, email) is not None:
        raise Conflict(
            f"{email} already has an account.",
            code="email_taken",
            details=[{"field": "email", "message": "already used"}],
        )
    await _role(db, role)
    user = StaffUser(
        email=email,
        name=name.strip(),
        role=role,
        team_id=await _team(db, team_id),
        time_zone=check_time_zone(time_zone),
        kind=kind,
        is_demo=is_demo,
    )
    if password is not None and kind == "person":
        if not is_demo:
            check_password_policy(password, user_inputs=(email, name))
        user.password_hash = hash_password(password)
        user.password_changed_at = utcnow()
    db.add(user)
    await db.flush()
    await audit.record(
        db,
        action="user.created",
        actor=actor,
        object_type="staff_user",
        object_id=user.id,
        details=snapshot(user),
    )
    if kind == "person" and password is None and send_invite:
        await invite(db, settings, user, actor=actor)
    return user


async def invite(db: AsyncSession, settings: Settings, user: StaffUser, *, actor: Actor) -> None:
    """(Re)send the invitation link; earlier links stop working."""
    if user.kind != "person":
        raise Conflict("Service accounts cannot sign in; they use API keys.", code="not_a_person")
    if user.password_hash is not None:
        raise Conflict(f"{user.email} has already accepted an invitation.", code="already_joined")
    token = await issue_link(db, settings, user, purpose="invite")
    await queue_email(
        db,
        to=user.email,
        template="invite",
        user_id=user.id,
        context={
            "name": user.name,
            "inviter": actor.label,
            "days": settings.invite_days,
            "url": f"{settings.base_url}/invite/{token}",
        },
    )
    await audit.record(
        db, action="user.invited", actor=actor, object_type="staff_user", object_id=user.id
    )


async def get_user(db: AsyncSession, user_id: uuid.UUID) -> StaffUser:
    user = await repository.user_by_id(db, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


async def update_user(
    db: AsyncSession, user: StaffUser, *, actor: Actor, changes: dict[str, Any]
) -> StaffUser:
    """Apply the given fields (name, role, team_id, is_active, time_zone, weekly_summary)."""
    _reject_nulls(changes, nullable=frozenset({"team_id"}))
    before = snapshot(user)
    if "role" in changes and changes["role"] != user.role:
        await _role(db, changes["role"])
    if "team_id" in changes:
        await _team(db, changes["team_id"])
    if "time_zone" in changes:
        check_time_zone(changes["time_zone"])
    if "name" in changes:
        changes["name"] = changes["name"].strip()
        if not changes["name"]:
            raise _invalid("name", "A name is required.", "invalid_name")
    losing_admin = (
        user.role == "admin"
        and user.is_active
        and (changes.get("role", "admin") != "admin" or changes.get("is_active", True) is False)
    )
    if losing_admin and await count_active_admins(db, excluding=user.id) == 0:
        raise Conflict("Patron needs at least one active administrator.", code="last_admin")
    for field, value in changes.items():
        setattr(user, field, value)
    await db.flush()
    after = snapshot(user)
    action = "user.role_changed" if before["role"] != after["role"] else "user.updated"
    if before["is_active"] != after["is_active"]:
        action = "user.enabled" if after["is_active"] else "user.disabled"
        if not after["is_active"]:
            await repository.revoke_sessions(db, user.id, utcnow())
    await audit.record_change(
        db,
        action=action,
        actor=actor,
        object_type="staff_user",
        object_id=user.id,
        before=before,
        after=after,
    )
    return user


async def unlock(db: AsyncSession, user: StaffUser, *, actor: Actor) -> None:
    user.locked_until = None
    user.failed_logins = 0
    await audit.record(
        db, action="user.unlocked", actor=actor, object_type="staff_user", object_id=user.id
    )


async def reset_two_factor(db: AsyncSession, user: StaffUser, *, actor: Actor) -> None:
    """For a staff member who lost their phone and recovery codes."""
    await twofactor.reset(db, user)
    await repository.revoke_sessions(db, user.id, utcnow())
    await audit.record(
        db, action="user.2fa_reset", actor=actor, object_type="staff_user", object_id=user.id
    )


async def get_role(db: AsyncSession, name: str) -> Role:
    role = await repository.role_by_name(db, name)
    if role is None:
        raise NotFound("No such role.")
    return role


async def ensure_builtin_roles(db: AsyncSession) -> None:
    """Create missing built-in roles; keep the admin role complete. Admin edits survive."""
    for builtin in BUILTIN_ROLES:
        role = await repository.role_by_name(db, builtin.name)
        if role is None:
            db.add(
                Role(
                    name=builtin.name,
                    label=builtin.label,
                    description=builtin.description,
                    scopes=sorted(builtin.scopes),
                    record_scope=builtin.record_scope,
                    builtin=True,
                )
            )
        elif builtin.name == "admin":
            role.scopes = sorted(builtin.scopes)
            role.record_scope = "all"
    await db.flush()


def _check_scopes(scopes: Iterable[str]) -> list[str]:
    chosen = sorted(set(scopes))
    unknown = [scope for scope in chosen if scope not in SCOPES]
    if unknown:
        raise _invalid("scopes", f"Unknown scopes: {', '.join(unknown)}.", "unknown_scope")
    return chosen


async def update_role(
    db: AsyncSession, role: Role, *, actor: Actor, changes: dict[str, Any]
) -> Role:
    _reject_nulls(changes)
    if role.name == "admin" and ("scopes" in changes or "record_scope" in changes):
        raise Conflict("The admin role always holds every permission.", code="admin_role_fixed")
    before = {
        "label": role.label,
        "description": role.description,
        "scopes": role.scopes,
        "record_scope": role.record_scope,
        "require_2fa": role.require_2fa,
    }
    if "scopes" in changes:
        changes["scopes"] = _check_scopes(changes["scopes"])
    if "record_scope" in changes and changes["record_scope"] not in RECORD_SCOPES:
        raise _invalid("record_scope", "Choose own, team or all.", "invalid_record_scope")
    if "label" in changes and not changes["label"].strip():
        raise _invalid("label", "A label is required.", "invalid_label")
    for field, value in changes.items():
        setattr(role, field, value)
    await db.flush()
    after = {key: getattr(role, key) for key in before}
    await audit.record_change(
        db,
        action="role.updated",
        actor=actor,
        object_type="role",
        object_id=role.name,
        before=before,
        after=after,
    )
    return role


async def create_role(
    db: AsyncSession,
    *,
    actor: Actor,
    name: str,
    label: str,
    scopes: Iterable[str],
    record_scope: str,
    description: str = "",
    require_2fa: bool = False,
) -> Role:
    if await repository.role_by_name(db, name) is not None:
        raise Conflict(f"A role named {name!r} exists.", code="role_exists")
    if record_scope not in RECORD_SCOPES:
        raise _invalid("record_scope", "Choose own, team or all.", "invalid_record_scope")
    role = Role(
        name=name,
        label=label.strip() or name,
        description=description,
        scopes=_check_scopes(scopes),
        record_scope=record_scope,
        require_2fa=require_2fa,
    )
    db.add(role)
    await db.flush()
    await audit.record(
        db,
        action="role.created",
        actor=actor,
        object_type="role",
        object_id=name,
        details={"scopes": role.scopes, "record_scope": record_scope},
    )
    return role


async def delete_role(db: AsyncSession, role: Role, *, actor: Actor) -> None:
    if role.builtin:
        raise Conflict("Built-in roles cannot be deleted.", code="builtin_role")
    if await count_role_members(db, role.name):
        raise Conflict("Move this role's members to another role first.", code="role_in_use")
    await db.delete(role)
    await audit.record(
        db, action="role.deleted", actor=actor, object_type="role", object_id=role.name
    )


async def create_team(db: AsyncSession, *, actor: Actor, name: str) -> Team:
    name = name.strip()
    if not 1 <= len(name) <= 80:
        raise _invalid("name", "A team name has 1 to 80 characters.", "invalid_name")
    if await repository.team_by_name(db, name) is not None:
        raise Conflict(f"A team named {name!r} exists.", code="team_exists")
    team = Team(name=name)
    db.add(team)
    await db.flush()
    await audit.record(
        db,
        action="team.created",
        actor=actor,
        object_type="team",
        object_id=team.id,
        details={"name": name},
    )
    return team
