"""Signing in and out, lockout, password changes and resets, accepting invitations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.audit.service import ANONYMOUS, Actor
from patron.auth import repository, sessions, twofactor
from patron.auth.passwords import (
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_password,
)
from patron.auth.sessions import NewSession
from patron.config import Settings
from patron.errors import CRMError, InvalidInput, NotAuthenticated
from patron.kit.crypto import SecretBox, random_token, token_hash
from patron.kit.time import utcnow
from patron.mail.service import queue_email
from patron.models import AuthToken, StaffSession, StaffUser

MAX_2FA_FAILURES_PER_CHALLENGE = 5


class AccountLocked(CRMError):
    status = 403
    code = "account_locked"


class LinkInvalid(CRMError):
    status = 410
    code = "link_invalid"

    def __init__(self) -> None:
        super().__init__("This link has expired or was already used. Ask for a new one.")


def _actor(user: StaffUser) -> Actor:
    return Actor("user", user.id, user.email)


@dataclass(frozen=True)
class SignIn:
    new_session: NewSession
    needs_second_factor: bool


def _minutes_left(user: StaffUser) -> int:
    assert user.locked_until is not None
    return max(1, int((user.locked_until - utcnow()).total_seconds() // 60) + 1)


async def _count_failure(
    db: AsyncSession, settings: Settings, user: StaffUser, reason: str
) -> None:
    user.failed_logins += 1
    await audit.record(
        db,
        action="auth.sign_in.failed",
        actor=_actor(user),
        object_type="staff_user",
        object_id=user.id,
        details={"reason": reason, "failures": user.failed_logins},
    )
    if user.failed_logins >= settings.login_max_failures:
        user.locked_until = utcnow() + timedelta(minutes=settings.login_lockout_minutes)
        user.failed_logins = 0
        await audit.record(
            db,
            action="auth.account.locked",
            actor=_actor(user),
            object_type="staff_user",
            object_id=user.id,
            details={"minutes": settings.login_lockout_minutes},
        )


def _check_not_locked(user: StaffUser) -> None:
    if user.locked_until is not None and user.locked_until > utcnow():
        raise AccountLocked(
            f"This account is locked after too many failed attempts. Try again in "
            f"{_minutes_left(user)} minutes, or ask an administrator to unlock it."
        )


async def sign_in(db: AsyncSession, settings: Settings, *, email: str, password: str) -> SignIn:
    """Check a password; failures are recorded (the caller commits them) and raised."""
    invalid = NotAuthenticated("The email or password is not correct.", code="invalid_credentials")
    user = await repository.user_by_email(db, email)
    if user is None or user.kind != "person" or user.password_hash is None:
        verify_password(None, password)
        await audit.record(
            db,
            action="auth.sign_in.failed",
            actor=ANONYMOUS,
            details={"reason": "unknown_account", "email": email[:200]},
        )
        raise invalid
    _check_not_locked(user)
    if not verify_password(user.password_hash, password):
        await _count_failure(db, settings, user, "wrong_password")
        _check_not_locked(user)
        raise invalid
    if not user.is_active:
        await audit.record(
            db,
            action="auth.sign_in.failed",
            actor=_actor(user),
            object_type="staff_user",
            object_id=user.id,
            details={"reason": "account_disabled"},
        )
        raise NotAuthenticated(
            "This account is disabled. Ask an administrator.", code="account_disabled"
        )
    user.failed_logins = 0
    user.locked_until = None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    if user.totp_enabled:
        pending = await sessions.create_session(db, settings, user, pending_2fa=True)
        await audit.record(
            db,
            action="auth.sign_in.password_ok",
            actor=_actor(user),
            object_type="staff_user",
            object_id=user.id,
        )
        return SignIn(pending, needs_second_factor=True)
    return SignIn(await _complete(db, settings, user, method="password"), needs_second_factor=False)


async def _complete(
    db: AsyncSession, settings: Settings, user: StaffUser, *, method: str
) -> NewSession:
    new = await sessions.create_session(db, settings, user, pending_2fa=False)
    user.last_login_at = utcnow()
    await audit.record(
        db,
        action="auth.sign_in.succeeded",
        actor=_actor(user),
        object_type="staff_user",
        object_id=user.id,
        details={"method": method, "session": str(new.session.id)},
    )
    return new


async def verify_second_factor(
    db: AsyncSession, settings: Settings, box: SecretBox, pending: StaffSession, code: str
) -> NewSession:
    """Second step of a sign-in: a TOTP code or an unused recovery code."""
    user = await repository.user_by_id(db, pending.user_id)
    assert user is not None
    _check_not_locked(user)
    method = None
    if twofactor.accept_totp(box, user, code):
        method = "totp"
    elif await twofactor.use_recovery_code(db, user, code):
        method = "recovery_code"
        await audit.record(
            db,
            action="auth.2fa.recovery_code_used",
            actor=_actor(user),
            object_type="staff_user",
            object_id=user.id,
            details={"remaining": await repository.unused_recovery_codes(db, user.id)},
        )
    if method is None:
        pending.twofa_failures += 1
        await _count_failure(db, settings, user, "wrong_2fa_code")
        if pending.twofa_failures >= MAX_2FA_FAILURES_PER_CHALLENGE:
            pending.revoked_at = utcnow()
            raise NotAuthenticated(
                "Too many wrong codes. Sign in again.", code="two_factor_challenge_ended"
            )
        _check_not_locked(user)
        raise InvalidInput(
            "That code is not correct, or was already used.",
            code="invalid_code",
            details=[{"field": "code", "message": "not accepted"}],
        )
    pending.revoked_at = utcnow()
    user.failed_logins = 0
    return await _complete(db, settings, user, method=method)


async def sign_out(db: AsyncSession, session: StaffSession) -> None:
    session.revoked_at = utcnow()
    await audit.record(
        db,
        action="auth.signed_out",
        actor=Actor("user", session.user_id, ""),
        object_type="staff_session",
        object_id=session.id,
    )


async def revoke_session(
    db: AsyncSession, user: StaffUser, session_id: object, *, actor: Actor
) -> None:
    now = utcnow()
    for live in await repository.live_sessions(db, user.id, now):
        if str(live.id) == str(session_id):
            live.revoked_at = now
            await audit.record(
                db,
                action="auth.session.revoked",
                actor=actor,
                object_type="staff_session",
                object_id=live.id,
            )
            return
    raise InvalidInput("That session has already ended.", code="session_not_found")


async def revoke_other_sessions(
    db: AsyncSession, user: StaffUser, *, keep: StaffSession | None, actor: Actor
) -> int:
    count = await repository.revoke_sessions(db, user.id, utcnow(), keep=keep.id if keep else None)
    await audit.record(
        db,
        action="auth.session.revoked_all",
        actor=actor,
        object_type="staff_user",
        object_id=user.id,
        details={"count": count},
    )
    return count


async def change_password(
    db: AsyncSession, user: StaffUser, *, current: str, new: str, keep: StaffSession | None
) -> None:
    if not verify_password(user.password_hash, current):
        raise InvalidInput(
            "Your current password is not correct.",
            code="invalid_password",
            details=[{"field": "current_password", "message": "incorrect"}],
        )
    check_password_policy(new, user_inputs=(user.email, user.name))
    await _set_password(db, user, new, keep=keep)
    await audit.record(
        db,
        action="auth.password.changed",
        actor=_actor(user),
        object_type="staff_user",
        object_id=user.id,
    )


async def _set_password(
    db: AsyncSession, user: StaffUser, password: str, *, keep: StaffSession | None = None
) -> None:
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    user.failed_logins = 0
    user.locked_until = None
    await repository.revoke_sessions(db, user.id, utcnow(), keep=keep.id if keep else None)


async def issue_link(db: AsyncSession, settings: Settings, user: StaffUser, *, purpose: str) -> str:
    """Create a single-use emailed link (older unused links of that kind stop working)."""
    now = utcnow()
    await repository.expire_tokens(db, user.id, purpose, now)
    lifetime = (
        timedelta(hours=settings.password_reset_hours)
        if purpose == "password_reset"
        else timedelta(days=settings.invite_days)
    )
    token = random_token()
    db.add(
        AuthToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=token_hash(token),
            expires_at=now + lifetime,
        )
    )
    await db.flush()
    return token


async def request_password_reset(db: AsyncSession, settings: Settings, *, email: str) -> None:
    """Email a reset link if the account exists; the caller always answers the same way."""
    user = await repository.user_by_email(db, email)
    if user is None or not user.is_active or user.kind != "person":
        await audit.record(
            db,
            action="auth.password_reset.requested",
            actor=ANONYMOUS,
            details={"email": email[:200], "sent": False},
        )
        return
    token = await issue_link(db, settings, user, purpose="password_reset")
    await queue_email(
        db,
        to=user.email,
        template="password_reset",
        user_id=user.id,
        context={
            "name": user.name,
            "url": f"{settings.base_url}/password/reset/{token}",
            "hours": settings.password_reset_hours,
        },
    )
    await audit.record(
        db,
        action="auth.password_reset.requested",
        actor=_actor(user),
        object_type="staff_user",
        object_id=user.id,
        details={"sent": True},
    )


async def check_link(db: AsyncSession, token: str, purpose: str) -> StaffUser:
    """The account a link belongs to, without using it up (to show its form)."""
    link = await repository.peek_token(db, token_hash(token), purpose)
    if link is None or link.used_at is not None or link.expires_at <= utcnow():
        raise LinkInvalid()
    user = await repository.user_by_id(db, link.user_id)
    if user is None or not user.is_active:
        raise LinkInvalid()
    return user


async def _use_link(db: AsyncSession, token: str, purpose: str, password: str) -> StaffUser:
    user = await check_link(db, token, purpose)
    check_password_policy(password, user_inputs=(user.email, user.name))
    if await repository.claim_token(db, token_hash(token), purpose, utcnow()) is None:
        raise LinkInvalid()
    await _set_password(db, user, password)
    return user


async def reset_password(db: AsyncSession, *, token: str, password: str) -> StaffUser:
    user = await _use_link(db, token, "password_reset", password)
    await audit.record(
        db,
        action="auth.password.reset",
        actor=_actor(user),
        object_type="staff_user",
        object_id=user.id,
    )
    return user


async def accept_invite(
    db: AsyncSession, settings: Settings, *, token: str, password: str
) -> NewSession:
    user = await _use_link(db, token, "invite", password)
    await audit.record(
        db,
        action="user.invite.accepted",
        actor=_actor(user),
        object_type="staff_user",
        object_id=user.id,
    )
    return await _complete(db, settings, user, method="invite")
