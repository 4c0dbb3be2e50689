"""The events table is really partitioned by month: the job makes partitions, rows land right."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from patron.events import service
from patron.events.tasks import ensure_event_partitions
from patron.kit.time import utcnow
from patron.models import TrackingEvent, TrackingEventKey
from patron.worker.app import job_app
from tests.conftest import IsolatedDatabase

PARTITIONS = text(
    "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
    " JOIN pg_class c ON c.oid = i.inhrelid"
    " WHERE i.inhparent = 'tracking_event'::regclass"
)


def _month(months_ahead: int) -> date:
    today = utcnow().date()
    index = today.year * 12 + today.month - 1 + months_ahead
    return date(index // 12, index % 12 + 1, 1)


def _name(month: date) -> str:
    return f"tracking_event_{month:%Y_%m}"


async def _partitions(db: AsyncSession) -> dict[str, str]:
    return {str(row[0]): str(row[1]) for row in (await db.execute(PARTITIONS)).all()}


async def _store(db: AsyncSession, occurred_at: datetime) -> str:
    """Store an event and say which partition holds it."""
    event = TrackingEvent(
        id=uuid.uuid4(), occurred_at=occurred_at, name="viewed_product", source="test"
    )
    db.add(event)
    await db.flush()
    holder = await db.scalar(
        text("SELECT tableoid::regclass::text FROM tracking_event WHERE id = :id"),
        {"id": event.id},
    )
    return str(holder)


async def test_the_migration_leaves_this_month_the_next_three_and_a_default_partition(
    db: AsyncSession,
) -> None:
    partitions = await _partitions(db)
    assert partitions["tracking_event_default"] == "DEFAULT"
    for ahead in range(4):
        month = _month(ahead)
        assert partitions[_name(month)] == (
            f"FOR VALUES FROM ('{month} 00:00:00+00') TO ('{_month(ahead + 1)} 00:00:00+00')"
        )


async def test_the_job_creates_the_coming_months_once(db: AsyncSession) -> None:
    assert await service.ensure_partitions(db, months_ahead=6) == 3
    assert await service.ensure_partitions(db, months_ahead=6) == 0
    partitions = await _partitions(db)
    assert {_name(_month(ahead)) for ahead in range(7)} <= set(partitions)


async def test_events_land_in_their_months_partition_and_old_ones_in_the_default(
    db: AsyncSession,
) -> None:
    now = utcnow()
    next_month = datetime.combine(_month(1), datetime.min.time(), tzinfo=UTC)
    assert await _store(db, now) == _name(_month(0))
    assert await _store(db, next_month) == _name(_month(1))
    assert await _store(db, next_month - timedelta(microseconds=1)) == _name(_month(0))
    assert await _store(db, datetime(2019, 5, 4, tzinfo=UTC)) == "tracking_event_default"


async def test_a_month_already_held_by_the_default_partition_is_skipped_and_nothing_is_lost(
    db: AsyncSession,
) -> None:
    far = datetime.combine(_month(8), datetime.min.time(), tzinfo=UTC) + timedelta(days=3)
    assert await _store(db, far) == "tracking_event_default"
    created = await service.ensure_partitions(db, months_ahead=9)
    partitions = await _partitions(db)
    assert _name(_month(8)) not in partitions
    assert {_name(_month(ahead)) for ahead in (4, 5, 6, 7, 9)} <= set(partitions)
    assert created == 5
    assert await db.scalar(select(TrackingEvent.name).where(TrackingEvent.occurred_at == far))


async def test_the_job_forgets_idempotency_keys_after_thirty_days(db: AsyncSession) -> None:
    for key in ("old", "recent"):
        db.add(
            TrackingEventKey(
                source="test", idempotency_key=key, event_id=uuid.uuid4(), occurred_at=utcnow()
            )
        )
    await db.flush()
    await db.execute(
        update(TrackingEventKey)
        .where(TrackingEventKey.idempotency_key == "old")
        .values(created_at=utcnow() - timedelta(days=31))
    )
    await service.ensure_partitions(db, months_ahead=3)
    kept = await db.scalars(
        select(TrackingEventKey.idempotency_key).where(TrackingEventKey.source == "test")
    )
    assert list(kept) == ["recent"]


@pytest.mark.usefixtures("job_settings")
async def test_the_partition_job_is_a_daily_periodic_task_that_commits_its_work(
    isolated_database: IsolatedDatabase,
) -> None:
    periodic = {task.task.name: task for task in job_app.periodic_registry.periodic_tasks.values()}
    assert periodic["events.partitions"].cron == "23 3 * * *"
    furthest = _name(_month(3))
    async with isolated_database.database.transaction() as db:
        await db.execute(text(f"DROP TABLE {furthest}"))
    assert await ensure_event_partitions(timestamp=0) == 1
    async with isolated_database.database.transaction() as db:
        assert furthest in await _partitions(db)
