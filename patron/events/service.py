"""Accepting tracking events and identify calls; the only code that writes events.

Ordinary events write no timeline rows (a storefront sends dozens per visit; the customer's
event list shows them). Identifying a visitor writes one "profile" entry when it joins
earlier anonymous events to the customer.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit.service import Actor
from patron.auth.principal import Principal
from patron.config import Settings
from patron.customers import repository as customers
from patron.errors import CRMError, InvalidInput
from patron.events import repository
from patron.events.identity import CustomerRef, find_or_create
from patron.events.schemas import EventIn, Identity
from patron.kit.ids import new_id
from patron.kit.time import utcnow
from patron.models import Customer, TrackingEvent
from patron.orders.service.common import aware
from patron.timeline.service import add_entry

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_.:-]{0,99}$")
MAX_PROPERTIES_BYTES = 16 * 1024
MAX_CLOCK_SKEW = timedelta(minutes=5)
KEEP_IDEMPOTENCY_KEYS = timedelta(days=30)


@dataclass(frozen=True)
class Accepted:
    id: uuid.UUID
    status: Literal["created", "duplicate"]
    customer_id: uuid.UUID | None


@dataclass(frozen=True)
class Identified:
    customer: Customer
    joined: int


def source_of(principal: Principal) -> str:
    """Whose idempotency keys these are: the API key's, or the signed-in person's."""
    if principal.api_key is not None:
        return f"key:{principal.api_key.id}"
    return f"user:{principal.user_id}"


def _invalid(field: str, message: str, code: str) -> InvalidInput:
    return InvalidInput(message, code=code, details=[{"field": field, "message": message}])


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise _invalid(
            "name",
            "Event names are 1-100 lower-case letters, digits, _ . : or -, starting with a letter.",
            "invalid_event_name",
        )
    return name


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def check_properties(properties: dict[str, Any]) -> dict[str, Any]:
    try:
        encoded = json.dumps(properties, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise _invalid(
            "properties", "Numbers must be finite (no NaN or Infinity).", "invalid_properties"
        ) from None
    size = len(encoded.encode())
    if size > MAX_PROPERTIES_BYTES:
        raise _invalid(
            "properties",
            f"Properties are {size} bytes; the limit is {MAX_PROPERTIES_BYTES}.",
            "properties_too_large",
        )
    if _has_nul(properties):
        raise _invalid("properties", "Text cannot contain NUL characters.", "invalid_properties")
    return properties


def check_timestamp(timestamp: datetime | None, *, now: datetime) -> datetime:
    moment = aware(timestamp) or now
    if moment > now + MAX_CLOCK_SKEW:
        raise _invalid("timestamp", "The timestamp is in the future.", "timestamp_in_future")
    return moment


def _ref(identity: Identity) -> CustomerRef:
    for field in ("anonymous_id", "external_id", "email"):
        if _has_nul(getattr(identity, field)):
            raise _invalid(field, "Text cannot contain NUL characters.", "invalid_text")
    return CustomerRef(
        customer_id=identity.customer_id,
        email=identity.email,
        external_id=identity.external_id,
        channel_id=identity.channel_id,
    )


async def _identify(
    db: AsyncSession, *, anonymous_id: str, customer: Customer, actor: Actor
) -> int:
    changed = await repository.link_visitor(db, anonymous_id=anonymous_id, customer_id=customer.id)
    joined = await repository.join_anonymous_events(
        db, anonymous_id=anonymous_id, customer_id=customer.id
    )
    if changed and joined:
        await add_entry(
            db,
            customer_id=customer.id,
            kind="profile",
            summary=f"Identified on the storefront: {joined} earlier visitor events joined",
            actor=actor,
            data={"anonymous_id": anonymous_id, "events_joined": joined},
        )
    return joined


async def identify(
    db: AsyncSession, settings: Settings, *, principal: Principal, identity: Identity
) -> Identified:
    """Tie an anonymous visitor to a customer: earlier and later events become theirs."""
    ref = _ref(identity)
    if identity.anonymous_id is None or not ref.given:
        raise _invalid(
            "anonymous_id",
            "Identify needs the anonymous_id and the customer's id, email or external ID.",
            "missing_identity",
        )
    customer = await find_or_create(db, settings, principal=principal, ref=ref)
    joined = await _identify(
        db, anonymous_id=identity.anonymous_id, customer=customer, actor=principal.actor
    )
    return Identified(customer, joined)


async def _customer_for(
    db: AsyncSession, settings: Settings, *, principal: Principal, event: EventIn
) -> uuid.UUID | None:
    ref = _ref(event)
    if ref.given:
        customer = await find_or_create(db, settings, principal=principal, ref=ref)
        if event.anonymous_id is not None:
            await _identify(
                db, anonymous_id=event.anonymous_id, customer=customer, actor=principal.actor
            )
        return customer.id
    if event.anonymous_id is None:
        raise _invalid(
            "anonymous_id",
            "Say who did it: customer_id, email, external_id or anonymous_id.",
            "missing_identity",
        )
    visitor = await repository.visitor(db, event.anonymous_id)
    if visitor is None:
        return None
    return await customers.resolve_id(db, visitor.customer_id)  # the survivor of a merge


async def track(
    db: AsyncSession,
    settings: Settings,
    *,
    principal: Principal,
    event: EventIn,
    now: datetime | None = None,
) -> Accepted:
    """Store one event, once per idempotency key; an identified event also identifies."""
    name = check_name(event.name)
    properties = check_properties(event.properties)
    occurred_at = check_timestamp(event.timestamp, now=now or utcnow())
    if _has_nul(event.idempotency_key):
        raise _invalid("idempotency_key", "Text cannot contain NUL characters.", "invalid_text")
    source = source_of(principal)
    event_id = new_id()
    if event.idempotency_key is not None:
        first = await repository.claim_key(
            db, source=source, key=event.idempotency_key, event_id=event_id, occurred_at=occurred_at
        )
        if first is not None:
            return Accepted(first, "duplicate", await repository.customer_of_event(db, first))
    customer_id = await _customer_for(db, settings, principal=principal, event=event)
    db.add(
        TrackingEvent(
            id=event_id,
            occurred_at=occurred_at,
            customer_id=customer_id,
            anonymous_id=event.anonymous_id,
            name=name,
            properties=properties,
            source=source,
            idempotency_key=event.idempotency_key,
        )
    )
    await db.flush()
    return Accepted(event_id, "created", customer_id)


def _validation_error(error: ValidationError) -> InvalidInput:
    details = [
        {
            "field": ".".join(str(part) for part in item.get("loc", ())),
            "message": str(item.get("msg", "")),
        }
        for item in error.errors()
    ]
    return InvalidInput(
        "The event is not valid; see details.", code="invalid_event", details=details
    )


async def track_batch(
    db: AsyncSession, settings: Settings, *, principal: Principal, events: list[dict[str, Any]]
) -> list[Accepted | CRMError]:
    """Each event on its own: a bad one is reported and rolled back, the others are kept."""
    now = utcnow()
    results: list[Accepted | CRMError] = []
    for raw in events:
        try:
            event = EventIn.model_validate(raw)
        except ValidationError as error:
            results.append(_validation_error(error))
            continue
        savepoint = await db.begin_nested()
        try:
            results.append(await track(db, settings, principal=principal, event=event, now=now))
        except CRMError as error:
            await savepoint.rollback()
            results.append(error)
        else:
            await savepoint.commit()
    return results


async def ensure_partitions(db: AsyncSession, *, months_ahead: int) -> int:
    """Create the next months' partitions; old idempotency keys are forgotten on the way."""
    created = await repository.ensure_partitions(db, months_ahead)
    await repository.prune_keys(db, older_than=utcnow() - KEEP_IDEMPOTENCY_KEYS)
    return created
