"""The segments benchmark's baseline stays honest: on a small dataset from the in-database
generator, Patron's preview of each typical segment and the hand-written SQL beside it find
the same customers, and a segment neither selects nobody nor everybody.

(The figures themselves come from ``python -m bench segments``; nothing here is timed.)
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from bench.load import BenchError
from bench.scale import Scale, load
from bench.segments import CASES, measure_segments
from patron.audit.service import SYSTEM
from patron.db.engine import libpq_url
from patron.users import service as users_service
from tests.conftest import IsolatedDatabase, make_settings

SMALL = Scale(customers=1_000, orders=10_000, events=40_000, products=50)
ADMIN = "bench@shop.test"


@pytest.fixture
async def loaded(isolated_database: IsolatedDatabase, tmp_path: Path) -> IsolatedDatabase:
    async with isolated_database.database.transaction() as db:
        await users_service.create_user(
            db,
            make_settings(isolated_database.url, tmp_path),
            actor=SYSTEM,
            email=ADMIN,
            name="Bench",
            role="admin",
            password="a long enough password 1",
        )
    await isolated_database.database.dispose()  # the generator rewrites the tables
    load(libpq_url(isolated_database.url), SMALL, now=NOW)
    return isolated_database


NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def live_customers(url: str) -> int:
    with psycopg.connect(libpq_url(url)) as connection:
        row = connection.execute(
            "SELECT count(*) FROM customer WHERE merged_into_id IS NULL AND erased_at IS NULL"
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_each_segment_counts_what_the_hand_written_sql_counts(
    loaded: IsolatedDatabase,
) -> None:
    url = loaded.url
    results, _ = await measure_segments(
        url, libpq_url(url), CASES, 1, NOW, email=ADMIN
    )  # raises BenchError when a count or first page differs
    everyone = live_customers(url)
    assert everyone == SMALL.customers
    counts = {case.name: count for case, _, _, count in results}
    assert set(counts) == {case.name for case in CASES}
    for name, count in counts.items():
        assert 0 < count < everyone, f"{name}: {count} of {everyone}"
    assert len(set(counts.values())) == len(counts)  # five different questions

    # and the check has teeth: a baseline asking another question fails the run
    wrong = replace(CASES[1], where=CASES[1].where.replace("> 500", "> 400"))
    with pytest.raises(BenchError, match="spend-and-recency: Patron counted"):
        await measure_segments(url, libpq_url(url), [wrong], 1, NOW, email=ADMIN)
