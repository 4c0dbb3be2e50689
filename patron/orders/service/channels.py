"""Channels: where orders come from (a store, POS, manual entry, an import)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.audit.service import Actor
from patron.errors import Conflict, NotFound
from patron.models import Channel
from patron.models.customers import CHANNEL_KINDS
from patron.orders import repository
from patron.orders.service.common import invalid


async def get_channel(db: AsyncSession, channel_id: uuid.UUID) -> Channel:
    channel = await db.get(Channel, channel_id)
    if channel is None:
        raise NotFound("No such channel.", code="channel_not_found")
    return channel


async def _check(db: AsyncSession, *, name: str, kind: str, own_id: uuid.UUID | None) -> str:
    name = name.strip()
    if not name:
        raise invalid("name", "A name is required.", "invalid_name")
    if kind not in CHANNEL_KINDS:
        raise invalid("kind", f"Choose one of: {', '.join(CHANNEL_KINDS)}.", "invalid_kind")
    holder = await repository.channel_by_name(db, name)
    if holder is not None and holder.id != own_id:
        raise Conflict(f"A channel named {name!r} exists.", code="channel_exists")
    return name


async def create_channel(db: AsyncSession, *, actor: Actor, name: str, kind: str) -> Channel:
    channel = Channel(name=await _check(db, name=name, kind=kind, own_id=None), kind=kind)
    db.add(channel)
    await db.flush()
    await audit.record(
        db,
        action="channel.created",
        actor=actor,
        object_type="channel",
        object_id=channel.id,
        details={"name": channel.name, "kind": kind},
    )
    return channel


async def update_channel(
    db: AsyncSession, channel: Channel, *, actor: Actor, changes: Mapping[str, Any]
) -> Channel:
    if any(value is None for value in changes.values()):
        raise invalid("name", "Fields cannot be null.", "null_not_allowed")
    before = {"name": channel.name, "kind": channel.kind}
    name = await _check(
        db,
        name=changes.get("name", channel.name),
        kind=changes.get("kind", channel.kind),
        own_id=channel.id,
    )
    channel.name, channel.kind = name, changes.get("kind", channel.kind)
    await db.flush()
    await audit.record_change(
        db,
        action="channel.updated",
        actor=actor,
        object_type="channel",
        object_id=channel.id,
        before=before,
        after={"name": channel.name, "kind": channel.kind},
    )
    return channel


async def delete_channel(db: AsyncSession, channel: Channel, *, actor: Actor) -> None:
    if await repository.channel_has_orders(db, channel.id):
        raise Conflict(
            "Orders came through this channel; it cannot be deleted.", code="channel_in_use"
        )
    await db.delete(channel)
    await db.flush()
    await audit.record(
        db,
        action="channel.deleted",
        actor=actor,
        object_type="channel",
        object_id=channel.id,
        details={"name": channel.name},
    )
