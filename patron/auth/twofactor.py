"""TOTP two-factor authentication: enrolment, verification, recovery codes."""

from __future__ import annotations

import hmac
import io
import secrets
from datetime import datetime

import pyotp
import segno
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.audit.service import Actor
from patron.auth import repository
from patron.auth.passwords import verify_password
from patron.errors import Conflict, InvalidInput
from patron.kit.crypto import SecretBox, token_hash
from patron.kit.time import utcnow
from patron.models import RecoveryCode, StaffUser

ISSUER = "Patron"
RECOVERY_CODE_COUNT = 10
STEP_SECONDS = 30
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def provisioning_uri(box: SecretBox, user: StaffUser) -> str:
    assert user.totp_secret is not None
    return pyotp.TOTP(box.decrypt(user.totp_secret)).provisioning_uri(
        name=user.email, issuer_name=ISSUER
    )


def qr_svg(uri: str) -> bytes:
    """A standalone SVG file (with its namespace: without it a browser shows no image)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=5, border=2, dark="#111", xmldecl=False)
    return out.getvalue()


def secret_for_display(box: SecretBox, user: StaffUser) -> str:
    assert user.totp_secret is not None
    secret = box.decrypt(user.totp_secret)
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step a code belongs to (allowing one step of clock drift), or None."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def accept_totp(box: SecretBox, user: StaffUser, code: str) -> bool:
    """Check a code for an enrolled (or enrolling) user; a code is never accepted twice."""
    if user.totp_secret is None:
        return False
    step = matching_step(box.decrypt(user.totp_secret), code, utcnow())
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        return False
    user.totp_last_step = step
    return True


def normalise_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


async def use_recovery_code(db: AsyncSession, user: StaffUser, code: str) -> bool:
    normalised = normalise_recovery_code(code)
    if len(normalised) != 16:
        return False
    claimed = await repository.claim_recovery_code(db, user.id, token_hash(normalised), utcnow())
    return claimed is not None


async def new_recovery_codes(db: AsyncSession, user: StaffUser) -> list[str]:
    """Replace every recovery code of a user; the plain codes are returned once."""
    await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
        db.add(RecoveryCode(user_id=user.id, code_hash=token_hash(raw)))
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    await db.flush()
    return codes


async def start_enrolment(db: AsyncSession, box: SecretBox, user: StaffUser) -> None:
    """Give the user a fresh secret to scan; it is inactive until a code confirms it."""
    if user.totp_enabled:
        raise Conflict("Two-factor authentication is already on.", code="two_factor_enabled")
    user.totp_secret = box.encrypt(pyotp.random_base32())
    user.totp_last_step = None
    await db.flush()


async def confirm_enrolment(
    db: AsyncSession, box: SecretBox, user: StaffUser, code: str, *, actor: Actor
) -> list[str]:
    if user.totp_enabled:
        raise Conflict("Two-factor authentication is already on.", code="two_factor_enabled")
    if user.totp_secret is None:
        raise Conflict(
            "Start the set-up again: no secret is waiting.", code="two_factor_not_started"
        )
    if not accept_totp(box, user, code):
        raise InvalidInput(
            "That code does not match. Check the time on your phone and try the newest code.",
            code="invalid_code",
            details=[{"field": "code", "message": "does not match"}],
        )
    user.totp_enabled_at = utcnow()
    codes = await new_recovery_codes(db, user)
    await audit.record(
        db, action="auth.2fa.enabled", actor=actor, object_type="staff_user", object_id=user.id
    )
    return codes


async def disable(
    db: AsyncSession, user: StaffUser, password: str, *, actor: Actor, required_by_role: bool
) -> None:
    if not user.totp_enabled:
        raise Conflict("Two-factor authentication is already off.", code="two_factor_disabled")
    if required_by_role:
        raise Conflict(
            "Your role requires two-factor authentication; it cannot be turned off.",
            code="two_factor_required",
        )
    if not verify_password(user.password_hash, password):
        raise InvalidInput(
            "Your password is not correct.",
            code="invalid_password",
            details=[{"field": "password", "message": "incorrect"}],
        )
    await reset(db, user)
    await audit.record(
        db, action="auth.2fa.disabled", actor=actor, object_type="staff_user", object_id=user.id
    )


async def reset(db: AsyncSession, user: StaffUser) -> None:
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    await db.flush()


async def regenerate_recovery_codes(
    db: AsyncSession, user: StaffUser, password: str, *, actor: Actor
) -> list[str]:
    if not user.totp_enabled:
        raise Conflict("Turn on two-factor authentication first.", code="two_factor_disabled")
    if not verify_password(user.password_hash, password):
        raise InvalidInput(
            "Your password is not correct.",
            code="invalid_password",
            details=[{"field": "password", "message": "incorrect"}],
        )
    codes = await new_recovery_codes(db, user)
    await audit.record(
        db,
        action="auth.2fa.recovery_codes_regenerated",
        actor=actor,
        object_type="staff_user",
        object_id=user.id,
    )
    return codes
