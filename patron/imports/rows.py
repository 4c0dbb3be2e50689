"""Turning one file row into a validated record, or into row-level errors.

Validation is pure (no database): the same row gives the same errors in the dry run and in
the import, so what the dry run reported is exactly what the import skips.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from patron.imports import values
from patron.imports.fields import CUSTOM_PREFIX
from patron.imports.values import CellError
from patron.kit.custom_fields import coerce
from patron.models import CustomFieldDefinition


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    value: str
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "column": self.column,
            "value": self.value[:200],
            "code": self.code,
            "message": self.message,
        }


@dataclass
class Context:
    """What validation needs besides the row: the mapping and the job's options."""

    entity: str
    mapping: dict[str, str]  # header -> field
    headers: list[str]
    match_on: str = "email"
    date_order: str = "auto"
    default_country: str | None = None
    consent_default: str = ""
    custom: dict[str, CustomFieldDefinition] = field(default_factory=dict)
    columns: list[tuple[int, str, str]] = field(init=False)  # (index, header, field)

    def __post_init__(self) -> None:
        self.columns = [
            (self.headers.index(header), header, target)
            for header, target in self.mapping.items()
            if target and header in self.headers
        ]

    def mapped(self) -> set[str]:
        return {target for _, _, target in self.columns}


@dataclass(slots=True)
class CustomerRecord:
    row: int
    email: str | None = None
    first_name: str = ""
    last_name: str = ""
    phone: str | None = None
    company: str | None = None
    birthday: date | None = None
    locale: str | None = None
    country: str | None = None
    tags: list[str] = field(default_factory=list)
    source: str | None = None
    lifecycle_stage: str | None = None
    custom_fields: dict[str, Any] = field(default_factory=dict)
    line1: str | None = None
    line2: str = ""
    city: str | None = None
    region: str = ""
    postal_code: str = ""
    email_consent: str | None = None
    email_consent_at: datetime | None = None
    sms_consent: str | None = None
    external_id: str | None = None

    def key(self, match_on: str) -> str | None:
        return (self.external_id or None) if match_on == "external_id" else self.email


class RowInvalid(Exception):
    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} errors")
        self.errors = errors


Cells = dict[str, tuple[str, str]]  # field -> (header, raw value)


def cells_of(context: Context, row: list[str]) -> Cells:
    found: Cells = {}
    for index, header, target in context.columns:
        value = row[index].strip() if index < len(row) else ""
        if value:
            found[target] = (header, value)
    return found


class _Collector:
    def __init__(self, row: int, cells: Cells) -> None:
        self.row = row
        self.cells = cells
        self.errors: list[RowError] = []

    def take(self, name: str, parse: Callable[[str], Any]) -> Any:
        if name not in self.cells:
            return None
        header, raw = self.cells[name]
        try:
            return parse(raw)
        except CellError as error:
            self.errors.append(RowError(self.row, header, raw, error.code, error.message))
            return None

    def missing(self, name: str, message: str, header: str = "") -> None:
        self.errors.append(RowError(self.row, header or name, "", "required", message))


def _custom(collector: _Collector, context: Context) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, (header, raw) in collector.cells.items():
        if not name.startswith(CUSTOM_PREFIX):
            continue
        key = name.removeprefix(CUSTOM_PREFIX)
        definition = context.custom.get(key)
        if definition is None:
            collector.errors.append(
                RowError(collector.row, header, raw, "invalid_custom_field", f"No field {key!r}")
            )
            continue
        value: Any = raw
        try:
            if definition.field_type == "date":
                value = values.parse_date(raw, context.date_order)
            elif definition.field_type == "multiselect":
                value = values.tags(raw)
            found[key] = coerce(definition, value)
        except (CellError, ValueError) as error:
            message = error.message if isinstance(error, CellError) else f"must be {error}"
            collector.errors.append(
                RowError(
                    collector.row,
                    header,
                    raw,
                    "invalid_custom_field",
                    f"{definition.label} {message}",
                )
            )
    for key, definition in context.custom.items():
        name = CUSTOM_PREFIX + key
        if definition.required and name in context.mapped() and key not in found:
            header = next((h for _, h, t in context.columns if t == name), name)
            if not any(e.column == header for e in collector.errors):
                collector.missing(name, f"{definition.label} is required", header)
    return found


def customer(context: Context, number: int, row: list[str]) -> CustomerRecord:
    """A valid customer record, or :class:`RowInvalid` with every problem of the row."""
    cells = cells_of(context, row)
    c = _Collector(number, cells)
    record = CustomerRecord(row=number)
    record.email = c.take("email", values.email)
    record.country = c.take("country", values.country)
    region = record.country or context.default_country
    record.phone = c.take("phone", lambda raw: values.phone(raw, region))
    if "full_name" in cells:
        first, last = values.split_name(cells["full_name"][1])
        record.first_name, record.last_name = first[:100], last[:100]
    record.first_name = c.take("first_name", lambda v: values.text(v, 100)) or record.first_name
    record.last_name = c.take("last_name", lambda v: values.text(v, 100)) or record.last_name
    record.company = c.take("company", lambda v: values.text(v, 200))
    record.birthday = c.take("birthday", lambda v: values.parse_date(v, context.date_order))
    record.locale = c.take("locale", values.locale)
    record.tags = c.take("tags", values.tags) or []
    record.source = c.take("source", lambda v: values.text(v, 100))
    record.lifecycle_stage = c.take("lifecycle_stage", values.lifecycle)
    record.external_id = c.take("external_id", lambda v: values.text(v, 200))
    record.email_consent = c.take("email_consent", values.consent)
    if record.email_consent is None and context.consent_default and "email_consent" not in cells:
        record.email_consent = context.consent_default
    record.email_consent_at = c.take(
        "email_consent_at", lambda v: values.parse_datetime(v, context.date_order)
    )
    record.sms_consent = c.take("sms_consent", values.consent)
    record.line1 = c.take("address_line1", lambda v: values.text(v, 200))
    record.line2 = c.take("address_line2", lambda v: values.text(v, 200)) or ""
    record.city = c.take("city", lambda v: values.text(v, 100))
    record.region = c.take("region", lambda v: values.text(v, 100)) or ""
    record.postal_code = c.take("postal_code", lambda v: values.text(v, 20)) or ""
    record.custom_fields = _custom(c, context)
    if record.line1 and not (record.city and (record.country or context.default_country)):
        c.missing(
            "address_line1",
            "An address needs line 1, a city and a country",
            cells["address_line1"][0],
        )
    if record.line1 and not record.country:
        record.country = context.default_country
    if context.match_on == "email" and record.email is None and "email" not in cells:
        c.missing("email", "The email address is missing (needed to match customers)")
    if context.match_on == "external_id" and not record.external_id:
        c.missing("external_id", "The external ID is missing (needed to match customers)")
    if c.errors:
        raise RowInvalid(c.errors)
    return record
