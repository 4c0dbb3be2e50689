"""Processing a stored delivery: parse, hand it to the provider's handler, record the outcome.

The handler runs in a savepoint: a delivery that fails (malformed JSON, a payload that breaks
validation, a refused business rule) undoes its own partial work and is recorded as failed
with its error, to be re-processed after a fix. Database errors are raised so the job retries.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit.service import Actor
from patron.config import Settings
from patron.errors import CRMError
from patron.integrations import repository
from patron.integrations.context import Context, Outcome
from patron.integrations.shopify import handlers as shopify
from patron.integrations.stripe import handlers as stripe
from patron.integrations.woocommerce import handlers as woocommerce
from patron.kit.time import utcnow
from patron.models import WebhookReceipt
from patron.privacy.erasure import REDACTED_BODY

log = structlog.get_logger(__name__)
Handle = Callable[[Context, str, dict[str, Any]], Awaitable[Outcome]]
PROVIDERS: dict[str, Handle] = {
    "shopify": shopify.handle,
    "woocommerce": woocommerce.handle,
    "stripe": stripe.handle,
}
MAX_ERROR = 2000


class PayloadError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _parse(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise PayloadError("malformed_json", f"The body is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise PayloadError("invalid_payload", "The body is JSON but not an object.")
    return value


def validation_message(error: ValidationError) -> str:
    parts = [
        f"{'.'.join(str(p) for p in item['loc']) or '(body)'}: {item['msg']}"
        for item in error.errors()[:5]
    ]
    return "The payload does not have the expected shape: " + "; ".join(parts)


async def process(db: AsyncSession, settings: Settings, receipt_id: uuid.UUID) -> str | None:
    """Process one receipt waiting in 'received'; returns its new status (None when there is
    nothing to do: an unknown id, or a receipt another run finished)."""
    receipt = await repository.claim_receipt(db, receipt_id)
    if receipt is None:
        return None
    found = await repository.connection_and_channel(db, receipt.connection_id)
    handle = PROVIDERS.get(receipt.provider)
    if found is None or handle is None:
        _finish(receipt, Outcome("ignored", "No handler for this provider yet."))
        return receipt.status
    connection, channel = found
    actor = Actor("system", None, connection.name)
    ctx = Context(db, settings, connection, channel, actor, receipt_id=receipt.id)
    if receipt.body == REDACTED_BODY:
        _finish(receipt, Outcome("ignored", "Emptied by a privacy erasure; nothing to process."))
        await db.flush()
        return receipt.status
    try:
        body = _parse(receipt.body)
    except PayloadError as error:
        _fail(receipt, error.code, error.message)
    else:
        result = await apply(ctx, handle, receipt.topic, body, label=f"receipt {receipt.id}")
        if isinstance(result, Failure):
            _fail(receipt, result.code, result.message)
        else:
            _finish(receipt, result)
    await db.flush()
    return receipt.status


@dataclass(frozen=True)
class Failure:
    code: str
    message: str


async def apply(
    ctx: Context, handle: Handle, topic: str, body: dict[str, Any], *, label: str
) -> Outcome | Failure:
    """Run a handler in a savepoint: a record it cannot take (bad shape, refused business
    rule, a bug) undoes its own partial work and comes back as a Failure. Database errors
    propagate, so the job retries."""
    try:
        async with ctx.db.begin_nested():
            return await handle(ctx, topic, body)
    except ValidationError as error:
        return Failure("invalid_payload", validation_message(error))
    except CRMError as error:
        details = "; ".join(f"{d.get('field')}: {d.get('message')}" for d in error.details[:5])
        return Failure(error.code, error.message + (f" ({details})" if details else ""))
    except DBAPIError:
        raise
    except Exception as error:  # a bug must not hide the record: it is kept, failed
        log.exception("store_record_processing_crashed", record=label)
        return Failure("processing_error", f"{type(error).__name__}: {error}")


def _finish(receipt: WebhookReceipt, outcome: Outcome) -> None:
    receipt.status = outcome.status
    receipt.outcome = outcome.summary[:300]
    receipt.error_code, receipt.error = "", ""
    receipt.processed_at = utcnow()


def _fail(receipt: WebhookReceipt, code: str, message: str) -> None:
    receipt.status = "failed"
    receipt.error_code = code[:60]
    receipt.error = message[:MAX_ERROR]
    receipt.outcome = ""
    receipt.processed_at = utcnow()
