"""/api/v1: a customer's timeline, notes, logged activities, files; my notifications."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, UploadFile, status
from fastapi.responses import FileResponse
from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth.dependencies import Signed, get_settings
from patron.config import Settings
from patron.customers import repository as customers
from patron.customers.auth import InteractionRead, InteractionWrite
from patron.db.deps import DbSession
from patron.errors import NotFound
from patron.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS, error_responses
from patron.models import TimelineEntry
from patron.models.timeline import KIND_GROUPS
from patron.timeline import files, repository, service
from patron.timeline.schemas import (
    ActivityIn,
    AttachmentOut,
    EntryOut,
    EntryPage,
    NoteIn,
    NoteUpdate,
    NotificationOut,
)

router = APIRouter(prefix=API_PREFIX, tags=["timeline"], responses=COMMON_ERRORS)
NOT_FOUND = error_responses(404)
SettingsDep = Annotated[Settings, Depends(get_settings)]
Group = Annotated[
    str | None,
    Query(pattern="^(" + "|".join(KIND_GROUPS) + ")$", description="Only this kind of entry"),
]


async def entries_out(db: AsyncSession, entries: list[TimelineEntry]) -> list[EntryOut]:
    files_by_entry = await repository.attachments_of(db, [entry.id for entry in entries])
    return [
        EntryOut.model_validate(entry).model_copy(
            update={
                "attachments": [
                    AttachmentOut.model_validate(a) for a in files_by_entry.get(entry.id, [])
                ]
            }
        )
        for entry in entries
    ]


@router.get(
    "/customers/{customer_id}/timeline",
    response_model=EntryPage,
    responses=NOT_FOUND,
    summary="A customer's timeline, newest first",
)
async def timeline(
    customer_id: uuid.UUID,
    principal: InteractionRead,
    db: DbSession,
    group: Group = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> EntryPage:
    customer = await customers.get_for(db, principal, customer_id)
    entries, next_cursor = await repository.feed(
        db, customer.id, group=group, limit=limit, cursor=cursor
    )
    pinned = await repository.pinned(db, customer.id) if cursor is None else []
    return EntryPage(
        items=await entries_out(db, entries),
        pinned=await entries_out(db, pinned),
        next_cursor=next_cursor,
    )


@router.post(
    "/customers/{customer_id}/notes",
    response_model=EntryOut,
    status_code=status.HTTP_201_CREATED,
    responses=NOT_FOUND,
    summary="Add a note (markdown); @mentioned colleagues are notified",
)
async def add_note(
    customer_id: uuid.UUID,
    body: NoteIn,
    principal: InteractionWrite,
    db: DbSession,
    settings: SettingsDep,
) -> EntryOut:
    customer = await customers.get_for(db, principal, customer_id)
    entry = await service.add_note(
        db, settings, principal=principal, customer=customer, body=body.body, pinned=body.pinned
    )
    return (await entries_out(db, [entry]))[0]


@router.patch(
    "/customers/{customer_id}/timeline/{entry_id}",
    response_model=EntryOut,
    responses=error_responses(403, 404),
    summary="Edit a note's text, or pin and unpin a note or activity",
)
async def update_entry(
    customer_id: uuid.UUID,
    entry_id: uuid.UUID,
    body: NoteUpdate,
    principal: InteractionWrite,
    db: DbSession,
) -> EntryOut:
    customer = await customers.get_for(db, principal, customer_id)
    entry = await repository.entry(db, customer.id, entry_id)
    if body.body is not None:
        await service.edit_note(db, principal=principal, entry=entry, body=body.body)
    if body.pinned is not None:
        await service.set_pinned(db, principal=principal, entry=entry, pinned=body.pinned)
    return (await entries_out(db, [entry]))[0]


@router.delete(
    "/customers/{customer_id}/timeline/{entry_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(403, 404),
    summary="Delete a note or a logged activity (its author or an administrator)",
)
async def delete_entry(
    customer_id: uuid.UUID,
    entry_id: uuid.UUID,
    principal: InteractionWrite,
    db: DbSession,
    settings: SettingsDep,
) -> None:
    customer = await customers.get_for(db, principal, customer_id)
    entry = await repository.entry(db, customer.id, entry_id)
    attached = (await repository.attachments_of(db, [entry.id])).get(entry.id, [])
    await service.delete_note(db, principal=principal, entry=entry)
    for attachment in attached:
        files.remove_stored_file(settings, attachment)


@router.post(
    "/customers/{customer_id}/activities",
    response_model=EntryOut,
    status_code=status.HTTP_201_CREATED,
    responses=NOT_FOUND,
    summary="Log a call, meeting or email that happened outside Patron",
)
async def log_activity(
    customer_id: uuid.UUID, body: ActivityIn, principal: InteractionWrite, db: DbSession
) -> EntryOut:
    customer = await customers.get_for(db, principal, customer_id)
    entry = await service.log_activity(
        db, principal=principal, customer=customer, **body.model_dump()
    )
    return (await entries_out(db, [entry]))[0]


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(files.CHUNK):
        yield chunk


@router.post(
    "/customers/{customer_id}/attachments",
    response_model=AttachmentOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404, 413),
    summary="Attach a file (image, PDF or text) to the customer's timeline",
)
async def upload_attachment(
    customer_id: uuid.UUID,
    file: UploadFile,
    principal: InteractionWrite,
    db: DbSession,
    settings: SettingsDep,
) -> AttachmentOut:
    customer = await customers.get_for(db, principal, customer_id)
    attachment = await files.save_attachment(
        db,
        settings,
        principal=principal,
        customer=customer,
        filename=file.filename or "file",
        chunks=_chunks(file),
    )
    return AttachmentOut.model_validate(attachment)


@router.get(
    "/customers/{customer_id}/attachments/{attachment_id}",
    response_class=FileResponse,
    responses={**NOT_FOUND, 200: {"content": {"application/octet-stream": {}}}},
    summary="Download an attached file",
)
async def download_attachment(
    customer_id: uuid.UUID,
    attachment_id: uuid.UUID,
    principal: InteractionRead,
    db: DbSession,
    settings: SettingsDep,
) -> FileResponse:
    customer = await customers.get_for(db, principal, customer_id)
    attachment = await repository.attachment(db, customer.id, attachment_id)
    path = await files.open_attachment(db, settings, principal=principal, attachment=attachment)
    return FileResponse(
        path,
        media_type=attachment.content_type,
        filename=attachment.filename,
        content_disposition_type="attachment",
    )


@router.get(
    "/notifications",
    response_model=list[NotificationOut],
    tags=["me"],
    summary="My notifications (mentions), newest first",
)
async def my_notifications(
    principal: Signed, db: DbSession, unread: bool = False
) -> list[NotificationOut]:
    rows = await repository.notifications(db, principal.user_id, unread_only=unread)
    return [NotificationOut.model_validate(row) for row in rows]


@router.post(
    "/notifications/{notification_id}/read",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["me"],
    responses=NOT_FOUND,
)
async def mark_read(notification_id: uuid.UUID, principal: Signed, db: DbSession) -> None:
    if not await repository.mark_read(db, principal.user_id, notification_id):
        raise NotFound("No such unread notification.", code="notification_not_found")
