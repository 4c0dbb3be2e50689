"""Segment queries: the members of an expression, counted under a statement timeout."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Select,
    Uuid,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    union,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth.principal import Principal
from patron.config import get_settings
from patron.customers.repository import visible_customers
from patron.db.timeouts import statement_timeout
from patron.errors import NotFound
from patron.kit.pagination import PageParams, paginate
from patron.models import (
    Customer,
    CustomerMetrics,
    CustomFieldDefinition,
    Segment,
    SegmentChangedCustomer,
    SegmentMember,
    SegmentMembershipChange,
    SegmentSize,
)
from patron.segments.dependencies import Definition, dependency_order
from patron.segments.errors import SegmentTimeout
from patron.segments.fields import Catalog, catalog_of

TIMEOUT_MS = 5_000


async def load_catalog(db: AsyncSession) -> Catalog:
    definitions = await db.scalars(
        select(CustomFieldDefinition).where(CustomFieldDefinition.entity == "customer")
    )
    segments = dict((await db.execute(select(Segment.name, Segment.id))).all())
    return catalog_of(list(definitions), segments)


def all_member_ids(condition: ColumnElement[bool]) -> Select[uuid.UUID]:
    """Ids of every live customer meeting ``condition`` (a segment's own membership)."""
    return (
        select(Customer.id)
        .outerjoin(CustomerMetrics, CustomerMetrics.customer_id == Customer.id)
        .where(Customer.merged_into_id.is_(None), Customer.erased_at.is_(None), condition)
    )


def member_ids(principal: Principal, condition: ColumnElement[bool]) -> Select[uuid.UUID]:
    """Ids of the live customers the principal may see that meet ``condition``."""
    return (
        visible_customers(principal)
        .with_only_columns(Customer.id)
        .outerjoin(CustomerMetrics, CustomerMetrics.customer_id == Customer.id)
        .where(condition)
    )


def member_queries(
    principal: Principal, conditions: Sequence[ColumnElement[bool]]
) -> list[Select[uuid.UUID]]:
    """:func:`member_ids` of each condition (a compiled expression's ``alternatives``)."""
    return [member_ids(principal, condition) for condition in conditions]


async def tune_for_segments(db: AsyncSession) -> None:
    """Planner settings for evaluating segments, local to the transaction: JIT off (compiling
    a segment's many expressions cost seconds more than it saved: the nested benchmark case
    spent 5.5 s of 6.7 s in JIT), and ``work_mem`` raised to ``PATRON_SEGMENT_WORK_MEM_MB``:
    under an ``or`` PostgreSQL hashes a condition's set only when its estimated size fits
    (at the 4 MB default, up to about 200,000 estimated customers), else it looks the set up
    once per customer (at a tenth of full scale already 1.2 s instead of 0.4 s for the nested
    benchmark segment when the set did not fit)."""
    work_mem = f"{get_settings().segment_work_mem_mb}MB"
    await db.execute(
        select(func.set_config("jit", "off", True), func.set_config("work_mem", work_mem, True))
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
    queries: Sequence[Select[uuid.UUID]],
    *,
    limit: int = 20,
    timeout_ms: int = TIMEOUT_MS,
) -> Preview:
    """The count and the first ``limit`` members (oldest first), or ``segment_timeout``.

    The members are those of every query in ``queries`` (see
    :func:`patron.segments.compiler.branches`). Of several, each query's own first
    ``limit`` ids (in id order, so each may stop early) hold the union's first ``limit``.
    """
    if len(queries) == 1:
        members = queries[0].subquery()
        first = members
    else:
        members = union(*queries).subquery()
        firsts = [query.order_by(Customer.id).limit(limit) for query in queries]
        first = union(*(select(query.subquery()) for query in firsts)).subquery()
    page = (
        select(Customer, func.coalesce(CustomerMetrics.total_spent, 0))
        .join(first, first.c.id == Customer.id)
        .outerjoin(CustomerMetrics, CustomerMetrics.customer_id == Customer.id)
        .order_by(Customer.id)
        .limit(limit)
    )

    def timed_out() -> SegmentTimeout:
        return SegmentTimeout(
            f"Counting this segment took longer than {timeout_ms / 1000:g} s; "
            "narrow it down or try again later.",
            headers={"Retry-After": "30"},
        )

    async with statement_timeout(db, timeout_ms, timed_out):
        await tune_for_segments(db)
        count = await db.scalar(select(func.count()).select_from(members))
        rows = (await db.execute(page)).all()
    return Preview(
        count=int(count or 0),
        members=[
            Member(c.id, c.name, c.email, c.lifecycle_stage, Decimal(spent)) for c, spent in rows
        ],
    )


# -- saved segments ----------------------------------------------------------------------------


async def segments(db: AsyncSession) -> list[Segment]:
    return list(await db.scalars(select(Segment).order_by(Segment.name)))


async def segments_page(
    db: AsyncSession, page: PageParams, *, search: str = ""
) -> tuple[list[Segment], str | None]:
    """Saved segments by name, those whose name contains ``search`` (keyset pages)."""
    query = select(Segment)
    if search:
        query = query.where(Segment.name.contains(search, autoescape=True))
    return await paginate(
        db, query, order=[Segment.name, Segment.id], params=page, descending=False
    )


async def segment_names(db: AsyncSession) -> list[str]:
    return list(await db.scalars(select(Segment.name).order_by(Segment.name)))


async def get_segment(
    db: AsyncSession, segment_id: uuid.UUID, *, for_update: bool = False
) -> Segment:
    query = select(Segment).where(Segment.id == segment_id)
    segment = await db.scalar(query.with_for_update() if for_update else query)
    if segment is None:
        raise NotFound("No such segment.", code="segment_not_found")
    return segment


async def name_taken(db: AsyncSession, name: str, *, other_than: uuid.UUID | None = None) -> bool:
    query = select(Segment.id).where(Segment.name == name)
    if other_than is not None:
        query = query.where(Segment.id != other_than)
    return await db.scalar(query) is not None


async def add_members(
    db: AsyncSession, segment_id: uuid.UUID, ids: Select[uuid.UUID]
) -> list[uuid.UUID]:
    """Adds the customers of ``ids``; returns those that were not members yet."""
    found = ids.subquery()
    statement = (
        pg_insert(SegmentMember)
        .from_select(["segment_id", "customer_id"], select(literal(segment_id, Uuid), found.c.id))
        .on_conflict_do_nothing()
        .returning(SegmentMember.customer_id)
    )
    return list(await db.scalars(statement))


async def remove_members(
    db: AsyncSession,
    segment_id: uuid.UUID,
    *,
    keep: Select[uuid.UUID] | None = None,
    drop: list[uuid.UUID] | None = None,
) -> list[uuid.UUID]:
    """Removes the members not in ``keep`` (and, when given, in ``drop``); returns who left."""
    statement = delete(SegmentMember).where(SegmentMember.segment_id == segment_id)
    if keep is not None:
        statement = statement.where(SegmentMember.customer_id.not_in(keep))
    if drop is not None:
        statement = statement.where(SegmentMember.customer_id.in_(drop))
    return list(await db.scalars(statement.returning(SegmentMember.customer_id)))


def _each(ids: list[uuid.UUID]) -> ColumnElement[Any]:
    """One row per id, from one array parameter (``unnest``)."""
    return func.unnest(bindparam("ids", ids, type_=ARRAY(Uuid)))


async def record_changes(
    db: AsyncSession, segment_id: uuid.UUID, *, entered: list[uuid.UUID], exited: list[uuid.UUID]
) -> int:
    """Writes the entered/exited rows and a size row; returns the size.

    Each kind of change in one INSERT from an array (an executemany is one INSERT per row with
    psycopg: 4.5 s for the 65,000 customers entering a segment at full scale)."""
    for change, ids in (("entered", entered), ("exited", exited)):
        if not ids:
            continue
        rows = select(literal(segment_id, Uuid), _each(ids), literal(change))
        await db.execute(
            insert(SegmentMembershipChange).from_select(
                ["segment_id", "customer_id", "change"], rows
            )
        )
    size = await db.scalar(
        select(func.count())
        .select_from(SegmentMember)
        .where(SegmentMember.segment_id == segment_id)
    )
    db.add(
        SegmentSize(segment_id=segment_id, size=size or 0, entered=len(entered), exited=len(exited))
    )
    return int(size or 0)


async def members_page(
    db: AsyncSession, principal: Principal, segment_id: uuid.UUID, page: PageParams
) -> tuple[list[Customer], str | None]:
    """The members the principal may see, by customer id (keyset pages)."""
    members = select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment_id)
    query = visible_customers(principal).where(Customer.id.in_(members))
    return await paginate(db, query, order=[Customer.id], params=page, descending=False)


async def sizes(db: AsyncSession, segment_id: uuid.UUID, *, limit: int = 365) -> list[SegmentSize]:
    query = (
        select(SegmentSize)
        .where(SegmentSize.segment_id == segment_id)
        .order_by(SegmentSize.recorded_at.desc(), SegmentSize.id.desc())
        .limit(limit)
    )
    return list(await db.scalars(query))


async def definitions(db: AsyncSession) -> list[Definition]:
    """Every saved segment's id, name and stored tree."""
    rows = await db.execute(select(Segment.id, Segment.name, Segment.ast))
    return [Definition(row.id, row.name, row.ast) for row in rows]


async def dynamic_segment_ids(db: AsyncSession) -> list[uuid.UUID]:
    """The dynamic segments, each after the segments it names (see ``dependency_order``)."""
    rows = await db.execute(
        select(Segment.id, Segment.name, Segment.ast).where(Segment.kind == "dynamic")
    )
    ordered = dependency_order(Definition(row.id, row.name, row.ast) for row in rows)
    return [segment.id for segment in ordered]


@dataclass(frozen=True)
class Change:
    customer_id: uuid.UUID
    name: str
    email: str | None
    change: str
    occurred_at: datetime


async def recent_changes(
    db: AsyncSession, principal: Principal, segment_id: uuid.UUID, *, limit: int = 20
) -> list[Change]:
    """The latest customers who entered or left, of those the principal may see."""
    visible = visible_customers(principal).subquery()
    query = (
        select(SegmentMembershipChange, Customer)
        .join(visible, visible.c.id == SegmentMembershipChange.customer_id)
        .join(Customer, Customer.id == SegmentMembershipChange.customer_id)
        .where(SegmentMembershipChange.segment_id == segment_id)
        .order_by(SegmentMembershipChange.occurred_at.desc(), SegmentMembershipChange.id.desc())
        .limit(limit)
    )
    return [
        Change(customer.id, customer.name, customer.email, row.change, row.occurred_at)
        for row, customer in (await db.execute(query)).all()
    ]


async def dynamic_segments(db: AsyncSession) -> list[Segment]:
    """Every dynamic segment, locked (in id order) against a concurrent refresh, and returned
    each after the segments it names, so a chain of them moves in one pass."""
    query = select(Segment).where(Segment.kind == "dynamic").order_by(Segment.id)
    return dependency_order(await db.scalars(query.with_for_update()))


# -- customers changed since dynamic segments last looked at them -----------------------------


async def mark_changed(db: AsyncSession, customer_ids: list[uuid.UUID]) -> None:
    """Marks the customers as changed. An existing mark is updated, not skipped: that locks
    it until this transaction ends, so the job cannot take it before seeing this change."""
    ids = select(_each(sorted(customer_ids)).label("id")).order_by("id")
    statement = pg_insert(SegmentChangedCustomer).from_select(["customer_id"], ids)
    await db.execute(
        statement.on_conflict_do_update(
            index_elements=[SegmentChangedCustomer.customer_id], set_={"marked_at": func.now()}
        )
    )


async def mark_selected_changed(db: AsyncSession, selected: Select[tuple[uuid.UUID]]) -> int:
    """Marks the customers a query selects (one id column; NULLs and repeats are ignored)
    without fetching them first, as :func:`mark_changed` does; returns how many."""
    found = selected.subquery()
    ids = found.c[0]
    statement = pg_insert(SegmentChangedCustomer).from_select(
        ["customer_id"], select(ids).where(ids.is_not(None)).distinct().order_by(ids)
    )
    result = await db.execute(
        statement.on_conflict_do_update(
            index_elements=[SegmentChangedCustomer.customer_id], set_={"marked_at": func.now()}
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def take_changed(db: AsyncSession, *, limit: int) -> list[uuid.UUID]:
    """Removes and returns up to ``limit`` marked customers; waits for marks still being
    written by open transactions."""
    batch = (
        select(SegmentChangedCustomer.customer_id)
        .order_by(SegmentChangedCustomer.customer_id)
        .limit(limit)
        .with_for_update()
    )
    statement = (
        delete(SegmentChangedCustomer)
        .where(SegmentChangedCustomer.customer_id.in_(batch.scalar_subquery()))
        .returning(SegmentChangedCustomer.customer_id)
    )
    return list(await db.scalars(statement))
