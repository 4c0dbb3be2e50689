"""Defining custom fields (admins): for customers, orders and products."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.audit.service import Actor
from patron.errors import Conflict, InvalidInput, NotFound
from patron.models import Customer, CustomFieldDefinition, Order, Product

TABLES: dict[str, Any] = {"customer": Customer, "order": Order, "product": Product}
CHOICE_TYPES = ("select", "multiselect")


def _clean_options(field_type: str, options: list[str]) -> list[str]:
    cleaned = list(dict.fromkeys(o.strip() for o in options if o.strip()))
    if any(len(option) > 100 for option in cleaned):
        raise InvalidInput("Options hold at most 100 characters.", code="invalid_options")
    if field_type in CHOICE_TYPES and not cleaned:
        raise InvalidInput(
            "A select field needs at least one option.",
            code="options_required",
            details=[{"field": "options", "message": "empty"}],
        )
    return cleaned if field_type in CHOICE_TYPES else []


async def get(db: AsyncSession, field_id: uuid.UUID) -> CustomFieldDefinition:
    found = await db.get(CustomFieldDefinition, field_id)
    if found is None:
        raise NotFound("No such custom field.", code="custom_field_not_found")
    return found


async def create(
    db: AsyncSession,
    *,
    actor: Actor,
    entity: str,
    key: str,
    label: str,
    field_type: str,
    required: bool = False,
    options: list[str] | None = None,
    position: int = 0,
) -> CustomFieldDefinition:
    taken = await db.scalar(
        select(CustomFieldDefinition.id).where(
            CustomFieldDefinition.entity == entity, CustomFieldDefinition.key == key
        )
    )
    if taken is not None:
        raise Conflict(f"The {entity} field {key!r} already exists.", code="duplicate_field")
    field = CustomFieldDefinition(
        entity=entity,
        key=key,
        label=label.strip(),
        field_type=field_type,
        required=required,
        options=_clean_options(field_type, options or []),
        position=position,
    )
    db.add(field)
    await db.flush()
    await audit.record(
        db,
        action="custom_field.created",
        actor=actor,
        object_type="custom_field",
        object_id=field.id,
        details={"entity": entity, "key": key, "type": field_type, "required": required},
    )
    return field


async def update_field(
    db: AsyncSession, *, actor: Actor, field: CustomFieldDefinition, changes: Mapping[str, Any]
) -> CustomFieldDefinition:
    before = {k: getattr(field, k) for k in ("label", "required", "options", "position")}
    for name, value in changes.items():
        if value is None:
            raise InvalidInput(f"{name} cannot be null.", code="null_not_allowed")
        if name == "options":
            value = _clean_options(field.field_type, value)
        setattr(field, name, value.strip() if isinstance(value, str) else value)
    await db.flush()
    after = {k: getattr(field, k) for k in before}
    await audit.record_change(
        db,
        action="custom_field.updated",
        actor=actor,
        object_type="custom_field",
        object_id=field.id,
        before=before,
        after=after,
    )
    return field


async def delete_field(db: AsyncSession, *, actor: Actor, field: CustomFieldDefinition) -> int:
    """Remove the definition and its values from every record; returns how many changed."""
    table = TABLES[field.entity]
    result = await db.execute(
        update(table)
        .where(table.custom_fields.has_key(field.key))
        .values(custom_fields=table.custom_fields.op("-", return_type=JSONB)(field.key))
        .execution_options(synchronize_session=False)
    )
    cleared = int(getattr(result, "rowcount", 0) or 0)
    await audit.record(
        db,
        action="custom_field.deleted",
        actor=actor,
        object_type="custom_field",
        object_id=field.id,
        details={"entity": field.entity, "key": field.key, "values_removed": cleared},
    )
    await db.delete(field)
    await db.flush()
    return cleared
