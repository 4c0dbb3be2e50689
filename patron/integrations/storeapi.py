"""Reading a store's records through its own API (Shopify Admin REST, WooCommerce REST v3).

Every request goes through the SSRF guard of :mod:`patron.kit.outbound`. Answers become
either parsed JSON or a :class:`StoreAPIError` with a stable code a person can act on:
``store_credentials_rejected`` (401/403), ``store_not_found`` (404: a wrong address),
``store_bad_response`` (not JSON, or not the documented shape), ``store_rate_limited`` (still
429 after the bounded retries), ``store_unavailable`` (5xx), ``store_timeout`` and
``store_unreachable``. A 429 or 503 is retried after its ``Retry-After`` (bounded), and a
client may ask for a pause before its next request (Shopify's call-limit bucket).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx2

from patron.config import Settings
from patron.errors import CRMError
from patron.kit import outbound
from patron.kit.time import utcnow

MAX_PAGE_BYTES = 32 * 1024 * 1024
RETRIED_STATUSES = (429, 503)


class StoreAPIError(CRMError):
    """The store's API refused or failed a request; the code says what to check."""

    status = 502
    code = "store_error"


@dataclass(frozen=True)
class Page:
    records: list[dict[str, Any]]
    next_cursor: str | None  # None: this was the last page


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    code: str
    message: str


class StoreClient(Protocol):
    async def page(self, resource: str, *, since: datetime, cursor: str | None) -> Page: ...

    async def check(self) -> str:
        """A cheap authenticated read; a line describing the store, or StoreAPIError."""
        ...


@dataclass
class Pacing:
    """Bounds on waiting for a store that asks Patron to slow down."""

    max_retries: int = 5
    max_wait: float = 30.0
    default_wait: float = 2.0


@dataclass
class Transport:
    """GET requests with authentication, retries on 429/503 and an optional pause."""

    settings: Settings
    headers: dict[str, str]
    pacing: Pacing = field(default_factory=Pacing)
    resume_at: float = 0.0  # time.monotonic() before which no request is sent

    def pause(self, seconds: float) -> None:
        wait = min(max(seconds, 0.0), self.pacing.max_wait)
        self.resume_at = max(self.resume_at, time.monotonic() + wait)

    async def get(self, url: str) -> tuple[outbound.Reply, Any]:
        for attempt in range(self.pacing.max_retries + 1):
            delay = self.resume_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            reply = await self._send(url)
            if reply.status_code in RETRIED_STATUSES and attempt < self.pacing.max_retries:
                self.pause(self._retry_after(reply))
                continue
            return reply, _json(_checked(reply, self.pacing.max_retries))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, url: str) -> outbound.Reply:
        timeout = self.settings.store_api_timeout_seconds
        try:
            reply = await outbound.send(
                "GET",
                url,
                headers={"Accept": "application/json", **self.headers},
                timeout_seconds=timeout,
                allow_private=self.settings.store_api_allow_private,
                max_body=MAX_PAGE_BYTES,
            )
        except (TimeoutError, httpx2.TimeoutException):
            raise StoreAPIError(
                f"The store did not answer within {timeout:g} seconds.", code="store_timeout"
            ) from None
        except httpx2.HTTPError as error:
            raise StoreAPIError(
                f"The store cannot be reached: {error or type(error).__name__}.",
                code="store_unreachable",
            ) from None
        if len(reply.body) >= MAX_PAGE_BYTES:
            raise StoreAPIError(
                "The store's answer is larger than Patron reads in one page.",
                code="store_bad_response",
            )
        return reply

    def _retry_after(self, reply: outbound.Reply) -> float:
        value = reply.headers.get("retry-after", "").strip()
        if not value:
            return self.pacing.default_wait
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return (parsedate_to_datetime(value) - utcnow()).total_seconds()
        except (TypeError, ValueError):
            return self.pacing.default_wait


def _checked(reply: outbound.Reply, retries: int) -> outbound.Reply:
    status = reply.status_code
    if 200 <= status < 300:
        return reply
    if status in (401, 403):
        raise StoreAPIError(
            f"The store refused the API credentials (HTTP {status}). Check the access token "
            "(or WooCommerce key and secret) and its read permissions.",
            code="store_credentials_rejected",
        )
    if status == 404:
        raise StoreAPIError(
            "The store's API was not found at this address (HTTP 404). Check the shop domain "
            "or site address.",
            code="store_not_found",
        )
    if status == 429:
        raise StoreAPIError(
            f"The store kept answering 429 (too many requests) after {retries} retries.",
            code="store_rate_limited",
        )
    if status >= 500:
        raise StoreAPIError(
            f"The store's API failed (HTTP {status}); try again later.", code="store_unavailable"
        )
    raise StoreAPIError(
        f"The store's API answered HTTP {status}: {_snippet(reply.body)}",
        code="store_bad_response",
    )


def _json(reply: outbound.Reply) -> Any:
    try:
        return json.loads(reply.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise StoreAPIError(
            f"The store's answer is not JSON: {_snippet(reply.body)}", code="store_bad_response"
        ) from None


def _snippet(body: bytes) -> str:
    text = body[:200].decode("utf-8", "replace").strip()
    return repr(text) if text else "(empty)"


def records_of(value: Any, resource: str) -> list[dict[str, Any]]:
    """A page's records, each an object with an id; anything else makes the whole page bad
    (so that nothing of a half-understood page is applied)."""
    if not isinstance(value, list):
        raise StoreAPIError(
            f"The store's {resource} page is not a list of records.", code="store_bad_response"
        )
    for index, record in enumerate(value):
        if not isinstance(record, dict) or not isinstance(record.get("id"), int | str):
            raise StoreAPIError(
                f"Record {index + 1} of the store's {resource} page is not an object with an id.",
                code="store_bad_response",
            )
    return value


async def check(client: StoreClient) -> CheckResult:
    """Try the credentials with a cheap read; never raises for what the store answers."""
    try:
        description = await client.check()
    except CRMError as error:
        return CheckResult(False, error.code, error.message)
    return CheckResult(True, "ok", description)
