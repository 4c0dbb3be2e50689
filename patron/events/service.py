"""Accepting tracking events and identify calls; the only code that writes events.

Ordinary events write no timeline rows (a storefront sends dozens per visit; the customer's
event list shows them). Identifying a visitor writes one "profile" entry when it joins
earlier anonymous events to the customer.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics import rfm
from patron.audit.service import Actor
from patron.auth.principal import Principal
from patron.config import Settings
from patron.errors import CRMError, InvalidInput
from patron.events import repository
from patron.events.identity import CustomerRef, find_or_create, lock_keys, serialise
from patron.events.schemas import EventIn, Identity
from patron.kit.contact import normalise_email
from patron.kit.ids import new_id
from patron.kit.time import utcnow
from patron.models import Customer
from patron.orders.service.common import aware
from patron.segments.changes import mark_customers_changed
from patron.timeline.service import add_entry

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_.:-]{0,99}$")
MAX_PROPERTIES_BYTES = 16 * 1024
MAX_CLOCK_SKEW = timedelta(minutes=5)
OLDEST = datetime(2000, 1, 1, tzinfo=UTC)
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
    try:
        size = len(encoded.encode())
    except UnicodeEncodeError:  # a lone surrogate ("\ud800"), which Python's JSON reader lets in
        raise _invalid("properties", "Text must be valid Unicode.", "invalid_properties") from None
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
    if moment < OLDEST:
        raise _invalid("timestamp", "The timestamp is before the year 2000.", "timestamp_too_old")
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
    db: AsyncSession, *, anonymous_id: str, customer_id: uuid.UUID, actor: Actor
) -> int:
    changed = await repository.link_visitor(db, anonymous_id=anonymous_id, customer_id=customer_id)
    joined = await repository.join_anonymous_events(
        db, anonymous_id=anonymous_id, customer_id=customer_id
    )
    if joined:
        await mark_customers_changed(db, [customer_id])
    if changed and joined:
        await add_entry(
            db,
            customer_id=customer_id,
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
        db, anonymous_id=identity.anonymous_id, customer_id=customer.id, actor=principal.actor
    )
    return Identified(customer, joined)


def _check(event: EventIn, *, now: datetime, source: str) -> tuple[CustomerRef, dict[str, Any]]:
    """The event's own checks; its row, still without the customer of an anonymous visitor."""
    ref = _ref(event)
    if not ref.given and event.anonymous_id is None:
        raise _invalid(
            "anonymous_id",
            "Say who did it: customer_id, email, external_id or anonymous_id.",
            "missing_identity",
        )
    if _has_nul(event.idempotency_key):
        raise _invalid("idempotency_key", "Text cannot contain NUL characters.", "invalid_text")
    row = {
        "id": new_id(),
        "occurred_at": check_timestamp(event.timestamp, now=now),
        "customer_id": None,
        "anonymous_id": event.anonymous_id,
        "name": check_name(event.name),
        "properties": check_properties(event.properties),
        "source": source,
        "idempotency_key": event.idempotency_key,
    }
    return ref, row


class _People:
    """Each person named in a batch, found or created once; a failure rejects their events."""

    def __init__(self, db: AsyncSession, settings: Settings, principal: Principal) -> None:
        self.db, self.settings, self.principal = db, settings, principal
        self.found: dict[CustomerRef, uuid.UUID | CRMError] = {}

    async def prepare(self, refs: Iterable[CustomerRef]) -> None:
        """Known emails in one query; then lock, in one order, the people who may be new."""
        refs = set(refs)
        by_email: dict[CustomerRef, str] = {}
        for ref in refs:
            if ref.customer_id is None and ref.external_id is None and ref.email:
                with contextlib.suppress(InvalidInput):
                    by_email[ref] = normalise_email(ref.email).lower()
        known = await repository.live_ids_by_email(self.db, set(by_email.values()))
        for ref, email in by_email.items():
            if email in known:
                self.found[ref] = known[email]
        await serialise(
            self.db,
            (
                key
                for ref in refs
                if ref.customer_id is None and ref not in self.found
                for key in lock_keys(ref)
            ),
        )

    async def customer_id(self, ref: CustomerRef) -> uuid.UUID:
        if ref not in self.found:
            savepoint = await self.db.begin_nested()
            try:
                customer = await find_or_create(
                    self.db, self.settings, principal=self.principal, ref=ref
                )
            except CRMError as error:
                await savepoint.rollback()
                self.found[ref] = error
            else:
                await savepoint.commit()
                self.found[ref] = customer.id
        outcome = self.found[ref]
        if isinstance(outcome, CRMError):
            raise outcome
        return outcome


async def track_many(
    db: AsyncSession,
    settings: Settings,
    *,
    principal: Principal,
    events: Sequence[EventIn],
    now: datetime | None = None,
) -> list[Accepted | CRMError]:
    """Store events, each once per idempotency key, in a few statements for the whole batch.

    An event that fails its checks, or names a customer who cannot be found or created, is
    answered with its error and leaves no trace; the others are stored.
    """
    now = now or utcnow()
    source = source_of(principal)
    people = _People(db, settings, principal)
    results: dict[int, Accepted | CRMError] = {}
    pending: list[tuple[int, dict[str, Any]]] = []
    identified: dict[str, uuid.UUID] = {}
    await people.prepare(
        CustomerRef(e.customer_id, e.email, e.external_id, e.channel_id) for e in events
    )
    for index, event in enumerate(events):
        try:
            ref, row = _check(event, now=now, source=source)
            if ref.given:
                row["customer_id"] = await people.customer_id(ref)
        except CRMError as error:
            results[index] = error
            continue
        if ref.given and event.anonymous_id is not None:
            identified[event.anonymous_id] = row["customer_id"]
        pending.append((index, row))
    for anonymous_id, customer_id in identified.items():
        await _identify(
            db, anonymous_id=anonymous_id, customer_id=customer_id, actor=principal.actor
        )
    visitors = await repository.visitors(
        db, {row["anonymous_id"] for _, row in pending if row["customer_id"] is None}
    )
    claims: dict[str, tuple[uuid.UUID, datetime]] = {}
    for _, row in pending:
        if row["customer_id"] is None:
            row["customer_id"] = visitors.get(row["anonymous_id"])
        if row["idempotency_key"] is not None:
            claims.setdefault(row["idempotency_key"], (row["id"], row["occurred_at"]))
    owners = await repository.claim_keys(
        db, source=source, claims=[(key, *claim) for key, claim in claims.items()]
    )
    stored, duplicates = [], {}
    for index, row in pending:
        first = owners.get(row["idempotency_key"]) if row["idempotency_key"] else None
        if first is not None and first != row["id"]:
            duplicates[index] = first
            continue
        stored.append(row)
        results[index] = Accepted(row["id"], "created", row["customer_id"])
    await repository.add_events(db, stored)
    await rfm.touch_last_seen(db, _latest_by_customer(stored))
    await mark_customers_changed(db, (row["customer_id"] for row in stored))
    customers_of = await repository.customers_of_events(db, set(duplicates.values()))
    for index, first in duplicates.items():
        results[index] = Accepted(first, "duplicate", customers_of.get(first))
    return [results[index] for index in range(len(events))]


def _latest_by_customer(rows: Iterable[dict[str, Any]]) -> dict[uuid.UUID, datetime]:
    latest: dict[uuid.UUID, datetime] = {}
    for row in rows:
        customer_id, at = row["customer_id"], row["occurred_at"]
        if customer_id is not None and (customer_id not in latest or latest[customer_id] < at):
            latest[customer_id] = at
    return latest


async def track(
    db: AsyncSession, settings: Settings, *, principal: Principal, event: EventIn
) -> Accepted:
    """Store one event (see :func:`track_many`); its error is raised."""
    [result] = await track_many(db, settings, principal=principal, events=[event])
    if isinstance(result, CRMError):
        raise result
    return result


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
    db: AsyncSession, settings: Settings, *, principal: Principal, events: list[Any]
) -> list[Accepted | CRMError]:
    """A batch as sent: an item that is not an event is reported, the others are tracked."""
    results: dict[int, Accepted | CRMError] = {}
    parsed: dict[int, EventIn] = {}
    for index, raw in enumerate(events):
        try:
            parsed[index] = EventIn.model_validate(raw)
        except ValidationError as error:
            results[index] = _validation_error(error)
    tracked = await track_many(db, settings, principal=principal, events=list(parsed.values()))
    results.update(zip(parsed, tracked, strict=True))
    return [results[index] for index in range(len(events))]


async def ensure_partitions(db: AsyncSession, *, months_ahead: int) -> int:
    """Create the next months' partitions; old idempotency keys are forgotten on the way."""
    created = await repository.ensure_partitions(db, months_ahead)
    await repository.prune_keys(db, older_than=utcnow() - KEEP_IDEMPOTENCY_KEYS)
    return created
