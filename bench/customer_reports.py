"""Time the customers, cohorts and staff reports in process, as the demo administrator.

    python -m bench.customer_reports DATABASE_URL [CHANNEL]

For the last 30 days (by day) and 365 days (by month), optionally for one sales channel:
three timed runs of each report's queries on Patron's async engine, and a digest of the
report's JSON, so runs of two versions of the code on the same database show both the
times and whether the figures are the same. The staff report is timed beside one
hand-written statement over the raw tables (timeline entries, customers, orders) answering
the same question, in the same run; its digest of (staff, figures) rows must equal the
report's or the run stops. Not a registered capability (no HTTP): a before/after check for
the customer and staff rollups (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import time
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bench.segments import admin_principal
from patron.analytics.customers_report import cohorts_report, customers_report, staff_report
from patron.analytics.period import ReportPeriod
from patron.auth.principal import Principal
from patron.db.engine import Database
from patron.kit.time import utcnow

ROUNDS = 3

# the staff report's question over the raw tables: per person, the period's notes, calls,
# meetings and logged e-mails, the customers they own, and the orders and net revenue of
# those customers in the period (optionally in one channel)
STAFF_SQL = text(
    """
    WITH work AS (
        SELECT actor_id AS id,
               count(*) FILTER (WHERE kind = 'note') AS notes,
               count(*) FILTER (WHERE kind = 'call') AS calls,
               count(*) FILTER (WHERE kind = 'meeting') AS meetings,
               count(*) FILTER (WHERE kind = 'email_logged') AS emails_logged
        FROM timeline_entry
        WHERE actor_type IN ('user', 'api_key') AND occurred_at >= :since AND occurred_at < :until
        GROUP BY actor_id
    ), owned AS (
        SELECT owner_id AS id, count(*) AS customers_owned FROM customer
        WHERE merged_into_id IS NULL AND owner_id IS NOT NULL GROUP BY owner_id
    ), sold AS (
        SELECT c.owner_id AS id, count(*) AS orders,
               round(sum((o.total - o.refunded_total) * o.exchange_rate), 2) AS revenue
        FROM shop_order o JOIN customer c ON c.id = o.customer_id
        WHERE o.cancelled_at IS NULL AND o.placed_at >= :since AND o.placed_at < :until
          AND c.owner_id IS NOT NULL AND c.merged_into_id IS NULL
          AND (CAST(:channel AS text) IS NULL OR o.channel_id = (
                SELECT id FROM channel WHERE name = CAST(:channel AS text)))
        GROUP BY c.owner_id
    )
    SELECT s.id, coalesce(notes, 0), coalesce(calls, 0), coalesce(meetings, 0),
           coalesce(emails_logged, 0), coalesce(customers_owned, 0), coalesce(orders, 0),
           coalesce(revenue, 0.00)
    FROM staff_user s
    LEFT JOIN work USING (id) LEFT JOIN owned USING (id) LEFT JOIN sold USING (id)
    WHERE s.kind = 'person' AND s.is_active
    ORDER BY s.id
    """
)


def staff_rows(rows: Any) -> str:
    """A digest of (staff id, figures) rows, the report's and the hand-written SQL's alike."""
    lines = sorted("|".join(str(value) for value in row) for row in rows)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:12]


async def hand_written_staff(db: AsyncSession, period: ReportPeriod) -> str:
    rows = await db.execute(
        STAFF_SQL, {"since": period.since, "until": period.until, "channel": period.channel}
    )
    return staff_rows(rows)


async def report(
    name: str, db: AsyncSession, principal: Principal, period: ReportPeriod
) -> BaseModel:
    if name == "customers":
        return await customers_report(db, principal, period, currency="USD")
    if name == "cohorts":
        return await cohorts_report(db, principal, period)
    return await staff_report(db, principal, period, currency="USD")


async def main(url: str, channel: str | None) -> None:
    database = Database(url, pool_size=2)
    try:
        principal = await admin_principal(database)
        today = utcnow().date()
        for days in (30, 365):
            period = ReportPeriod(
                today - timedelta(days=days - 1), today, "day" if days == 30 else "month", channel
            )
            for name in ("customers", "cohorts", "staff"):
                seconds, digest = [], ""
                for _ in range(ROUNDS):
                    async with database.transaction() as db:
                        started = time.perf_counter()
                        answer = await report(name, db, principal, period)
                        seconds.append(time.perf_counter() - started)
                    digest = hashlib.sha256(answer.model_dump_json().encode()).hexdigest()[:12]
                times = " ".join(f"{s * 1000:,.0f}" for s in seconds)
                print(f"{name}, {days} days, channel {channel or 'all'}: {times} ms  [{digest}]")
                if name == "staff":
                    await time_hand_written_staff(database, period, answer)
    finally:
        await database.dispose()


async def time_hand_written_staff(
    database: Database, period: ReportPeriod, answer: BaseModel
) -> None:
    """The hand-written staff statement, timed the same way; its rows must be the report's
    (the active people's; the report adds people who left only when they did something)."""
    expected = staff_rows(
        (row.user_id, *row.figures.values()) for row in getattr(answer, "rows", []) if row.is_active
    )
    seconds, digest = [], ""
    for _ in range(ROUNDS):
        async with database.transaction() as db:
            started = time.perf_counter()
            digest = await hand_written_staff(db, period)
            seconds.append(time.perf_counter() - started)
    if digest != expected:
        raise SystemExit(f"the hand-written staff SQL disagrees with the report: {digest}")
    times = " ".join(f"{s * 1000:,.0f}" for s in seconds)
    print(f"  hand-written staff SQL: {times} ms  [{digest}]")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None))
