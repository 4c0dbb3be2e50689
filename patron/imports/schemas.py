"""Imports and saved mappings over the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, computed_field

from patron.kit.schemas import Input, Schema

Entity = Literal["customers", "products", "orders"]
MatchOn = Literal["email", "external_id"]


class ImportOptions(Input):
    channel: str = Field(
        default="", max_length=100, description="The store the external IDs belong to"
    )
    date_order: Literal["auto", "dmy", "mdy"] = Field(
        default="auto",
        description="How to read 04/05/1990; `auto` refuses dates that read both ways",
    )
    default_country: str = Field(
        default="", max_length=2, description="Country of rows without one (for phones)"
    )
    consent_default: Literal["", "subscribed", "unsubscribed", "pending"] = Field(
        default="", description="Email consent of rows without a consent column"
    )
    source: str = Field(default="", max_length=100, description="Source of new customers")


class RowErrorOut(Schema):
    row: int
    column: str
    value: str
    code: str
    message: str


class ImportOut(Schema):
    id: uuid.UUID
    entity: Entity
    filename: str
    file_format: Literal["csv", "xlsx"]
    size_bytes: int
    encoding: str
    delimiter: str
    headers: list[str]
    preset: str
    mapping: dict[str, str] = Field(description="File header → Patron field ('' = ignored)")
    match_on: MatchOn
    options: dict[str, Any]
    status: str
    progress: int = Field(description="Percent done of the current phase (dry run or import)")
    total_rows: int
    processed_rows: int
    would_insert: int
    would_update: int
    inserted: int
    updated: int
    error_count: int
    errors_sample: list[RowErrorOut]
    failure: str
    created_by_id: uuid.UUID | None
    created_at: datetime
    validated_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def error_report_url(self) -> str | None:
        if self.status in ("uploaded", "validating"):
            return None
        return f"/api/v1/imports/{self.id}/errors.csv"


class ImportUpdate(Input):
    mapping: dict[str, str] | None = Field(
        default=None, description="File header → Patron field; '' ignores the column"
    )
    match_on: MatchOn | None = None
    preset: str | None = Field(
        default=None, max_length=40, description="Re-map the columns with this preset"
    )
    mapping_id: uuid.UUID | None = Field(default=None, description="Apply a saved mapping")
    options: ImportOptions | None = None


class FieldOut(Schema):
    key: str
    label: str
    help: str


class PresetOut(Schema):
    key: str
    label: str
    entity: Entity
    notes: str


class ImportFieldsOut(Schema):
    entity: Entity
    fields: list[FieldOut]
    presets: list[PresetOut]


class MappingOut(Schema):
    id: uuid.UUID
    entity: Entity
    name: str
    mapping: dict[str, Any]
    created_by_id: uuid.UUID | None
    created_at: datetime


class MappingCreate(Input):
    entity: Entity
    name: str = Field(min_length=1, max_length=100)
    mapping: dict[str, str] = Field(max_length=500)


class MappingUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    mapping: dict[str, str] | None = Field(default=None, max_length=500)
