"""The dry run and the import: stream the file, validate in batches, write in batches.

Each batch commits together with the job's progress (``processed_rows`` is the last row
committed), so a crashed import resumes after the last committed batch; the writers are
idempotent, so even a replayed batch writes nothing twice. Reading and validating the next
batch (CPU, in a thread) overlaps with writing the current one (in PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.audit.service import SYSTEM, Actor
from patron.config import Settings
from patron.errors import CRMError
from patron.imports import entities, repository
from patron.imports.files import RowProblem, data_rows, imports_dir
from patron.imports.rows import RowError, RowInvalid
from patron.kit.time import utcnow
from patron.models import ImportJob

log = structlog.get_logger(__name__)

Unit = Callable[[], AbstractAsyncContextManager[AsyncSession]]
BATCH_ROWS = 5000
SAMPLE_ERRORS = 100
REPORT_HEADER = ["row", "column", "value", "code", "message"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: str) -> str:
    """A cell a spreadsheet shows as text and never evaluates (CSV injection)."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


class Stop(Exception):
    """The job was cancelled, or a test asked to stop after some batches."""


@dataclass
class Batch:
    records: list[Any] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    consumed: int = 0  # data rows read, blank and failed ones included
    last_row: int = 1


def _report_path(settings: Settings, job: ImportJob, phase: str) -> Path:
    return imports_dir(settings.data_dir) / f"{job.id}.{phase}-errors.csv"


def file_path(settings: Settings, job: ImportJob) -> Path:
    return imports_dir(settings.data_dir) / job.storage_key


class Report:
    """The downloadable error report: one line per problem, safe to open in a spreadsheet."""

    def __init__(self, path: Path, *, keep_rows_up_to: int | None = None) -> None:
        self.path = path
        if keep_rows_up_to is not None and path.exists():
            self._truncate(keep_rows_up_to)
            self.out: TextIO = open(path, "a", newline="", encoding="utf-8")  # noqa: SIM115
        else:
            self.out = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
            csv.writer(self.out).writerow(REPORT_HEADER)
        self.writer = csv.writer(self.out)

    def _truncate(self, last_row: int) -> None:
        kept = self.path.with_suffix(".tmp")
        with (
            open(self.path, newline="", encoding="utf-8") as old,
            open(kept, "w", newline="", encoding="utf-8") as new,
        ):
            writer = csv.writer(new)
            for line in csv.reader(old):
                if line and (not line[0].isdigit() or int(line[0]) <= last_row):
                    writer.writerow(line)
        kept.replace(self.path)

    def add(self, errors: list[RowError]) -> None:
        for error in errors:
            self.writer.writerow(
                [
                    error.row,
                    safe_text(error.column),
                    safe_text(error.value[:1000]),
                    error.code,
                    safe_text(error.message),
                ]
            )
        self.out.flush()

    def close(self) -> None:
        self.out.close()


def _batches(
    rows: Iterator[tuple[int, Any]],
    handler: entities.Handler,
    *,
    skip: int,
    size: int,
) -> Iterator[Batch]:
    """Validated batches; the first ``skip`` rows only feed the duplicate check."""
    seen: dict[str, set[int]] = {}
    batch = Batch()
    for consumed, (number, row) in enumerate(rows, start=1):
        replay = consumed <= skip
        if not replay:
            batch.consumed += 1
            batch.last_row = number
        if isinstance(row, RowProblem):
            if not replay:
                batch.errors.append(RowError(number, "", "", "unreadable_row", row.message))
        elif row:
            try:
                record = handler.validate(number, row)
                for name, key in handler.keys(record):
                    hashes = seen.setdefault(name, set())
                    if hash(key) in hashes:
                        raise RowInvalid(
                            [
                                RowError(
                                    number,
                                    handler.header_of(name),
                                    key,
                                    "duplicate_in_file",
                                    f"The {name.replace('_', ' ')} appears on an earlier row",
                                )
                            ]
                        )
                for name, key in handler.keys(record):
                    seen[name].add(hash(key))
                if not replay:
                    batch.records.append(record)
            except RowInvalid as invalid:
                if not replay:
                    batch.errors.extend(invalid.errors)
        if not replay and batch.consumed >= size:
            yield batch
            batch = Batch()
    if batch.consumed or not skip:
        yield batch


async def _next_batch(iterator: Iterator[Batch]) -> Batch | None:
    return await asyncio.to_thread(next, iterator, None)


def _sample(job: ImportJob, errors: list[RowError]) -> None:
    room = SAMPLE_ERRORS - len(job.errors_sample)
    if room > 0 and errors:
        job.errors_sample = [*job.errors_sample, *(e.as_dict() for e in errors[:room])]


@contextlib.asynccontextmanager
async def _job(unit: Unit, import_id: uuid.UUID) -> AsyncIterator[tuple[AsyncSession, ImportJob]]:
    async with unit() as db:
        job = await repository.get_job(db, import_id, for_update=True)
        yield db, job


async def _fail(unit: Unit, import_id: uuid.UUID, message: str) -> None:
    async with _job(unit, import_id) as (_, job):
        job.status = "failed"
        job.failure = message[:2000]
        job.finished_at = utcnow()


def _actor(job: ImportJob) -> Actor:
    started_by = (job.options or {}).get("started_by") or {}
    if not started_by.get("type"):
        return SYSTEM
    raw_id = started_by.get("id")
    return Actor(
        str(started_by["type"]),
        uuid.UUID(str(raw_id)) if raw_id else None,
        str(started_by.get("label", "")),
    )


async def dry_run(
    unit: Unit, settings: Settings, import_id: uuid.UUID, *, batch_size: int = BATCH_ROWS
) -> None:
    """Validate every row, count inserts and updates, write the error report."""
    async with _job(unit, import_id) as (db, job):
        if job.status != "validating":
            return
        handler = await entities.handler_for(db, job, settings)
        path, report_path = file_path(settings, job), _report_path(settings, job, "dry-run")
        job.errors_sample, job.error_count, job.would_insert, job.would_update = [], 0, 0, 0
        job.processed_rows, job.progress = 0, 0
    report = Report(report_path)
    try:
        with data_rows(
            path, file_format=job.file_format, encoding=job.encoding, delimiter=job.delimiter
        ) as rows:
            batches = _batches(iter(rows), handler, skip=0, size=batch_size)
            while (batch := await _next_batch(batches)) is not None:
                report.add(batch.errors)
                async with _job(unit, import_id) as (db, current):
                    if current.status != "validating":
                        raise Stop
                    existing = await handler.count_existing(db, batch.records)
                    current.would_update += existing
                    current.would_insert += len(batch.records) - existing
                    current.error_count += len(batch.errors)
                    current.processed_rows += batch.consumed
                    current.progress = min(99, int(rows.position() * 100))
                    _sample(current, batch.errors)
    except Stop:
        return
    except CRMError as error:
        await _fail(unit, import_id, error.message)
        return
    finally:
        report.close()
    async with _job(unit, import_id) as (db, job):
        job.status = "validated"
        job.total_rows, job.processed_rows, job.progress = job.processed_rows, 0, 100
        job.error_report_key = report_path.name
        job.validated_at = utcnow()


async def _write_batch(
    unit: Unit, import_id: uuid.UUID, handler: entities.Handler, batch: Batch, total: int
) -> list[RowError]:
    """Write the batch and the job's progress in one transaction; if the set-based write
    fails, write its rows one by one so that only the failing rows are skipped. Returns the
    errors found while writing."""
    try:
        async with _job(unit, import_id) as (db, job):
            if job.status != "importing":
                raise Stop
            # a batch lost in a crash is lost with its progress, and is simply imported again;
            # JIT compiling costs more than it saves on a few thousand rows
            await db.execute(
                text(
                    "SELECT set_config('synchronous_commit', 'off', true),"
                    " set_config('jit', 'off', true)"
                )
            )
            result = await handler.write(db, batch.records)
            _advance(job, batch, result.inserted, result.updated, result.errors, total)
        return result.errors
    except (IntegrityError, DBAPIError) as error:
        log.warning("import_batch_retried_row_by_row", import_id=str(import_id), error=str(error))
    errors: list[RowError] = []
    inserted = updated = 0
    async with _job(unit, import_id) as (db, job):
        for record in batch.records:
            try:
                async with db.begin_nested():
                    result = await handler.write(db, [record])
                inserted, updated = inserted + result.inserted, updated + result.updated
                errors.extend(result.errors)
            except (IntegrityError, DBAPIError) as error:
                reason = str(getattr(error, "orig", error)).splitlines()[0][:300]
                errors.append(
                    RowError(record.row, "", "", "not_stored", f"Could not be stored: {reason}")
                )
        _advance(job, batch, inserted, updated, errors, total)
    return errors


def _advance(
    job: ImportJob, batch: Batch, inserted: int, updated: int, errors: list[RowError], total: int
) -> None:
    job.processed_rows += batch.consumed
    job.inserted += inserted
    job.updated += updated
    job.error_count += len(batch.errors) + len(errors)
    job.progress = min(99, job.processed_rows * 100 // max(total, 1))
    _sample(job, [*batch.errors, *errors])


async def run_import(
    unit: Unit,
    settings: Settings,
    import_id: uuid.UUID,
    *,
    batch_size: int = BATCH_ROWS,
    stop_after_batches: int | None = None,
) -> None:
    """Import (or resume importing) the file; ``stop_after_batches`` simulates a crash."""
    async with _job(unit, import_id) as (db, job):
        if job.status not in ("queued", "importing"):
            return
        resume = job.processed_rows
        if not resume:
            job.inserted = job.updated = job.error_count = 0
            job.errors_sample = []
        job.status, job.failure = "importing", ""
        job.started_at = job.started_at or utcnow()
        handler = await entities.handler_for(db, job, settings, actor=_actor(job))
        path, total = file_path(settings, job), job.total_rows
        report_path = _report_path(settings, job, "import")
        job.error_report_key = report_path.name
    report = Report(report_path, keep_rows_up_to=(resume + 1) if resume else None)
    written = 0
    try:
        with data_rows(
            path, file_format=job.file_format, encoding=job.encoding, delimiter=job.delimiter
        ) as rows:
            batches = _batches(iter(rows), handler, skip=resume, size=batch_size)
            batch = await _next_batch(batches)
            while batch is not None:
                report.add(batch.errors)
                pending = asyncio.ensure_future(_next_batch(batches))
                try:
                    write_errors = await _write_batch(unit, import_id, handler, batch, total)
                except BaseException:
                    pending.cancel()
                    with contextlib.suppress(BaseException):
                        await pending
                    raise
                report.add(write_errors)
                written += 1
                if stop_after_batches is not None and written >= stop_after_batches:
                    pending.cancel()
                    with contextlib.suppress(BaseException):
                        await pending
                    raise Stop
                batch = await pending
    except Stop:
        return
    except CRMError as error:
        await _fail(unit, import_id, error.message)
        return
    except Exception as error:
        await _fail(unit, import_id, f"The import stopped: {type(error).__name__}: {error}")
        raise
    finally:
        report.close()
    async with _job(unit, import_id) as (db, job):
        job.status, job.progress, job.finished_at = "completed", 100, utcnow()
        await handler.finish(db)
        await audit.record(
            db,
            action="import.completed",
            actor=_actor(job),
            object_type="import",
            object_id=job.id,
            details={
                "entity": job.entity,
                "filename": job.filename,
                "rows": job.total_rows,
                "inserted": job.inserted,
                "updated": job.updated,
                "errors": job.error_count,
            },
        )
