"""Saved segments: create, refresh, change static lists, delete. Only flushes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.audit.service import Actor
from patron.auth.principal import Principal
from patron.customers.repository import visible_customers
from patron.errors import Conflict, CRMError, InvalidInput
from patron.kit.time import utcnow
from patron.models import Customer, Segment
from patron.segments import repository
from patron.segments.ast import to_json
from patron.segments.dependencies import Definition, refuse_cycles
from patron.segments.language import compile_for, compile_text
from patron.segments.text import to_text

MAX_IDS = 10_000
AUDIT_IDS = 100  # customer ids a members_changed audit row lists (the counts are whole)
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Changed:
    size: int
    entered: int
    exited: int


def snapshot(segment: Segment) -> dict[str, Any]:
    """What the audit log keeps of a segment's definition."""
    return {
        "name": segment.name,
        "description": segment.description,
        "kind": segment.kind,
        "expression": segment.expression,
    }


async def _audit(
    db: AsyncSession, action: str, actor: Actor, segment: Segment, details: dict[str, Any]
) -> None:
    await audit.record(
        db,
        action=f"segment.{action}",
        actor=actor,
        object_type="segment",
        object_id=segment.id,
        details=details,
    )


async def create_segment(
    db: AsyncSession,
    *,
    principal: Principal,
    name: str,
    description: str,
    kind: str,
    expression: str | None,
    customer_ids: list[uuid.UUID],
) -> Segment:
    """A dynamic segment (from an expression, filled at once) or a static list (a snapshot
    of an expression's current members the creator may see, plus any given customers)."""
    if await repository.name_taken(db, name):
        raise Conflict(f"A segment named {name!r} exists already.", code="segment_name_taken")
    if kind == "dynamic" and (not expression or customer_ids):
        raise InvalidInput(
            "A dynamic segment needs an expression and no customer list.",
            code="dynamic_needs_expression",
        )
    segment = Segment(
        name=name,
        description=description,
        kind=kind,
        created_by_id=principal.user_id,
    )
    if expression:
        compiled = await compile_for(db, expression)
        segment.expression, segment.ast = to_text(compiled.tree), to_json(compiled.tree)
    db.add(segment)
    await db.flush()
    # an older segment may name this one already (it was saved when another had the name)
    refuse_cycles(await repository.definitions(db), segment)
    if kind == "dynamic":
        changed = await refresh_segment(db, segment)
    else:
        entered: list[uuid.UUID] = []
        if expression:
            members = repository.member_ids(principal, compiled.where)
            entered += await repository.add_members(db, segment.id, members)
        entered += await _add_visible(db, principal, segment, customer_ids)
        changed = await _settle(db, segment, entered=entered, exited=[])
    await _audit(
        db, "created", principal.actor, segment, {**snapshot(segment), "members": changed.size}
    )
    return segment


async def _add_visible(
    db: AsyncSession, principal: Principal, segment: Segment, customer_ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    wanted = set(customer_ids)
    if not wanted:
        return []
    if len(wanted) > MAX_IDS:
        raise InvalidInput(f"At most {MAX_IDS} customers at a time.", code="too_many_customers")
    visible = visible_customers(principal).with_only_columns(Customer.id)
    visible = visible.where(Customer.id.in_(wanted))
    found = set((await db.scalars(visible)).all())
    if found != wanted:
        missing = sorted(str(customer_id) for customer_id in wanted - found)
        raise InvalidInput(
            "Some customers do not exist or are not visible to you.",
            code="unknown_customers",
            details=[{"field": "customer_ids", "message": m} for m in missing[:20]],
        )
    return await repository.add_members(db, segment.id, visible)


async def _settle(
    db: AsyncSession,
    segment: Segment,
    *,
    entered: list[uuid.UUID],
    exited: list[uuid.UUID],
    now: datetime | None = None,
) -> Changed:
    size = await repository.record_changes(db, segment.id, entered=entered, exited=exited)
    segment.member_count = size
    segment.refreshed_at = now or utcnow()
    await db.flush()
    return Changed(size, len(entered), len(exited))


async def refresh_segment(
    db: AsyncSession, segment: Segment, *, now: datetime | None = None
) -> Changed:
    """Brings a dynamic segment's members up to date, recording who entered and who left."""
    if segment.kind != "dynamic":
        raise Conflict("A static list changes only by hand.", code="segment_not_dynamic")
    compiled = await compile_for(db, segment.expression, now=now)
    await repository.tune_for_segments(db)
    current = repository.all_member_ids(compiled.where)
    exited = await repository.remove_members(db, segment.id, keep=current)
    entered = await repository.add_members(db, segment.id, current)
    return await _settle(db, segment, entered=entered, exited=exited, now=now)


async def refresh_customers(
    db: AsyncSession, *, customer_ids: list[uuid.UUID], now: datetime | None = None
) -> int:
    """Re-evaluates every dynamic segment for just these customers (those whose data
    changed), recording who entered and who left; returns how many segments changed.

    A segment whose expression no longer compiles is skipped (the periodic refresh reports
    it); its other segments still move.
    """
    if not customer_ids:
        return 0
    now = now or utcnow()
    catalog = await repository.load_catalog(db)
    changed = 0
    for segment in await repository.dynamic_segments(db):
        try:
            compiled = compile_text(segment.expression, catalog, now=now)
        except CRMError as error:
            log.warning("segment_refresh_failed", segment_id=str(segment.id), code=error.code)
            continue
        current = repository.all_member_ids(compiled.where).where(Customer.id.in_(customer_ids))
        exited = await repository.remove_members(db, segment.id, keep=current, drop=customer_ids)
        entered = await repository.add_members(db, segment.id, current)
        if entered or exited:
            size = await repository.record_changes(db, segment.id, entered=entered, exited=exited)
            segment.member_count = size
            changed += 1
    await db.flush()
    return changed


async def change_members(
    db: AsyncSession,
    *,
    principal: Principal,
    segment: Segment,
    add: list[uuid.UUID],
    remove: list[uuid.UUID],
) -> Changed:
    """Adds or removes customers of a static list by hand."""
    if segment.kind != "static":
        raise Conflict(
            "A dynamic segment's members follow its expression.", code="segment_not_static"
        )
    entered = await _add_visible(db, principal, segment, add)
    exited = await repository.remove_members(db, segment.id, drop=remove) if remove else []
    changed = await _settle(db, segment, entered=entered, exited=exited)
    if entered or exited:
        await _audit(
            db,
            "members_changed",
            principal.actor,
            segment,
            {
                "added": len(entered),
                "removed": len(exited),
                "added_ids": sorted(str(customer_id) for customer_id in entered)[:AUDIT_IDS],
                "removed_ids": sorted(str(customer_id) for customer_id in exited)[:AUDIT_IDS],
                "members": changed.size,
            },
        )
    return changed


async def update_segment(
    db: AsyncSession,
    *,
    actor: Actor,
    segment: Segment,
    name: str,
    description: str,
    expression: str | None,
) -> Changed | None:
    """Renames a segment or changes its description; a dynamic segment may get a new
    expression, and is refreshed at once (a static list keeps its members). What changed is
    audited (``segment.updated``, old and new values)."""
    if await repository.name_taken(db, name, other_than=segment.id):
        raise Conflict(f"A segment named {name!r} exists already.", code="segment_name_taken")
    before = snapshot(segment)
    text, tree = segment.expression, segment.ast
    if segment.kind == "dynamic" and expression is not None:
        if not expression.strip():
            raise InvalidInput(
                "A dynamic segment needs an expression.", code="dynamic_needs_expression"
            )
        compiled = await compile_for(db, expression)
        text, tree = to_text(compiled.tree), to_json(compiled.tree)
    # checked before the segment changes, so the query does not flush a refused definition
    refuse_cycles(await repository.definitions(db), Definition(segment.id, name, tree))
    segment.name, segment.description = name, description
    segment.expression, segment.ast = text, tree
    await db.flush()
    await audit.record_change(
        db,
        action="segment.updated",
        actor=actor,
        object_type="segment",
        object_id=segment.id,
        before=before,
        after=snapshot(segment),
    )
    if segment.kind != "dynamic" or expression is None:
        return None
    return await refresh_segment(db, segment)


async def delete_segment(db: AsyncSession, segment: Segment, *, actor: Actor) -> None:
    await _audit(
        db, "deleted", actor, segment, {**snapshot(segment), "members": segment.member_count}
    )
    await db.delete(segment)
    await db.flush()
