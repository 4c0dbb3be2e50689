"""Queries on the system email outbox."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.models import MailMessage


async def recent_messages(db: AsyncSession, *, limit: int) -> Sequence[MailMessage]:
    return (
        await db.scalars(select(MailMessage).order_by(MailMessage.created_at.desc()).limit(limit))
    ).all()
