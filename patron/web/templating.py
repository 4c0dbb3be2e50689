"""Rendering panel pages: templates, flash messages, navigation, redirects."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeSerializer

from patron import __version__
from patron.auth.principal import Principal
from patron.auth.sessions import SESSION_COOKIE
from patron.web.csrf import ANON_COOKIE, csrf_token

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"
FLASH_COOKIE = "patron_flash"

templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    scope: str | None = None
    section: str = "main"
    dev_only: bool = False


# Domains add their pages here as the product grows.
NAVIGATION: list[NavItem] = [
    NavItem("Home", "/"),
    NavItem("Customers", "/customers", "customers:read"),
    NavItem("Duplicates", "/customers/duplicates", "customers:write"),
    NavItem("Segments", "/segments", "segments:read"),
    NavItem("Orders", "/orders", "orders:read"),
    NavItem("Carts", "/carts", "orders:read"),
    NavItem("Products", "/products", "catalog:read"),
    NavItem("Reports", "/reports", "reports:read"),
    NavItem("Imports", "/imports", "customers:write"),
    NavItem("Integrations", "/integrations", "integrations:read", "admin"),
    NavItem("Users", "/admin/users", "settings:admin", "admin"),
    NavItem("Roles", "/admin/roles", "settings:admin", "admin"),
    NavItem("Custom fields", "/admin/custom-fields", "settings:admin", "admin"),
    NavItem("API keys", "/admin/api-keys", "settings:admin", "admin"),
    NavItem("Webhooks", "/admin/webhooks", "integrations:read", "admin"),
    NavItem("Audit log", "/admin/audit", "audit:read", "admin"),
    NavItem("Privacy requests", "/admin/privacy", "customers:export", "admin"),
    NavItem("Jobs", "/admin/jobs", "settings:admin", "admin"),
    NavItem("Dev mailbox", "/admin/mailbox", "settings:admin", "admin", dev_only=True),
]


def current_page(path: str) -> str | None:
    """The navigation entry a page belongs to: the longest entry its path starts with, so
    a customer's page lights up "Customers" and the duplicates queue "Duplicates"."""
    matches = [
        item.href
        for item in NAVIGATION
        if path == item.href or (item.href != "/" and path.startswith(item.href + "/"))
    ]
    return max(matches, key=len, default=None)


def navigation(request: Request, principal: Principal | None) -> dict[str, list[NavItem]]:
    if principal is None or principal.needs_2fa_enrolment:
        return {}
    production = request.app.state.settings.is_production
    sections: dict[str, list[NavItem]] = {}
    for item in NAVIGATION:
        if item.scope and not principal.has(item.scope):
            continue
        if item.dev_only and production:
            continue
        sections.setdefault(item.section, []).append(item)
    return sections


@cache
def _asset_version(path: str) -> str:
    file = STATIC_DIR / path
    if not file.is_file():
        return "missing"
    return hashlib.sha256(file.read_bytes()).hexdigest()[:10]


def static_url(path: str) -> str:
    return f"/static/{path}?v={_asset_version(path)}"


def _flash_serializer(request: Request) -> URLSafeSerializer:
    secret = request.app.state.settings.secret_key.get_secret_value()
    return URLSafeSerializer(secret, salt="patron-flash")


def _read_flashes(request: Request) -> list[dict[str, str]]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return []
    try:
        messages = _flash_serializer(request).loads(raw)
    except BadSignature:
        return []
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def local_time(value: datetime | None, tz: str = "UTC", fmt: str = "%d %b %Y %H:%M") -> str:
    if value is None:
        return "—"
    try:
        zone = ZoneInfo(tz)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return value.astimezone(zone).strftime(fmt)


def _set_cookie(request: Request, response: Response, name: str, value: str, **extra: Any) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.https,
        path="/",
        **extra,
    )


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    principal: Principal | None = getattr(request.state, "principal", None)
    settings = request.app.state.settings
    flashes = _read_flashes(request)
    page = {
        "request": request,
        "principal": principal,
        "user": principal.user if principal else None,
        "nav": navigation(request, principal),
        "nav_current": current_page(request.url.path),
        "flashes": flashes,
        "settings": settings,
        "version": __version__,
        "tz": principal.user.time_zone if principal else "UTC",
        **(context or {}),
    }
    response = templates.TemplateResponse(request, template, page, status_code=status_code)
    new_seed = getattr(request.state, "new_csrf_seed", None)
    if new_seed:
        _set_cookie(request, response, ANON_COOKIE, new_seed)
    if flashes:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(
    request: Request, url: str, *, flash: str | None = None, category: str = "success"
) -> RedirectResponse:
    """A 303 redirect, optionally carrying a message shown on the next page."""
    response = RedirectResponse(url, status_code=303)
    if flash:
        messages = [*_read_flashes(request), {"category": category, "message": flash}]
        _set_cookie(request, response, FLASH_COOKIE, _flash_serializer(request).dumps(messages))
    return response


def set_session_cookie(request: Request, response: Response, token: str, max_age: int) -> None:
    _set_cookie(request, response, SESSION_COOKIE, token, max_age=max_age)
    response.delete_cookie(ANON_COOKIE, path="/")


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


templates.env.globals.update(csrf_token=csrf_token, static_url=static_url)
templates.env.filters["local_time"] = local_time
templates.env.filters["tojson_attr"] = lambda value: json.dumps(value, default=str)
