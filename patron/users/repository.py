"""Staff directory queries."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.kit.pagination import PageParams, paginate
from patron.kit.text import LIKE_ESCAPE, contains_pattern
from patron.models import ApiKey, StaffUser


async def count_active_admins(db: AsyncSession, *, excluding: uuid.UUID) -> int:
    return int(
        await db.scalar(
            select(func.count()).where(
                StaffUser.role == "admin", StaffUser.is_active, StaffUser.id != excluding
            )
        )
        or 0
    )


async def count_role_members(db: AsyncSession, role: str) -> int:
    return int(await db.scalar(select(func.count()).where(StaffUser.role == role)) or 0)


def _user_filters(
    query: Select[StaffUser],
    *,
    q: str | None,
    role: str | None,
    team_id: uuid.UUID | None,
    active: bool | None,
    kind: str | None,
) -> Select[StaffUser]:
    if q:
        pattern = contains_pattern(q)
        query = query.where(
            or_(
                StaffUser.email.ilike(pattern, escape=LIKE_ESCAPE),
                StaffUser.name.ilike(pattern, escape=LIKE_ESCAPE),
            )
        )
    if role:
        query = query.where(StaffUser.role == role)
    if team_id:
        query = query.where(StaffUser.team_id == team_id)
    if active is not None:
        query = query.where(StaffUser.is_active.is_(active))
    if kind:
        query = query.where(StaffUser.kind == kind)
    return query


async def list_users(
    db: AsyncSession,
    params: PageParams,
    *,
    q: str | None = None,
    role: str | None = None,
    team_id: uuid.UUID | None = None,
    active: bool | None = None,
    kind: str | None = None,
) -> tuple[list[StaffUser], str | None]:
    query = _user_filters(
        select(StaffUser), q=q, role=role, team_id=team_id, active=active, kind=kind
    )
    return await paginate(db, query, order=[StaffUser.created_at, StaffUser.id], params=params)


async def list_api_keys(
    db: AsyncSession, params: PageParams, *, owner: uuid.UUID | None
) -> tuple[list[ApiKey], str | None]:
    query = select(ApiKey)
    if owner is not None:
        query = query.where(ApiKey.user_id == owner)
    return await paginate(db, query, order=[ApiKey.created_at, ApiKey.id], params=params)


async def users_by_ids(db: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, StaffUser]:
    if not ids:
        return {}
    rows = await db.scalars(select(StaffUser).where(StaffUser.id.in_(ids)))
    return {user.id: user for user in rows}
