"""Panel pages: upload, map columns, dry run, import with a progress bar, history."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response

from patron.auth.dependencies import get_settings
from patron.config import Settings
from patron.db.deps import DbSession
from patron.errors import CRMError
from patron.imports import fields, repository, service
from patron.imports.api import error_report, upload_chunks
from patron.imports.auth import ImportAccess, check_entity, importable
from patron.kit.pagination import PageParams
from patron.models import ImportJob
from patron.web.templating import redirect, render

router = APIRouter(prefix="/imports")
SettingsDep = Annotated[Settings, Depends(get_settings)]
ENTITY_LABELS = {"customers": "Customers", "products": "Products", "orders": "Orders"}
STATUS_STYLES = {
    "uploaded": "secondary",
    "validating": "info",
    "validated": "primary",
    "queued": "info",
    "importing": "info",
    "completed": "success",
    "failed": "danger",
    "cancelled": "warning",
}
RUNNING = ("validating", "queued", "importing")


def _context(job: ImportJob | None = None, **extra: object) -> dict[str, object]:
    return {"entity_labels": ENTITY_LABELS, "status_styles": STATUS_STYLES, "job": job, **extra}


@router.get("")
async def history(
    request: Request,
    principal: ImportAccess,
    db: DbSession,
    cursor: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    try:
        jobs, next_cursor = await repository.list_jobs(
            db, PageParams(limit=50, cursor=cursor or None), entities=importable(principal)
        )
    except CRMError:
        return redirect(request, "/imports")
    return render(
        request,
        "imports/list.html",
        _context(
            jobs=jobs,
            next_url=f"/imports?cursor={next_cursor}" if next_cursor else None,
            first_url="/imports" if cursor else None,
        ),
    )


@router.get("/new")
async def new_form(request: Request, principal: ImportAccess) -> Response:
    return render(request, "imports/new.html", _context(entities=importable(principal)))


@router.post("/new")
async def create(
    request: Request,
    principal: ImportAccess,
    db: DbSession,
    settings: SettingsDep,
    file: Annotated[UploadFile | None, File()] = None,
    entity: Annotated[str, Form(max_length=10)] = "customers",
) -> Response:
    try:
        if file is None or not file.filename:
            raise CRMError("Choose a CSV or XLSX file.", code="no_file", status=422)
        if entity not in ENTITY_LABELS:
            raise CRMError("Choose what to import.", code="invalid_entity", status=422)
        check_entity(principal, entity)
        job = await service.upload(
            db,
            settings,
            actor=principal.actor,
            entity=entity,
            filename=file.filename,
            chunks=upload_chunks(file),
        )
    except CRMError as error:
        return render(
            request,
            "imports/new.html",
            _context(entities=importable(principal), error=error.message, error_code=error.code),
            status_code=error.status,
        )
    return redirect(request, f"/imports/{job.id}", flash="File uploaded; check the mapping.")


async def _page(
    request: Request,
    db: DbSession,
    job: ImportJob,
    *,
    status_code: int = 200,
    **extra: object,
) -> Response:
    custom = await repository.custom_definitions(db, fields.CUSTOM_FIELD_ENTITY[job.entity])
    choices = [(f.key, f.label) for f in fields.fields_for(job.entity)]
    choices += [(fields.CUSTOM_PREFIX + key, f"Custom: {d.label}") for key, d in custom.items()]
    return render(
        request,
        "imports/detail.html",
        _context(
            job,
            choices=choices,
            presets=fields.presets_for(job.entity),
            saved=list(await repository.list_mappings(db, entities=[job.entity])),
            running=job.status in RUNNING,
            editable=job.status in ("uploaded", "validated", "failed") and not job.started_at,
            **extra,
        ),
        status_code=status_code,
    )


@router.get("/{import_id}")
async def detail(
    request: Request, import_id: uuid.UUID, principal: ImportAccess, db: DbSession
) -> Response:
    return await _page(request, db, await service.get_visible(db, principal, import_id))


@router.get("/{import_id}/progress")
async def progress(
    request: Request, import_id: uuid.UUID, principal: ImportAccess, db: DbSession
) -> Response:
    job = await service.get_visible(db, principal, import_id)
    response = render(request, "imports/_progress.html", _context(job, running=True))
    if job.status not in RUNNING:
        response.headers["HX-Refresh"] = "true"  # the page shows the result
    return response


@router.post("/{import_id}/mapping")
async def save_mapping(
    request: Request, import_id: uuid.UUID, principal: ImportAccess, db: DbSession
) -> Response:
    job = await service.get_visible(db, principal, import_id)
    form = await request.form()
    mapping = {
        header: str(form.get(f"col-{index}", ""))[:60] for index, header in enumerate(job.headers)
    }
    preset = str(form.get("preset", ""))[:40]
    saved_id = str(form.get("mapping_id", ""))[:40]
    try:
        saved = await repository.get_mapping(db, uuid.UUID(saved_id)) if saved_id else None
        use_preset = preset if preset and preset != job.preset else None
        await service.update(
            db,
            job,
            mapping=None if use_preset or saved else mapping,
            preset=use_preset,
            saved_mapping=saved,
            match_on=str(form.get("match_on", "email")) or "email",
            options={
                "date_order": str(form.get("date_order", "auto")),
                "default_country": str(form.get("default_country", ""))[:60],
            },
        )
    except (CRMError, ValueError) as error:
        message = error.message if isinstance(error, CRMError) else "That mapping is not valid."
        await db.refresh(job)
        return await _page(request, db, job, status_code=422, error=message)
    if form.get("then") == "dry-run":
        return await dry_run(request, import_id, principal, db)
    return redirect(request, f"/imports/{job.id}", flash="Mapping saved.")


@router.post("/{import_id}/save-mapping")
async def save_named_mapping(
    request: Request,
    import_id: uuid.UUID,
    principal: ImportAccess,
    db: DbSession,
    name: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    job = await service.get_visible(db, principal, import_id)
    try:
        await service.save_mapping(
            db, actor=principal.actor, entity=job.entity, name=name, mapping=dict(job.mapping)
        )
    except CRMError as error:
        return redirect(request, f"/imports/{job.id}", flash=error.message, category="danger")
    return redirect(request, f"/imports/{job.id}", flash=f"Mapping “{name}” saved.")


@router.post("/{import_id}/dry-run")
async def dry_run(
    request: Request, import_id: uuid.UUID, principal: ImportAccess, db: DbSession
) -> Response:
    job = await service.get_visible(db, principal, import_id)
    try:
        await service.request_dry_run(db, job)
    except CRMError as error:
        return redirect(request, f"/imports/{job.id}", flash=error.message, category="danger")
    return redirect(request, f"/imports/{job.id}", flash="Checking every row…")


@router.post("/{import_id}/start")
async def start(
    request: Request, import_id: uuid.UUID, principal: ImportAccess, db: DbSession
) -> Response:
    job = await service.get_visible(db, principal, import_id)
    try:
        await service.start(db, job, actor=principal.actor)
    except CRMError as error:
        return redirect(request, f"/imports/{job.id}", flash=error.message, category="danger")
    return redirect(request, f"/imports/{job.id}", flash="Import started.")


@router.post("/{import_id}/cancel")
async def cancel(
    request: Request, import_id: uuid.UUID, principal: ImportAccess, db: DbSession
) -> Response:
    job = await service.get_visible(db, principal, import_id)
    try:
        await service.cancel(db, job, actor=principal.actor)
    except CRMError as error:
        return redirect(request, f"/imports/{job.id}", flash=error.message, category="warning")
    return redirect(request, f"/imports/{job.id}", flash="Import cancelled.", category="warning")


@router.get("/{import_id}/errors.csv")
async def errors_csv(
    import_id: uuid.UUID, principal: ImportAccess, db: DbSession, settings: SettingsDep
) -> FileResponse:
    job = await service.get_visible(db, principal, import_id)
    return error_report(settings, job.error_report_key, job.filename)
