"""Every query of the integrations domain."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from patron.kit.pagination import PageParams, paginate
from patron.models import (
    Channel,
    CustomerExternalId,
    StoreBackfill,
    StoreConnection,
    StoreRecordVersion,
    WebhookDelivery,
    WebhookReceipt,
)
from patron.worker.enqueue import DEFER_ONE


async def list_connections(db: AsyncSession) -> list[StoreConnection]:
    rows = await db.scalars(select(StoreConnection).order_by(StoreConnection.name))
    return list(rows)


async def connection_by_domain(
    db: AsyncSession, provider: str, shop_domain: str
) -> StoreConnection | None:
    return await db.scalar(
        select(StoreConnection).where(
            StoreConnection.provider == provider, StoreConnection.shop_domain == shop_domain
        )
    )


# the de-duplication key, the receipt and its job in one statement: nothing at all when the
# connection accepted this delivery id before (constant SQL, no input: S608)
_ACCEPT = text(
    f"""
    WITH claimed AS (
        INSERT INTO webhook_delivery (connection_id, delivery_id, receipt_id, received_at)
        VALUES (:connection_id, :delivery_id, :receipt_id, :received_at)
        ON CONFLICT DO NOTHING
        RETURNING receipt_id
    ), receipt AS (
        INSERT INTO webhook_receipt (id, received_at, connection_id, provider, topic,
                                     delivery_id, event_id, headers, body)
        SELECT receipt_id, :received_at, :connection_id, :provider, :topic, :delivery_id,
               :event_id, CAST(:headers AS jsonb), :body
        FROM claimed
        RETURNING id
    )
    SELECT id, {DEFER_ONE} FROM receipt
    """  # noqa: S608
)


async def accept_delivery(
    db: AsyncSession,
    *,
    receipt_id: uuid.UUID,
    received_at: datetime,
    connection_id: uuid.UUID,
    provider: str,
    topic: str,
    delivery_id: str,
    event_id: str,
    headers: dict[str, str],
    body: bytes,
    job: dict[str, Any],
) -> bool:
    """Store a delivery with its job, unless the connection accepted it before (False)."""
    stored = await db.execute(
        _ACCEPT,
        {
            "receipt_id": receipt_id,
            "received_at": received_at,
            "connection_id": connection_id,
            "provider": provider,
            "topic": topic,
            "delivery_id": delivery_id,
            "event_id": event_id,
            "headers": json.dumps(headers),
            "body": body,
            **job,
        },
    )
    return stored.first() is not None


async def last_deliveries(
    db: AsyncSession, connection_ids: list[uuid.UUID]
) -> dict[uuid.UUID, datetime]:
    """When each connection last received a delivery (one index probe per connection, rather
    than a row every delivery would update and lock)."""
    found: dict[uuid.UUID, datetime] = {}
    for connection_id in connection_ids:
        moment = await db.scalar(
            select(func.max(WebhookReceipt.received_at)).where(
                WebhookReceipt.connection_id == connection_id
            )
        )
        if moment is not None:
            found[connection_id] = moment
    return found


async def receipt(db: AsyncSession, receipt_id: uuid.UUID) -> WebhookReceipt | None:
    return await db.scalar(select(WebhookReceipt).where(WebhookReceipt.id == receipt_id))


async def claim_receipt(db: AsyncSession, receipt_id: uuid.UUID) -> WebhookReceipt | None:
    """The receipt if it still waits in 'received': locked, with this attempt counted, by
    one statement."""
    return await db.scalar(
        update(WebhookReceipt)
        .where(WebhookReceipt.id == receipt_id, WebhookReceipt.status == "received")
        .values(attempts=WebhookReceipt.attempts + 1)
        .returning(WebhookReceipt)
        .execution_options(populate_existing=True)
    )


async def connection_and_channel(
    db: AsyncSession, connection_id: uuid.UUID
) -> tuple[StoreConnection, Channel] | None:
    row = (
        await db.execute(
            select(StoreConnection, Channel)
            .join(Channel, Channel.id == StoreConnection.channel_id)
            .where(StoreConnection.id == connection_id)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def list_receipts(
    db: AsyncSession, connection_id: uuid.UUID, params: PageParams, *, status: str | None = None
) -> tuple[list[WebhookReceipt], str | None]:
    query = select(WebhookReceipt).where(WebhookReceipt.connection_id == connection_id)
    if status:
        query = query.where(WebhookReceipt.status == status)
    return await paginate(
        db, query, order=[WebhookReceipt.received_at, WebhookReceipt.id], params=params
    )


@dataclass(frozen=True)
class DayCount:
    day: date
    deliveries: int
    failures: int


async def deliveries_per_day(
    db: AsyncSession, connection_id: uuid.UUID, *, since: datetime
) -> list[DayCount]:
    day = func.date_trunc("day", WebhookReceipt.received_at, "UTC")
    rows = await db.execute(
        select(
            day.label("day"),
            func.count(),
            func.count().filter(WebhookReceipt.status == "failed"),
        )
        .where(WebhookReceipt.connection_id == connection_id, WebhookReceipt.received_at >= since)
        .group_by(day)
        .order_by(day.desc())
    )
    return [DayCount(row[0].date(), row[1], row[2]) for row in rows]


async def status_counts(db: AsyncSession, connection_id: uuid.UUID) -> dict[str, int]:
    rows = await db.execute(
        select(WebhookReceipt.status, func.count())
        .where(WebhookReceipt.connection_id == connection_id)
        .group_by(WebhookReceipt.status)
    )
    return {str(status): int(count) for status, count in rows.all()}


async def stuck_receipts(db: AsyncSession, *, before: datetime, limit: int) -> list[Any]:
    """Receipts still waiting for processing since before ``before`` (a lost job)."""
    rows = await db.execute(
        select(WebhookReceipt.id, WebhookReceipt.received_at)
        .where(WebhookReceipt.status == "received", WebhookReceipt.received_at < before)
        .order_by(WebhookReceipt.received_at)
        .limit(limit)
    )
    return [tuple(row) for row in rows.all()]


async def purge_receipts(db: AsyncSession, *, before: datetime) -> int:
    """Delete receipts (and de-duplication keys) received before ``before``; once receipts are
    partitioned by month this becomes dropping whole partitions."""
    await db.execute(delete(WebhookDelivery).where(WebhookDelivery.received_at < before))
    result = await db.execute(delete(WebhookReceipt).where(WebhookReceipt.received_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


async def record_version(
    db: AsyncSession, *, connection_id: uuid.UUID, kind: str, external_id: str
) -> datetime | None:
    return await db.scalar(
        select(StoreRecordVersion.source_updated_at).where(
            and_(
                StoreRecordVersion.connection_id == connection_id,
                StoreRecordVersion.kind == kind,
                StoreRecordVersion.external_id == external_id,
            )
        )
    )


async def save_version(
    db: AsyncSession, *, connection_id: uuid.UUID, kind: str, external_id: str, stamp: datetime
) -> None:
    statement = insert(StoreRecordVersion).values(
        connection_id=connection_id, kind=kind, external_id=external_id, source_updated_at=stamp
    )
    await db.execute(
        statement.on_conflict_do_update(
            index_elements=["connection_id", "kind", "external_id"],
            set_={
                "source_updated_at": func.greatest(
                    StoreRecordVersion.source_updated_at, statement.excluded.source_updated_at
                )
            },
        )
    )


async def lock_record(db: AsyncSession, connection_id: uuid.UUID, kind: str, key: str) -> None:
    """Serialise the processing of one store record across workers (transaction-scoped)."""
    await db.execute(
        select(
            func.pg_advisory_xact_lock(func.hashtextextended(f"{connection_id}:{kind}:{key}", 0))
        )
    )


async def unlink_customer(db: AsyncSession, *, channel_id: uuid.UUID, external_id: str) -> None:
    await db.execute(
        delete(CustomerExternalId).where(
            CustomerExternalId.channel_id == channel_id,
            CustomerExternalId.external_id == external_id,
        )
    )


# -- backfills ------------------------------------------------------------------------------

IN_PROGRESS = ("queued", "running")


async def backfill(
    db: AsyncSession, backfill_id: uuid.UUID, *, lock: bool = False
) -> StoreBackfill | None:
    query = select(StoreBackfill).where(StoreBackfill.id == backfill_id)
    if lock:
        query = query.with_for_update()
    return await db.scalar(query)


async def backfill_in_progress(db: AsyncSession, connection_id: uuid.UUID) -> StoreBackfill | None:
    return await db.scalar(
        select(StoreBackfill).where(
            StoreBackfill.connection_id == connection_id, StoreBackfill.status.in_(IN_PROGRESS)
        )
    )


async def latest_backfill(db: AsyncSession, connection_id: uuid.UUID) -> StoreBackfill | None:
    return await db.scalar(
        select(StoreBackfill)
        .where(StoreBackfill.connection_id == connection_id)
        .order_by(StoreBackfill.created_at.desc(), StoreBackfill.id.desc())
        .limit(1)
    )


async def list_backfills(
    db: AsyncSession, connection_id: uuid.UUID, params: PageParams
) -> tuple[list[StoreBackfill], str | None]:
    query = select(StoreBackfill).where(StoreBackfill.connection_id == connection_id)
    return await paginate(
        db, query, order=[StoreBackfill.created_at, StoreBackfill.id], params=params
    )


async def last_successful_start(db: AsyncSession, connection_id: uuid.UUID) -> datetime | None:
    return await db.scalar(
        select(func.max(StoreBackfill.started_at)).where(
            StoreBackfill.connection_id == connection_id, StoreBackfill.status == "done"
        )
    )


async def reconcilable_connections(
    db: AsyncSession, providers: tuple[str, ...]
) -> list[StoreConnection]:
    """Active connections with API credentials and no run in progress."""
    busy = select(StoreBackfill.connection_id).where(StoreBackfill.status.in_(IN_PROGRESS))
    rows = await db.scalars(
        select(StoreConnection)
        .where(
            StoreConnection.status == "active",
            StoreConnection.provider.in_(providers),
            StoreConnection.access_token.is_not(None),
            StoreConnection.id.not_in(busy),
        )
        .order_by(StoreConnection.id)
    )
    return list(rows)


async def stalled_backfills(
    db: AsyncSession, *, before: datetime, limit: int
) -> list[StoreBackfill]:
    """Runs waiting or running whose row has not moved since ``before`` (a lost job)."""
    rows = await db.scalars(
        select(StoreBackfill)
        .where(StoreBackfill.status.in_(IN_PROGRESS), StoreBackfill.updated_at < before)
        .order_by(StoreBackfill.updated_at)
        .limit(limit)
    )
    return list(rows)
