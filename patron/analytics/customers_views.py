"""Panel pages of the customer, cohort and staff reports: a filter form, charts and tables.

A mistyped filter is explained on the page (422) with the form to correct it, never an error
page. Chart data travel in ``<script type="application/json">`` blocks that
``static/reports-customers.js`` reads (no inline scripts under the CSP).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics import customers_report as reports
from patron.analytics.auth import ReportRead
from patron.analytics.customers_schemas import (
    CohortsReport,
    CustomersReport,
    StaffReport,
    StaffRow,
)
from patron.analytics.period import GRAINS, InvalidPeriod, ReportPeriod, period_of
from patron.auth.principal import Principal
from patron.customers.views import common as customer_pages  # noqa: F401  (the money filter)
from patron.db.deps import ReadSession
from patron.orders.repository import list_channels
from patron.web.templating import render, templates

router = APIRouter()
PAGES = {
    "/reports/customers": "Customers",
    "/reports/cohorts": "Cohorts",
    "/reports/staff": "Staff",
}
HEAT_STEPS = 10


def percent(value: Decimal | None, places: int = 1) -> str:
    """A share (0.25) as people read it (25.0 %)."""
    if value is None:
        return "—"
    return f"{value * 100:.{places}f} %"


def heat(value: Decimal) -> str:
    """The heat-map class of a share: heat-0 (nobody) to heat-10 (everyone)."""
    return f"heat-{round(value * HEAT_STEPS)}"


def signed_percent(value: Decimal | None) -> str:
    if value is None:
        return ""
    return f"{'+' if value > 0 else ''}{value * 100:.1f} %"


def signed_points(value: Decimal) -> str:
    """A difference of two shares in percentage points (+4.5 pts)."""
    return f"{'+' if value > 0 else ''}{value * 100:.1f} pts"


templates.env.filters.setdefault("percent", percent)
templates.env.filters.setdefault("signed_points", signed_points)
templates.env.filters.setdefault("heat", heat)
templates.env.filters.setdefault("signed_percent", signed_percent)


Build = Callable[[AsyncSession, Principal, ReportPeriod], Awaitable[BaseModel]]


async def _page(
    request: Request,
    db: AsyncSession,
    principal: Principal,
    template: str,
    build: Build,
    **context: Any,
) -> Response:
    params = request.query_params
    form = {name: params.get(name, "") for name in ("from", "to", "grain", "channel")}
    report: BaseModel | None = None
    error: InvalidPeriod | None = None
    query = ""
    try:
        period = period_of(
            start=form["from"], end=form["to"], grain=form["grain"], channel=form["channel"]
        )
        report = await build(db, principal, period)
        form = {"channel": "", **period.query()}
        query = urlencode(period.query())
    except InvalidPeriod as refused:
        error = refused
    return render(
        request,
        template,
        {
            "report": report,
            "error": error,
            "form": form,
            "query": query,
            "grains": GRAINS,
            "channels": await list_channels(db),
            "pages": PAGES,
            **context,
        },
        status_code=422 if error else 200,
    )


def _currency(request: Request) -> str:
    return str(request.app.state.settings.currency)


def _label(day: date, grain: str) -> str:
    return day.strftime("%b %Y" if grain == "month" else "%d %b")


def customers_charts(report: CustomersReport) -> dict[str, Any]:
    grain = report.period.grain
    labels = [_label(b.bucket, grain) for b in report.buckets]
    return {
        "customers": {
            "labels": labels,
            "datasets": [
                {"label": "New", "data": [b.new_customers for b in report.buckets]},
                {"label": "Returning", "data": [b.returning_customers for b in report.buckets]},
            ],
        },
        "signups": {
            "labels": labels,
            "datasets": [{"label": "Signups", "data": [b.signups for b in report.buckets]}],
        },
        "lifetime_value": {
            "labels": [_label(c.cohort, grain) for c in report.lifetime_value_by_cohort],
            "datasets": [
                {
                    "label": f"Lifetime value ({report.currency})",
                    "data": [float(c.lifetime_value) for c in report.lifetime_value_by_cohort],
                }
            ],
        },
    }


@router.get("/reports/customers")
async def customers_page(request: Request, principal: ReportRead, db: ReadSession) -> Response:
    async def build(db: AsyncSession, who: Principal, period: ReportPeriod) -> CustomersReport:
        return await reports.customers_report(db, who, period, currency=_currency(request))

    return await _page(
        request, db, principal, "reports/customers.html", build, charts=customers_charts
    )


@router.get("/reports/cohorts")
async def cohorts_page(request: Request, principal: ReportRead, db: ReadSession) -> Response:
    async def build(db: AsyncSession, who: Principal, period: ReportPeriod) -> CohortsReport:
        return await reports.cohorts_report(db, who, period)

    return await _page(request, db, principal, "reports/cohorts.html", build)


def sorted_rows(report: StaffReport, sort: str) -> tuple[list[StaffRow], str, bool]:
    """The rows by name (A to Z) or by a measure (largest first); a leading ``-`` reverses.
    Returns the rows, the column sorted by and whether the order was reversed."""
    reverse = sort.startswith("-")
    key = sort.lstrip("-")
    if key in {m.key for m in report.measures}:
        rows = sorted(
            report.rows, key=lambda r: (r.figures[key], r.name.casefold()), reverse=not reverse
        )
        return rows, key, reverse
    return sorted(report.rows, key=lambda r: r.name.casefold(), reverse=reverse), "name", reverse


@router.get("/reports/staff")
async def staff_page(request: Request, principal: ReportRead, db: ReadSession) -> Response:
    async def build(db: AsyncSession, who: Principal, period: ReportPeriod) -> StaffReport:
        return await reports.staff_report(db, who, period, currency=_currency(request))

    return await _page(
        request,
        db,
        principal,
        "reports/staff.html",
        build,
        sort=request.query_params.get("sort", "name")[:40],
        sorted_rows=sorted_rows,
    )
