"""/api/v1/reports/{customers,cohorts,staff}: the customer, cohort and staff reports, as JSON
and CSV."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from patron.analytics import customers_report as reports
from patron.analytics.auth import ReportRead
from patron.analytics.customers_schemas import CohortsReport, CustomersReport, StaffReport
from patron.analytics.period import ReportPeriod, csv_download, report_period
from patron.db.deps import ReadSession
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS

router = APIRouter(prefix=f"{API_PREFIX}/reports", tags=["reports"], responses=COMMON_ERRORS)
Period = Annotated[ReportPeriod, Depends(report_period)]
CSV_RESPONSE: dict[int | str, dict[str, object]] = {
    200: {"content": {"text/csv": {}}, "description": "The report's table as CSV"}
}


def _currency(request: Request) -> str:
    return str(request.app.state.settings.currency)


def _name(report: str, period: ReportPeriod) -> str:
    return f"{report}-{period.start.isoformat()}-{period.end.isoformat()}.csv"


@router.get(
    "/customers",
    response_model=CustomersReport,
    summary="New and returning customers, repeat rate, lifetime value and churn",
)
async def customers(
    request: Request, principal: ReportRead, period: Period, db: ReadSession
) -> CustomersReport:
    return await reports.customers_report(db, principal, period, currency=_currency(request))


@router.get(
    "/customers.csv",
    response_class=StreamingResponse,
    responses=CSV_RESPONSE,
    summary="The customers report per bucket, as CSV",
)
async def customers_csv(
    request: Request, principal: ReportRead, period: Period, db: ReadSession
) -> StreamingResponse:
    report = await reports.customers_report(db, principal, period, currency=_currency(request))
    return csv_download(
        _name("customers", period),
        reports.CUSTOMERS_CSV_HEADERS,
        reports.customers_csv_rows(report),
    )


@router.get(
    "/cohorts",
    response_model=CohortsReport,
    summary="Retention by first-order month: who ordered again in month +1 to +12",
)
async def cohorts(principal: ReportRead, period: Period, db: ReadSession) -> CohortsReport:
    return await reports.cohorts_report(db, principal, period)


@router.get(
    "/cohorts.csv",
    response_class=StreamingResponse,
    responses=CSV_RESPONSE,
    summary="The cohort retention matrix, as CSV",
)
async def cohorts_csv(principal: ReportRead, period: Period, db: ReadSession) -> StreamingResponse:
    report = await reports.cohorts_report(db, principal, period)
    return csv_download(
        _name("cohorts", period),
        reports.cohorts_csv_headers(report),
        reports.cohorts_csv_rows(report),
    )


@router.get(
    "/staff",
    response_model=StaffReport,
    summary="Per staff member: notes, calls and meetings, customers owned and their orders",
)
async def staff(
    request: Request, principal: ReportRead, period: Period, db: ReadSession
) -> StaffReport:
    return await reports.staff_report(db, principal, period, currency=_currency(request))


@router.get(
    "/staff.csv",
    response_class=StreamingResponse,
    responses=CSV_RESPONSE,
    summary="The staff report, as CSV",
)
async def staff_csv(
    request: Request, principal: ReportRead, period: Period, db: ReadSession
) -> StreamingResponse:
    report = await reports.staff_report(db, principal, period, currency=_currency(request))
    return csv_download(
        _name("staff", period), reports.staff_csv_headers(report), reports.staff_csv_rows(report)
    )
