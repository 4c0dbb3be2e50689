"""Customer queries. Every read goes through :func:`visible_customers` (record scope)."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth.principal import Principal
from patron.auth.scoping import visible_to
from patron.errors import NotFound
from patron.models import Customer

MAX_MERGE_HOPS = 10


def visible_customers(principal: Principal) -> Select[tuple[Customer]]:
    """Live (not merged-away) customers the principal may see."""
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
    """The customer (or the survivor of a merge) if the principal may see it, else 404."""
    query = visible_customers(principal).where(Customer.id == await resolve_id(db, customer_id))
    if for_update:
        query = query.with_for_update()
    customer = await db.scalar(query)
    if customer is None:
        raise NotFound("No such customer.", code="customer_not_found")
    return customer
