"""System email (invitations, password resets, notifications).

A message is stored and its sending job enqueued in the caller's transaction. With no SMTP
server configured outside production, messages are kept for the panel's dev mailbox.
"""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import aiosmtplib
import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from patron.config import Settings
from patron.kit.time import utcnow
from patron.models import MailMessage

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def render(template: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """Subject, plain text and inlined HTML for a system email template."""
    subject = _templates.get_template(f"{template}.subject.txt").render(context).strip()
    text_body = _templates.get_template(f"{template}.txt").render(context)
    html = _templates.get_template(f"{template}.html").render(context)
    return subject, text_body, css_inline.inline(html)


async def queue_email(
    db: AsyncSession,
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    user_id: uuid.UUID | None = None,
) -> MailMessage:
    from patron.mail.tasks import send_mail
    from patron.worker.enqueue import enqueue

    subject, text_body, html = render(template, context)
    message = MailMessage(
        to_address=to,
        subject=subject,
        body_text=text_body,
        body_html=html,
        kind=template,
        user_id=user_id,
    )
    db.add(message)
    await db.flush()
    await enqueue(db, send_mail, message_id=str(message.id))
    return message


def build_message(settings: Settings, message: MailMessage) -> EmailMessage:
    email = EmailMessage()
    email["From"] = settings.mail_from
    email["To"] = message.to_address
    email["Subject"] = message.subject
    # a stable Message-ID lets receiving servers drop a duplicate if a retry resends
    email["Message-ID"] = make_msgid(idstring=str(message.id), domain="patron.local")
    email.set_content(message.body_text)
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html")
    return email


async def deliver(settings: Settings, message: MailMessage) -> str:
    """Send one stored message; returns its new status (``sent`` or ``captured``)."""
    if not settings.smtp_configured:
        return "captured"
    await aiosmtplib.send(
        build_message(settings, message),
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username or None,
        password=settings.smtp_password.get_secret_value() or None,
        start_tls=False if settings.smtp_use_tls else settings.smtp_starttls,
        use_tls=settings.smtp_use_tls,
        timeout=30,
    )
    return "sent"


async def mark_delivered(message: MailMessage, status: str) -> None:
    message.status = status
    message.sent_at = utcnow()
    message.attempts += 1
    message.error = ""
