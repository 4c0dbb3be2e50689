"""Who is calling (API key or panel session) and typed permission dependencies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth import apikeys
from patron.auth.principal import Principal
from patron.auth.scopes import ALL_SCOPES
from patron.auth.sessions import SESSION_COOKIE, resolve_session
from patron.config import Settings
from patron.db.deps import DbSession
from patron.errors import CRMError, NotAuthenticated, PermissionDenied
from patron.kit.context import current_request
from patron.models import Role, StaffUser
from patron.web.csrf import verify_csrf

# Declared for the OpenAPI document; the checks themselves happen below.
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer ptk_...`")
_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="The panel's session cookie (unsafe methods need X-CSRF-Token)",
)


class TwoFactorRequired(CRMError):
    status = 403
    code = "two_factor_enrolment_required"


def role_scopes(role: Role) -> frozenset[str]:
    if role.name == "admin":
        return ALL_SCOPES
    return frozenset(role.scopes) & ALL_SCOPES


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _account(db: AsyncSession, user_id: object) -> tuple[StaffUser, Role] | None:
    """The active staff member and their role, read together (every request asks)."""
    found = (
        await db.execute(
            select(StaffUser, Role)
            .join(Role, Role.name == StaffUser.role)
            .where(StaffUser.id == user_id, StaffUser.is_active)
        )
    ).first()
    return (found[0], found[1]) if found else None


async def _from_api_key(request: Request, db: AsyncSession, header: str) -> Principal:
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise NotAuthenticated(
            "Send an API key as `Authorization: Bearer ptk_...`.", code="invalid_authorization"
        )
    key = await apikeys.authenticate(db, secret.strip())
    account = await _account(db, key.user_id)
    if account is None:
        raise NotAuthenticated("The API key's account is disabled.", code="account_disabled")
    user, role = account
    apikeys.note_use(key, current_request().ip)
    return Principal(user, role, frozenset(key.scopes) & role_scopes(role), api_key=key)


async def _from_session(request: Request, db: AsyncSession) -> Principal | None:
    settings = get_settings(request)
    session = await resolve_session(db, settings, request.cookies.get(SESSION_COOKIE, ""))
    if session is None:
        return None
    account = await _account(db, session.user_id)
    if account is None:
        return None
    user, role = account
    return Principal(user, role, role_scopes(role), session=session)


async def optional_principal(
    request: Request,
    db: DbSession,
    _b: Annotated[object, Depends(_bearer)] = None,
    _c: Annotated[object, Depends(_cookie)] = None,
) -> Principal | None:
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    header = request.headers.get("authorization")
    if header:
        principal = await _from_api_key(request, db, header)
    else:
        found = await _from_session(request, db)
        if found is None:
            return None
        principal = found
        if request.url.path.startswith("/api/"):
            await verify_csrf(request)
    request.state.principal = principal
    return principal


async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise NotAuthenticated("Sign in, or send an API key.")
    return principal


def require(*scopes: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting principals that hold every one of ``scopes``."""

    async def dependency(
        principal: Annotated[Principal, Depends(current_principal)],
    ) -> Principal:
        if principal.needs_2fa_enrolment:
            raise TwoFactorRequired(
                "Your role requires two-factor authentication; set it up first."
            )
        missing = [scope for scope in scopes if not principal.has(scope)]
        if missing:
            raise PermissionDenied(
                f"This needs the {', '.join(missing)} permission.",
                code="missing_scope",
                details=[{"field": "scope", "message": scope} for scope in missing],
            )
        return principal

    dependency.__name__ = "require_" + "_".join(s.replace(":", "_") for s in scopes)
    return dependency


Signed = Annotated[Principal, Depends(current_principal)]
Authenticated = Annotated[Principal, Depends(require())]
UsersRead = Annotated[Principal, Depends(require("users:read"))]
SettingsAdmin = Annotated[Principal, Depends(require("settings:admin"))]
AuditReader = Annotated[Principal, Depends(require("audit:read"))]
