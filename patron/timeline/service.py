"""Writing the customer timeline.

Every domain calls :func:`add_entry` in its transaction; staff add notes (markdown, cleaned
to safe HTML, with @mentions that notify colleagues), log calls and meetings, pin entries and
attach files (stored under the data directory, served only to permitted staff).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import nh3
from markdown_it import MarkdownIt
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.audit.service import Actor
from patron.auth.principal import Principal
from patron.config import Settings
from patron.errors import InvalidInput, PermissionDenied
from patron.kit.time import utcnow
from patron.models import Customer, StaffNotification, TimelineEntry
from patron.models.timeline import KIND_GROUPS

__all__ = ["KIND_GROUPS", "add_entry"]


async def add_entry(
    db: AsyncSession,
    *,
    customer_id: uuid.UUID,
    kind: str,
    summary: str,
    actor: Actor,
    data: Mapping[str, Any] | None = None,
    order_id: uuid.UUID | None = None,
    occurred_at: datetime | None = None,
    body: str | None = None,
    body_html: str | None = None,
) -> TimelineEntry:
    """Append one entry to a customer's feed (and the order's, when ``order_id`` is given)."""
    entry = TimelineEntry(
        customer_id=customer_id,
        order_id=order_id,
        kind=kind,
        summary=summary[:500],
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label,
        data=dict(data or {}),
        occurred_at=occurred_at or utcnow(),
        body=body,
        body_html=body_html,
    )
    db.add(entry)
    await db.flush()
    return entry


# -- notes, activities, pins -----------------------------------------------------------------

MENTION = re.compile(r"(?<![\w@.])@([a-z0-9][a-z0-9._+-]*(?:@[a-z0-9-]+(?:\.[a-z0-9-]+)+)?)", re.I)
ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "h3",
    "h4",
    "hr",
    "del",
}
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True})
ACTIVITY_KINDS = ("call", "meeting", "email_logged")
PINNABLE = frozenset({"note", *ACTIVITY_KINDS})


def render_markdown(body: str) -> str:
    """Markdown to HTML that is safe to show: raw HTML is text, links are inert beyond http(s)."""
    html = _markdown.render(body)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def _summary(body: str) -> str:
    first = next((line.strip() for line in body.splitlines() if line.strip()), "")
    return first[:200] + ("…" if len(first) > 200 else "")


def _check_body(body: str) -> str:
    cleaned = body.strip()
    if not cleaned:
        raise InvalidInput(
            "Write something first.",
            code="empty_note",
            details=[{"field": "body", "message": "empty"}],
        )
    if len(cleaned) > MAX_NOTE:
        raise InvalidInput(
            f"A note holds at most {MAX_NOTE} characters.",
            code="note_too_long",
            details=[{"field": "body", "message": "too long"}],
        )
    return cleaned


MAX_NOTE = 20_000


async def _notify_mentions(
    db: AsyncSession,
    settings: Settings,
    *,
    principal: Principal,
    customer: Customer,
    body: str,
) -> list[str]:
    from patron.mail.service import queue_email
    from patron.timeline import repository

    handles = {match.lower() for match in MENTION.findall(body)}
    people = [
        p for p in await repository.staff_by_handles(db, handles) if p.id != principal.user_id
    ]
    link = f"/customers/{customer.id}"
    for person in people:
        db.add(
            StaffNotification(
                user_id=person.id,
                kind="mention",
                message=f"{principal.user.name} mentioned you on {customer.name}",
                link=link,
            )
        )
        await queue_email(
            db,
            to=person.email,
            template="mention",
            context={
                "name": person.name,
                "author": principal.user.name,
                "customer": customer.name,
                "excerpt": _summary(body),
                "url": settings.base_url + link,
            },
            user_id=person.id,
        )
    await db.flush()
    return [str(person.id) for person in people]


async def add_note(
    db: AsyncSession,
    settings: Settings,
    *,
    principal: Principal,
    customer: Customer,
    body: str,
    pinned: bool = False,
) -> TimelineEntry:
    text = _check_body(body)
    mentioned = await _notify_mentions(
        db, settings, principal=principal, customer=customer, body=text
    )
    entry = await add_entry(
        db,
        customer_id=customer.id,
        kind="note",
        summary=_summary(text),
        actor=principal.actor,
        data={"mentions": mentioned},
        body=text,
        body_html=render_markdown(text),
    )
    entry.pinned = pinned
    await db.flush()
    return entry


async def log_activity(
    db: AsyncSession,
    *,
    principal: Principal,
    customer: Customer,
    kind: str,
    summary: str,
    body: str = "",
    occurred_at: datetime | None = None,
    duration_minutes: int | None = None,
    outcome: str = "",
) -> TimelineEntry:
    """A call, meeting or email that happened outside Patron, logged by hand."""
    if kind not in ACTIVITY_KINDS:
        raise InvalidInput(f"Log a call, a meeting or an email, not {kind!r}.", code="invalid_kind")
    when = occurred_at or utcnow()
    if when > utcnow() + timedelta(minutes=5):
        raise InvalidInput(
            "An activity is logged after it happened; the time is in the future.",
            code="activity_in_future",
            details=[{"field": "occurred_at", "message": "in the future"}],
        )
    text = body.strip()
    return await add_entry(
        db,
        customer_id=customer.id,
        kind=kind,
        summary=summary.strip()[:500] or kind.replace("_", " ").capitalize(),
        actor=principal.actor,
        data={"duration_minutes": duration_minutes, "outcome": outcome},
        occurred_at=when,
        body=text or None,
        body_html=render_markdown(text) if text else None,
    )


def _check_author(principal: Principal, entry: TimelineEntry) -> None:
    if entry.actor_id != principal.user_id and not principal.has("settings:admin"):
        raise PermissionDenied(
            "Only the author or an administrator can change this entry.", code="not_the_author"
        )


async def edit_note(
    db: AsyncSession, *, principal: Principal, entry: TimelineEntry, body: str
) -> TimelineEntry:
    if entry.kind not in PINNABLE:
        raise InvalidInput("Only notes and logged activities can be edited.", code="not_editable")
    _check_author(principal, entry)
    text = _check_body(body)
    entry.body = text
    entry.body_html = render_markdown(text)
    if entry.kind == "note":
        entry.summary = _summary(text)
    entry.updated_at = utcnow()
    await db.flush()
    return entry


async def set_pinned(
    db: AsyncSession, *, principal: Principal, entry: TimelineEntry, pinned: bool
) -> TimelineEntry:
    if entry.kind not in PINNABLE:
        raise InvalidInput("Only notes and logged activities can be pinned.", code="not_pinnable")
    entry.pinned = pinned
    await db.flush()
    return entry


async def delete_note(db: AsyncSession, *, principal: Principal, entry: TimelineEntry) -> None:
    if entry.kind not in PINNABLE:
        raise InvalidInput(
            "Only notes and logged activities can be deleted; the rest is history.",
            code="not_deletable",
        )
    _check_author(principal, entry)
    await audit.record(
        db,
        action="customer.note_deleted",
        actor=principal.actor,
        object_type="customer",
        object_id=entry.customer_id,
        details={"entry_id": str(entry.id), "kind": entry.kind},
    )
    await db.delete(entry)
    await db.flush()
