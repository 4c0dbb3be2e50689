"""The sales rollup kept outside the order's transaction: an order change queues its days in
that transaction, and the ``reports.rollup_queued`` job recomputes them, each exactly once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics import rollups
from patron.config import Settings
from patron.db.engine import Database
from patron.worker.app import run_worker
from tests.conftest import IsolatedDatabase
from tests.shop import make_customer
from tests.test_reports_sales import GIFT, TODAY, at, channel, sell

QUEUED_JOBS = text(
    "SELECT count(*) FROM procrastinate_jobs"
    " WHERE task_name = 'reports.rollup_queued' AND status = 'todo'"
)


async def queued(db: AsyncSession) -> list[tuple[object, ...]]:
    rows = await db.execute(text("SELECT day, channel_id, currency FROM rollup_queue ORDER BY id"))
    return [tuple(row) for row in rows]


async def sold(db: AsyncSession) -> list[tuple[object, ...]]:
    rows = await db.execute(
        text("SELECT day, orders_count, gross_revenue FROM sales_daily ORDER BY day")
    )
    return [tuple(row) for row in rows if row[1]]


async def test_an_order_change_queues_its_days_in_its_own_transaction_and_rolls_back_with_it(
    db: AsyncSession, settings: Settings
) -> None:
    web = await channel(db, "Web shop")
    customer = await make_customer(db)
    savepoint = await db.begin_nested()
    for hours in (9, 10):
        await sell(
            db, settings, customer, GIFT, when=at(TODAY - timedelta(days=3), hours), channel=web
        )
    key = (TODAY - timedelta(days=3), web.id, "USD")
    assert await queued(db) == [key, key]  # one row per change: no change waits on another
    assert await db.scalar(QUEUED_JOBS) == 1  # one job however many changes
    assert await sold(db) == []  # not recomputed in the order's transaction

    await savepoint.rollback()
    assert await queued(db) == []
    assert await db.scalar(QUEUED_JOBS) == 0


async def test_the_nightly_rebuild_takes_the_queued_days_of_its_range(
    db: AsyncSession, settings: Settings
) -> None:
    customer = await make_customer(db)
    await sell(db, settings, customer, GIFT, when=at(TODAY - timedelta(days=2)))
    await sell(db, settings, customer, GIFT, when=at(TODAY - timedelta(days=40)))
    await rollups.rebuild(db, first=TODAY - timedelta(days=6), last=TODAY)
    assert await sold(db) == [(TODAY - timedelta(days=2), 1, Decimal("25.00"))]
    # the day outside the range stays queued for the job
    assert await queued(db) == [(TODAY - timedelta(days=40), None, "USD")]
    assert await rollups.take_queued(db, limit=10) == 1
    assert len(await sold(db)) == 2


@pytest.fixture
def committed(
    isolated_database: IsolatedDatabase, job_settings: Settings
) -> tuple[Database, Settings]:
    """A database with real commits, which the jobs run against."""
    return isolated_database.database, job_settings


async def _orders(database: Database, settings: Settings, days_ago: list[int]) -> None:
    async with database.transaction() as db:
        customer = await make_customer(db)
        for days in days_ago:
            await sell(db, settings, customer, GIFT, when=at(TODAY - timedelta(days=days)))


async def test_the_job_recomputes_each_queued_day_once_and_a_failed_batch_loses_nothing(
    committed: tuple[Database, Settings],
) -> None:
    database, settings = committed
    await _orders(database, settings, [1, 1, 5])

    # a batch whose transaction fails (a crash, a timeout) leaves its keys queued
    async with database.transaction() as db:
        assert await rollups.take_queued(db, limit=10) == 3
        await db.rollback()
    async with database.transaction() as db:
        assert len(await queued(db)) == 3
        assert await sold(db) == []
        customer_changes = await db.scalar(text("SELECT count(*) FROM customer_rollup_change"))
        assert customer_changes

    # small batches: every queued row taken once, and the job stops when none is left (it
    # also adds up the customer rollup changes)
    rollups_batch, rollups.QUEUE_BATCH = rollups.QUEUE_BATCH, 2
    try:
        assert await rollups.refresh_queued() == 3 + customer_changes
    finally:
        rollups.QUEUE_BATCH = rollups_batch
    assert await rollups.refresh_queued() == 0
    async with database.transaction() as db:
        assert await queued(db) == []
        assert await sold(db) == [
            (TODAY - timedelta(days=5), 1, Decimal("25.00")),
            (TODAY - timedelta(days=1), 2, Decimal("50.00")),
        ]


async def test_a_worker_runs_the_job_the_order_change_queued(
    committed: tuple[Database, Settings],
) -> None:
    database, settings = committed
    await _orders(database, settings, [0, 2])
    async with database.transaction() as db:
        assert await db.scalar(QUEUED_JOBS) == 1

    await run_worker(database, wait=False, concurrency=1)
    async with database.transaction() as db:
        assert await queued(db) == []
        assert await sold(db) == [
            (TODAY - timedelta(days=2), 1, Decimal("25.00")),
            (TODAY, 1, Decimal("25.00")),
        ]
