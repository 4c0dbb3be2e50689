"""Merging two customers into one.

The survivor keeps its id; for each profile field the caller chooses whose value survives.
Orders, carts, timeline, files, consents (with their history), addresses, other contact
data and external IDs move to the survivor; the merged customer's old id keeps resolving
to the survivor. Nothing personal is dropped: an email or phone that does not win becomes
one of the survivor's other contacts.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal, get_args

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.auth.principal import Principal
from patron.config import Settings
from patron.customers import metrics, repository
from patron.customers.schemas import MergeField
from patron.customers.service import normalise_tags, snapshot, sync_country
from patron.errors import InvalidInput
from patron.kit.time import utcnow
from patron.models import (
    Attachment,
    Cart,
    ConsentEvent,
    Customer,
    CustomerAddress,
    CustomerEmail,
    CustomerExternalId,
    CustomerMetrics,
    CustomerPhone,
    DuplicateCandidate,
    Order,
    TimelineEntry,
)
from patron.segments.changes import mark_customers_changed
from patron.timeline.service import add_entry

Side = Literal["survivor", "merged"]
CHOOSABLE: tuple[str, ...] = get_args(MergeField)
MOVED_TABLES: tuple[Any, ...] = (Order, Cart, TimelineEntry, Attachment, ConsentEvent)


def _invalid(message: str, code: str, field: str = "merge_id") -> InvalidInput:
    return InvalidInput(message, code=code, details=[{"field": field, "message": message}])


def _chosen_values(
    survivor: Customer, merged: Customer, choices: Mapping[str, Side]
) -> dict[str, Any]:
    unknown = set(choices) - set(CHOOSABLE)
    if unknown:
        raise _invalid(
            f"These fields cannot be chosen: {', '.join(sorted(unknown))}.",
            "invalid_merge_choice",
            "fields",
        )
    values: dict[str, Any] = {}
    for field in CHOOSABLE:
        mine, theirs = getattr(survivor, field), getattr(merged, field)
        side = choices.get(field)
        if side is None:  # by default keep the survivor's value, unless it has none
            side = "merged" if mine in (None, "") and theirs not in (None, "") else "survivor"
        values[field] = theirs if side == "merged" else mine
    values["tags"] = normalise_tags([*survivor.tags, *merged.tags])
    values["interests"] = normalise_tags([*survivor.interests, *merged.interests])
    values["preferred_channels"] = list(
        dict.fromkeys([*survivor.preferred_channels, *merged.preferred_channels])
    )
    values["custom_fields"] = {**merged.custom_fields, **survivor.custom_fields}
    values["lifecycle_locked"] = survivor.lifecycle_locked or (
        choices.get("lifecycle_stage") == "merged" and merged.lifecycle_locked
    )
    return values


async def _keep_other_contacts(
    db: AsyncSession,
    survivor: Customer,
    merged: Customer,
    values: Mapping[str, Any],
    primaries: tuple[set[str | None], set[str | None]],
) -> None:
    """Secondary contacts move over; a primary that loses becomes a secondary."""
    await db.execute(
        update(CustomerEmail)
        .where(CustomerEmail.customer_id == merged.id)
        .values(customer_id=survivor.id)
        .execution_options(synchronize_session=False)
    )
    await db.execute(
        update(CustomerPhone)
        .where(CustomerPhone.customer_id == merged.id)
        .values(customer_id=survivor.id)
        .execution_options(synchronize_session=False)
    )
    emails = {e for e in primaries[0] - {values["email"]} if e}
    phones = {p for p in primaries[1] - {values["phone"]} if p}
    known_emails = {e.email.lower() for e in await repository.other_emails(db, survivor.id)}
    known_phones = {p.phone for p in await repository.other_phones(db, survivor.id)}
    for email in emails:
        if email.lower() not in known_emails:
            db.add(CustomerEmail(customer_id=survivor.id, email=email, label="merged"))
    for phone in phones:
        if phone not in known_phones:
            db.add(CustomerPhone(customer_id=survivor.id, phone=phone, label="merged"))
    await db.flush()
    # a secondary that now equals the primary, or a repeat, is dropped
    seen_emails = {(values["email"] or "").lower()}
    for row in await repository.other_emails(db, survivor.id):
        if row.email.lower() in seen_emails:
            await db.delete(row)
        seen_emails.add(row.email.lower())
    seen_phones = {values["phone"]}
    for phone_row in await repository.other_phones(db, survivor.id):
        if phone_row.phone in seen_phones:
            await db.delete(phone_row)
        seen_phones.add(phone_row.phone)
    await db.flush()


async def _move_consents(db: AsyncSession, survivor: Customer, merged: Customer) -> None:
    """For a channel and purpose both have, the more recent decision wins."""
    mine = {(c.channel, c.purpose): c for c in await repository.consents(db, survivor.id)}
    for consent in await repository.consents(db, merged.id):
        current = mine.get((consent.channel, consent.purpose))
        if current is None:
            consent.customer_id = survivor.id
            continue
        if consent.changed_at > current.changed_at:
            for field in ("status", "changed_at", "source", "form_text_version", "ip"):
                setattr(current, field, getattr(consent, field))
        await db.delete(consent)
    await db.flush()


async def _move_addresses(db: AsyncSession, survivor: Customer, merged: Customer) -> None:
    has_defaults = await repository.addresses(db, survivor.id)
    values: dict[str, Any] = {"customer_id": survivor.id}
    if has_defaults:
        values.update(is_default_billing=False, is_default_shipping=False)
    await db.execute(
        update(CustomerAddress)
        .where(CustomerAddress.customer_id == merged.id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def merge(
    db: AsyncSession,
    settings: Settings,
    *,
    principal: Principal,
    survivor: Customer,
    merged: Customer,
    choices: Mapping[str, Side] | None = None,
) -> Customer:
    if survivor.id == merged.id:
        raise _invalid("A customer cannot be merged into itself.", "merge_into_self")
    for customer in (survivor, merged):
        if customer.merged_into_id is not None:
            raise _invalid("That customer was already merged.", "already_merged")
    actor = principal.actor
    before = {"survivor": snapshot(survivor), "merged": snapshot(merged)}
    values = _chosen_values(survivor, merged, choices or {})

    primaries = ({survivor.email, merged.email}, {survivor.phone, merged.phone})
    # the unique live email moves only once the merged record has let go of it
    merged.email, merged.phone = None, None
    merged.merged_into_id, merged.merged_at = survivor.id, utcnow()
    await db.flush()
    await _keep_other_contacts(db, survivor, merged, values, primaries)
    for field, value in values.items():
        setattr(survivor, field, value)
    for model in MOVED_TABLES:
        await db.execute(
            update(model)
            .where(model.customer_id == merged.id)
            .values(customer_id=survivor.id)
            .execution_options(synchronize_session=False)
        )
    await db.execute(
        update(CustomerExternalId)
        .where(CustomerExternalId.customer_id == merged.id)
        .values(customer_id=survivor.id)
        .execution_options(synchronize_session=False)
    )
    await _move_consents(db, survivor, merged)
    await _move_addresses(db, survivor, merged)
    # earlier merges into the merged customer now point at the survivor directly
    await db.execute(
        update(Customer)
        .where(Customer.merged_into_id == merged.id, Customer.id != merged.id)
        .values(merged_into_id=survivor.id)
        .execution_options(synchronize_session=False)
    )
    await _close_candidates(db, survivor.id, merged.id, actor_id=principal.user_id)
    await db.execute(delete(CustomerMetrics).where(CustomerMetrics.customer_id == merged.id))
    await db.flush()
    await sync_country(db, survivor)
    await metrics.refresh(db, settings, [survivor.id])
    await mark_customers_changed(db, [merged.id])  # merged customers leave every segment
    await db.refresh(survivor)
    details = {"merged_id": str(merged.id), "choices": dict(choices or {}), "before": before}
    await audit.record(
        db,
        action="customer.merged",
        actor=actor,
        object_type="customer",
        object_id=survivor.id,
        details=details,
    )
    await add_entry(
        db,
        customer_id=survivor.id,
        kind="merge",
        summary=f"Merged with {_label(before['merged'])} ({merged.id})",
        actor=actor,
        data={"merged_id": str(merged.id)},
    )
    await add_entry(
        db,
        customer_id=merged.id,
        kind="merge",
        summary=f"Merged into {survivor.name} ({survivor.id})",
        actor=actor,
        data={"survivor_id": str(survivor.id)},
    )
    return survivor


def _label(values: Mapping[str, Any]) -> str:
    name = f"{values.get('first_name') or ''} {values.get('last_name') or ''}".strip()
    return name or values.get("email") or values.get("phone") or "a customer"


async def _close_candidates(
    db: AsyncSession, survivor_id: uuid.UUID, merged_id: uuid.UUID, *, actor_id: uuid.UUID
) -> None:
    """The reviewed pair is done; the merged customer's other pairs are moot."""
    involved = (DuplicateCandidate.customer_a_id == merged_id) | (
        DuplicateCandidate.customer_b_id == merged_id
    )
    pair = {survivor_id, merged_id}
    rows = await db.scalars(
        select(DuplicateCandidate).where(involved, DuplicateCandidate.status == "open")
    )
    for candidate in rows:
        is_pair = {candidate.customer_a_id, candidate.customer_b_id} == pair
        candidate.status = "merged" if is_pair else "dismissed"
        candidate.resolved_at = utcnow()
        candidate.resolved_by_id = actor_id
    await db.flush()
