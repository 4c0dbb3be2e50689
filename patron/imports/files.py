"""Uploaded files: storing them, telling CSV from XLSX, the encoding and the delimiter, and
streaming their rows without ever holding the whole file.

Hostile input is refused early or turned into row errors: NUL bytes or binary garbage
(``unreadable_file``), cells over :data:`MAX_CELL_CHARS`, lines over :data:`MAX_LINE_CHARS`,
more than :data:`MAX_COLUMNS` columns, XLSX archives that decompress to far more than they
weigh (zip bombs), more than :data:`MAX_ROWS` rows.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import csv
import io
import zipfile
from collections.abc import AsyncIterable, Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any

from patron.errors import CRMError, InvalidInput

MAX_CELL_CHARS = 64 * 1024
MAX_LINE_CHARS = 1024 * 1024
MAX_COLUMNS = 500
MAX_ROWS = 5_000_000
SAMPLE_BYTES = 64 * 1024
XLSX_MAX_RATIO = 200  # uncompressed / compressed size of one archive member
XLSX_MAX_MEMBER = 2 * 1024**3
XLSX_MAX_SHARED_STRINGS = 256 * 1024**2  # openpyxl loads these into memory
_ZIP = b"PK\x03\x04"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old binary .xls
_DELIMITERS = ",;\t|"
OVERSIZED = "\x00oversized-line\x00"


class FileTooLarge(CRMError):
    status = 413
    code = "file_too_large"


def unreadable(message: str) -> InvalidInput:
    return InvalidInput(message, code="unreadable_file")


def imports_dir(data_dir: Path) -> Path:
    folder = data_dir / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Sniff:
    """What the bytes of an upload told us while they were written to disk."""

    size: int = 0
    utf8_valid: bool = True
    has_nul: bool = False
    head: bytes = b""


async def store_upload(chunks: AsyncIterable[bytes], target: Path, *, max_bytes: int) -> Sniff:
    """Write the upload to ``target`` chunk by chunk, checking the size and UTF-8 as it goes."""
    sniff = Sniff()
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with await asyncio.to_thread(open, target, "wb") as out:
            async for chunk in chunks:
                sniff.size += len(chunk)
                if sniff.size > max_bytes:
                    raise FileTooLarge(
                        f"The file is larger than the limit of {max_bytes:,} bytes; "
                        "split it into smaller files."
                    )
                if len(sniff.head) < SAMPLE_BYTES:
                    sniff.head += chunk[: SAMPLE_BYTES - len(sniff.head)]
                if b"\x00" in chunk:
                    sniff.has_nul = True
                if sniff.utf8_valid:
                    try:
                        decoder.decode(chunk)
                    except UnicodeDecodeError:
                        sniff.utf8_valid = False
                await asyncio.to_thread(out.write, chunk)
        if sniff.utf8_valid:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                sniff.utf8_valid = False
    except BaseException:
        await asyncio.to_thread(target.unlink, missing_ok=True)
        raise
    if sniff.size == 0:
        await asyncio.to_thread(target.unlink, missing_ok=True)
        raise InvalidInput("The file is empty.", code="empty_file")
    return sniff


@dataclass(frozen=True)
class FileInfo:
    file_format: str  # "csv" or "xlsx"
    encoding: str
    delimiter: str
    headers: list[str]


def _utf16_without_bom(head: bytes) -> str | None:
    even, odd = head[0::2], head[1::2]
    if len(head) >= 8 and odd.count(0) > len(odd) * 0.9 and even.count(0) == 0:
        return "utf-16-le"
    if len(head) >= 8 and even.count(0) > len(even) * 0.9 and odd.count(0) == 0:
        return "utf-16-be"
    return None


def detect_encoding(sniff: Sniff) -> str:
    head = sniff.head
    if head.startswith(codecs.BOM_UTF8):
        if not sniff.utf8_valid:
            raise unreadable("The file says it is UTF-8 but is not; save it again as UTF-8.")
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if sniff.has_nul:
        guess = _utf16_without_bom(head)
        if guess:
            return guess
        raise unreadable(
            "The file contains NUL bytes: it is not a text (CSV) file. Export CSV (UTF-8) or XLSX."
        )
    if sniff.utf8_valid:
        return "utf-8"
    try:
        head.decode("cp1252")
    except UnicodeDecodeError:
        return "latin-1"
    return "cp1252"


def _looks_like_text(sample: str) -> bool:
    if not sample:
        return False
    controls = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\r\n") or ch == "\ufffd")
    return controls <= max(2, len(sample) // 200)


def _sample_text(path: Path, encoding: str) -> str:
    with open(path, "rb") as raw:
        data = raw.read(SAMPLE_BYTES)
    return codecs.getincrementaldecoder(encoding)(errors="replace").decode(data)


def detect_delimiter(sample: str) -> str:
    lines = sample.splitlines()
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        sample = "\n".join(lines[:-1])  # the cut-off last line misleads the sniffer
    with contextlib.suppress(csv.Error):
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    first = lines[0] if lines else ""
    counts = {d: first.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def clean_headers(raw: list[Any]) -> list[str]:
    if len(raw) > MAX_COLUMNS:
        raise InvalidInput(
            f"The file has {len(raw)} columns; at most {MAX_COLUMNS} are supported.",
            code="too_many_columns",
        )
    headers: list[str] = []
    for index, value in enumerate(raw, start=1):
        name = " ".join(str(value if value is not None else "").split())[:200]
        name = name.lstrip("\ufeff") or f"Column {index}"
        candidate, n = name, 2
        while candidate in headers:
            candidate, n = f"{name} ({n})", n + 1
        headers.append(candidate)
    while headers and headers[-1].startswith("Column ") and raw[len(headers) - 1] in ("", None):
        headers.pop()  # trailing empty header cells (spreadsheets often have them)
    if not headers:
        raise InvalidInput("The file has no header row.", code="no_headers")
    return headers


def _check_xlsx(path: Path) -> None:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise unreadable("The file looks like a ZIP archive but is damaged.") from None
    with archive:
        names = set(archive.namelist())
        if "xl/workbook.xml" not in names:
            raise InvalidInput(
                "The archive is not an Excel workbook (XLSX); export CSV or XLSX.",
                code="unsupported_format",
            )
        for info in archive.infolist():
            ratio = info.file_size / max(info.compress_size, 1)
            too_big = info.file_size > XLSX_MAX_MEMBER or (
                info.filename == "xl/sharedStrings.xml" and info.file_size > XLSX_MAX_SHARED_STRINGS
            )
            if too_big or (info.file_size > 10 * 1024**2 and ratio > XLSX_MAX_RATIO):
                raise unreadable(
                    "The workbook expands to far more data than it holds (a zip bomb?); "
                    "it was refused."
                )


def inspect(path: Path, sniff: Sniff) -> FileInfo:
    """Format, encoding, delimiter and header row of a stored upload."""
    if sniff.head.startswith(_ZIP):
        _check_xlsx(path)
        with xlsx_rows(path) as rows:
            first = next(rows, None)
        if first is None or isinstance(first, RowProblem):
            raise InvalidInput("The workbook has no readable header row.", code="no_headers")
        return FileInfo("xlsx", "utf-8", ",", clean_headers(list(first)))
    if sniff.head.startswith(_OLE2):
        raise InvalidInput(
            "Old Excel files (.xls) are not supported; save the sheet as XLSX or CSV.",
            code="unsupported_format",
        )
    encoding = detect_encoding(sniff)
    sample = _sample_text(path, encoding)
    if not _looks_like_text(sample):
        raise unreadable(
            "The file does not look like text in any encoding we know (binary data?). "
            "Export CSV (UTF-8) or XLSX."
        )
    delimiter = detect_delimiter(sample)
    with csv_rows(path, encoding, delimiter) as rows:
        first = next(rows, None)
    if first is None or isinstance(first, RowProblem):
        raise InvalidInput("The file has no readable header row.", code="no_headers")
    return FileInfo("csv", encoding, delimiter, clean_headers(first))


@dataclass(frozen=True)
class RowProblem:
    """A row that could not be read at all (too long, too many columns, malformed)."""

    message: str


Row = list[str] | RowProblem


def _bounded_lines(text: IO[str]) -> Iterator[str]:
    """Lines of at most MAX_LINE_CHARS; a longer one is skipped and replaced by a marker."""
    while True:
        line = text.readline(MAX_LINE_CHARS)
        if not line:
            return
        if len(line) == MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
            while True:
                rest = text.readline(MAX_LINE_CHARS)
                if not rest or rest.endswith(("\n", "\r")):
                    break
            yield OVERSIZED + "\n"
            continue
        yield line


def _csv_iter(text: IO[str], delimiter: str) -> Iterator[Row]:
    csv.field_size_limit(MAX_CELL_CHARS)
    reader = csv.reader(_bounded_lines(text), delimiter=delimiter, strict=False)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            text_error = str(error)
            if "field larger" in text_error:
                yield RowProblem(f"A cell is longer than {MAX_CELL_CHARS:,} characters.")
            else:
                yield RowProblem(f"The row is not valid CSV ({text_error}).")
            continue
        if row and row[0].startswith(OVERSIZED):
            yield RowProblem(f"The row is longer than {MAX_LINE_CHARS:,} characters.")
        elif not row or all(not cell.strip() for cell in row):
            yield []
        elif len(row) > MAX_COLUMNS:
            yield RowProblem(f"The row has {len(row)} cells; at most {MAX_COLUMNS} are read.")
        else:
            yield row


class _Position:
    """How far through the file the reader is, as a fraction (for progress bars)."""

    def __init__(self, read: Callable[[], float]) -> None:
        self.read = read

    def __call__(self) -> float:
        return max(0.0, min(1.0, self.read()))


@contextlib.contextmanager
def csv_rows(
    path: Path, encoding: str, delimiter: str, position: list[_Position] | None = None
) -> Iterator[Iterator[Row]]:
    """Every record of a CSV file (the header first); blank rows come as empty lists."""
    raw = open(path, "rb")  # noqa: SIM115 (closed below)
    size = max(path.stat().st_size, 1)
    if position is not None:
        position.append(_Position(lambda: raw.tell() / size))
    text = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
    try:
        yield _csv_iter(text, delimiter)
    finally:
        text.close()


def xlsx_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ") if value.time() != time(0) else value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


@contextlib.contextmanager
def xlsx_rows(path: Path, position: list[_Position] | None = None) -> Iterator[Iterator[Row]]:
    """The first sheet's rows (header first), streamed by openpyxl's read-only reader."""
    from openpyxl import load_workbook

    handle = open(path, "rb")  # noqa: SIM115 (a file object: openpyxl checks names' extensions)
    try:
        book = load_workbook(handle, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for damaged files
        handle.close()
        raise unreadable(f"The workbook cannot be read ({type(error).__name__}).") from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        done = [0]
        if position is not None:
            expected = max(getattr(sheet, "max_row", None) or 1, 1)
            position.append(_Position(lambda: done[0] / expected))

        def rows() -> Iterator[Row]:
            if sheet is None:
                return
            for values in sheet.iter_rows(values_only=True):
                done[0] += 1
                cells = list(values)
                while cells and cells[-1] is None:
                    cells.pop()
                if len(cells) > MAX_COLUMNS:
                    yield RowProblem(
                        f"The row has {len(cells)} cells; at most {MAX_COLUMNS} are read."
                    )
                    continue
                text = [xlsx_cell(cell) for cell in cells]
                if any(len(cell) > MAX_CELL_CHARS for cell in text):
                    yield RowProblem(f"A cell is longer than {MAX_CELL_CHARS:,} characters.")
                    continue
                yield text if any(cell.strip() for cell in text) else []

        yield rows()
    finally:
        book.close()
        handle.close()


@dataclass
class Rows:
    """Numbered data rows, ``(row_number, cells)``, and how far through the file they are.

    Row numbers are the spreadsheet's: the header is row 1.
    """

    rows: Iterator[tuple[int, Row]]
    position: Callable[[], float]

    def __iter__(self) -> Iterator[tuple[int, Row]]:
        return self.rows


@contextlib.contextmanager
def data_rows(path: Path, *, file_format: str, encoding: str, delimiter: str) -> Iterator[Rows]:
    """The rows after the header; stops with an error past :data:`MAX_ROWS`."""
    position: list[_Position] = []
    opener = (
        xlsx_rows(path, position)
        if file_format == "xlsx"
        else csv_rows(path, encoding, delimiter, position)
    )
    with opener as rows:

        def numbered() -> Iterator[tuple[int, Row]]:
            next(rows, None)
            for number, row in enumerate(rows, start=2):
                if number - 1 > MAX_ROWS:
                    raise InvalidInput(
                        f"The file has more than {MAX_ROWS:,} rows; split it.", code="too_many_rows"
                    )
                yield number, row

        yield Rows(numbered(), position[0])
