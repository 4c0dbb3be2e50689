"""Writing the customer timeline: every domain calls :func:`add_entry` in its transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit.service import Actor
from patron.kit.time import utcnow
from patron.models import TimelineEntry

# the feed's filter: a group name and the entry kinds it shows
KIND_GROUPS: dict[str, tuple[str, ...]] = {
    "notes": ("note",),
    "activities": ("call", "meeting", "email_logged"),
    "orders": ("order_placed", "order_status", "order_cancelled", "payment", "refund"),
    "shipping": ("shipment", "return"),
    "profile": ("consent", "profile", "merge", "import"),
}


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
