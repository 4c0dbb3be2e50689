"""Import jobs and saved mappings: the only place that changes them.

Status: uploaded → (dry run) validating → validated → (start) queued → importing →
completed | failed | cancelled. Changing the mapping sends a job back to ``uploaded``; a
failed, cancelled or stalled import can be started again and resumes where it stopped.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.audit.service import Actor
from patron.config import Settings
from patron.errors import Conflict, InvalidInput
from patron.imports import fields, files, repository
from patron.imports.auth import check_entity
from patron.imports.fields import CUSTOM_FIELD_ENTITY, PRESETS
from patron.kit.contact import normalise_country
from patron.kit.ids import new_id
from patron.kit.time import utcnow
from patron.models import ImportJob, ImportMapping

STALLED_AFTER = timedelta(minutes=5)
RUNNING = ("validating", "queued", "importing")


def _safe_filename(name: str) -> str:
    base = Path(name.replace("\\", "/")).name.strip() or "upload"
    return "".join(ch for ch in base if ch.isprintable())[:255] or "upload"


async def upload(
    db: AsyncSession,
    settings: Settings,
    *,
    actor: Actor,
    entity: str,
    filename: str,
    chunks: AsyncIterable[bytes],
) -> ImportJob:
    """Store the file (streamed), read its header row and map the columns automatically."""
    if entity not in fields.ENTITY_FIELDS:
        raise InvalidInput(
            "Choose what to import: customers, products or orders.", code="invalid_entity"
        )
    job_id = new_id()
    storage_key = f"{job_id}.upload"
    target = files.imports_dir(settings.data_dir) / storage_key
    sniff = await files.store_upload(chunks, target, max_bytes=settings.import_max_bytes)
    try:
        info = files.inspect(target, sniff)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    custom = await repository.custom_definitions(db, CUSTOM_FIELD_ENTITY[entity])
    preset = fields.guess_preset(entity, info.headers)
    job = ImportJob(
        id=job_id,
        entity=entity,
        filename=_safe_filename(filename),
        file_format=info.file_format,
        storage_key=storage_key,
        size_bytes=sniff.size,
        encoding=info.encoding,
        delimiter=info.delimiter,
        headers=info.headers,
        preset=preset,
        mapping=fields.auto_mapping(entity, info.headers, preset, set(custom)),
        match_on="email",
        options={"currency": settings.currency},
        status="uploaded",
        created_by_id=actor.id if actor.type in ("user", "api_key") else None,
    )
    db.add(job)
    await db.flush()
    await audit.record(
        db,
        action="import.uploaded",
        actor=actor,
        object_type="import",
        object_id=job.id,
        details={"entity": entity, "filename": job.filename, "size": sniff.size},
    )
    return job


def _reset_validation(job: ImportJob) -> None:
    job.status = "uploaded"
    job.would_insert = job.would_update = job.error_count = job.total_rows = 0
    job.processed_rows = job.progress = 0
    job.errors_sample = []
    job.error_report_key = None
    job.validated_at = None


def _editable(job: ImportJob) -> None:
    if job.status not in ("uploaded", "validated", "failed") or job.started_at is not None:
        raise Conflict(
            "The import has started; its mapping can no longer change.", code="import_locked"
        )


async def update(
    db: AsyncSession,
    job: ImportJob,
    *,
    mapping: dict[str, str] | None = None,
    match_on: str | None = None,
    preset: str | None = None,
    saved_mapping: ImportMapping | None = None,
    options: dict[str, Any] | None = None,
) -> ImportJob:
    """Change the mapping, the key to match on, the preset or the options."""
    _editable(job)
    custom = set(await repository.custom_definitions(db, CUSTOM_FIELD_ENTITY[job.entity]))
    if preset is not None:
        known = PRESETS.get(preset)
        if known is None or known.entity != job.entity:
            raise InvalidInput(
                f"There is no {job.entity} preset {preset!r}.", code="invalid_preset"
            )
        job.preset = preset
        job.mapping = fields.auto_mapping(job.entity, job.headers, preset, custom)
    if saved_mapping is not None:
        if saved_mapping.entity != job.entity:
            raise InvalidInput("That saved mapping is for another entity.", code="invalid_mapping")
        mapping = {**job.mapping, **dict(saved_mapping.mapping.items())}
    if mapping is not None:
        job.mapping = check_mapping(job.entity, job.headers, mapping, custom)
    if match_on is not None:
        if job.entity != "customers" and match_on != "email":
            raise InvalidInput("Only customers match on external IDs.", code="invalid_match_on")
        job.match_on = match_on
    if options is not None:
        job.options = {**(job.options or {}), **_check_options(options)}
    _reset_validation(job)
    await db.flush()
    return job


def check_mapping(
    entity: str, headers: list[str], mapping: dict[str, str], custom: set[str]
) -> dict[str, str]:
    targets = fields.valid_targets(entity, custom)
    problems = []
    used: dict[str, str] = {}
    for header, target in mapping.items():
        if header not in headers:
            problems.append({"field": header, "message": "the file has no such column"})
        elif target and target not in targets:
            problems.append({"field": header, "message": f"{target!r} is not a Patron field"})
        elif target and target in used:
            problems.append({"field": header, "message": f"{target} is already mapped"})
        elif target:
            used[target] = header
    if problems:
        raise InvalidInput(
            "The mapping is not valid; see details.", code="invalid_mapping", details=problems
        )
    return {header: target for header, target in mapping.items() if target}


def _check_options(options: dict[str, Any]) -> dict[str, Any]:
    cleaned = dict(options)
    country = str(cleaned.get("default_country") or "")
    cleaned["default_country"] = normalise_country(country) if country else ""
    return cleaned


async def request_dry_run(db: AsyncSession, job: ImportJob) -> None:
    from patron.imports.tasks import validate_import
    from patron.worker.enqueue import enqueue

    _editable(job)
    required = {"customers": "external_id" if job.match_on == "external_id" else "email",
                "products": "", "orders": "number"}[job.entity]  # fmt: skip
    if required and required not in job.mapping.values():
        raise InvalidInput(
            f"Map a column to {required} first: rows are matched by it.",
            code="mapping_incomplete",
            details=[{"field": "mapping", "message": f"no column is mapped to {required}"}],
        )
    if job.entity == "products" and not {"handle", "title"} & set(job.mapping.values()):
        raise InvalidInput("Map a column to handle or title first.", code="mapping_incomplete")
    _reset_validation(job)
    job.status = "validating"
    await db.flush()
    await enqueue(db, validate_import, lock=f"import:{job.id}", import_id=str(job.id))


def _stalled(job: ImportJob) -> bool:
    return job.status == "importing" and utcnow() - job.updated_at > STALLED_AFTER


async def start(db: AsyncSession, job: ImportJob, *, actor: Actor) -> None:
    """Queue the import: after a dry run, or again to resume a failed or stalled one."""
    from patron.imports.tasks import run_import
    from patron.worker.enqueue import enqueue

    resumable = job.validated_at is not None and job.status in ("failed", "cancelled")
    if job.status != "validated" and not resumable and not _stalled(job):
        message = (
            "Run the dry run first."
            if job.status in ("uploaded", "validating")
            else f"The import is {job.status}; it cannot start now."
        )
        raise Conflict(message, code="import_not_ready")
    started_by = {"type": actor.type, "id": str(actor.id) if actor.id else None}
    job.options = {**(job.options or {}), "started_by": {**started_by, "label": actor.label}}
    job.status, job.failure, job.finished_at = "queued", "", None
    await db.flush()
    await enqueue(db, run_import, lock=f"import:{job.id}", import_id=str(job.id))
    await audit.record(
        db,
        action="import.started" if not job.processed_rows else "import.resumed",
        actor=actor,
        object_type="import",
        object_id=job.id,
        details={
            "entity": job.entity,
            "filename": job.filename,
            "resume_after": job.processed_rows,
        },
    )


async def cancel(db: AsyncSession, job: ImportJob, *, actor: Actor) -> None:
    """Stop a running dry run or import after its current batch; committed rows stay."""
    if job.status not in RUNNING:
        raise Conflict(f"The import is {job.status}; nothing to cancel.", code="import_not_running")
    job.status, job.finished_at = "cancelled", utcnow()
    await db.flush()
    await audit.record(
        db,
        action="import.cancelled",
        actor=actor,
        object_type="import",
        object_id=job.id,
        details={"processed_rows": job.processed_rows},
    )


async def save_mapping(
    db: AsyncSession, *, actor: Actor, entity: str, name: str, mapping: dict[str, str]
) -> ImportMapping:
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("Give the mapping a name.", code="invalid_name")
    existing = await repository.mapping_named(db, entity, name)
    if existing is not None:
        raise Conflict(f"A {entity} mapping named {name!r} exists.", code="mapping_name_taken")
    custom = set(await repository.custom_definitions(db, CUSTOM_FIELD_ENTITY[entity]))
    targets = fields.valid_targets(entity, custom)
    bad = [target for target in mapping.values() if target and target not in targets]
    if bad:
        raise InvalidInput(
            f"Not Patron fields: {', '.join(sorted(set(bad)))}.", code="invalid_mapping"
        )
    saved = ImportMapping(
        id=new_id(),
        entity=entity,
        name=name,
        mapping={h[:200]: t for h, t in mapping.items() if t},
        created_by_id=actor.id if actor.type in ("user", "api_key") else None,
    )
    db.add(saved)
    await db.flush()
    await audit.record(
        db, action="import_mapping.created", actor=actor, object_type="import_mapping",
        object_id=saved.id, details={"entity": entity, "name": name},
    )  # fmt: skip
    return saved


async def update_mapping(
    db: AsyncSession,
    saved: ImportMapping,
    *,
    actor: Actor,
    name: str | None = None,
    mapping: dict[str, str] | None = None,
) -> ImportMapping:
    if name is not None and name != saved.name:
        clash = await repository.mapping_named(db, saved.entity, name)
        if clash is not None:
            raise Conflict(f"A mapping named {name!r} exists.", code="mapping_name_taken")
        saved.name = name
    if mapping is not None:
        custom = set(await repository.custom_definitions(db, CUSTOM_FIELD_ENTITY[saved.entity]))
        targets = fields.valid_targets(saved.entity, custom)
        if any(t and t not in targets for t in mapping.values()):
            raise InvalidInput("The mapping names unknown fields.", code="invalid_mapping")
        saved.mapping = {h: t for h, t in mapping.items() if t}
    await db.flush()
    await audit.record(
        db, action="import_mapping.updated", actor=actor, object_type="import_mapping",
        object_id=saved.id, details={"name": saved.name},
    )  # fmt: skip
    return saved


async def delete_mapping(db: AsyncSession, saved: ImportMapping, *, actor: Actor) -> None:
    await db.delete(saved)
    await db.flush()
    await audit.record(
        db, action="import_mapping.deleted", actor=actor, object_type="import_mapping",
        object_id=saved.id, details={"name": saved.name},
    )  # fmt: skip


def checked(job: ImportJob, principal: Any) -> ImportJob:
    check_entity(principal, job.entity)
    return job


async def get_visible(db: AsyncSession, principal: Any, import_id: uuid.UUID) -> ImportJob:
    """The job if the principal may import its entity (else 403), or 404."""
    return checked(await repository.get_job(db, import_id), principal)
