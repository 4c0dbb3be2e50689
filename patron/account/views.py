"""My profile and security: name, time zone, password, two-factor, sessions, API keys."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from patron.auth import apikeys, repository, service, twofactor
from patron.auth.dependencies import Authenticated, Signed, get_settings
from patron.auth.principal import Principal
from patron.auth.scopes import SCOPES
from patron.config import Settings
from patron.db.deps import DbSession
from patron.errors import CRMError
from patron.kit.pagination import PageParams
from patron.kit.time import utcnow
from patron.users import repository as users_repository
from patron.users import service as users_service
from patron.web.templating import redirect, render

router = APIRouter(prefix="/account")
SettingsDep = Annotated[Settings, Depends(get_settings)]
TIME_ZONES = sorted(zoneinfo.available_timezones())


async def _security_context(db: DbSession, principal: Principal) -> dict[str, object]:
    return {
        "sessions": await repository.live_sessions(db, principal.user_id, utcnow()),
        "current_session_id": principal.session.id if principal.session else None,
        "recovery_left": await repository.unused_recovery_codes(db, principal.user_id),
        "required_2fa": principal.role.require_2fa,
    }


@router.get("")
async def profile(request: Request, principal: Authenticated) -> Response:
    return render(request, "account/profile.html", {"time_zones": TIME_ZONES})


@router.post("")
async def update_profile(
    request: Request,
    principal: Authenticated,
    db: DbSession,
    name: Annotated[str, Form(max_length=200)] = "",
    time_zone: Annotated[str, Form(max_length=64)] = "UTC",
    weekly_summary: Annotated[bool, Form()] = False,
) -> Response:
    changes: dict[str, object] = {"name": name, "time_zone": time_zone}
    if principal.has("reports:read"):  # only they are offered the summary
        changes["weekly_summary"] = weekly_summary
    try:
        await users_service.update_user(db, principal.user, actor=principal.actor, changes=changes)
    except CRMError as error:
        return render(
            request,
            "account/profile.html",
            {"time_zones": TIME_ZONES, "error": error.message},
            status_code=error.status,
        )
    return redirect(request, "/account", flash="Your profile is saved.")


@router.post("/password")
async def change_password(
    request: Request,
    principal: Signed,
    db: DbSession,
    current_password: Annotated[str, Form(max_length=1000)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    confirm: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        if password != confirm:
            raise CRMError("The two new passwords differ.", code="passwords_differ", status=422)
        await service.change_password(
            db, principal.user, current=current_password, new=password, keep=principal.session
        )
    except CRMError as error:
        context = {**await _security_context(db, principal), "password_error": error.message}
        return render(request, "account/security.html", context, status_code=error.status)
    return redirect(
        request,
        "/account/security",
        flash="Your password is changed; your other sessions were signed out.",
    )


@router.get("/security")
async def security(request: Request, principal: Signed, db: DbSession) -> Response:
    return render(request, "account/security.html", await _security_context(db, principal))


@router.get("/2fa/setup")
async def two_factor_setup(request: Request, principal: Signed, db: DbSession) -> Response:
    user = principal.user
    if user.totp_enabled:
        return redirect(
            request, "/account/security", flash="Two-factor authentication is on.", category="info"
        )
    box = request.app.state.box
    if user.totp_secret is None:
        await twofactor.start_enrolment(db, box, user)
    return render(
        request,
        "account/two_factor_setup.html",
        {
            "secret": twofactor.secret_for_display(box, user),
            "required": principal.needs_2fa_enrolment,
        },
    )


@router.get("/2fa/qr.svg")
async def two_factor_qr(request: Request, principal: Signed) -> Response:
    user = principal.user
    if user.totp_secret is None or user.totp_enabled:
        return Response(status_code=404)
    svg = twofactor.qr_svg(twofactor.provisioning_uri(request.app.state.box, user))
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


@router.post("/2fa/setup")
async def two_factor_confirm(
    request: Request,
    principal: Signed,
    db: DbSession,
    code: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    box = request.app.state.box
    try:
        codes = await twofactor.confirm_enrolment(
            db, box, principal.user, code, actor=principal.actor
        )
    except CRMError as error:
        if error.code == "two_factor_enabled":
            return redirect(request, "/account/security")
        return render(
            request,
            "account/two_factor_setup.html",
            {
                "secret": twofactor.secret_for_display(box, principal.user),
                "required": principal.needs_2fa_enrolment,
                "error": error.message,
            },
            status_code=error.status,
        )
    return render(request, "account/recovery_codes.html", {"codes": codes, "first_time": True})


@router.post("/2fa/disable")
async def two_factor_disable(
    request: Request,
    principal: Signed,
    db: DbSession,
    password: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        await twofactor.disable(
            db,
            principal.user,
            password,
            actor=principal.actor,
            required_by_role=principal.role.require_2fa,
        )
    except CRMError as error:
        context = {**await _security_context(db, principal), "twofa_error": error.message}
        return render(request, "account/security.html", context, status_code=error.status)
    return redirect(
        request, "/account/security", flash="Two-factor authentication is off.", category="warning"
    )


@router.post("/2fa/recovery-codes")
async def recovery_codes(
    request: Request,
    principal: Signed,
    db: DbSession,
    password: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        codes = await twofactor.regenerate_recovery_codes(
            db, principal.user, password, actor=principal.actor
        )
    except CRMError as error:
        context = {**await _security_context(db, principal), "twofa_error": error.message}
        return render(request, "account/security.html", context, status_code=error.status)
    return render(request, "account/recovery_codes.html", {"codes": codes, "first_time": False})


@router.post("/sessions/{session_id}/revoke")
async def revoke_session(
    request: Request, session_id: uuid.UUID, principal: Signed, db: DbSession
) -> Response:
    try:
        await service.revoke_session(db, principal.user, session_id, actor=principal.actor)
    except CRMError as error:
        return redirect(request, "/account/security", flash=error.message, category="warning")
    if principal.session is not None and principal.session.id == session_id:
        return redirect(request, "/login", flash="You are signed out.", category="info")
    return redirect(request, "/account/security", flash="That session is signed out.")


@router.post("/sessions/revoke-others")
async def revoke_other_sessions(request: Request, principal: Signed, db: DbSession) -> Response:
    count = await service.revoke_other_sessions(
        db, principal.user, keep=principal.session, actor=principal.actor
    )
    return redirect(
        request,
        "/account/security",
        flash=f"Signed out everywhere else ({count} session{'s' if count != 1 else ''}).",
    )


async def _keys_page(
    request: Request,
    db: DbSession,
    principal: Principal,
    *,
    status_code: int = 200,
    **extra: object,
) -> Response:
    keys, _ = await users_repository.list_api_keys(
        db, PageParams(limit=200), owner=principal.user_id
    )
    return render(
        request,
        "account/api_keys.html",
        {
            "keys": keys,
            "scopes": {s: d for s, d in SCOPES.items() if principal.has(s)},
            "now": utcnow(),
            **extra,
        },
        status_code=status_code,
    )


@router.get("/api-keys")
async def my_api_keys(request: Request, principal: Authenticated, db: DbSession) -> Response:
    return await _keys_page(request, db, principal)


def parse_expiry(value: str) -> datetime | None:
    """A date from a form (end of that day, UTC), or None for a key that does not expire."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise CRMError(
            "Give the expiry as a date (YYYY-MM-DD).", code="invalid_expiry", status=422
        ) from None
    return datetime.combine(day, time(23, 59, 59), tzinfo=zoneinfo.ZoneInfo("UTC"))


@router.post("/api-keys")
async def create_api_key(
    request: Request,
    principal: Authenticated,
    db: DbSession,
    name: Annotated[str, Form(max_length=100)] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
    expires_on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    try:
        created = await apikeys.create_key(
            db, principal, name=name, scopes=scopes or [], expires_at=parse_expiry(expires_on)
        )
    except CRMError as error:
        return await _keys_page(
            request, db, principal, status_code=error.status, error=error.message, form_name=name
        )
    return render(
        request,
        "account/api_key_created.html",
        {"key": created.key, "secret": created.secret, "back": "/account/api-keys"},
    )


@router.post("/api-keys/{key_id}/revoke")
async def revoke_api_key(
    request: Request, key_id: uuid.UUID, principal: Authenticated, db: DbSession
) -> Response:
    key = await apikeys.revoke_key(db, principal, key_id)
    return redirect(request, "/account/api-keys", flash=f"The key “{key.name}” is revoked.")
