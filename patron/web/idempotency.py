"""``Idempotency-Key`` on API writes: a retried request gets the first answer, not a second
order or customer.

The first request with a key claims it (a row committed at once), runs, and stores its
response; a repeat with the same key and the same request replays that response; the same
key with a different request is refused, and so is a repeat while the first still runs.
Keys belong to the credential that sent them and are kept for a day. Server errors are not
stored, so a retry after one runs again.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patron.auth.sessions import SESSION_COOKIE
from patron.db.engine import Database
from patron.errors import error_body
from patron.kit.time import utcnow
from patron.models import IdempotencyKey

HEADER = b"idempotency-key"
METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEEP = timedelta(hours=24)
ABANDONED_AFTER = timedelta(minutes=5)
MAX_KEY = 200
REPLAYED_HEADERS = frozenset({b"content-type", b"location"})


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _owner(scope: Scope) -> str | None:
    """Who the key belongs to: a hash of the credential, never the credential itself."""
    credential = _header(scope, b"authorization")
    if not credential:
        for part in _header(scope, b"cookie").split(";"):
            name, _, value = part.strip().partition("=")
            if name == SESSION_COOKIE:
                credential = value
    return hashlib.sha256(credential.encode()).hexdigest() if credential else None


async def _answer(send: Send, status: int, code: str, message: str, retry: bool = False) -> None:
    body = json.dumps(error_body(code, message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, prefix: str = "/api/v1/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _header(scope, HEADER) if scope["type"] == "http" else ""
        owner = _owner(scope) if key else None
        if (
            not key
            or owner is None
            or scope["method"] not in METHODS
            or not scope["path"].startswith(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
        if len(key) > MAX_KEY or not key.isprintable():
            await _answer(
                send, 400, "invalid_idempotency_key", f"Use a key of 1 to {MAX_KEY} characters."
            )
            return
        body = await _read_body(receive)
        digest = hashlib.sha256()
        for part in (scope["method"], scope["path"], scope.get("query_string", b"").decode()):
            digest.update(part.encode() + b"\0")
        digest.update(body)
        database: Database = scope["app"].state.database
        claimed, stored = await _claim(database, owner, key, digest.hexdigest())
        if not claimed:
            await _respond_to_repeat(send, stored, digest.hexdigest())
            return
        await self._run_and_store(scope, body, send, database, owner, key)

    async def _run_and_store(
        self, scope: Scope, body: bytes, send: Send, database: Database, owner: str, key: str
    ) -> None:
        sent_body = False

        async def replay_receive() -> Message:
            nonlocal sent_body
            if sent_body:
                return {"type": "http.disconnect"}
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}

        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_receive, capture)
        except BaseException:
            await _release(database, owner, key)
            raise
        status = int(start.get("status", 500))
        if status >= 500:
            await _release(database, owner, key)
            return
        headers = [
            [name.decode("latin-1"), value.decode("latin-1")]
            for name, value in start.get("headers", [])
            if name.lower() in REPLAYED_HEADERS
        ]
        async with database.transaction() as db:
            await db.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.owner == owner, IdempotencyKey.key == key)
                .values(
                    status="done",
                    response_status=status,
                    response_headers=headers,
                    response_body=b"".join(chunks),
                )
            )


async def _read_body(receive: Receive) -> bytes:
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


async def _claim(
    database: Database, owner: str, key: str, request_hash: str
) -> tuple[bool, IdempotencyKey | None]:
    """Claim the key (True), or return the row a previous request left (False, row)."""
    async with database.transaction() as db:
        # a claim left by a process that died mid-request may be taken over
        await db.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.owner == owner,
                IdempotencyKey.key == key,
                (IdempotencyKey.created_at < utcnow() - KEEP)
                | (
                    (IdempotencyKey.status == "in_progress")
                    & (IdempotencyKey.created_at < utcnow() - ABANDONED_AFTER)
                ),
            )
        )
        claimed = await db.scalar(
            insert(IdempotencyKey)
            .values(owner=owner, key=key, request_hash=request_hash)
            .on_conflict_do_nothing()
            .returning(IdempotencyKey.key)
        )
        if claimed is not None:
            return True, None
        stored = await db.scalar(
            select(IdempotencyKey).where(IdempotencyKey.owner == owner, IdempotencyKey.key == key)
        )
        return False, stored


async def _release(database: Database, owner: str, key: str) -> None:
    async with database.transaction() as db:
        await db.execute(
            delete(IdempotencyKey).where(IdempotencyKey.owner == owner, IdempotencyKey.key == key)
        )


async def _respond_to_repeat(send: Send, stored: IdempotencyKey | None, request_hash: str) -> None:
    if stored is None or stored.status != "done" or stored.response_status is None:
        await _answer(
            send,
            409,
            "idempotency_key_in_use",
            "A request with this Idempotency-Key is still running; retry in a moment.",
            retry=True,
        )
        return
    if stored.request_hash != request_hash:
        await _answer(
            send,
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was used for a different request; use a new key.",
        )
        return
    body = stored.response_body or b""
    headers = [
        (name.encode("latin-1"), value.encode("latin-1")) for name, value in stored.response_headers
    ]
    headers += [(b"content-length", str(len(body)).encode()), (b"idempotent-replayed", b"true")]
    await send(
        {"type": "http.response.start", "status": stored.response_status, "headers": headers}
    )
    await send({"type": "http.response.body", "body": body})
