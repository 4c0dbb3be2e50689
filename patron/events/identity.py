"""Finding the customer a storefront means, and creating them when the store knows them first.

Shared by tracking events and the order upsert. Look-ups are not record-scoped: a storefront
key sends what happened in the shop, whoever owns the customer in Patron.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth.principal import Principal
from patron.config import Settings
from patron.customers import repository as customers
from patron.customers import service as customer_service
from patron.customers.schemas import CustomerCreate, ExternalIdIn
from patron.errors import InvalidInput
from patron.events import repository
from patron.kit.contact import normalise_email
from patron.models import Customer

CREATED_SOURCE = "storefront"


@dataclass(frozen=True)
class CustomerRef:
    customer_id: uuid.UUID | None = None
    email: str | None = None
    external_id: str | None = None
    channel_id: uuid.UUID | None = None

    @property
    def given(self) -> bool:
        return bool(self.customer_id or self.email or self.external_id)


def _invalid(field: str, message: str, code: str) -> InvalidInput:
    return InvalidInput(message, code=code, details=[{"field": field, "message": message}])


def lock_keys(ref: CustomerRef) -> list[str]:
    """What a first sighting of this person locks: their email and their store id."""
    keys = []
    if ref.email:
        with contextlib.suppress(InvalidInput):  # refused later, with its field name
            keys.append(f"customer-email:{normalise_email(ref.email).lower()}")
    if ref.external_id is not None and "\x00" not in ref.external_id:
        keys.append(f"customer-external:{ref.channel_id}:{ref.external_id}")
    return keys


async def serialise(db: AsyncSession, keys: Iterable[str]) -> None:
    """Concurrent first sightings of one email or store id create one customer, not two.

    Locks are taken in one order, so that two batches naming the same people never deadlock.
    """
    for key in sorted(set(keys)):
        await db.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


async def _live(db: AsyncSession, customer_id: uuid.UUID) -> Customer | None:
    return await repository.live_customer(db, await customers.resolve_id(db, customer_id))


async def find_or_create(
    db: AsyncSession,
    settings: Settings,
    *,
    principal: Principal,
    ref: CustomerRef,
    prefix: str = "",
) -> Customer:
    """The customer ``ref`` names; an unknown email (with the store's id) becomes a customer."""
    if ref.customer_id is not None:
        customer = await _live(db, ref.customer_id)
        if customer is None:
            raise _invalid(f"{prefix}customer_id", "There is no such customer.", "unknown_customer")
        return customer
    if ref.external_id is not None and ref.channel_id is None:
        raise _invalid(
            f"{prefix}channel_id", "An external ID needs its channel_id.", "channel_required"
        )
    email = normalise_email(ref.email, field=f"{prefix}email") if ref.email else None
    await serialise(db, lock_keys(ref))
    found: uuid.UUID | None = None
    if ref.external_id is not None and ref.channel_id is not None:
        found = await customers.id_by_external_id(db, ref.channel_id, ref.external_id)
    linked = found is not None
    if found is None and email is not None:
        found = await customers.id_by_email(db, email)
    customer = await _live(db, found) if found is not None else None
    external = (
        ExternalIdIn(channel_id=ref.channel_id, external_id=ref.external_id)
        if ref.external_id is not None and ref.channel_id is not None
        else None
    )
    if customer is not None:
        if external is not None and not linked:
            await customer_service.add_external_id(db, customer=customer, data=external, actor=None)
        return customer
    if email is None:
        raise _invalid(
            f"{prefix}external_id",
            "No customer has this external ID; send their email so Patron can add them.",
            "unknown_customer",
        )
    return await customer_service.create_customer(
        db,
        settings,
        principal=principal,
        data=CustomerCreate(
            email=email, source=CREATED_SOURCE, external_ids=[external] if external else []
        ),
    )
