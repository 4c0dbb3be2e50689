"""CSRF protection for cookie-authenticated requests.

The token is an HMAC of the visitor's session cookie (or, before sign-in, of a random
``patron_csrf`` cookie), so a page on another site can neither read nor forge it. Forms
send it as ``csrf_token``; htmx sends it as the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from patron.auth.sessions import SESSION_COOKIE
from patron.errors import PermissionDenied
from patron.kit.crypto import random_token

ANON_COOKIE = "patron_csrf"
HEADER = "X-CSRF-Token"
FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _seed(request: Request) -> str:
    cookie = request.cookies.get(SESSION_COOKIE) or request.cookies.get(ANON_COOKIE)
    return cookie or str(getattr(request.state, "new_csrf_seed", ""))


def _sign(request: Request, seed: str) -> str:
    key = request.app.state.settings.secret_key.get_secret_value().encode()
    return hmac.new(key, b"csrf|" + seed.encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The token for forms on this page; starts an anonymous seed cookie when needed."""
    seed = _seed(request)
    if not seed:
        seed = random_token(24)
        request.state.new_csrf_seed = seed
    return _sign(request, seed)


async def verify_csrf(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    seed = request.cookies.get(SESSION_COOKIE) or request.cookies.get(ANON_COOKIE)
    sent = request.headers.get(HEADER, "")
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(FIELD)
        sent = value if isinstance(value, str) else ""
    if not seed or not sent or not hmac.compare_digest(sent, _sign(request, seed)):
        raise PermissionDenied(
            "This form has expired or did not come from Patron. Reload the page and try again.",
            code="csrf_failed",
        )
