"""Time the customers, cohorts and staff reports in process, as the demo administrator.

    python -m bench.customer_reports DATABASE_URL [CHANNEL]

For the last 30 days (by day) and 365 days (by month), optionally for one sales channel:
three timed runs of each report's queries on Patron's async engine, and a digest of the
report's JSON, so runs of two versions of the code on the same database show both the
times and whether the figures are the same. Not a registered capability (no HTTP, no
baseline): a before/after check for the customer rollups (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import time
from datetime import timedelta

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from bench.segments import admin_principal
from patron.analytics.customers_report import cohorts_report, customers_report, staff_report
from patron.analytics.period import ReportPeriod
from patron.auth.principal import Principal
from patron.db.engine import Database
from patron.kit.time import utcnow

ROUNDS = 3


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
    finally:
        await database.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None))
