"""Customer queries. Every read goes through :func:`visible_customers` (record scope)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth.principal import Principal
from patron.auth.scoping import visible_to
from patron.errors import NotFound
from patron.models import (
    Attachment,
    Cart,
    Consent,
    ConsentEvent,
    Customer,
    CustomerAddress,
    CustomerEmail,
    CustomerExternalId,
    CustomerMetrics,
    CustomerPhone,
    Order,
    TimelineEntry,
)

MAX_MERGE_HOPS = 10


def visible_customers(principal: Principal) -> Select[Customer]:
    """Live (not merged-away, not erased) customers the principal may see."""
    return scoped_customers(principal).where(Customer.erased_at.is_(None))


def scoped_customers(principal: Principal) -> Select[Customer]:
    """Unmerged customers the principal may see, erased tombstones included."""
    return select(Customer).where(
        Customer.merged_into_id.is_(None), visible_to(principal, owner=Customer.owner_id)
    )


async def resolve_id(db: AsyncSession, customer_id: uuid.UUID) -> uuid.UUID:
    """The surviving customer's id: a merged customer's old id keeps resolving."""
    current = customer_id
    for _ in range(MAX_MERGE_HOPS):
        merged_into = await db.scalar(select(Customer.merged_into_id).where(Customer.id == current))
        if merged_into is None:
            return current
        current = merged_into
    return current


async def get_for(
    db: AsyncSession, principal: Principal, customer_id: uuid.UUID, *, for_update: bool = False
) -> Customer:
    """The customer (or the survivor of a merge) if the principal may see it, else 404;
    an erased customer (or an id merged into one) is a 404 saying so."""
    query = scoped_customers(principal).where(Customer.id == await resolve_id(db, customer_id))
    if for_update:
        query = query.with_for_update()
    customer = await db.scalar(query)
    if customer is None:
        raise NotFound("No such customer.", code="customer_not_found")
    if customer.erased_at is not None:
        raise NotFound("This customer's personal data was erased.", code="customer_erased")
    return customer


def _live_with_email(email: str) -> ColumnElement[bool]:
    return (Customer.email == email) & Customer.merged_into_id.is_(None)


def _external_id_is(channel_id: uuid.UUID, external_id: str) -> ColumnElement[bool]:
    return (CustomerExternalId.channel_id == channel_id) & (
        CustomerExternalId.external_id == external_id
    )


async def id_by_email(db: AsyncSession, email: str) -> uuid.UUID | None:
    """The live customer whose primary email this is."""
    return await db.scalar(select(Customer.id).where(_live_with_email(email)))


async def by_email(db: AsyncSession, email: str) -> Customer | None:
    """:func:`id_by_email`'s customer, read by the same query."""
    return await db.scalar(select(Customer).where(_live_with_email(email)))


async def id_by_external_id(
    db: AsyncSession, channel_id: uuid.UUID, external_id: str
) -> uuid.UUID | None:
    return await db.scalar(
        select(CustomerExternalId.customer_id).where(_external_id_is(channel_id, external_id))
    )


async def by_external_id(
    db: AsyncSession, channel_id: uuid.UUID, external_id: str
) -> Customer | None:
    """:func:`id_by_external_id`'s customer, read by the same query."""
    return await db.scalar(
        select(Customer)
        .join(CustomerExternalId, CustomerExternalId.customer_id == Customer.id)
        .where(_external_id_is(channel_id, external_id))
    )


async def has_other_email(db: AsyncSession, customer_id: uuid.UUID, email: str) -> bool:
    found = await db.scalar(
        select(CustomerEmail.id).where(
            CustomerEmail.customer_id == customer_id, CustomerEmail.email == email
        )
    )
    return found is not None


async def has_other_phone(db: AsyncSession, customer_id: uuid.UUID, phone: str) -> bool:
    found = await db.scalar(
        select(CustomerPhone.id).where(
            CustomerPhone.customer_id == customer_id, CustomerPhone.phone == phone
        )
    )
    return found is not None


async def other_contact(
    db: AsyncSession, customer_id: uuid.UUID, contact_id: uuid.UUID
) -> CustomerEmail | CustomerPhone | None:
    email = await db.get(CustomerEmail, contact_id)
    if email is not None and email.customer_id == customer_id:
        return email
    phone = await db.get(CustomerPhone, contact_id)
    if phone is not None and phone.customer_id == customer_id:
        return phone
    return None


async def other_emails(db: AsyncSession, customer_id: uuid.UUID) -> list[CustomerEmail]:
    rows = await db.scalars(
        select(CustomerEmail)
        .where(CustomerEmail.customer_id == customer_id)
        .order_by(CustomerEmail.created_at)
    )
    return list(rows)


async def other_phones(db: AsyncSession, customer_id: uuid.UUID) -> list[CustomerPhone]:
    rows = await db.scalars(
        select(CustomerPhone)
        .where(CustomerPhone.customer_id == customer_id)
        .order_by(CustomerPhone.created_at)
    )
    return list(rows)


async def addresses(db: AsyncSession, customer_id: uuid.UUID) -> list[CustomerAddress]:
    rows = await db.scalars(
        select(CustomerAddress)
        .where(CustomerAddress.customer_id == customer_id)
        .order_by(
            CustomerAddress.is_default_shipping.desc(),
            CustomerAddress.is_default_billing.desc(),
            CustomerAddress.created_at,
        )
    )
    return list(rows)


async def address(
    db: AsyncSession, customer_id: uuid.UUID, address_id: uuid.UUID
) -> CustomerAddress:
    found = await db.get(CustomerAddress, address_id)
    if found is None or found.customer_id != customer_id:
        raise NotFound("No such address on this customer.", code="address_not_found")
    return found


async def main_country(db: AsyncSession, customer_id: uuid.UUID) -> str | None:
    ordered = await addresses(db, customer_id)
    return ordered[0].country if ordered else None


async def external_ids(db: AsyncSession, customer_id: uuid.UUID) -> list[CustomerExternalId]:
    rows = await db.scalars(
        select(CustomerExternalId)
        .where(CustomerExternalId.customer_id == customer_id)
        .order_by(CustomerExternalId.created_at)
    )
    return list(rows)


async def consent(
    db: AsyncSession, customer_id: uuid.UUID, channel: str, purpose: str
) -> Consent | None:
    return await db.scalar(
        select(Consent).where(
            Consent.customer_id == customer_id,
            Consent.channel == channel,
            Consent.purpose == purpose,
        )
    )


async def consents(db: AsyncSession, customer_id: uuid.UUID) -> list[Consent]:
    rows = await db.scalars(
        select(Consent)
        .where(Consent.customer_id == customer_id)
        .order_by(Consent.channel, Consent.purpose)
    )
    return list(rows)


async def consent_history(
    db: AsyncSession, customer_id: uuid.UUID, *, limit: int = 200
) -> list[ConsentEvent]:
    rows = await db.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.customer_id == customer_id)
        .order_by(ConsentEvent.occurred_at.desc(), ConsentEvent.id.desc())
        .limit(limit)
    )
    return list(rows)


async def metrics_for(
    db: AsyncSession, customer_ids: list[uuid.UUID]
) -> dict[uuid.UUID, CustomerMetrics]:
    if not customer_ids:
        return {}
    rows = await db.scalars(
        select(CustomerMetrics).where(CustomerMetrics.customer_id.in_(customer_ids))
    )
    return {row.customer_id: row for row in rows}


async def main_addresses(
    db: AsyncSession, customer_ids: list[uuid.UUID]
) -> dict[uuid.UUID, CustomerAddress]:
    """Each customer's main address (default shipping first, then billing, then oldest)."""
    if not customer_ids:
        return {}
    rows = await db.scalars(
        select(CustomerAddress)
        .where(CustomerAddress.customer_id.in_(customer_ids))
        .order_by(
            CustomerAddress.customer_id,
            CustomerAddress.is_default_shipping.desc(),
            CustomerAddress.is_default_billing.desc(),
            CustomerAddress.created_at,
        )
        .ext(distinct_on(CustomerAddress.customer_id))
    )
    return {row.customer_id: row for row in rows}


async def belongings(db: AsyncSession, customer_id: uuid.UUID) -> dict[str, int]:
    """How many records of each kind hang off a customer (what a merge moves)."""

    def count(model: Any, *where: Any) -> Any:
        return (
            select(func.count())
            .select_from(model)
            .where(model.customer_id == customer_id, *where)
            .scalar_subquery()
        )

    row = (
        await db.execute(
            select(
                count(Order).label("orders"),
                count(Cart).label("carts"),
                count(TimelineEntry, TimelineEntry.kind == "note").label("notes"),
                count(TimelineEntry).label("timeline"),
                count(Attachment).label("files"),
                count(CustomerAddress).label("addresses"),
                count(Consent).label("consents"),
                count(CustomerExternalId).label("external_ids"),
                count(CustomerEmail).label("emails"),
                count(CustomerPhone).label("phones"),
            )
        )
    ).one()
    return {key: int(value) for key, value in row._mapping.items()}
