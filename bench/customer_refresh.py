"""Time what every order change runs for its customer: ``metrics.refresh`` (the metrics, the
order facts and the rollup changes), five times, each in a rolled-back transaction.

    python -m bench.customer_refresh DATABASE_URL CUSTOMER_ID [--without-order-index]

``--without-order-index`` drops ``ix_customer_order_fact_order`` inside each (rolled-back)
transaction: the "before" of migration 0027 on an upgraded copy (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from sqlalchemy import text

from bench.harness import scratch_settings
from patron.customers import metrics
from patron.db.engine import Database

ROUNDS = 5


async def _run(url: str, customer: uuid.UUID, *, without_index: bool) -> None:
    settings = scratch_settings(url, "customer-refresh")
    database = Database(url, pool_size=1)
    try:
        times = []
        for _ in range(ROUNDS):
            async with database.transaction() as db:
                if without_index:
                    await db.execute(text("DROP INDEX IF EXISTS ix_customer_order_fact_order"))
                started = time.perf_counter()
                await metrics.refresh(db, settings, [customer])
                times.append((time.perf_counter() - started) * 1000)
                await db.rollback()
        print(f"refresh of one customer: {' / '.join(f'{t:,.0f}' for t in times)} ms")
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("url")
    parser.add_argument("customer", type=uuid.UUID)
    parser.add_argument("--without-order-index", action="store_true")
    arguments = parser.parse_args()
    asyncio.run(
        _run(arguments.url, arguments.customer, without_index=arguments.without_order_index)
    )


if __name__ == "__main__":
    main()
