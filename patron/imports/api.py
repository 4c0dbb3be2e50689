"""/api/v1/imports and /api/v1/import-mappings."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile, status
from fastapi.responses import FileResponse

from patron.auth.dependencies import get_settings
from patron.config import Settings
from patron.db.deps import DbSession
from patron.errors import NotFound
from patron.imports import fields, repository, service
from patron.imports.auth import ImportAccess, check_entity, importable
from patron.imports.files import imports_dir
from patron.imports.schemas import (
    Entity,
    FieldOut,
    ImportFieldsOut,
    ImportOut,
    ImportUpdate,
    MappingCreate,
    MappingOut,
    MappingUpdate,
    PresetOut,
)
from patron.kit.pagination import Page, PageParams, page_params
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS, error_responses

router = APIRouter(prefix=API_PREFIX, tags=["imports"], responses=COMMON_ERRORS)
SettingsDep = Annotated[Settings, Depends(get_settings)]
NOT_FOUND = error_responses(404)
CONFLICT = error_responses(404, 409)
CHUNK = 1024 * 1024
# the upload routes accept bodies up to PATRON_IMPORT_MAX_BYTES (see app.create_app)
UPLOAD_PATHS = (f"{API_PREFIX}/imports", "/imports/new")


async def upload_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(CHUNK):
        yield chunk


def error_report(settings: Settings, key: str | None, filename: str) -> FileResponse:
    if not key:
        raise NotFound("There is no error report yet; run the dry run.", code="no_error_report")
    path = imports_dir(settings.data_dir) / key
    if not path.exists():
        raise NotFound("The error report is gone.", code="no_error_report")
    return FileResponse(
        path,
        media_type="text/csv; charset=utf-8",
        filename=f"{filename.rsplit('.', 1)[0]}-errors.csv",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
    )


@router.post(
    "/imports",
    response_model=ImportOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(413),
    summary="Upload a CSV or XLSX file to import",
    description="Multipart form: `file` and `entity` (customers, products or orders). The "
    "columns are mapped automatically when the file matches a preset (Shopify, HubSpot, "
    "Mailchimp, Patron format). Files up to PATRON_IMPORT_MAX_BYTES.",
)
async def upload(
    principal: ImportAccess,
    db: DbSession,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="CSV (any common encoding) or XLSX")],
    entity: Annotated[Entity, Form()] = "customers",
) -> ImportOut:
    check_entity(principal, entity)
    job = await service.upload(
        db,
        settings,
        actor=principal.actor,
        entity=entity,
        filename=file.filename or "upload",
        chunks=upload_chunks(file),
    )
    return ImportOut.model_validate(job)


@router.get("/imports", response_model=Page[ImportOut], summary="Imports, newest first")
async def list_imports(
    principal: ImportAccess,
    db: DbSession,
    page: Annotated[PageParams, Depends(page_params)],
    entity: Entity | None = None,
    status: Annotated[str | None, Query(max_length=12)] = None,
) -> Page[ImportOut]:
    jobs, cursor = await repository.list_jobs(
        db, page, entities=importable(principal), entity=entity, status=status
    )
    return Page(items=[ImportOut.model_validate(job) for job in jobs], next_cursor=cursor)


@router.get(
    "/import-fields",
    response_model=ImportFieldsOut,
    summary="The fields a column can map to, and the presets",
)
async def import_fields(principal: ImportAccess, entity: Entity = "customers") -> ImportFieldsOut:
    return ImportFieldsOut(
        entity=entity,
        fields=[FieldOut.model_validate(f) for f in fields.fields_for(entity)],
        presets=[PresetOut.model_validate(p) for p in fields.presets_for(entity)],
    )


@router.get("/imports/{import_id}", response_model=ImportOut, responses=NOT_FOUND)
async def get_import(import_id: uuid.UUID, principal: ImportAccess, db: DbSession) -> ImportOut:
    return ImportOut.model_validate(await service.get_visible(db, principal, import_id))


@router.patch(
    "/imports/{import_id}",
    response_model=ImportOut,
    responses=CONFLICT,
    summary="Change the column mapping, preset, match key or options",
)
async def update_import(
    import_id: uuid.UUID, body: ImportUpdate, principal: ImportAccess, db: DbSession
) -> ImportOut:
    job = await service.get_visible(db, principal, import_id)
    saved = await repository.get_mapping(db, body.mapping_id) if body.mapping_id else None
    await service.update(
        db,
        job,
        mapping=body.mapping,
        match_on=body.match_on,
        preset=body.preset,
        saved_mapping=saved,
        options=body.options.model_dump() if body.options else None,
    )
    return ImportOut.model_validate(job)


@router.post(
    "/imports/{import_id}/dry-run",
    response_model=ImportOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=CONFLICT,
    summary="Check every row in the background; poll the import for the result",
)
async def dry_run(import_id: uuid.UUID, principal: ImportAccess, db: DbSession) -> ImportOut:
    job = await service.get_visible(db, principal, import_id)
    await service.request_dry_run(db, job)
    return ImportOut.model_validate(job)


@router.post(
    "/imports/{import_id}/start",
    response_model=ImportOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=CONFLICT,
    summary="Run the import (after a dry run), or resume a failed or stalled one",
)
async def start(import_id: uuid.UUID, principal: ImportAccess, db: DbSession) -> ImportOut:
    job = await service.get_visible(db, principal, import_id)
    await service.start(db, job, actor=principal.actor)
    return ImportOut.model_validate(job)


@router.post(
    "/imports/{import_id}/cancel",
    response_model=ImportOut,
    responses=CONFLICT,
    summary="Stop after the current batch; rows already imported stay",
)
async def cancel(import_id: uuid.UUID, principal: ImportAccess, db: DbSession) -> ImportOut:
    job = await service.get_visible(db, principal, import_id)
    await service.cancel(db, job, actor=principal.actor)
    return ImportOut.model_validate(job)


@router.get(
    "/imports/{import_id}/errors.csv",
    response_class=FileResponse,
    responses=NOT_FOUND,
    summary="Every row error (row, column, value, code, message) as CSV",
)
async def errors_csv(
    import_id: uuid.UUID, principal: ImportAccess, db: DbSession, settings: SettingsDep
) -> FileResponse:
    job = await service.get_visible(db, principal, import_id)
    return error_report(settings, job.error_report_key, job.filename)


@router.get("/import-mappings", response_model=list[MappingOut], summary="Saved mappings")
async def list_mappings(principal: ImportAccess, db: DbSession) -> list[MappingOut]:
    rows = await repository.list_mappings(db, entities=importable(principal))
    return [MappingOut.model_validate(row) for row in rows]


@router.post(
    "/import-mappings",
    response_model=MappingOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
)
async def create_mapping(body: MappingCreate, principal: ImportAccess, db: DbSession) -> MappingOut:
    check_entity(principal, body.entity)
    saved = await service.save_mapping(
        db, actor=principal.actor, entity=body.entity, name=body.name, mapping=body.mapping
    )
    return MappingOut.model_validate(saved)


@router.get("/import-mappings/{mapping_id}", response_model=MappingOut, responses=NOT_FOUND)
async def get_mapping(mapping_id: uuid.UUID, principal: ImportAccess, db: DbSession) -> MappingOut:
    saved = await repository.get_mapping(db, mapping_id)
    check_entity(principal, saved.entity)
    return MappingOut.model_validate(saved)


@router.patch("/import-mappings/{mapping_id}", response_model=MappingOut, responses=CONFLICT)
async def update_mapping(
    mapping_id: uuid.UUID, body: MappingUpdate, principal: ImportAccess, db: DbSession
) -> MappingOut:
    saved = await repository.get_mapping(db, mapping_id)
    check_entity(principal, saved.entity)
    await service.update_mapping(
        db, saved, actor=principal.actor, name=body.name, mapping=body.mapping
    )
    return MappingOut.model_validate(saved)


@router.delete(
    "/import-mappings/{mapping_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND
)
async def delete_mapping(mapping_id: uuid.UUID, principal: ImportAccess, db: DbSession) -> None:
    saved = await repository.get_mapping(db, mapping_id)
    check_entity(principal, saved.entity)
    await service.delete_mapping(db, saved, actor=principal.actor)
