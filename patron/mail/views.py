"""The dev mailbox: system email kept when no SMTP server is configured (not in production)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from patron.auth.dependencies import SettingsAdmin
from patron.db.deps import DbSession
from patron.errors import NotFound
from patron.mail.repository import recent_messages
from patron.models import MailMessage
from patron.web.templating import render

router = APIRouter(prefix="/admin/mailbox")
SHOWN = 100


def _available(request: Request) -> None:
    if request.app.state.settings.is_production:
        raise NotFound("The dev mailbox does not exist in production.")


@router.get("")
async def mailbox(request: Request, principal: SettingsAdmin, db: DbSession) -> Response:
    _available(request)
    messages = await recent_messages(db, limit=SHOWN)
    return render(request, "admin/mailbox.html", {"messages": messages})


@router.get("/{message_id}")
async def message(
    request: Request, message_id: uuid.UUID, principal: SettingsAdmin, db: DbSession
) -> Response:
    _available(request)
    found = await db.get(MailMessage, message_id)
    if found is None:
        raise NotFound("No such message.")
    return render(request, "admin/mail_message.html", {"message": found})
