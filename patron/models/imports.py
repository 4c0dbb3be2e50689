"""CSV/XLSX imports: the job with its progress, and saved column mappings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base, IdMixin, TimestampMixin
from patron.models.customers import _in

IMPORT_ENTITIES = ("customers", "products", "orders")
IMPORT_STATUSES = (
    "uploaded",
    "validating",
    "validated",
    "queued",
    "importing",
    "completed",
    "failed",
    "cancelled",
)


class ImportJob(IdMixin, TimestampMixin, Base):
    __tablename__ = "import_job"
    __table_args__ = (
        CheckConstraint(_in("entity", IMPORT_ENTITIES), name="entity"),
        CheckConstraint(_in("status", IMPORT_STATUSES), name="status"),
        CheckConstraint("file_format IN ('csv', 'xlsx')", name="file_format"),
        CheckConstraint("match_on IN ('email', 'external_id')", name="match_on"),
    )

    entity: Mapped[str] = mapped_column(String(10))
    filename: Mapped[str] = mapped_column(String(255))
    file_format: Mapped[str] = mapped_column(String(4))
    storage_key: Mapped[str] = mapped_column(String(200))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    encoding: Mapped[str] = mapped_column(String(40), server_default="utf-8")
    delimiter: Mapped[str] = mapped_column(String(1), server_default=",")
    headers: Mapped[list[str]] = mapped_column(JSONB, server_default="[]")
    preset: Mapped[str] = mapped_column(String(40), server_default="")
    mapping: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    match_on: Mapped[str] = mapped_column(String(12), server_default="email")
    # channel for external IDs, date order, source: see patron.imports.schemas.ImportOptions
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    status: Mapped[str] = mapped_column(String(12), server_default="uploaded")
    total_rows: Mapped[int] = mapped_column(Integer, server_default="0")
    processed_rows: Mapped[int] = mapped_column(Integer, server_default="0")
    would_insert: Mapped[int] = mapped_column(Integer, server_default="0")
    would_update: Mapped[int] = mapped_column(Integer, server_default="0")
    progress: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    inserted: Mapped[int] = mapped_column(Integer, server_default="0")
    updated: Mapped[int] = mapped_column(Integer, server_default="0")
    error_count: Mapped[int] = mapped_column(Integer, server_default="0")
    errors_sample: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    error_report_key: Mapped[str | None] = mapped_column(String(200))
    failure: Mapped[str] = mapped_column(Text, server_default="")
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL")
    )
    validated_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class ImportMapping(IdMixin, Base):
    """A saved column mapping (file header → Patron field), reusable for the next file."""

    __tablename__ = "import_mapping"
    __table_args__ = (UniqueConstraint("entity", "name"),)

    entity: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(100))
    mapping: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
