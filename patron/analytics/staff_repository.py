"""The queries of the staff report: who the rows are, and one query per measure.

A measure is a query returning ``(staff_id, value, ...)`` rows for a period (measures may share
one query and read different columns); the report joins them by staff member. The timeline
measures read ``staff_activity_daily`` (kept by triggers, migration 0024), the owned orders
``staff_owned_daily`` (migration 0027, :mod:`patron.analytics.staff_rollups`);
``OrderScope.rollups=False`` reads the timeline and the orders
instead (the tests hold the two equal). Later domains (deals won, tickets solved) add a
:class:`StaffMeasure` to :data:`STAFF_MEASURES` and every row, the API, the CSV and the panel
table get the column.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics.customers_repository import NET_SPENT, OrderScope
from patron.analytics.period import ReportPeriod
from patron.auth.principal import Principal
from patron.auth.scoping import visible_to
from patron.models import (
    Customer,
    Order,
    StaffActivityDaily,
    StaffOwnedDaily,
    StaffUser,
    Team,
    TimelineEntry,
)
from patron.models.timeline import STAFF_ACTORS

MeasureKind = Literal["count", "money"]


@dataclass(frozen=True)
class StaffMeasure:
    key: str
    label: str
    kind: MeasureKind
    query: Callable[[OrderScope, ReportPeriod], Select[uuid.UUID | None, Any]]
    column: int = 1  # measures sharing a query read their own column of its rows


def _entries(kind: str) -> Callable[[OrderScope, ReportPeriod], Select[uuid.UUID | None, Any]]:
    def query(scope: OrderScope, period: ReportPeriod) -> Select[uuid.UUID | None, Any]:
        if scope.rollups:
            return (
                select(StaffActivityDaily.actor_id, func.sum(StaffActivityDaily.n))
                .where(
                    StaffActivityDaily.kind == kind,
                    StaffActivityDaily.day.between(period.start, period.end),
                )
                .group_by(StaffActivityDaily.actor_id)
            )
        return (
            select(TimelineEntry.actor_id, func.count())
            .where(
                TimelineEntry.kind == kind,
                TimelineEntry.actor_type.in_(STAFF_ACTORS),
                TimelineEntry.occurred_at >= period.since,
                TimelineEntry.occurred_at < period.until,
            )
            .group_by(TimelineEntry.actor_id)
        )

    return query


def _customers_owned(scope: OrderScope, period: ReportPeriod) -> Select[uuid.UUID | None, Any]:
    return (
        select(Customer.owner_id, func.count())
        .where(Customer.merged_into_id.is_(None), Customer.owner_id.is_not(None))
        .group_by(Customer.owner_id)
    )


def _owned_orders(scope: OrderScope, period: ReportPeriod) -> Select[uuid.UUID | None, Any]:
    """The counted orders of a period and their net revenue, per owner of the ordering
    customer (the owner read now: a change of owner moves all of the customer's orders; a
    merged customer's orders, which the merge moves to the survivor, count for no owner):
    from ``staff_owned_daily`` (an index-only range per owner), or from the orders. Record
    scoping needs nothing more: it is by owner, and the report asks only for the owners the
    reader may see (:func:`staff_members`)."""
    if not scope.rollups:
        return (
            select(Customer.owner_id, func.count(), func.round(func.sum(NET_SPENT), 2))
            .select_from(Order)
            .join(Customer, Customer.id == Order.customer_id)
            .where(
                *scope.orders(),
                Customer.owner_id.is_not(None),
                Customer.merged_into_id.is_(None),
                Order.placed_at >= period.since,
                Order.placed_at < period.until,
            )
            .group_by(Customer.owner_id)
        )
    return (
        select(
            StaffOwnedDaily.owner_id,
            func.sum(StaffOwnedDaily.orders),
            func.round(func.sum(StaffOwnedDaily.net), 2),
        )
        .where(
            StaffOwnedDaily.channel_key == scope.channel_key,
            StaffOwnedDaily.day.between(period.start, period.end),
        )
        .group_by(StaffOwnedDaily.owner_id)
    )


STAFF_MEASURES: list[StaffMeasure] = [
    StaffMeasure("notes", "Notes written", "count", _entries("note")),
    StaffMeasure("calls", "Calls logged", "count", _entries("call")),
    StaffMeasure("meetings", "Meetings logged", "count", _entries("meeting")),
    StaffMeasure("emails_logged", "Emails logged", "count", _entries("email_logged")),
    StaffMeasure("customers_owned", "Customers owned", "count", _customers_owned),
    StaffMeasure("orders", "Orders of owned customers", "count", _owned_orders),
    StaffMeasure("revenue", "Revenue of owned customers", "money", _owned_orders, column=2),
]


@dataclass(frozen=True)
class StaffMember:
    id: uuid.UUID
    name: str
    email: str
    team: str | None
    is_active: bool


async def staff_members(db: AsyncSession, principal: Principal) -> list[StaffMember]:
    """The people the reader may report on: themselves (own), their team, or everyone."""
    rows = await db.execute(
        select(StaffUser.id, StaffUser.name, StaffUser.email, Team.name, StaffUser.is_active)
        .outerjoin(Team, Team.id == StaffUser.team_id)
        .where(StaffUser.kind == "person", visible_to(principal, owner=StaffUser.id))
        .order_by(StaffUser.name, StaffUser.id)
    )
    return [StaffMember(*row) for row in rows]


async def measure_values(
    db: AsyncSession, scope: OrderScope, period: ReportPeriod, staff_ids: list[uuid.UUID]
) -> dict[str, dict[uuid.UUID, int | Decimal]]:
    """Every measure's values by staff member (measures sharing a query run it once)."""
    values: dict[str, dict[uuid.UUID, int | Decimal]] = {}
    rows_of: dict[Any, list[Any]] = {}
    for measure in STAFF_MEASURES:
        if measure.query not in rows_of:
            query = measure.query(scope, period)
            staff_column = query.selected_columns[0]
            rows_of[measure.query] = list(
                await db.execute(query.where(staff_column.in_(staff_ids)))
            )
        values[measure.key] = {
            row[0]: row[measure.column]
            for row in rows_of[measure.query]
            if row[measure.column] is not None
        }
    return values
