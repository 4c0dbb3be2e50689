"""Custom fields: values checked against the admin-defined fields of an entity.

Values live in the entity's ``custom_fields`` JSONB column as JSON scalars: text as
strings, numbers as numbers, dates as ISO strings, booleans, and multi-selects as lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.errors import InvalidInput
from patron.models import CustomFieldDefinition

MAX_TEXT = 2000
TRUE_WORDS = frozenset({"true", "yes", "1", "on", "y"})
FALSE_WORDS = frozenset({"false", "no", "0", "off", "n"})


def _error(key: str, message: str) -> dict[str, str]:
    return {"field": f"custom_fields.{key}", "message": message}


async def definitions(db: AsyncSession, entity: str) -> list[CustomFieldDefinition]:
    rows = await db.scalars(
        select(CustomFieldDefinition)
        .where(CustomFieldDefinition.entity == entity)
        .order_by(CustomFieldDefinition.position, CustomFieldDefinition.label)
    )
    return list(rows)


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValueError("a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("a number") from None
    if not number.is_finite() or abs(number) > Decimal("1e15"):
        raise ValueError("a finite number")
    return int(number) if number == number.to_integral_value() else float(number)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError("yes or no")


def _choices(value: Any, options: list[str], *, many: bool) -> str | list[str]:
    values = value if isinstance(value, list) else [value]
    if not many and len(values) != 1:
        raise ValueError("one of the options")
    chosen = [str(v).strip() for v in values if str(v).strip()]
    unknown = [v for v in chosen if v not in options]
    if unknown:
        raise ValueError(f"one of: {', '.join(options)} (not {', '.join(unknown)})")
    return list(dict.fromkeys(chosen)) if many else chosen[0]


def coerce(definition: CustomFieldDefinition, value: Any) -> Any:
    """The stored form of one value; raises ValueError saying what was expected."""
    kind = definition.field_type
    if kind == "text":
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValueError("text")
        text = str(value).strip()
        if len(text) > MAX_TEXT:
            raise ValueError(f"at most {MAX_TEXT} characters")
        return text
    if kind == "number":
        return _number(value)
    if kind == "date":
        if not isinstance(value, str | date):
            raise ValueError("a date (YYYY-MM-DD)")
        try:
            return (
                value if isinstance(value, date) else date.fromisoformat(value.strip())
            ).isoformat()
        except ValueError:
            raise ValueError("a date (YYYY-MM-DD)") from None
    if kind == "boolean":
        return _boolean(value)
    return _choices(value, list(definition.options), many=kind == "multiselect")


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


async def validate_custom_fields(
    db: AsyncSession, *, entity: str, values: Mapping[str, Any], partial: bool = False
) -> dict[str, Any]:
    """Checked and normalised values; unknown keys, wrong types and missing required
    fields are a 422 ``invalid_custom_field`` listing every problem at once.
    ``partial`` skips the required check (for patches of single fields)."""
    known = {definition.key: definition for definition in await definitions(db, entity)}
    cleaned: dict[str, Any] = {}
    problems: list[dict[str, str]] = []
    for key, value in values.items():
        definition = known.get(key)
        if definition is None:
            problems.append(_error(key, f"There is no {entity} custom field {key!r}."))
            continue
        if _empty(value):
            continue
        try:
            cleaned[key] = coerce(definition, value)
        except ValueError as error:
            problems.append(_error(key, f"{definition.label} must be {error}."))
    if not partial:
        problems.extend(
            _error(key, f"{definition.label} is required.")
            for key, definition in known.items()
            if definition.required and key not in cleaned
        )
    if problems:
        raise InvalidInput(
            "Some custom fields are not valid.", code="invalid_custom_field", details=problems
        )
    return cleaned
