"""Do order changes of the same day and channel wait for each other?

``python -m bench.rollup_contention URL`` (a migrated, disposable database): N transactions
each place one order of the same day and channel, then stay open ``--hold`` seconds more
(the rest of a receipt's processing), all at once; prints the wall time until all committed,
three times. If the rollup serialises them it is about N × hold; if not, about one hold.
Then the same N transactions in hand-written SQL, the two bounds: each appends a row (never
waits), and each adds to one shared row (they take turns). ``--owned``: the customers all
have one owner (the staff report's owned-order sums must not make them take turns either).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text

from bench.harness import scratch_settings
from patron.audit.service import SYSTEM
from patron.db.engine import Database
from patron.models import Customer
from patron.orders import service as orders
from patron.orders.service import LineRequest
from patron.users import service as users


async def _run(url: str, count: int, hold: float, *, owned: bool) -> None:
    settings = scratch_settings(url, "rollup-contention")
    database = Database(url, pool_size=count + 2)
    async with database.transaction() as db:
        web = await orders.create_channel(
            db, actor=SYSTEM, name=f"Web {time.time_ns()}", kind="online_store"
        )
        owner = None
        if owned:  # all of one sales rep's: the staff report's owned-order sums
            await users.ensure_builtin_roles(db)
            owner = await users.create_user(
                db,
                settings,
                actor=SYSTEM,
                email=f"rep-{time.time_ns()}@bench.test",
                name="Bench Rep",
                role="sales",
                send_invite=False,
            )
        customers = [
            Customer(first_name="Ada", last_name=f"Buyer {n}", owner_id=owner.id if owner else None)
            for n in range(count)
        ]
        db.add_all(customers)
    when = datetime.now(UTC) - timedelta(days=1)

    async def place(customer: Customer) -> None:
        async with database.transaction() as db:
            await orders.place_order(
                db,
                settings,
                actor=SYSTEM,
                customer=customer,
                lines=[LineRequest(1, title="Gift card", unit_price=Decimal("25.00"))],
                channel=web,
                placed_at=when,
            )
            await asyncio.sleep(hold)

    for _ in range(3):
        started = time.perf_counter()
        await asyncio.gather(*(place(customer) for customer in customers))
        print(
            f"{count} concurrent same-day orders, each transaction open {hold * 1000:.0f} ms"
            f" more: all committed in {(time.perf_counter() - started) * 1000:.0f} ms"
        )
    await _raw_sql(database, count, hold)
    await database.dispose()


_RAW_SQL = {
    "each appends a row": "INSERT INTO bench_contention (n) VALUES (1)",
    "each adds to one shared row": "UPDATE bench_contention SET n = n + 1 WHERE id = 1",
}


async def _raw_sql(database: Database, count: int, hold: float) -> None:
    """The bounds in hand-written SQL, on a scratch table dropped afterwards."""
    async with database.transaction() as db:
        await db.execute(text("CREATE TABLE bench_contention (id bigserial PRIMARY KEY, n int)"))
        await db.execute(text("INSERT INTO bench_contention (n) VALUES (0)"))
    try:
        for name, statement in _RAW_SQL.items():

            async def one(sql: str = statement) -> None:
                async with database.transaction() as db:
                    await db.execute(text(sql))
                    await asyncio.sleep(hold)

            started = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(count)))
            print(
                f"raw SQL: {count} concurrent transactions {name}, each open {hold * 1000:.0f}"
                f" ms more: all committed in {(time.perf_counter() - started) * 1000:.0f} ms"
            )
    finally:
        async with database.transaction() as db:
            await db.execute(text("DROP TABLE bench_contention"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("url", help="a migrated, disposable database")
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--hold", type=float, default=0.2)
    parser.add_argument(
        "--owned", action="store_true", help="the customers all have one owner (a sales rep)"
    )
    arguments = parser.parse_args()
    asyncio.run(_run(arguments.url, arguments.count, arguments.hold, owned=arguments.owned))


if __name__ == "__main__":
    main()
