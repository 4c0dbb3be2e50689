"""Pure ASGI middleware: request ids and logs, metrics, security headers, body limits."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Sequence

import structlog
from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patron.errors import error_body
from patron.kit.context import RequestContext, set_current_request

log = structlog.get_logger("patron.http")

REQUESTS = Counter("patron_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "patron_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


class RequestContextMiddleware:
    """Give every request an id (kept from X-Request-ID when sane), log it, time it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        client = scope.get("client")
        ip = client[0] if client else ""
        set_current_request(
            RequestContext(request_id=request_id, ip=ip, user_agent=_header(scope, b"user-agent"))
        )
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_code = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                message.setdefault("headers", [])
                message["headers"].append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            REQUESTS.labels(method, template, str(status_code)).inc()
            LATENCY.labels(method, template).observe(elapsed)
            log.info(
                "request",
                method=method,
                path=scope["path"],
                route=template,
                status=status_code,
                ms=round(elapsed * 1000, 1),
                ip=ip,
            )


def content_security_policy(image_hosts: list[str] | None = None) -> str:
    images = " ".join(["'self'", "data:", *(f"https://{host}" for host in image_hosts or [])])
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {images}",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool, image_hosts: list[str] | None = None) -> None:
        self.app = app
        csp = content_security_policy(image_hosts)
        self.headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        if hsts:
            self.headers.append(
                (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                existing = {key.lower() for key, _ in message.get("headers", [])}
                message.setdefault("headers", [])
                message["headers"].extend(h for h in self.headers if h[0] not in existing)
            await send(message)

        await self.app(scope, receive, send_wrapper)


class BodyLimitMiddleware:
    """Refuse bodies over the limit with 413, whether announced or streamed."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        uploads: Sequence[tuple[str, int]] = (),
    ) -> None:
        """``uploads`` pairs a path pattern (regular expression) with its own, larger limit."""
        self.app = app
        self.max_bytes = max_bytes
        self.uploads = [(re.compile(pattern), limit) for pattern, limit in uploads]

    def _limit(self, path: str) -> int:
        for pattern, limit in self.uploads:
            if pattern.match(path):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self._limit(scope["path"])
        message_text = f"The request body exceeds the limit of {max_bytes} bytes."
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > max_bytes:
            body = json.dumps(error_body("payload_too_large", message_text)).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    # an HTTPException travels through body parsing to the error handlers
                    raise HTTPException(413, message_text)
            return message

        await self.app(scope, limited_receive, send)
