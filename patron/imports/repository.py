"""Import queries: jobs, saved mappings, channels and the lookups of a dry run."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.errors import NotFound
from patron.kit.pagination import PageParams, paginate
from patron.models import Channel, CustomFieldDefinition, ImportJob, ImportMapping


async def get_job(db: AsyncSession, import_id: uuid.UUID, *, for_update: bool = False) -> ImportJob:
    query = select(ImportJob).where(ImportJob.id == import_id)
    if for_update:
        query = query.with_for_update()
    job = await db.scalar(query)
    if job is None:
        raise NotFound("No such import.", code="import_not_found")
    return job


async def list_jobs(
    db: AsyncSession,
    params: PageParams,
    *,
    entities: Collection[str],
    entity: str | None = None,
    status: str | None = None,
) -> tuple[list[ImportJob], str | None]:
    query = select(ImportJob).where(ImportJob.entity.in_(list(entities)))
    if entity:
        query = query.where(ImportJob.entity == entity)
    if status:
        query = query.where(ImportJob.status == status)
    return await paginate(db, query, order=[ImportJob.created_at, ImportJob.id], params=params)


async def get_mapping(db: AsyncSession, mapping_id: uuid.UUID) -> ImportMapping:
    mapping = await db.get(ImportMapping, mapping_id)
    if mapping is None:
        raise NotFound("No such saved mapping.", code="import_mapping_not_found")
    return mapping


async def list_mappings(db: AsyncSession, *, entities: Collection[str]) -> list[ImportMapping]:
    rows = await db.scalars(
        select(ImportMapping)
        .where(ImportMapping.entity.in_(list(entities)))
        .order_by(ImportMapping.entity, func.lower(ImportMapping.name))
        .limit(500)
    )
    return list(rows)


async def mapping_named(db: AsyncSession, entity: str, name: str) -> ImportMapping | None:
    return await db.scalar(
        select(ImportMapping).where(ImportMapping.entity == entity, ImportMapping.name == name)
    )


async def channel_named(db: AsyncSession, name: str) -> Channel | None:
    return await db.scalar(select(Channel).where(Channel.name == name))


async def custom_definitions(db: AsyncSession, entity: str) -> dict[str, CustomFieldDefinition]:
    rows = await db.scalars(
        select(CustomFieldDefinition).where(CustomFieldDefinition.entity == entity)
    )
    return {row.key: row for row in rows}


async def known_emails(db: AsyncSession, emails: list[str]) -> set[str]:
    """The given addresses (lower-cased) that a live customer has, as their own or as one of
    their other emails (an import matches both)."""
    if not emails:
        return set()
    rows = await db.execute(
        text(
            "SELECT lower(email::text) FROM customer WHERE email = ANY(CAST(:emails AS citext[]))"
            " AND merged_into_id IS NULL"
            " UNION SELECT lower(email::text) FROM customer_email"
            " WHERE email = ANY(CAST(:emails AS citext[]))"
        ),
        {"emails": emails},
    )
    return {row[0] for row in rows}


async def known_external_ids(
    db: AsyncSession, channel_id: uuid.UUID | None, external_ids: list[str], *, table: str
) -> set[str]:
    if not external_ids or channel_id is None:
        return set()
    rows = await db.execute(
        text(
            f"SELECT external_id FROM {table} "  # noqa: S608 (a constant table name)
            "WHERE channel_id = :channel AND external_id = ANY(:ids)"
        ),
        {"channel": channel_id, "ids": external_ids},
    )
    return {row[0] for row in rows}


async def known_values(db: AsyncSession, sql: str, values: list[str]) -> set[str]:
    """Which of ``values`` a constant query (``... = ANY(:values)``) finds."""
    if not values:
        return set()
    rows = await db.execute(text(sql), {"values": values})
    return {row[0] for row in rows}
