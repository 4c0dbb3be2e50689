"""One error type for business failures and the handlers that render every error.

API clients get ``{"error": {"code", "message", "details"}}``; panel users get a page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError as DBAPIDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)


class CRMError(Exception):
    """A failure the caller can act on, with a stable machine-readable code."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.status = status or self.status
        self.details = details or []
        self.headers = headers or {}


class NotAuthenticated(CRMError):
    status = 401
    code = "not_authenticated"


class PermissionDenied(CRMError):
    status = 403
    code = "permission_denied"


class NotFound(CRMError):
    status = 404
    code = "not_found"


class Conflict(CRMError):
    status = 409
    code = "conflict"


class InvalidInput(CRMError):
    """A well-formed request that breaks a business rule (weak password, unknown role...)."""

    status = 422
    code = "invalid_input"


class RateLimited(CRMError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = max(1, retry_after)


HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def error_body(
    code: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def json_error(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def wants_json(request: Request) -> bool:
    if request.url.path.startswith("/api/"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


HtmlRenderer = Callable[[Request, int, str, str], Awaitable[Response]]


def _validation_details(error: RequestValidationError) -> tuple[str, str, list[dict[str, Any]]]:
    details: list[dict[str, Any]] = []
    malformed = False
    for item in error.errors():
        if item.get("type") == "json_invalid":
            malformed = True
        details.append(
            {
                "field": ".".join(str(part) for part in item.get("loc", ()) if part != "body"),
                "message": str(item.get("msg", "")),
                "type": str(item.get("type", "")),
            }
        )
    if malformed:
        return "malformed_json", "The request body is not valid JSON.", details
    return "validation_error", "The request is not valid; see details.", details


def install_error_handlers(app: FastAPI, render_html: HtmlRenderer) -> None:
    """Route every error through one format: JSON for the API, pages for the panel."""

    async def respond(
        request: Request,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        if wants_json(request):
            return json_error(status, code, message, details, headers)
        response = await render_html(request, status, code, message)
        response.headers.update(headers or {})
        return response

    async def on_crm_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CRMError)
        return await respond(request, exc.status, exc.code, exc.message, exc.details, exc.headers)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        code, message, details = _validation_details(exc)
        status = 400 if code == "malformed_json" else 422
        return await respond(request, status, code, message, details)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404:
            message = "No such page or record."
        return await respond(request, exc.status_code, code, message, None, exc.headers)

    async def on_data_error(request: Request, exc: Exception) -> Response:
        # the database refused a value no validator caught (a NUL character, an out-of-range
        # number): the caller's input is at fault, not the server
        log.warning(
            "database_refused_value", path=request.url.path, error=str(getattr(exc, "orig", exc))
        )
        return await respond(
            request,
            422,
            "invalid_input",
            "A value in the request cannot be stored (for example a NUL character or a number "
            "out of range).",
        )

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled_error", path=request.url.path)
        return await respond(
            request, 500, "internal_error", "Something went wrong on our side; it has been logged."
        )

    app.add_exception_handler(CRMError, on_crm_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(DBAPIDataError, on_data_error)
    app.add_exception_handler(Exception, on_unexpected)
