"""Writing the audit log: the one helper every domain calls.

Rows are append-only (a database trigger refuses updates and deletes); they join the
caller's transaction, so a rolled-back change leaves no audit row behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from patron.kit.context import current_request
from patron.models import AuditEvent
from patron.webhooks import outbox as webhooks_outbox

REDACTED = "[redacted]"
SENSITIVE_FIELDS = frozenset({"password", "password_hash", "totp_secret", "token", "key_hash"})


@dataclass(frozen=True)
class Actor:
    type: str  # "user", "api_key", "system" or "anonymous"
    id: uuid.UUID | None = None
    label: str = ""


SYSTEM = Actor("system", None, "system")
ANONYMOUS = Actor("anonymous", None, "")


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: (REDACTED if key in SENSITIVE_FIELDS else value) for key, value in values.items()}


async def record(
    db: AsyncSession,
    *,
    action: str,
    actor: Actor,
    object_type: str | None = None,
    object_id: object | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit row; ``details`` must be JSON-serialisable."""
    context = current_request()
    event = AuditEvent(
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        object_type=object_type,
        object_id=str(object_id) if object_id is not None else None,
        details=_clean(details or {}),
        ip=context.ip or None,
        user_agent=context.user_agent[:400] or None,
        request_id=context.request_id or None,
    )
    db.add(event)
    await db.flush()
    await webhooks_outbox.emit_for_audit(db, event)
    return event


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Field-by-field changes, as stored under ``details["changes"]``."""
    changes = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            changes[key] = {"from": old, "to": new}
    return _clean(changes)


async def record_change(
    db: AsyncSession,
    *,
    action: str,
    actor: Actor,
    object_type: str,
    object_id: object,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
) -> AuditEvent | None:
    """Audit a data change; nothing is written when nothing changed."""
    changes = diff(before, after)
    if not changes:
        return None
    return await record(
        db,
        action=action,
        actor=actor,
        object_type=object_type,
        object_id=object_id,
        details={"changes": changes},
    )


async def record_read(
    db: AsyncSession,
    *,
    actor: Actor,
    object_type: str,
    object_id: object,
    fields: tuple[str, ...] = (),
    purpose: str = "view",
) -> AuditEvent:
    """Audit a staff member reading personal data (a profile, an export, a search result)."""
    return await record(
        db,
        action=f"{object_type}.read",
        actor=actor,
        object_type=object_type,
        object_id=object_id,
        details={"purpose": purpose, "fields": list(fields)},
    )
