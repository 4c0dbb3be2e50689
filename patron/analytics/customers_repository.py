"""The queries of the customer and cohort reports: each figure is one set-based statement.

Every report counts the same orders (:class:`OrderScope`): not cancelled, in the chosen
channel, of customers the reader may see (record scope through the customer's owner, as
everywhere else). A customer's *first order* is their earliest counted order; without a
channel it comes from ``customer_metrics.first_order_at`` (kept current by every order change,
indexed), with a channel from one ``GROUP BY`` over that channel's orders.

A reader who sees every customer gets the same figures from the rollups of
:mod:`patron.analytics.customer_rollups` (a few thousand rows instead of the period's orders);
a reader limited to some customers gets them from the orders of those customers (the rollups
are global), so both paths stay and the tests hold them equal.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Date,
    DateTime,
    Select,
    SQLColumnExpression,
    Subquery,
    and_,
    cast,
    extract,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics.period import InvalidPeriod, ReportPeriod
from patron.auth.principal import Principal
from patron.auth.scoping import visible_to
from patron.models import (
    Channel,
    Customer,
    CustomerCohortDaily,
    CustomerMetrics,
    CustomerOrderFact,
    CustomerOrdersDaily,
    Order,
)
from patron.models.reports import ALL_CHANNELS
from patron.orders.repository import channel_by_name

# what a customer really paid for an order, in the shop currency
NET_SPENT = (Order.total - Order.refunded_total) * Order.exchange_rate
RETENTION_MONTHS = 12
_N = TypeVar("_N", int, Decimal)


def utc_day(column: SQLColumnExpression[datetime], grain: str) -> ColumnElement[date]:
    """The first day of the UTC day, week (Monday) or month ``column`` falls in."""
    return cast(func.date_trunc(grain, func.timezone("UTC", column)), Date)


async def find_channel(db: AsyncSession, value: str | None) -> uuid.UUID | None:
    """The channel a report's ``channel`` parameter names (its name or id)."""
    if value is None:
        return None
    try:
        found = await db.scalar(select(Channel.id).where(Channel.id == uuid.UUID(value)))
    except ValueError:
        channel = await channel_by_name(db, value)
        found = channel.id if channel else None
    if found is None:
        raise InvalidPeriod(
            f"There is no sales channel named '{value}'.",
            details=[{"field": "channel", "value": value}],
        )
    return found


def visible_customer_ids(principal: Principal) -> Select[uuid.UUID] | None:
    """The customers the reader may see, or None when they see every customer."""
    if principal.record_scope == "all":
        return None
    return select(Customer.id).where(
        Customer.merged_into_id.is_(None), visible_to(principal, owner=Customer.owner_id)
    )


@dataclass(frozen=True)
class OrderScope:
    """The orders a report counts."""

    principal: Principal
    channel_id: uuid.UUID | None = None
    rollups: bool = True  # False: always from the orders (the tests compare the two)

    @property
    def rolled_up(self) -> bool:
        """Whether the rollups answer for this reader (they see every customer)."""
        return self.rollups and self.principal.record_scope == "all"

    @property
    def channel_key(self) -> uuid.UUID:
        return self.channel_id or ALL_CHANNELS

    def orders(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = [Order.cancelled_at.is_(None)]
        if self.channel_id is not None:
            conditions.append(Order.channel_id == self.channel_id)
        visible = visible_customer_ids(self.principal)
        if visible is not None:
            conditions.append(Order.customer_id.in_(visible))
        return conditions

    def first_orders(self) -> Subquery:
        """``(customer_id, first_at)`` of every customer with a counted order."""
        if self.channel_id is not None:
            return (
                select(Order.customer_id, func.min(Order.placed_at).label("first_at"))
                .where(*self.orders())
                .group_by(Order.customer_id)
                .subquery("first_orders")
            )
        query = select(
            CustomerMetrics.customer_id, CustomerMetrics.first_order_at.label("first_at")
        ).where(CustomerMetrics.first_order_at.is_not(None))
        visible = visible_customer_ids(self.principal)
        if visible is not None:
            query = query.where(CustomerMetrics.customer_id.in_(visible))
        return query.subquery("first_orders")


# -- the customers report ---------------------------------------------------------------------


@dataclass(frozen=True)
class BucketActivity:
    bucket: date
    new_customers: int
    returning_customers: int
    orders: int


async def activity_by_bucket(
    db: AsyncSession, scope: OrderScope, period: ReportPeriod
) -> list[BucketActivity]:
    """Per bucket: customers whose first order is in it, customers who had ordered before it
    (or before the period) and order again in it, and the orders."""
    if scope.rolled_up:
        return await _rolled_activity(db, scope, period)
    firsts = scope.first_orders()
    bucket = utc_day(Order.placed_at, period.grain)
    is_new = and_(
        firsts.c.first_at >= period.since, utc_day(firsts.c.first_at, period.grain) == bucket
    )
    rows = await db.execute(
        select(
            bucket.label("bucket"),
            func.count(Order.customer_id.distinct()).filter(is_new),
            func.count(Order.customer_id.distinct()).filter(~is_new),
            func.count(),
        )
        .join(firsts, firsts.c.customer_id == Order.customer_id)
        .where(*scope.orders(), Order.placed_at >= period.since, Order.placed_at < period.until)
        .group_by(bucket)
    )
    return [BucketActivity(b, int(new), int(back), int(n)) for b, new, back, n in rows]


@dataclass(frozen=True)
class PeriodCustomers:
    """The customers who ordered in a period."""

    ordered: int
    new: int
    returning: int
    repeat: int  # with two or more counted orders by the end of the period
    orders: int


async def period_customers(
    db: AsyncSession, scope: OrderScope, *periods: ReportPeriod
) -> list[PeriodCustomers]:
    """The customers who ordered in each of these periods (from the rollups: one statement)."""
    if scope.rolled_up:
        return await _rolled_period_customers(db, scope, periods)
    return [await _period_customers(db, scope, period) for period in periods]


async def _period_customers(
    db: AsyncSession, scope: OrderScope, period: ReportPeriod
) -> PeriodCustomers:
    firsts = scope.first_orders()
    per_customer = (
        select(
            Order.customer_id,
            func.min(firsts.c.first_at).label("first_at"),
            func.count().label("orders"),
        )
        .join(firsts, firsts.c.customer_id == Order.customer_id)
        .where(*scope.orders(), Order.placed_at >= period.since, Order.placed_at < period.until)
        .group_by(Order.customer_id)
        .subquery()
    )
    earlier = per_customer.c.first_at < period.since
    # an earlier first order means a second order; otherwise all of them are in the period
    repeat = or_(earlier, per_customer.c.orders >= 2)
    row = (
        await db.execute(
            select(
                func.count(),
                func.count().filter(~earlier),
                func.count().filter(earlier),
                func.count().filter(repeat),
                func.coalesce(func.sum(per_customer.c.orders), 0),
            )
        )
    ).one()
    return PeriodCustomers(*(int(value) for value in row))


@dataclass(frozen=True)
class Spend:
    customers: int
    net_spent: Decimal


async def spend_by(db: AsyncSession, scope: OrderScope, *untils: datetime) -> list[Spend]:
    """For each instant: what every customer who had ordered before it had spent by then (net
    of refunds, shop currency). From the orders: one sum over them, the customers counted
    from their first orders; from the rollups: one statement for every instant."""
    if scope.rolled_up:
        return await _rolled_spend(db, scope, untils)
    firsts = scope.first_orders()
    spent = []
    for until in untils:
        net = await db.scalar(
            select(func.coalesce(func.sum(NET_SPENT), 0)).where(
                *scope.orders(), Order.placed_at < until
            )
        )
        customers = await db.scalar(
            select(func.count()).select_from(firsts).where(firsts.c.first_at < until)
        )
        spent.append(Spend(int(customers or 0), Decimal(net or 0)))
    return spent


async def spend_by_cohort(
    db: AsyncSession, scope: OrderScope, period: ReportPeriod
) -> dict[date, Spend]:
    """Per bucket of the period: the customers whose first order is in it, and what they had
    spent by the end of the period."""
    if scope.rolled_up:
        return await _rolled_spend_by_cohort(db, scope, period)
    firsts = scope.first_orders()
    cohort = utc_day(firsts.c.first_at, period.grain)
    rows = await db.execute(
        select(cohort, func.count(Order.customer_id.distinct()), func.sum(NET_SPENT))
        .join(firsts, firsts.c.customer_id == Order.customer_id)
        .where(
            *scope.orders(),
            firsts.c.first_at >= period.since,
            firsts.c.first_at < period.until,
            Order.placed_at < period.until,
        )
        .group_by(cohort)
    )
    return {day: Spend(int(n), Decimal(net)) for day, n, net in rows}


async def signups_by_bucket(
    db: AsyncSession, principal: Principal, period: ReportPeriod, previous: ReportPeriod
) -> tuple[dict[date, int], int]:
    """Customers created per bucket of ``period`` (live ones, which the reader may see), and
    in all of ``previous`` (which ends where ``period`` starts): one statement."""
    bucket = utc_day(Customer.created_at, period.grain)
    in_period = Customer.created_at >= period.since
    rows = await db.execute(
        select(bucket, func.count().filter(in_period), func.count().filter(~in_period))
        .where(
            Customer.merged_into_id.is_(None),
            visible_to(principal, owner=Customer.owner_id),
            Customer.created_at >= previous.since,
            Customer.created_at < period.until,
        )
        .group_by(bucket)
    )
    signups: dict[date, int] = {}
    before = 0
    for day, count, earlier in rows:
        if count:
            signups[day] = int(count)
        before += int(earlier)
    return signups, before


async def churned_customers(db: AsyncSession, scope: OrderScope) -> tuple[int, int]:
    """(customers now in the churned stage, customers who ever placed a counted order)."""
    if scope.rolled_up:
        return await _rolled_churned(db, scope)
    firsts = scope.first_orders()
    row = (
        await db.execute(
            select(
                func.count().filter(Customer.lifecycle_stage == "churned"),
                func.count(),
            )
            .select_from(Customer)
            .join(firsts, firsts.c.customer_id == Customer.id)
            .where(Customer.merged_into_id.is_(None))
        )
    ).one()
    return int(row[0]), int(row[1])


# -- the cohort matrix ------------------------------------------------------------------------


async def cohort_activity(
    db: AsyncSession, scope: OrderScope, first_month: date, last_month: date
) -> dict[tuple[date, int], int]:
    """For cohorts by first-order month from ``first_month`` to ``last_month``: how many of
    each cohort ordered in its month +0 (everyone: the cohort's size), +1, ... +12."""
    if scope.rolled_up:
        return await _rolled_cohort_activity(db, scope, first_month, last_month)
    firsts = scope.first_orders()
    cohort_start = func.date_trunc("month", func.timezone("UTC", firsts.c.first_at))
    placed = func.timezone("UTC", Order.placed_at)
    offset = (extract("year", placed) - extract("year", cohort_start)) * 12 + (
        extract("month", placed) - extract("month", cohort_start)
    )
    after_last = next_month(last_month)
    rows = await db.execute(
        select(
            cast(cohort_start, Date).label("cohort"),
            offset.label("offset"),
            func.count(Order.customer_id.distinct()),
        )
        .join(firsts, firsts.c.customer_id == Order.customer_id)
        .where(
            *scope.orders(),
            firsts.c.first_at >= _instant(first_month),
            firsts.c.first_at < _instant(after_last),
            placed < cohort_start + func.make_interval(0, RETENTION_MONTHS + 1),
        )
        .group_by("cohort", "offset")
    )
    return {(cohort, int(months)): int(count) for cohort, months, count in rows}


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _instant(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


# -- the same figures from the rollups (readers who see every customer) ----------------------

_DAILY = CustomerOrdersDaily
_COHORT = CustomerCohortDaily


def _day_bucket(column: SQLColumnExpression[date], grain: str) -> ColumnElement[date]:
    return cast(func.date_trunc(grain, cast(column, DateTime)), Date)


def _total(column: SQLColumnExpression[_N], *conditions: ColumnElement[bool]) -> ColumnElement[_N]:
    figure = func.sum(column)
    return func.coalesce(figure.filter(*conditions) if conditions else figure, 0)


async def _rolled_activity(
    db: AsyncSession, scope: OrderScope, period: ReportPeriod
) -> list[BucketActivity]:
    # a bucket counts from the period's first day when it starts before it
    bucket = _day_bucket(_DAILY.day, period.grain).label("bucket")
    rows = (
        select(bucket, _DAILY.prev_day, _DAILY.seq, _DAILY.orders)
        .where(
            _DAILY.channel_key == scope.channel_key, _DAILY.day.between(period.start, period.end)
        )
        .subquery()
    )
    start = func.greatest(rows.c.bucket, period.start)
    result = await db.execute(
        select(
            rows.c.bucket,
            _total(rows.c.orders, rows.c.seq == 1),
            _total(rows.c.orders, rows.c.seq > 1, rows.c.prev_day < start),
            _total(rows.c.orders),
        ).group_by(rows.c.bucket)
    )
    return [BucketActivity(b, int(new), int(back), int(n)) for b, new, back, n in result if n]


async def _rolled_period_customers(
    db: AsyncSession, scope: OrderScope, periods: tuple[ReportPeriod, ...]
) -> list[PeriodCustomers]:
    first = _DAILY.seq == 1
    figures: list[ColumnElement[int]] = []
    for period in periods:
        inside = _DAILY.day.between(period.start, period.end)
        figures += [
            _total(_DAILY.orders, inside, or_(first, _DAILY.prev_day < period.start)),
            _total(_DAILY.orders, inside, first),
            _total(_DAILY.orders, inside, _DAILY.seq == 2, _DAILY.prev_day >= period.start),
            _total(_DAILY.orders, inside),
        ]
    row = (
        await db.execute(
            select(*figures).where(
                _DAILY.channel_key == scope.channel_key,
                _DAILY.day.between(
                    min(period.start for period in periods), max(period.end for period in periods)
                ),
            )
        )
    ).one()
    customers = []
    for at in range(0, len(figures), 4):
        ordered, new, new_again, orders = (int(value) for value in row[at : at + 4])
        customers.append(
            PeriodCustomers(ordered, new, ordered - new, ordered - new + new_again, orders)
        )
    return customers


async def _rolled_spend(
    db: AsyncSession, scope: OrderScope, untils: tuple[datetime, ...]
) -> list[Spend]:
    figures: list[ColumnElement[Any]] = []
    for until in untils:
        before = _DAILY.day < _day_of(until)
        figures += [_total(_DAILY.orders, before, _DAILY.seq == 1), _total(_DAILY.net, before)]
    row = (
        await db.execute(
            select(*figures).where(
                _DAILY.channel_key == scope.channel_key,
                _DAILY.day < max(_day_of(until) for until in untils),
            )
        )
    ).one()
    return [Spend(int(row[at]), Decimal(row[at + 1])) for at in range(0, len(figures), 2)]


async def _rolled_spend_by_cohort(
    db: AsyncSession, scope: OrderScope, period: ReportPeriod
) -> dict[date, Spend]:
    cohort = _day_bucket(_COHORT.first_day, period.grain)
    rows = await db.execute(
        select(cohort, func.sum(_COHORT.customers), func.sum(_COHORT.net))
        .where(
            _COHORT.channel_key == scope.channel_key,
            _COHORT.first_day.between(period.start, period.end),
            _COHORT.day <= period.end,
        )
        .group_by(cohort)
    )
    return {day: Spend(int(n), Decimal(net)) for day, n, net in rows if n}


async def _rolled_cohort_activity(
    db: AsyncSession, scope: OrderScope, first_month: date, last_month: date
) -> dict[tuple[date, int], int]:
    cohort = _day_bucket(_COHORT.first_day, "month")
    offset = (extract("year", _COHORT.day) - extract("year", _COHORT.first_day)) * 12 + (
        extract("month", _COHORT.day) - extract("month", _COHORT.first_day)
    )
    rows = await db.execute(
        select(cohort.label("cohort"), offset.label("offset"), func.sum(_COHORT.month_customers))
        .where(
            _COHORT.channel_key == scope.channel_key,
            _COHORT.first_day >= first_month,
            _COHORT.first_day < next_month(last_month),
            offset <= RETENTION_MONTHS,
        )
        .group_by("cohort", "offset")
    )
    return {(month, int(months)): int(count) for month, months, count in rows if count}


async def _rolled_churned(db: AsyncSession, scope: OrderScope) -> tuple[int, int]:
    """Customers who ever ordered are the first orders' facts (an index-only count); the
    churned ones are looked up from the churned stage's index, each checked against them."""
    first = (CustomerOrderFact.channel_key == scope.channel_key, CustomerOrderFact.seq == 1)
    ever = await db.scalar(select(func.count()).where(*first))
    churned = await db.scalar(
        select(func.count()).where(
            Customer.lifecycle_stage == "churned",
            Customer.merged_into_id.is_(None),
            select(CustomerOrderFact.customer_id)
            .where(*first, CustomerOrderFact.customer_id == Customer.id)
            .exists(),
        )
    )
    return int(churned or 0), int(ever or 0)


def _day_of(instant: datetime) -> date:
    """The UTC day starting at ``instant`` (a period's bounds are UTC midnights)."""
    return instant.astimezone(UTC).date()
