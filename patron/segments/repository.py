"""Segment queries: the members of an expression, counted under a statement timeout."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth.principal import Principal
from patron.customers.repository import visible_customers
from patron.models import Customer, CustomerMetrics, CustomFieldDefinition
from patron.segments.errors import SegmentTimeout
from patron.segments.fields import Catalog, catalog_of

TIMEOUT_MS = 5_000


async def load_catalog(db: AsyncSession) -> Catalog:
    definitions = await db.scalars(
        select(CustomFieldDefinition).where(CustomFieldDefinition.entity == "customer")
    )
    return catalog_of(list(definitions))


def member_ids(principal: Principal, condition: ColumnElement[bool]) -> Select[uuid.UUID]:
    """Ids of the live customers the principal may see that meet ``condition``."""
    return (
        visible_customers(principal)
        .with_only_columns(Customer.id)
        .outerjoin(CustomerMetrics, CustomerMetrics.customer_id == Customer.id)
        .where(condition)
    )


@dataclass(frozen=True)
class Member:
    id: uuid.UUID
    name: str
    email: str | None
    lifecycle: str
    total_spent: Decimal


@dataclass(frozen=True)
class Preview:
    count: int
    members: list[Member]


async def preview(
    db: AsyncSession,
    query: Select[uuid.UUID],
    *,
    limit: int = 20,
    timeout_ms: int = TIMEOUT_MS,
) -> Preview:
    """The count and the first ``limit`` members (oldest first), or ``segment_timeout``."""
    members = query.subquery()
    page = (
        select(Customer, func.coalesce(CustomerMetrics.total_spent, 0))
        .join(members, members.c.id == Customer.id)
        .outerjoin(CustomerMetrics, CustomerMetrics.customer_id == Customer.id)
        .order_by(Customer.id)
        .limit(limit)
    )
    try:
        async with db.begin_nested():
            previous = await db.scalar(select(func.current_setting("statement_timeout")))
            await db.execute(select(func.set_config("statement_timeout", str(timeout_ms), True)))
            count = await db.scalar(select(func.count()).select_from(members))
            rows = (await db.execute(page)).all()
            await db.execute(select(func.set_config("statement_timeout", previous, True)))
    except OperationalError as error:
        if getattr(error.orig, "sqlstate", None) == "57014":  # query_canceled
            raise SegmentTimeout(
                f"Counting this segment took longer than {timeout_ms / 1000:g} s; "
                "narrow it down or try again later.",
                headers={"Retry-After": "30"},
            ) from None
        raise
    return Preview(
        count=int(count or 0),
        members=[
            Member(c.id, c.name, c.email, c.lifecycle_stage, Decimal(spent)) for c, spent in rows
        ],
    )
