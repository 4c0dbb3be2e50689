"""API keys: ``ptk_`` bearer tokens, stored hashed, scoped, expiring, revocable."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.audit.service import Actor
from patron.auth import repository
from patron.auth.principal import Principal
from patron.auth.scopes import SCOPES
from patron.errors import InvalidInput, NotAuthenticated, NotFound, PermissionDenied
from patron.kit.crypto import random_token, token_hash
from patron.kit.time import utcnow
from patron.models import ApiKey, StaffUser

KEY_PREFIX = "ptk_"
# last_used_at is written at most this often per key
USAGE_WRITE_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    secret: str


def looks_like_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX) and 20 <= len(token) <= 100


async def create_key(
    db: AsyncSession,
    creator: Principal,
    *,
    name: str,
    scopes: Sequence[str],
    owner: StaffUser | None = None,
    expires_at: datetime | None = None,
) -> CreatedKey:
    """Make a key for the creator or, for an admin, a service account; shown once."""
    owner = owner or creator.user
    if owner.id != creator.user.id:
        if not creator.has("settings:admin"):
            raise PermissionDenied("Only administrators create keys for other accounts.")
        if owner.kind != "service":
            raise InvalidInput(
                "Keys can be made for yourself or for a service account only.",
                code="not_a_service_account",
            )
    if not owner.is_active:
        raise InvalidInput("That account is disabled.", code="account_disabled")
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidInput(
            "Give the key a name of 1 to 100 characters.",
            code="invalid_name",
            details=[{"field": "name", "message": "1 to 100 characters"}],
        )
    requested = sorted(set(scopes))
    unknown = [scope for scope in requested if scope not in SCOPES]
    if unknown:
        raise InvalidInput(
            f"Unknown scopes: {', '.join(unknown)}.",
            code="unknown_scope",
            details=[{"field": "scopes", "message": scope} for scope in unknown],
        )
    if not requested:
        raise InvalidInput(
            "Choose at least one scope.",
            code="no_scopes",
            details=[{"field": "scopes", "message": "empty"}],
        )
    beyond = [scope for scope in requested if not creator.has(scope)]
    if beyond:
        raise PermissionDenied(
            f"A key cannot hold scopes you do not have: {', '.join(beyond)}.",
            code="scope_not_held",
        )
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput(
            "The expiry date must be in the future.",
            code="invalid_expiry",
            details=[{"field": "expires_at", "message": "in the past"}],
        )
    secret = KEY_PREFIX + random_token(30)
    key = ApiKey(
        user_id=owner.id,
        created_by_id=creator.user.id,
        name=name,
        prefix=secret[:12],
        key_hash=token_hash(secret),
        scopes=requested,
        expires_at=expires_at,
    )
    db.add(key)
    await db.flush()
    await audit.record(
        db,
        action="api_key.created",
        actor=creator.actor,
        object_type="api_key",
        object_id=key.id,
        details={
            "name": name,
            "owner": owner.email,
            "scopes": requested,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return CreatedKey(key, secret)


async def authenticate(db: AsyncSession, secret: str) -> ApiKey:
    """The live key for a bearer token, or a 401 saying why it is refused."""
    key = (
        await repository.api_key_by_hash(db, token_hash(secret)) if looks_like_key(secret) else None
    )
    if key is None:
        raise NotAuthenticated("The API key is not valid.", code="invalid_api_key")
    now = utcnow()
    if key.revoked_at is not None:
        raise NotAuthenticated("The API key has been revoked.", code="api_key_revoked")
    if key.expires_at is not None and key.expires_at <= now:
        raise NotAuthenticated("The API key has expired.", code="api_key_expired")
    return key


def note_use(key: ApiKey, ip: str) -> None:
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > USAGE_WRITE_INTERVAL:
        key.last_used_at = now
        key.last_used_ip = ip[:64] or None


async def get_visible_key(db: AsyncSession, principal: Principal, key_id: uuid.UUID) -> ApiKey:
    key = await db.get(ApiKey, key_id)
    if key is None or (key.user_id != principal.user_id and not principal.has("settings:admin")):
        raise NotFound("No such API key.")
    return key


async def revoke_key(db: AsyncSession, principal: Principal, key_id: uuid.UUID) -> ApiKey:
    key = await get_visible_key(db, principal, key_id)
    await revoke(db, key, actor=principal.actor)
    return key


async def revoke(db: AsyncSession, key: ApiKey, *, actor: Actor) -> None:
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await audit.record(
            db,
            action="api_key.revoked",
            actor=actor,
            object_type="api_key",
            object_id=key.id,
            details={"name": key.name},
        )
