"""Files attached to a customer's timeline: checked, stored on disk, served to permitted staff.

The stored name is random (never the uploaded one); the type is decided by the file's
content, not by what the browser claims; downloads are audited.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.auth.principal import Principal
from patron.config import Settings
from patron.errors import CRMError, InvalidInput
from patron.models import Attachment, Customer, TimelineEntry
from patron.timeline.service import add_entry

CHUNK = 64 * 1024
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
)
SAFE_NAME = str.maketrans(dict.fromkeys('/\\\x00"<>:|?*\r\n\t', "_"))


class FileTooLarge(CRMError):
    status = 413
    code = "file_too_large"


def sniff(head: bytes) -> str | None:
    """The content type of a file from its first bytes; None when it is not allowed."""
    for signature, kind in SIGNATURES:
        if head.startswith(signature):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if b"\x00" in head:
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 4:  # a multi-byte character cut at the end is fine
            return None
    return "text/plain"


def clean_filename(name: str) -> str:
    base = os.path.basename(name.replace("\\", "/")).translate(SAFE_NAME).strip(" .")
    return base[:200] or "file"


def storage_path(settings: Settings, key: str) -> Path:
    return settings.data_dir / "attachments" / key[:2] / key


async def save_attachment(
    db: AsyncSession,
    settings: Settings,
    *,
    principal: Principal,
    customer: Customer,
    filename: str,
    chunks: AsyncIterator[bytes],
    entry: TimelineEntry | None = None,
) -> Attachment:
    """Store an uploaded file and put it on the timeline (on ``entry``, or a new one)."""
    key = uuid.uuid4().hex
    path = storage_path(settings, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        async with await anyio.open_file(path, "xb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > settings.attachment_max_bytes:
                    raise FileTooLarge(
                        f"Files can be at most {settings.attachment_max_bytes // 1024} KiB."
                    )
                if len(head) < 512:
                    head += chunk[: 512 - len(head)]
                digest.update(chunk)
                await out.write(chunk)
        kind = sniff(head) if size else None
        if kind is None:
            raise InvalidInput(
                "Attach images (PNG, JPEG, GIF, WebP), PDFs or plain text files.",
                code="file_type_not_allowed",
                details=[{"field": "file", "message": "type not allowed"}],
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    name = clean_filename(filename)
    if entry is None:
        entry = await add_entry(
            db,
            customer_id=customer.id,
            kind="note",
            summary=f"Attached {name}",
            actor=principal.actor,
            data={"attachment": True},
        )
    attachment = Attachment(
        customer_id=customer.id,
        entry_id=entry.id,
        filename=name,
        content_type=kind,
        size_bytes=size,
        sha256=digest.hexdigest(),
        storage_key=key,
        uploaded_by_id=principal.user_id,
    )
    db.add(attachment)
    await db.flush()
    return attachment


async def open_attachment(
    db: AsyncSession, settings: Settings, *, principal: Principal, attachment: Attachment
) -> Path:
    """The file's path, after auditing that this person opened it."""
    await audit.record_read(
        db,
        actor=principal.actor,
        object_type="customer",
        object_id=attachment.customer_id,
        fields=("attachment",),
        purpose=f"download {attachment.id}",
    )
    path = storage_path(settings, attachment.storage_key)
    if not path.is_file():
        raise CRMError("The file is missing from storage.", code="file_missing", status=410)
    return path


def remove_stored_file(settings: Settings, attachment: Attachment) -> None:
    storage_path(settings, attachment.storage_key).unlink(missing_ok=True)
