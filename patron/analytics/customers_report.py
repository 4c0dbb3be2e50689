"""The customer, cohort and staff reports, assembled from their queries, and their CSV tables.

Record scope: a report reads only what its reader may see. The customer and cohort reports
count the customers (and their orders) visible to the reader's role (own / team / all, through
the customer's owner); the staff report has a row for the reader alone (own), their team
(team) or everyone (all).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics import customers_repository as repository
from patron.analytics import staff_repository
from patron.analytics.customers_repository import OrderScope
from patron.analytics.customers_schemas import (
    AmountFigure,
    CohortRow,
    CohortsReport,
    CohortValue,
    CountFigure,
    CustomersBucket,
    CustomersHeadline,
    CustomersReport,
    PeriodOut,
    StaffMeasureOut,
    StaffReport,
    StaffRow,
)
from patron.analytics.period import ReportPeriod
from patron.auth.principal import Principal
from patron.kit.time import utcnow

CENT = Decimal("0.01")
SHARE = Decimal("0.0001")


def share(part: int, whole: int) -> Decimal:
    """``part / whole`` to four places (0 when there is no whole)."""
    if whole == 0:
        return Decimal("0.0000")
    return (Decimal(part) / Decimal(whole)).quantize(SHARE, ROUND_HALF_UP)


def average(total: Decimal, count: int) -> Decimal:
    if count == 0:
        return Decimal("0.00")
    return (total / count).quantize(CENT, ROUND_HALF_UP)


def change(value: Decimal | int, previous: Decimal | int | None) -> Decimal | None:
    if previous is None or previous == 0:
        return None
    return ((Decimal(value) - Decimal(previous)) / Decimal(previous)).quantize(SHARE, ROUND_HALF_UP)


def count_figure(value: int, previous: int | None) -> CountFigure:
    return CountFigure(value=value, previous=previous, change=change(value, previous))


def amount_figure(value: Decimal, previous: Decimal | None) -> AmountFigure:
    return AmountFigure(value=value, previous=previous, change=change(value, previous))


async def _scope(db: AsyncSession, principal: Principal, period: ReportPeriod) -> OrderScope:
    return OrderScope(principal, await repository.find_channel(db, period.channel))


# -- customers --------------------------------------------------------------------------------


async def customers_report(
    db: AsyncSession, principal: Principal, period: ReportPeriod, *, currency: str
) -> CustomersReport:
    scope = await _scope(db, principal, period)
    previous = period.previous()
    now, before = await repository.period_customers(db, scope, period, previous)
    spend, spend_before = await repository.spend_by(db, scope, period.until, previous.until)
    cohorts = await repository.spend_by_cohort(db, scope, period)
    signups, signups_before = await repository.signups_by_bucket(db, principal, period, previous)
    churned, ever_ordered = await repository.churned_customers(db, scope)
    activity = {row.bucket: row for row in await repository.activity_by_bucket(db, scope, period)}

    buckets = []
    for day in period.buckets():
        seen = activity.get(day)
        buckets.append(
            CustomersBucket(
                bucket=day,
                new_customers=seen.new_customers if seen else 0,
                returning_customers=seen.returning_customers if seen else 0,
                orders=seen.orders if seen else 0,
                signups=signups.get(day, 0),
            )
        )
    headline = CustomersHeadline(
        customers_ordered=count_figure(now.ordered, before.ordered),
        new_customers=count_figure(now.new, before.new),
        returning_customers=count_figure(now.returning, before.returning),
        orders=count_figure(now.orders, before.orders),
        repeat_purchase_rate=amount_figure(
            share(now.repeat, now.ordered), share(before.repeat, before.ordered)
        ),
        lifetime_value=amount_figure(
            average(spend.net_spent, spend.customers),
            average(spend_before.net_spent, spend_before.customers),
        ),
        signups=count_figure(sum(signups.values()), signups_before),
        churned_share=amount_figure(share(churned, ever_ordered), None),
    )
    return CustomersReport(
        period=PeriodOut.of(period),
        previous_period=PeriodOut.of(previous),
        currency=currency,
        headline=headline,
        buckets=buckets,
        lifetime_value_by_cohort=[
            CohortValue(
                cohort=day,
                customers=cohorts[day].customers,
                net_spent=cohorts[day].net_spent.quantize(CENT),
                lifetime_value=average(cohorts[day].net_spent, cohorts[day].customers),
            )
            for day in period.buckets()
            if day in cohorts
        ],
        churned_customers=churned,
        customers_ever_ordered=ever_ordered,
    )


CUSTOMERS_CSV_HEADERS = (
    "bucket",
    "new_customers",
    "returning_customers",
    "orders",
    "signups",
    "cohort_customers",
    "cohort_net_spent",
    "cohort_lifetime_value",
)


def customers_csv_rows(report: CustomersReport) -> Iterator[list[Any]]:
    cohorts = {row.cohort: row for row in report.lifetime_value_by_cohort}
    for bucket in report.buckets:
        cohort = cohorts.get(bucket.bucket)
        yield [
            bucket.bucket,
            bucket.new_customers,
            bucket.returning_customers,
            bucket.orders,
            bucket.signups,
            cohort.customers if cohort else 0,
            cohort.net_spent if cohort else Decimal("0.00"),
            cohort.lifetime_value if cohort else Decimal("0.00"),
        ]


# -- cohorts ----------------------------------------------------------------------------------


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


async def cohorts_report(
    db: AsyncSession, principal: Principal, period: ReportPeriod, *, today: date | None = None
) -> CohortsReport:
    """Cohorts by first-order month for every month the period touches; month +k of a cohort
    is shown once it has ended."""
    scope = await _scope(db, principal, period)
    this_month = _month_index(today or utcnow().date())
    first, last = period.start.replace(day=1), period.end.replace(day=1)
    counts = await repository.cohort_activity(db, scope, first, last)
    rows = []
    month = first
    while month <= last:
        size = counts.get((month, 0), 0)
        if size:
            elapsed = min(repository.RETENTION_MONTHS, this_month - _month_index(month) - 1)
            returned = [counts.get((month, k), 0) for k in range(1, max(elapsed, 0) + 1)]
            rows.append(
                CohortRow(
                    cohort=month,
                    customers=size,
                    retention=[share(n, size) for n in returned],
                    returned=returned,
                )
            )
        month = repository.next_month(month)
    return CohortsReport(
        period=PeriodOut.of(period),
        months=max((len(row.retention) for row in rows), default=0),
        cohorts=rows,
    )


def cohorts_csv_headers(report: CohortsReport) -> list[str]:
    months = max(report.months, 1)
    return ["cohort", "customers", *(f"month_{k}" for k in range(1, months + 1))]


def cohorts_csv_rows(report: CohortsReport) -> Iterator[list[Any]]:
    width = max(report.months, 1)
    for row in report.cohorts:
        shares: list[Any] = list(row.retention)
        yield [row.cohort, row.customers, *shares, *([None] * (width - len(shares)))]


# -- staff ------------------------------------------------------------------------------------


async def staff_report(
    db: AsyncSession,
    principal: Principal,
    period: ReportPeriod,
    *,
    currency: str,
    rollups: bool = True,
) -> StaffReport:
    """One row per staff member the reader may report on. ``rollups=False`` reads the
    timeline and the orders instead of their rollups (the tests compare the two)."""
    scope = OrderScope(principal, await repository.find_channel(db, period.channel), rollups)
    members = await staff_repository.staff_members(db, principal)
    ids = [member.id for member in members]
    values = await staff_repository.measure_values(db, scope, period, ids)
    rows = []
    for member in members:
        figures: dict[str, int | Decimal] = {
            measure.key: values[measure.key].get(
                member.id, Decimal("0.00") if measure.kind == "money" else 0
            )
            for measure in staff_repository.STAFF_MEASURES
        }
        # people who left are listed only for the periods they did something in
        if member.is_active or any(figures.values()):
            rows.append(
                StaffRow(
                    user_id=member.id,
                    name=member.name,
                    email=member.email,
                    team=member.team,
                    is_active=member.is_active,
                    figures=figures,
                )
            )
    return StaffReport(
        period=PeriodOut.of(period),
        currency=currency,
        measures=[
            StaffMeasureOut(key=m.key, label=m.label, kind=m.kind)
            for m in staff_repository.STAFF_MEASURES
        ],
        rows=rows,
    )


def staff_csv_headers(report: StaffReport) -> list[str]:
    return ["name", "email", "team", *(measure.key for measure in report.measures)]


def staff_csv_rows(report: StaffReport) -> Iterator[list[Any]]:
    for row in report.rows:
        yield [row.name, row.email, row.team, *(row.figures[m.key] for m in report.measures)]
