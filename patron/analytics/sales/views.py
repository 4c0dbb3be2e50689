"""Panel pages: the reports dashboard (/reports) and the products report."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from patron.analytics.auth import ReportRead
from patron.analytics.period import GRAINS, InvalidPeriod, ReportPeriod, ReportTimeout, period_of
from patron.analytics.sales import reports
from patron.analytics.sales.repository import channels
from patron.db.deps import ReadSession
from patron.web.templating import render

router = APIRouter(prefix="/reports")

# the report pages that link to each other (customers, staff and RFM are their own helpers')
REPORT_PAGES = (
    ("Sales", "/reports"),
    ("Products", "/reports/products"),
    ("Customers", "/reports/customers"),
    ("Staff", "/reports/staff"),
    ("RFM", "/reports/rfm"),
)
KPIS = (
    ("revenue", "Revenue", "money", True),
    ("orders", "Orders", "count", True),
    ("average_order_value", "Average order", "money", True),
    ("units", "Units sold", "count", True),
    ("net_revenue", "Net revenue", "money", True),
    ("refunds", "Refunds", "money", False),
    ("returns", "Returns", "count", False),
)


def _filters(request: Request) -> dict[str, str]:
    params = request.query_params
    return {name: params.get(name, "") for name in ("from", "to", "grain", "channel")}


def _period(request: Request) -> tuple[ReportPeriod | None, InvalidPeriod | None]:
    values = _filters(request)
    try:
        period = period_of(
            start=values["from"],
            end=values["to"],
            grain=values["grain"],
            channel=values["channel"],
        )
    except InvalidPeriod as error:
        return None, error
    return period, None


async def _page(
    request: Request, db: ReadSession, template: str, context: dict[str, Any], *, status: int = 200
) -> Response:
    return render(
        request,
        template,
        {
            "filters": _filters(request),
            "grains": GRAINS,
            "channels": await channels(db),
            "report_pages": REPORT_PAGES,
            "error": None,
            "error_field": "",
            **context,
        },
        status_code=status,
    )


def _shown(period: ReportPeriod) -> dict[str, Any]:
    """The form filled with the period the report shows (defaults included)."""
    return {
        "filters": {**period.query(), "channel": period.channel or ""},
        "query": urlencode(period.query()),
    }


def _invalid(error: InvalidPeriod | ReportTimeout) -> dict[str, Any]:
    field = error.details[0].get("field", "") if error.details else ""
    return {"error": error.message, "error_field": field, "error_code": error.code, "report": None}


def sales_charts(report: reports.SalesReport) -> dict[str, Any]:
    labels = [start.isoformat() for start, _ in report.buckets]
    return {
        "revenue": {
            "labels": labels,
            "datasets": [
                {
                    "label": f"Revenue ({report.currency})",
                    "data": [str(figures.revenue) for _, figures in report.buckets],
                },
                {
                    "label": f"Refunds ({report.currency})",
                    "data": [str(figures.refunds) for _, figures in report.buckets],
                },
            ],
        },
        "orders": {
            "labels": labels,
            "datasets": [
                {"label": "Orders", "data": [figures.orders for _, figures in report.buckets]}
            ],
        },
    }


@router.get("")
async def dashboard(request: Request, _: ReportRead, db: ReadSession) -> Response:
    period, error = _period(request)
    if period is None:
        assert error is not None
        return await _page(request, db, "reports/sales.html", _invalid(error), status=422)
    try:
        report = await reports.sales_report(
            db, period, currency=request.app.state.settings.currency
        )
    except InvalidPeriod as unknown_channel:
        return await _page(request, db, "reports/sales.html", _invalid(unknown_channel), status=422)
    return await _page(
        request,
        db,
        "reports/sales.html",
        {
            "report": report,
            "kpis": KPIS,
            "charts": sales_charts(report),
            **_shown(period),
        },
    )


@router.get("/products")
async def products(request: Request, principal: ReportRead, db: ReadSession) -> Response:
    period, error = _period(request)
    if period is None:
        assert error is not None
        return await _page(request, db, "reports/products.html", _invalid(error), status=422)
    settings = request.app.state.settings
    try:
        report = await reports.products_report(
            db,
            period,
            principal=principal,
            currency=settings.currency,
            timeout_seconds=settings.report_timeout_seconds,
        )
    except (InvalidPeriod, ReportTimeout) as refused:
        return await _page(
            request, db, "reports/products.html", _invalid(refused), status=refused.status
        )
    return await _page(
        request,
        db,
        "reports/products.html",
        {
            "report": report,
            "return_rate": reports.return_rate,
            **_shown(period),
        },
    )
