"""Panel pages for signing in: password, second factor, sign-out, forgotten password, invites."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from patron.auth import service
from patron.auth.dependencies import get_settings, optional_principal
from patron.auth.principal import Principal
from patron.auth.ratelimit import Limit, RateLimiter
from patron.auth.sessions import PENDING_2FA_MINUTES, SESSION_COOKIE, resolve_session
from patron.config import Settings
from patron.db.deps import DbSession
from patron.errors import CRMError, RateLimited
from patron.kit.context import current_request
from patron.models import StaffSession
from patron.web.templating import clear_session_cookie, redirect, render, set_session_cookie

router = APIRouter()
SettingsDep = Annotated[Settings, Depends(get_settings)]
MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]


def safe_next(target: str | None) -> str:
    """Only same-site paths: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.limiter
    return limiter


async def _limit(request: Request, name: str, hits: int, window: int) -> None:
    await _limiter(request).check(Limit(name, hits, window), current_request().ip or "unknown")


def _form_error(
    request: Request, template: str, error: CRMError, context: Mapping[str, object]
) -> Response:
    response = render(
        request,
        template,
        {**context, "error": error.message, "error_code": error.code},
        status_code=error.status,
    )
    response.headers.update(error.headers)
    return response


def _signed_in(request: Request, settings: Settings, token: str, target: str) -> Response:
    response = redirect(request, safe_next(target))
    set_session_cookie(request, response, token, settings.session_absolute_hours * 3600)
    return response


@router.get("/login")
async def login_page(request: Request, principal: MaybePrincipal, next: str = "/") -> Response:
    if principal is not None:
        return redirect(request, safe_next(next))
    return render(request, "auth/login.html", {"next": safe_next(next), "email": ""})


@router.post("/login")
async def login(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    context: dict[str, object] = {"next": safe_next(next), "email": email}
    try:
        await _limit(request, "login", settings.rate_limit_login_per_minute, 60)
        result = await service.sign_in(db, settings, email=email, password=password)
    except CRMError as error:
        return _form_error(request, "auth/login.html", error, context)
    if result.needs_second_factor:
        response = redirect(request, f"/login/2fa?next={safe_next(next)}")
        set_session_cookie(request, response, result.new_session.token, PENDING_2FA_MINUTES * 60)
        return response
    return _signed_in(request, settings, result.new_session.token, next)


async def _pending(request: Request, db: DbSession, settings: Settings) -> StaffSession | None:
    session = await resolve_session(
        db, settings, request.cookies.get(SESSION_COOKIE, ""), allow_pending=True
    )
    return session if session is not None and session.state == "pending_2fa" else None


@router.get("/login/2fa")
async def second_factor_page(
    request: Request, db: DbSession, settings: SettingsDep, next: str = "/"
) -> Response:
    if await _pending(request, db, settings) is None:
        return redirect(request, "/login", flash="Sign in again.", category="warning")
    return render(request, "auth/two_factor.html", {"next": safe_next(next)})


@router.post("/login/2fa")
async def second_factor(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    code: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    pending = await _pending(request, db, settings)
    if pending is None:
        return redirect(request, "/login", flash="Sign in again.", category="warning")
    try:
        await _limit(request, "2fa", settings.rate_limit_2fa_per_minute, 60)
        new = await service.verify_second_factor(db, settings, request.app.state.box, pending, code)
    except CRMError as error:
        if error.code == "two_factor_challenge_ended":
            response = redirect(request, "/login", flash=error.message, category="danger")
            clear_session_cookie(response)
            return response
        return _form_error(request, "auth/two_factor.html", error, {"next": safe_next(next)})
    return _signed_in(request, settings, new.token, next)


@router.post("/logout")
async def logout(request: Request, db: DbSession, settings: SettingsDep) -> Response:
    session = await resolve_session(
        db, settings, request.cookies.get(SESSION_COOKIE, ""), allow_pending=True
    )
    if session is not None:
        await service.sign_out(db, session)
    response = redirect(request, "/login", flash="You are signed out.", category="info")
    clear_session_cookie(response)
    return response


@router.get("/password/forgot")
async def forgot_page(request: Request) -> Response:
    return render(request, "auth/forgot.html", {"sent": False, "email": ""})


@router.post("/password/forgot")
async def forgot(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    try:
        await _limit(request, "reset", settings.rate_limit_reset_per_hour, 3600)
    except RateLimited as error:
        return _form_error(request, "auth/forgot.html", error, {"sent": False, "email": email})
    if "@" in email:
        await service.request_password_reset(db, settings, email=email)
    return render(request, "auth/forgot.html", {"sent": True, "email": email})


@router.get("/password/reset/{token}")
async def reset_page(request: Request, token: str, db: DbSession) -> Response:
    try:
        user = await service.check_link(db, token, "password_reset")
    except CRMError as error:
        return _form_error(request, "auth/link_invalid.html", error, {})
    return render(request, "auth/reset.html", {"token": token, "email": user.email})


async def _set_password_from_link(
    request: Request,
    db: DbSession,
    settings: Settings,
    *,
    token: str,
    purpose: str,
    password: str,
    confirm: str,
) -> Response:
    template = "auth/reset.html" if purpose == "password_reset" else "auth/invite.html"
    try:
        await _limit(request, "link", settings.rate_limit_login_per_minute, 60)
        user = await service.check_link(db, token, purpose)
    except CRMError as error:
        if error.code == "link_invalid":
            return _form_error(request, "auth/link_invalid.html", error, {})
        return _form_error(request, template, error, {"token": token, "email": ""})
    context = {"token": token, "email": user.email, "name": user.name}
    if password != confirm:
        return render(
            request, template, {**context, "error": "The two passwords differ."}, status_code=422
        )
    try:
        if purpose == "password_reset":
            await service.reset_password(db, token=token, password=password)
        else:
            new = await service.accept_invite(db, settings, token=token, password=password)
            return _signed_in(request, settings, new.token, "/")
    except CRMError as error:
        return _form_error(request, template, error, context)
    return redirect(request, "/login", flash="Your password is changed. Sign in with it now.")


@router.post("/password/reset/{token}")
async def reset(
    request: Request,
    token: str,
    db: DbSession,
    settings: SettingsDep,
    password: Annotated[str, Form(max_length=1000)] = "",
    confirm: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    return await _set_password_from_link(
        request,
        db,
        settings,
        token=token,
        purpose="password_reset",
        password=password,
        confirm=confirm,
    )


@router.get("/invite/{token}")
async def invite_page(request: Request, token: str, db: DbSession) -> Response:
    try:
        user = await service.check_link(db, token, "invite")
    except CRMError as error:
        return _form_error(request, "auth/link_invalid.html", error, {})
    return render(
        request, "auth/invite.html", {"token": token, "email": user.email, "name": user.name}
    )


@router.post("/invite/{token}")
async def accept_invite(
    request: Request,
    token: str,
    db: DbSession,
    settings: SettingsDep,
    password: Annotated[str, Form(max_length=1000)] = "",
    confirm: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    return await _set_password_from_link(
        request, db, settings, token=token, purpose="invite", password=password, confirm=confirm
    )
