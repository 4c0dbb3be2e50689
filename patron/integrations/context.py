"""What a provider's handler works with, and what it reports back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit.service import Actor
from patron.config import Settings
from patron.errors import CRMError
from patron.integrations import repository
from patron.models import Channel, StoreConnection


@dataclass(frozen=True)
class Outcome:
    status: str  # processed, ignored or pending
    summary: str


@dataclass
class Context:
    db: AsyncSession
    settings: Settings
    connection: StoreConnection
    channel: Channel
    actor: Actor
    # the delivery being processed (a privacy request empties its own body once acted upon)
    receipt_id: uuid.UUID | None = None

    async def is_stale(self, kind: str, external_id: str, stamp: datetime | None) -> bool:
        """True when a version at least as new as ``stamp`` was applied already; serialises
        the record's processing until the transaction ends."""
        await repository.lock_record(self.db, self.connection.id, kind, external_id)
        if stamp is None:
            return False
        applied = await repository.record_version(
            self.db, connection_id=self.connection.id, kind=kind, external_id=external_id
        )
        return applied is not None and applied >= stamp

    async def applied(self, kind: str, external_id: str, stamp: datetime | None) -> None:
        if stamp is not None:
            await repository.save_version(
                self.db,
                connection_id=self.connection.id,
                kind=kind,
                external_id=external_id,
                stamp=stamp,
            )


class OrderNotYetKnown(CRMError):
    """A refund or fulfilment for an order Patron has not received yet; re-processable."""

    status = 409
    code = "order_not_found"
