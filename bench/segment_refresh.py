"""Time a new dynamic segment's first refresh (every member enters), each in a rolled-back
transaction: ``service.refresh_segment``, which adds the members and records who entered.

    python -m bench.segment_refresh DATABASE_URL EXPRESSION [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from patron.db.engine import Database
from patron.models import Segment
from patron.segments import service


async def _run(url: str, expression: str, *, rounds: int) -> None:
    database = Database(url, pool_size=1)
    try:
        for _ in range(rounds):
            async with database.transaction() as db:
                segment = Segment(
                    name="bench: first refresh", kind="dynamic", expression=expression
                )
                db.add(segment)
                await db.flush()
                started = time.perf_counter()
                changed = await service.refresh_segment(db, segment)
                took = time.perf_counter() - started
                await db.rollback()
            print(f"{changed.entered:,} entered in {took:.2f} s")
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("url")
    parser.add_argument("expression")
    parser.add_argument("--rounds", type=int, default=1)
    arguments = parser.parse_args()
    asyncio.run(_run(arguments.url, arguments.expression, rounds=arguments.rounds))


if __name__ == "__main__":
    main()
