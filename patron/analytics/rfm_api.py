"""/api/v1/reports/rfm: customers per recency x frequency cell and per RFM group."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from patron.analytics import rfm
from patron.analytics.auth import ReportRead
from patron.analytics.period import csv_download
from patron.db.deps import ReadSession
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS

router = APIRouter(prefix=f"{API_PREFIX}/reports", tags=["reports"], responses=COMMON_ERRORS)


class CutPointsOut(BaseModel):
    computed_at: datetime
    customers: int = Field(description="Live customers with at least one order at the time")
    recency_days: list[int] | None = Field(description="20/40/60/80th percentiles of days")
    orders_count: list[int] | None
    monetary: list[Decimal] | None = Field(description="Of total spent net of refunds")


class CellOut(BaseModel):
    recency_score: int
    frequency_score: int
    group: str
    customers: int
    share: float = Field(description="Of the scored customers, 0–1")
    average_monetary: Decimal = Field(description="Average total spent net of refunds")


class GroupOut(BaseModel):
    group: str
    label: str
    recency_scores: list[int]
    frequency_scores: list[int]
    customers: int
    share: float
    average_monetary: Decimal


class RfmReport(BaseModel):
    scored: bool = Field(description="False until the first scoring run")
    customers: int = Field(description="Scored customers you may see")
    cut_points: CutPointsOut | None
    cells: list[CellOut] = Field(description="All 25 cells, R 5 to 1, F 1 to 5")
    groups: list[GroupOut]


def _cells(grid: rfm.Grid) -> Iterator[CellOut]:
    total = grid.total
    for recency in reversed(rfm.SCORES):
        for frequency in rfm.SCORES:
            cell = grid.cell(recency, frequency)
            yield CellOut(
                recency_score=recency,
                frequency_score=frequency,
                group=rfm.group_of(recency, frequency).name,
                customers=cell.customers,
                share=cell.share_of(total),
                average_monetary=cell.average,
            )


def _groups(grid: rfm.Grid) -> Iterator[GroupOut]:
    total = grid.total
    for group, tally in grid.groups():
        yield GroupOut(
            group=group.name,
            label=group.label,
            recency_scores=list(range(group.recency[0], group.recency[1] + 1)),
            frequency_scores=list(range(group.frequency[0], group.frequency[1] + 1)),
            customers=tally.customers,
            share=tally.share_of(total),
            average_monetary=tally.average,
        )


def report_of(grid: rfm.Grid) -> RfmReport:
    cuts = grid.cut_points
    return RfmReport(
        scored=grid.scored,
        customers=grid.total,
        cut_points=None
        if cuts is None
        else CutPointsOut(
            computed_at=cuts.computed_at,
            customers=cuts.customers,
            recency_days=cuts.recency_days,
            orders_count=cuts.orders_count,
            monetary=cuts.monetary,
        ),
        cells=list(_cells(grid)),
        groups=list(_groups(grid)),
    )


@router.get("/rfm", response_model=RfmReport, summary="Customers per RFM cell and group")
async def rfm_report(principal: ReportRead, db: ReadSession) -> RfmReport:
    return report_of(await rfm.grid(db, principal))


def csv_of(grid: rfm.Grid, table: Literal["cells", "groups"]) -> StreamingResponse:
    """The grid's cells or its groups as a CSV download."""
    report = report_of(grid)
    headers: Sequence[str]
    rows: list[Sequence[Any]]
    if table == "groups":
        headers = ("group", "label", "scores", "customers", "share", "average_monetary")
        rows = [
            (
                g.group,
                g.label,
                rfm.GROUPS_BY_NAME[g.group].ranges,
                g.customers,
                f"{g.share:.4f}",
                g.average_monetary,
            )
            for g in report.groups
        ]
    else:
        headers = ("recency_score", "frequency_score", "group", "customers", "share")
        headers = (*headers, "average_monetary")
        rows = [
            (
                c.recency_score,
                c.frequency_score,
                c.group,
                c.customers,
                f"{c.share:.4f}",
                c.average_monetary,
            )
            for c in report.cells
        ]
    return csv_download(f"rfm-{table}.csv", headers, rows)


@router.get(
    "/rfm.csv",
    response_class=StreamingResponse,
    summary="The RFM grid as CSV: one row per cell, or per group with table=groups",
    responses={200: {"content": {"text/csv": {}}}},
)
async def rfm_csv(
    principal: ReportRead,
    db: ReadSession,
    table: Annotated[Literal["cells", "groups"], Query(description="cells or groups")] = "cells",
) -> StreamingResponse:
    return csv_of(await rfm.grid(db, principal), table)
