"""/api/v1/reports/sales and /api/v1/reports/products, as JSON and as CSV."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from patron.analytics.auth import ReportRead
from patron.analytics.period import ReportPeriod, csv_download, report_period
from patron.analytics.sales import reports
from patron.analytics.sales.csv import products_csv, sales_csv
from patron.analytics.sales.schemas import (
    BucketOut,
    ChangeOut,
    ChannelOut,
    FiguresOut,
    PairsWindowOut,
    PeriodOut,
    ProductPairOut,
    ProductReturnsOut,
    ProductsReportOut,
    SalesReportOut,
    TopProductOut,
)
from patron.auth.dependencies import get_settings
from patron.config import Settings
from patron.db.deps import ReadSession
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS

router = APIRouter(prefix=f"{API_PREFIX}/reports", tags=["reports"], responses=COMMON_ERRORS)
SettingsDep = Annotated[Settings, Depends(get_settings)]
Period = Annotated[ReportPeriod, Depends(report_period)]
Limit = Annotated[int, Query(ge=1, le=reports.MAX_LIMIT, description="Rows per table (products)")]
Sort = Annotated[Literal["revenue", "units"], Query(description="Top sellers by revenue or units")]


def sales_out(report: reports.SalesReport) -> SalesReportOut:
    return SalesReportOut(
        period=PeriodOut.of(report.period),
        previous_period=PeriodOut.of(report.period.previous()),
        currency=report.currency,
        totals=FiguresOut.of(report.totals),
        previous_totals=FiguresOut.of(report.previous_totals),
        changes={name: ChangeOut.of(value) for name, value in report.changes.items()},
        buckets=[BucketOut(start=start, **figures.as_dict()) for start, figures in report.buckets],
        channels=[ChannelOut.of_channel(row) for row in report.channels],
    )


@router.get(
    "/sales",
    response_model=SalesReportOut,
    summary="Revenue, orders, AOV, units, refunds and returns per bucket and channel",
)
async def sales(
    _: ReportRead, period: Period, db: ReadSession, settings: SettingsDep
) -> SalesReportOut:
    return sales_out(await reports.sales_report(db, period, currency=settings.currency))


@router.get(
    "/sales.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
    summary="The sales report as CSV: one row per bucket, or per channel",
)
async def sales_download(
    _: ReportRead,
    period: Period,
    db: ReadSession,
    settings: SettingsDep,
    table: Annotated[Literal["buckets", "channels"], Query()] = "buckets",
) -> StreamingResponse:
    report = await reports.sales_report(db, period, currency=settings.currency)
    headers, rows = sales_csv(report, table)
    return csv_download(f"sales-{table}-{period.start}-{period.end}.csv", headers, rows)


def products_out(report: reports.ProductsReport) -> ProductsReportOut:
    return ProductsReportOut(
        period=PeriodOut.of(report.period),
        currency=report.currency,
        top=[TopProductOut.of(row) for row in report.top],
        returns=[ProductReturnsOut.of(row) for row in report.returns],
        pairs=[ProductPairOut.of(row) for row in report.pairs],
        pairs_window=PairsWindowOut.of(report.pairs_window) if report.pairs_precomputed else None,
    )


@router.get(
    "/products",
    response_model=ProductsReportOut,
    summary="Top sellers, return rates per product and products bought together",
)
async def products(
    principal: ReportRead,
    period: Period,
    db: ReadSession,
    settings: SettingsDep,
    sort: Sort = "revenue",
    limit: Limit = reports.TOP_LIMIT,
) -> ProductsReportOut:
    report = await reports.products_report(
        db,
        period,
        principal=principal,
        currency=settings.currency,
        sort=sort,
        limit=limit,
        timeout_seconds=settings.report_timeout_seconds,
    )
    return products_out(report)


@router.get(
    "/products.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
    summary="One table of the products report as CSV: top, returns or pairs",
)
async def products_download(
    principal: ReportRead,
    period: Period,
    db: ReadSession,
    settings: SettingsDep,
    table: Annotated[Literal["top", "returns", "pairs"], Query()] = "top",
    sort: Sort = "revenue",
    limit: Limit = reports.MAX_LIMIT,
) -> StreamingResponse:
    report = await reports.products_report(
        db,
        period,
        principal=principal,
        currency=settings.currency,
        sort=sort,
        limit=limit,
        timeout_seconds=settings.report_timeout_seconds,
    )
    headers, rows = products_csv(report, table)
    return csv_download(f"products-{table}-{period.start}-{period.end}.csv", headers, rows)
