"""Writing lists as CSV (streamed) and XLSX, safe to open in a spreadsheet.

A text cell that a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``, tab, carriage
return at the start) gets a leading apostrophe: an exported customer name like
``=HYPERLINK(...)`` stays text (OWASP "CSV injection"). Numbers, dates and booleans are
written as values and never prefixed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from openpyxl import Workbook

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_BATCH_ROWS = 200
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX_MAX_ROWS = 1_048_575  # the format's limit, less the header row


def safe_text(value: str) -> str:
    """Text that a spreadsheet shows as text, never evaluates."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def cell_text(value: Any) -> str:
    """A value as one CSV cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date | Decimal | int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return safe_text("; ".join(str(item) for item in value))
    return safe_text(str(value))


def _cell_value(value: Any) -> Any:
    """A value as one XLSX cell (openpyxl refuses time-zone-aware datetimes)."""
    if value is None or isinstance(value, bool | int | float | Decimal):
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return value
    return cell_text(value)


async def _each(
    rows: Iterable[Sequence[Any]] | AsyncIterable[Sequence[Any]],
) -> AsyncIterator[Sequence[Any]]:
    if isinstance(rows, AsyncIterable):
        async for row in rows:
            yield row
    else:
        for row in rows:
            yield row


async def csv_rows_stream(
    headers: Sequence[str], rows: Iterable[Sequence[Any]] | AsyncIterable[Sequence[Any]]
) -> AsyncIterator[bytes]:
    """UTF-8 CSV (with a byte-order mark, so spreadsheets pick the encoding) in chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([cell_text(header) for header in headers])
    yield ("\ufeff" + buffer.getvalue()).encode()
    buffer.seek(0)
    buffer.truncate()
    pending = 0
    async for row in _each(rows):
        writer.writerow([cell_text(value) for value in row])
        pending += 1
        if pending >= CSV_BATCH_ROWS:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending:
        yield buffer.getvalue().encode()


def xlsx_bytes(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str = "Export"
) -> bytes:
    """An XLSX workbook of one sheet, written in openpyxl's streaming (write-only) mode."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31] or "Export")
    sheet.append([cell_text(header) for header in headers])
    for row in rows:
        sheet.append([_cell_value(value) for value in row])
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()
