"""Server-side panel sessions: an opaque cookie, a row in PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth import repository
from patron.config import Settings
from patron.kit.context import current_request
from patron.kit.crypto import random_token, token_hash
from patron.kit.time import utcnow
from patron.models import StaffSession, StaffUser

SESSION_COOKIE = "patron_session"
PENDING_2FA_MINUTES = 10
# last_seen_at is written at most this often, so browsing does not write on every request
TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class NewSession:
    token: str
    session: StaffSession


async def create_session(
    db: AsyncSession, settings: Settings, user: StaffUser, *, pending_2fa: bool
) -> NewSession:
    now = utcnow()
    token = random_token()
    context = current_request()
    lifetime = (
        timedelta(minutes=PENDING_2FA_MINUTES)
        if pending_2fa
        else timedelta(hours=settings.session_absolute_hours)
    )
    session = StaffSession(
        user_id=user.id,
        token_hash=token_hash(token),
        state="pending_2fa" if pending_2fa else "active",
        ip=context.ip[:64],
        user_agent=context.user_agent[:400],
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
    )
    db.add(session)
    await db.flush()
    return NewSession(token, session)


async def activate_session(
    db: AsyncSession, settings: Settings, session: StaffSession
) -> NewSession:
    """Finish a two-step sign-in: the pending session is replaced by a fresh active one."""
    now = utcnow()
    session.revoked_at = now
    user = await repository.user_by_id(db, session.user_id)
    assert user is not None
    return await create_session(db, settings, user, pending_2fa=False)


async def resolve_session(
    db: AsyncSession, settings: Settings, token: str, *, allow_pending: bool = False
) -> StaffSession | None:
    """The live session for a cookie value, touched; None when unknown, revoked or expired."""
    if not token:
        return None
    session = await repository.session_by_token_hash(db, token_hash(token))
    if session is None or session.revoked_at is not None:
        return None
    now = utcnow()
    if session.expires_at <= now:
        return None
    if session.state == "pending_2fa":
        return session if allow_pending else None
    if now - session.last_seen_at > timedelta(minutes=settings.session_idle_minutes):
        return None
    if now - session.last_seen_at > TOUCH_INTERVAL:
        session.last_seen_at = now
        context = current_request()
        if context.ip:
            session.ip = context.ip[:64]
    return session
