"""The fields an expression may name, with their types; custom fields come from definitions."""

from __future__ import annotations

import difflib
import uuid
from dataclasses import dataclass, field
from typing import Literal

from patron.models import CustomFieldDefinition
from patron.models.customers import LIFECYCLE_STAGES, RFM_GROUPS
from patron.segments.errors import UnknownField

Kind = Literal["text", "choice", "number", "datetime", "date", "boolean", "multiselect"]


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: Kind
    options: tuple[str, ...] = ()


BUILTIN: dict[str, FieldSpec] = {
    spec.name: spec
    for spec in (
        *(
            FieldSpec(name, "text")
            for name in (
                "first_name",
                "last_name",
                "email",
                "phone",
                "company",
                "country",
                "city",
                "locale",
                "source",
                "owner",
            )
        ),
        FieldSpec("lifecycle", "choice", LIFECYCLE_STAGES),
        *(
            FieldSpec(name, "number")
            for name in (
                "orders_count",
                "total_spent",
                "average_order_value",
                "refunded_total",
                "items",
                "returns_count",
            )
        ),
        # not set (rather than 0) for customers without orders or before the first scoring
        *(
            FieldSpec(name, "number")
            for name in ("recency_score", "frequency_score", "monetary_score")
        ),
        FieldSpec("rfm_group", "choice", RFM_GROUPS),
        FieldSpec("created", "datetime"),
        FieldSpec("first_order", "datetime"),
        FieldSpec("last_order", "datetime"),
        FieldSpec("last_seen", "datetime"),
        FieldSpec("birthday", "date"),
    )
}
CUSTOM_KINDS: dict[str, Kind] = {
    "text": "text",
    "select": "choice",
    "number": "number",
    "date": "date",
    "boolean": "boolean",
    "multiselect": "multiselect",
}


@dataclass(frozen=True)
class Catalog:
    """Every field name an expression may use: the built-in ones and ``custom.<key>``."""

    custom: dict[str, FieldSpec]
    segments: dict[str, uuid.UUID] = field(default_factory=dict)  # by lower-cased name

    def names(self) -> list[str]:
        return [*BUILTIN, *self.custom]

    def lookup(self, name: str, pos: tuple[int, int] | None = None) -> FieldSpec:
        spec = BUILTIN.get(name) or self.custom.get(name)
        if spec is not None:
            return spec
        close = difflib.get_close_matches(name, self.names(), n=1, cutoff=0.6)
        line, column = pos or (None, None)
        where = f"Line {line}, column {column}: " if pos else ""
        hint = f" Did you mean {close[0]}?" if close else ""
        raise UnknownField(
            f"{where}there is no field '{name}'.{hint}",
            line=line,
            column=column,
            expected=self.names(),
            suggestion=close[0] if close else None,
        )


def catalog_of(
    definitions: list[CustomFieldDefinition], segments: dict[str, uuid.UUID] | None = None
) -> Catalog:
    return Catalog(
        {
            f"custom.{d.key}": FieldSpec(
                f"custom.{d.key}", CUSTOM_KINDS[d.field_type], tuple(d.options)
            )
            for d in definitions
            if d.entity == "customer"
        },
        {name.lower(): segment_id for name, segment_id in (segments or {}).items()},
    )
