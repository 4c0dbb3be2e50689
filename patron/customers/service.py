"""Changing customers: profile, contact data, addresses, external IDs, consent.

Every change is audited and, where a person would want to see it, written to the
customer's timeline in the same transaction.
"""

from __future__ import annotations

import uuid
import zoneinfo
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.audit.service import Actor
from patron.auth.principal import Principal
from patron.config import Settings
from patron.customers import repository
from patron.customers.schemas import AddressIn, ConsentIn, CustomerCreate, ExternalIdIn
from patron.errors import Conflict, InvalidInput, NotFound
from patron.kit.contact import normalise_country, normalise_email, normalise_phone
from patron.kit.custom_fields import validate_custom_fields
from patron.kit.time import utcnow
from patron.models import (
    Channel,
    Consent,
    ConsentEvent,
    Customer,
    CustomerAddress,
    CustomerEmail,
    CustomerExternalId,
    CustomerPhone,
    StaffUser,
)
from patron.segments.changes import mark_customers_changed
from patron.timeline.service import add_entry

PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "birthday",
    "locale",
    "time_zone",
    "company",
    "tags",
    "lifecycle_stage",
    "lifecycle_locked",
    "owner_id",
    "source",
    "preferred_channels",
    "interests",
    "contact_frequency",
    "custom_fields",
)
NOT_NULL = frozenset(
    {"first_name", "last_name", "tags", "source", "preferred_channels", "interests"}
)
ADDRESS_FIELDS = tuple(AddressIn.model_fields)


def _invalid(field: str, message: str, code: str) -> InvalidInput:
    return InvalidInput(message, code=code, details=[{"field": field, "message": message}])


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID | date):
        return str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


def snapshot(customer: Customer) -> dict[str, Any]:
    return {field: _jsonable(getattr(customer, field)) for field in PROFILE_FIELDS}


def normalise_tags(tags: Iterable[str]) -> list[str]:
    """Lower-case, trimmed, de-duplicated tags in their first order."""
    seen: dict[str, None] = {}
    for tag in tags:
        cleaned = " ".join(tag.split()).lower()
        if cleaned:
            seen.setdefault(cleaned[:50], None)
    return list(seen)


def _check_birthday(value: date | None) -> date | None:
    if value is not None and (value > utcnow().date() or value.year < 1900):
        raise _invalid("birthday", "The birthday must be a past date.", "invalid_birthday")
    return value


def _check_time_zone(value: str | None) -> str | None:
    if value is not None and value not in zoneinfo.available_timezones():
        raise _invalid(
            "time_zone",
            f"{value!r} is not a known time zone (e.g. Europe/Berlin).",
            "invalid_time_zone",
        )
    return value


async def _check_owner(db: AsyncSession, owner_id: uuid.UUID | None) -> uuid.UUID | None:
    if owner_id is None:
        return None
    owner = await db.get(StaffUser, owner_id)
    if owner is None or not owner.is_active:
        raise _invalid("owner_id", "The owner must be an active staff member.", "unknown_owner")
    return owner_id


async def _claim_email(
    db: AsyncSession, email: str, *, customer_id: uuid.UUID | None, field: str = "email"
) -> str:
    normalised = normalise_email(email, field=field)
    holder = await repository.id_by_email(db, normalised)
    if holder is not None and holder != customer_id:
        raise Conflict(
            f"Another customer already has the email address {normalised}.",
            code="duplicate_email",
            details=[{"field": field, "message": str(holder), "type": "existing_customer_id"}],
        )
    return normalised


def _phone(value: str, *, region: str | None, field: str = "phone") -> str:
    return normalise_phone(value, region=region, field=field)


async def _profile_values(
    db: AsyncSession,
    values: Mapping[str, Any],
    *,
    customer: Customer | None,
    region: str | None,
) -> dict[str, Any]:
    """Validated, normalised column values for the profile fields given."""
    result: dict[str, Any] = {}
    customer_id = customer.id if customer is not None else None
    for field, value in values.items():
        if value is None and field in NOT_NULL:
            raise _invalid(field, f"{field} cannot be null.", "null_not_allowed")
        if field == "email":
            result[field] = (
                await _claim_email(db, value, customer_id=customer_id) if value else None
            )
        elif field == "phone":
            result[field] = _phone(value, region=region) if value else None
        elif field == "birthday":
            result[field] = _check_birthday(value)
        elif field == "time_zone":
            result[field] = _check_time_zone(value)
        elif field in ("tags", "interests"):
            result[field] = normalise_tags(value)
        elif field == "preferred_channels":
            result[field] = list(dict.fromkeys(value))
        elif field == "owner_id":
            result[field] = await _check_owner(db, value)
        elif field == "custom_fields":
            current = dict(customer.custom_fields) if customer is not None else {}
            result[field] = await validate_custom_fields(
                db, entity="customer", values={**current, **value}, partial=False
            )
        elif field == "lifecycle_stage":
            if value == "auto":
                result["lifecycle_locked"] = False
            elif value is not None:
                result["lifecycle_stage"] = value
                result["lifecycle_locked"] = True
        elif field in ("first_name", "last_name", "company", "source", "locale"):
            result[field] = " ".join(value.split()) if isinstance(value, str) else value
        else:
            result[field] = value
    return result


def _address_values(data: Mapping[str, Any], *, region: str | None) -> dict[str, Any]:
    values = {k: v for k, v in data.items() if k in ADDRESS_FIELDS}
    if values.get("country") is not None:
        values["country"] = normalise_country(values["country"], field="address.country")
    if values.get("phone"):
        values["phone"] = _phone(
            values["phone"], region=values.get("country") or region, field="address.phone"
        )
    for field in ("line1", "city"):
        if field in values and not (values[field] or "").strip():
            raise _invalid(f"address.{field}", f"The address needs a {field}.", "invalid_address")
    return values


def _first_country(addresses: list[AddressIn]) -> str | None:
    for address in addresses:
        try:
            return normalise_country(address.country)
        except InvalidInput:
            continue
    return None


async def sync_country(db: AsyncSession, customer: Customer) -> None:
    """The customer's country: their default shipping address, else billing, else any."""
    customer.country = await repository.main_country(db, customer.id)
    await mark_customers_changed(db, [customer.id])


async def create_customer(
    db: AsyncSession,
    settings: Settings,
    *,
    principal: Principal,
    data: CustomerCreate,
    actor: Actor | None = None,
) -> Customer:
    actor = actor or principal.actor
    region = _first_country(data.addresses)
    fields = data.model_dump(
        include=set(PROFILE_FIELDS) - {"lifecycle_locked"}, exclude_unset=False
    )
    values = await _profile_values(db, fields, customer=None, region=region)
    if values.get("owner_id") is None and principal.record_scope != "all":
        values["owner_id"] = principal.user_id  # else the creator could not see it
    if not any(values.get(f) for f in ("first_name", "last_name", "email", "phone", "company")):
        raise _invalid(
            "email", "Give at least a name, an email, a phone or a company.", "customer_empty"
        )
    customer = Customer(**values)
    db.add(customer)
    await db.flush()  # a trigger gives the customer their metrics row (zeros)
    for email in data.other_emails:
        await add_email(db, customer=customer, email=email, actor=None)
    for phone in data.other_phones:
        await add_phone(db, customer=customer, phone=phone, actor=None)
    for address in data.addresses:
        await add_address(db, customer=customer, data=address, actor=None)
    for external in data.external_ids:
        await add_external_id(db, customer=customer, data=external, actor=None)
    for consent in data.consents:
        await set_consent(
            db,
            customer=customer,
            actor=actor,
            channel=consent.channel,
            purpose=consent.purpose,
            status=consent.status,
            source=consent.source,
            form_text_version=consent.form_text_version,
            ip=consent.ip,
        )
    await db.flush()
    await audit.record(
        db,
        action="customer.created",
        actor=actor,
        object_type="customer",
        object_id=customer.id,
        details={"after": snapshot(customer)},
    )
    await mark_customers_changed(db, [customer.id])
    await add_entry(
        db,
        customer_id=customer.id,
        kind="profile",
        summary="Customer created" + (f" (source: {customer.source})" if customer.source else ""),
        actor=actor,
    )
    return customer


async def update_customer(
    db: AsyncSession,
    settings: Settings,
    *,
    actor: Actor,
    customer: Customer,
    changes: Mapping[str, Any],
) -> Customer:
    before = snapshot(customer)
    values = await _profile_values(db, changes, customer=customer, region=customer.country)
    for field, value in values.items():
        setattr(customer, field, value)
    if values.get("lifecycle_locked") is False:
        from patron.customers import metrics

        await db.flush()
        await metrics.refresh(db, settings, [customer.id])
        await db.refresh(customer, ["lifecycle_stage"])
    await db.flush()
    after = snapshot(customer)
    changed = await audit.record_change(
        db,
        action="customer.updated",
        actor=actor,
        object_type="customer",
        object_id=customer.id,
        before=before,
        after=after,
    )
    if changed is not None:
        await mark_customers_changed(db, [customer.id])
        fields = sorted(changed.details["changes"])
        if "owner_id" in fields:
            from patron.analytics import rollups

            await rollups.owners_changed(db)
        await add_entry(
            db,
            customer_id=customer.id,
            kind="profile",
            summary="Profile updated: " + ", ".join(f.replace("_", " ") for f in fields),
            actor=actor,
            data={"fields": fields},
        )
    return customer


async def _note_change(
    db: AsyncSession, customer: Customer, actor: Actor | None, action: str, summary: str
) -> None:
    if actor is None:
        return
    await audit.record(
        db,
        action=f"customer.{action}",
        actor=actor,
        object_type="customer",
        object_id=customer.id,
        details={"summary": summary},
    )
    await add_entry(db, customer_id=customer.id, kind="profile", summary=summary, actor=actor)


async def add_email(
    db: AsyncSession, *, customer: Customer, email: str, actor: Actor | None, label: str = ""
) -> CustomerEmail:
    normalised = normalise_email(email, field="other_emails")
    if normalised.lower() == (customer.email or "").lower() or await repository.has_other_email(
        db, customer.id, normalised
    ):
        raise Conflict("The customer already has that email address.", code="duplicate_email")
    row = CustomerEmail(customer_id=customer.id, email=normalised, label=label)
    db.add(row)
    await db.flush()
    await _note_change(db, customer, actor, "email_added", f"Email {normalised} added")
    return row


async def add_phone(
    db: AsyncSession, *, customer: Customer, phone: str, actor: Actor | None, label: str = ""
) -> CustomerPhone:
    normalised = _phone(phone, region=customer.country, field="other_phones")
    if normalised == customer.phone or await repository.has_other_phone(
        db, customer.id, normalised
    ):
        raise Conflict("The customer already has that phone number.", code="duplicate_phone")
    row = CustomerPhone(customer_id=customer.id, phone=normalised, label=label)
    db.add(row)
    await db.flush()
    await _note_change(db, customer, actor, "phone_added", f"Phone {normalised} added")
    return row


async def remove_contact(
    db: AsyncSession, *, customer: Customer, contact_id: uuid.UUID, actor: Actor
) -> None:
    row = await repository.other_contact(db, customer.id, contact_id)
    if row is None:
        raise NotFound("No such email or phone on this customer.", code="contact_not_found")
    value = row.email if isinstance(row, CustomerEmail) else row.phone
    await db.delete(row)
    await db.flush()
    await _note_change(db, customer, actor, "contact_removed", f"{value} removed")


async def _clear_defaults(
    db: AsyncSession, customer_id: uuid.UUID, *, billing: bool, shipping: bool
) -> None:
    for address in await repository.addresses(db, customer_id):
        if billing:
            address.is_default_billing = False
        if shipping:
            address.is_default_shipping = False
    await db.flush()


async def add_address(
    db: AsyncSession, *, customer: Customer, data: AddressIn, actor: Actor | None
) -> CustomerAddress:
    values = _address_values(data.model_dump(), region=customer.country)
    existing = await repository.addresses(db, customer.id)
    if not existing:  # the first address is the default for both
        values["is_default_billing"] = values["is_default_shipping"] = True
    await _clear_defaults(
        db,
        customer.id,
        billing=values["is_default_billing"],
        shipping=values["is_default_shipping"],
    )
    address = CustomerAddress(customer_id=customer.id, **values)
    db.add(address)
    await db.flush()
    await sync_country(db, customer)
    await _note_change(
        db, customer, actor, "address_added", f"Address added: {address.line1}, {address.city}"
    )
    return address


async def update_address(
    db: AsyncSession,
    *,
    customer: Customer,
    address_id: uuid.UUID,
    changes: Mapping[str, Any],
    actor: Actor,
) -> CustomerAddress:
    address = await repository.address(db, customer.id, address_id)
    values = _address_values(changes, region=customer.country)
    for field in ("is_default_billing", "is_default_shipping"):
        if values.get(field) is None:
            values.pop(field, None)
    await _clear_defaults(
        db,
        customer.id,
        billing=bool(values.get("is_default_billing")),
        shipping=bool(values.get("is_default_shipping")),
    )
    for field, value in values.items():
        if value is None and field != "phone":
            raise _invalid(f"address.{field}", f"{field} cannot be null.", "null_not_allowed")
        setattr(address, field, value)
    await db.flush()
    await sync_country(db, customer)
    await _note_change(
        db, customer, actor, "address_updated", f"Address updated: {address.line1}, {address.city}"
    )
    return address


async def remove_address(
    db: AsyncSession, *, customer: Customer, address_id: uuid.UUID, actor: Actor
) -> None:
    address = await repository.address(db, customer.id, address_id)
    await db.delete(address)
    await db.flush()
    await sync_country(db, customer)
    await _note_change(
        db, customer, actor, "address_removed", f"Address removed: {address.line1}, {address.city}"
    )


async def add_external_id(
    db: AsyncSession, *, customer: Customer, data: ExternalIdIn, actor: Actor | None
) -> CustomerExternalId:
    if await db.get(Channel, data.channel_id) is None:
        raise _invalid("channel_id", "There is no such channel.", "unknown_channel")
    holder = await repository.id_by_external_id(db, data.channel_id, data.external_id)
    if holder is not None:
        raise Conflict(
            "Another customer already has that external ID in this channel."
            if holder != customer.id
            else "The customer already has that external ID.",
            code="duplicate_external_id",
            details=[{"field": "external_id", "message": str(holder)}],
        )
    row = CustomerExternalId(
        customer_id=customer.id, channel_id=data.channel_id, external_id=data.external_id
    )
    db.add(row)
    await db.flush()
    await _note_change(
        db, customer, actor, "external_id_added", f"External ID {data.external_id} linked"
    )
    return row


async def set_consent(
    db: AsyncSession,
    *,
    customer: Customer,
    actor: Actor,
    channel: str,
    purpose: str = "marketing",
    status: str,
    source: str = "",
    form_text_version: str = "",
    ip: str | None = None,
) -> Consent:
    """Record a consent decision; the history keeps every change with how it was given."""
    if channel == "email" and status in ("subscribed", "pending") and not customer.email:
        raise _invalid("channel", "The customer has no email address.", "no_email_address")
    if channel == "sms" and status in ("subscribed", "pending") and not customer.phone:
        raise _invalid("channel", "The customer has no phone number.", "no_phone_number")
    consent = await repository.consent(db, customer.id, channel, purpose)
    previous = consent.status if consent is not None else None
    now = utcnow()
    if consent is None:
        consent = Consent(customer_id=customer.id, channel=channel, purpose=purpose)
        db.add(consent)
    elif previous == status and consent.source == source:
        return consent
    consent.status = status
    consent.changed_at = now
    consent.source = source
    consent.form_text_version = form_text_version
    consent.ip = ip
    db.add(
        ConsentEvent(
            customer_id=customer.id,
            channel=channel,
            purpose=purpose,
            status=status,
            previous_status=previous,
            occurred_at=now,
            source=source,
            form_text_version=form_text_version,
            ip=ip,
            actor_label=actor.label,
        )
    )
    await db.flush()
    await mark_customers_changed(db, [customer.id])
    details = {"channel": channel, "purpose": purpose, "from": previous, "to": status}
    await audit.record(
        db,
        action="customer.consent_changed",
        actor=actor,
        object_type="customer",
        object_id=customer.id,
        details={**details, "source": source},
    )
    label = status.replace("_", " ")
    await add_entry(
        db,
        customer_id=customer.id,
        kind="consent",
        summary=f"{channel.upper()} {purpose} consent: {label}"
        + (f" (via {source})" if source else ""),
        actor=actor,
        data=details,
    )
    return consent


async def apply_consents(
    db: AsyncSession, *, customer: Customer, actor: Actor, consents: Iterable[ConsentIn]
) -> None:
    for consent in consents:
        await set_consent(db, customer=customer, actor=actor, **consent.model_dump())
