"""/api/v1/customers/export.csv and .xlsx: the customer list, with the list's filters.

The panel's export buttons and the segment export call :func:`export_response` too. Each
export writes one audit row (``customer.exported``, or what its :class:`ExportSubject` says)
with the filter and the number of customers.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.auth.principal import Principal
from patron.customers import listing
from patron.customers.auth import CustomerExport
from patron.customers.listing import CustomerQuery
from patron.db.deps import DbSession, get_read_session
from patron.errors import InvalidInput
from patron.kit.export import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, csv_rows_stream, xlsx_bytes
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS
from patron.models import Customer, CustomerMetrics

router = APIRouter(prefix=f"{API_PREFIX}/customers", tags=["customers"], responses=COMMON_ERRORS)
# The CSV streams after the route returns, so it reads through a session that lives as long
# as the response; routes declare it first, so its transaction encloses the route's own.
StreamSession = Annotated[AsyncSession, Depends(get_read_session)]
Format = Literal["csv", "xlsx"]
# an XLSX workbook is built in memory; beyond this, CSV streams in constant memory
XLSX_MAX_ROWS = 100_000

HEADERS = (
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "company",
    "country",
    "lifecycle_stage",
    "tags",
    "owner_id",
    "source",
    "orders_count",
    "total_spent",
    "average_order_value",
    "first_order_at",
    "last_order_at",
    "recency_score",
    "frequency_score",
    "monetary_score",
    "rfm_group",
    "last_seen_at",
    "created_at",
)


def export_row(customer: Customer, metrics: CustomerMetrics | None) -> list[Any]:
    return [
        str(customer.id),
        customer.first_name,
        customer.last_name,
        customer.email,
        customer.phone,
        customer.company,
        customer.country,
        customer.lifecycle_stage,
        list(customer.tags),
        str(customer.owner_id) if customer.owner_id else None,
        customer.source,
        metrics.orders_count if metrics else 0,
        metrics.total_spent if metrics else None,
        metrics.average_order_value if metrics else None,
        metrics.first_order_at if metrics else None,
        metrics.last_order_at if metrics else None,
        *(
            (
                metrics.recency_score,
                metrics.frequency_score,
                metrics.monetary_score,
                metrics.rfm_group,
                metrics.last_seen_at,
            )
            if metrics
            else (None,) * 5
        ),
        customer.created_at,
    ]


async def _rows(
    db: AsyncSession, principal: Principal, query: CustomerQuery
) -> AsyncIterator[Sequence[Any]]:
    async for batch in listing.stream_customers(db, principal, query):
        for customer, metrics in batch:
            yield export_row(customer, metrics)


@dataclass(frozen=True)
class ExportSubject:
    """What an export holds: its file name, sheet title and audit row."""

    name: str = "customers"
    title: str = "Customers"
    action: str = "customer.exported"
    object_type: str = "customer"
    object_id: object | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


CUSTOMERS = ExportSubject()


def _filename(subject: ExportSubject, fmt: Format) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    name = re.sub(r"[^a-z0-9]+", "-", subject.name.lower()).strip("-")[:60] or "export"
    return f"{name}-{stamp}.{fmt}"


async def export_response(
    db: AsyncSession,
    stream_db: AsyncSession,
    principal: Principal,
    query: CustomerQuery,
    *,
    fmt: Format,
    subject: ExportSubject = CUSTOMERS,
) -> Response:
    """Audit the export (in ``db``), then send the matching customers as CSV streamed from
    ``stream_db``, or as XLSX."""
    count = await listing.count_customers(db, principal, query)
    if fmt == "xlsx" and count > XLSX_MAX_ROWS:
        raise InvalidInput(
            f"{count:,} customers match; a spreadsheet export holds {XLSX_MAX_ROWS:,}. "
            "Narrow the filters or export CSV.",
            code="export_too_large",
        )
    await audit.record(
        db,
        action=subject.action,
        actor=principal.actor,
        object_type=subject.object_type,
        object_id=subject.object_id,
        details={
            "format": fmt,
            "filter": query.active_filters(),
            "count": count,
            **subject.details,
        },
    )
    filename = _filename(subject, fmt)
    disposition = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if fmt == "csv":
        return StreamingResponse(
            csv_rows_stream(HEADERS, _rows(stream_db, principal, query)),
            media_type=CSV_MEDIA_TYPE,
            headers=disposition,
        )
    rows = [row async for row in _rows(db, principal, query)]
    return Response(
        xlsx_bytes(HEADERS, rows, title=subject.title),
        media_type=XLSX_MEDIA_TYPE,
        headers=disposition,
    )


@router.get(
    "/export.csv",
    summary="Export customers as CSV",
    description="Takes the list's filters. Cells a spreadsheet would run as formulas are "
    "written as text.",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_csv(
    stream_db: StreamSession,
    principal: CustomerExport,
    db: DbSession,
    filters: Annotated[CustomerQuery, Query()],
) -> Response:
    return await export_response(db, stream_db, principal, filters, fmt="csv")


@router.get(
    "/export.xlsx",
    summary="Export customers as XLSX",
    description="Takes the list's filters; at most 100,000 customers (use CSV beyond).",
    response_class=Response,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}},
)
async def export_xlsx(
    principal: CustomerExport, db: DbSession, filters: Annotated[CustomerQuery, Query()]
) -> Response:
    return await export_response(db, db, principal, filters, fmt="xlsx")
