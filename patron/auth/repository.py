"""Queries on staff accounts, roles, sessions, emailed links and API keys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from patron.models import ApiKey, AuthToken, RecoveryCode, Role, StaffSession, StaffUser, Team


async def user_by_email(db: AsyncSession, email: str) -> StaffUser | None:
    return await db.scalar(select(StaffUser).where(StaffUser.email == email.strip()))


async def user_by_id(db: AsyncSession, user_id: uuid.UUID) -> StaffUser | None:
    return await db.get(StaffUser, user_id)


async def role_by_name(db: AsyncSession, name: str) -> Role | None:
    return await db.get(Role, name)


async def all_roles(db: AsyncSession) -> Sequence[Role]:
    return (await db.scalars(select(Role).order_by(Role.builtin.desc(), Role.name))).all()


async def role_member_counts(db: AsyncSession) -> dict[str, int]:
    rows = await db.execute(
        select(StaffUser.role, func.count()).where(StaffUser.is_active).group_by(StaffUser.role)
    )
    return dict(rows.all())


async def all_teams(db: AsyncSession) -> Sequence[Team]:
    return (await db.scalars(select(Team).order_by(Team.name))).all()


async def team_by_name(db: AsyncSession, name: str) -> Team | None:
    return await db.scalar(select(Team).where(Team.name == name))


async def session_by_token_hash(db: AsyncSession, digest: bytes) -> StaffSession | None:
    return await db.scalar(select(StaffSession).where(StaffSession.token_hash == digest))


async def live_sessions(
    db: AsyncSession, user_id: uuid.UUID, now: datetime
) -> Sequence[StaffSession]:
    return (
        await db.scalars(
            select(StaffSession)
            .where(
                StaffSession.user_id == user_id,
                StaffSession.revoked_at.is_(None),
                StaffSession.state == "active",
                StaffSession.expires_at > now,
            )
            .order_by(StaffSession.last_seen_at.desc())
        )
    ).all()


async def revoke_sessions(
    db: AsyncSession, user_id: uuid.UUID, now: datetime, *, keep: uuid.UUID | None = None
) -> int:
    statement = (
        update(StaffSession)
        .where(StaffSession.user_id == user_id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if keep is not None:
        statement = statement.where(StaffSession.id != keep)
    result = await db.execute(statement)
    return int(result.rowcount)  # type: ignore[attr-defined]


async def claim_token(
    db: AsyncSession, digest: bytes, purpose: str, now: datetime
) -> AuthToken | None:
    """Mark an unused, unexpired link as used and return it; None if it cannot be used."""
    return await db.scalar(
        update(AuthToken)
        .where(
            AuthToken.token_hash == digest,
            AuthToken.purpose == purpose,
            AuthToken.used_at.is_(None),
            AuthToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(AuthToken)
    )


async def peek_token(db: AsyncSession, digest: bytes, purpose: str) -> AuthToken | None:
    return await db.scalar(
        select(AuthToken).where(AuthToken.token_hash == digest, AuthToken.purpose == purpose)
    )


async def expire_tokens(db: AsyncSession, user_id: uuid.UUID, purpose: str, now: datetime) -> None:
    await db.execute(
        update(AuthToken)
        .where(
            AuthToken.user_id == user_id, AuthToken.purpose == purpose, AuthToken.used_at.is_(None)
        )
        .values(used_at=now)
    )


async def claim_recovery_code(
    db: AsyncSession, user_id: uuid.UUID, digest: bytes, now: datetime
) -> RecoveryCode | None:
    return await db.scalar(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == digest,
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .returning(RecoveryCode)
    )


async def unused_recovery_codes(db: AsyncSession, user_id: uuid.UUID) -> int:
    return int(
        await db.scalar(
            select(func.count()).where(
                RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
            )
        )
        or 0
    )


async def api_key_by_hash(db: AsyncSession, digest: bytes) -> ApiKey | None:
    return await db.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
