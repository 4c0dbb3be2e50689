"""What the current request or job is, for logs and the audit trail."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip: str = ""
    user_agent: str = ""


_EMPTY = RequestContext()
_current: ContextVar[RequestContext] = ContextVar("patron_request", default=_EMPTY)


def current_request() -> RequestContext:
    return _current.get()


def set_current_request(context: RequestContext) -> None:
    _current.set(context)
