"""How long does one UPDATE of many customers take with Patron's triggers on ``customer``?

    python -m bench.customer_updates URL [--sizes 1000,5000,20000] [--rounds 3]

A bulk action, an import batch, a merge or the lifecycle sweep updates many customers in one
statement, and the statement triggers on ``customer`` (the staff report's owner changes,
migrations 0027 and 0029) then read that statement's old and new rows. For each size N
(capped at the customers there are), in transactions that are rolled back (nothing is
written): ``UPDATE customer SET updated_at = now()`` of the first N customers by id, the same
with the table's own triggers disabled (the raw PostgreSQL bound, in the same run), and an
owner change of the same N customers (the trigger then appends their facts under the old and
the new owner). Prints the median of ``--rounds`` for each. Not a registered capability (no
HTTP); the before/after of migration 0029 is in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg

_FIRST = "SELECT id FROM customer ORDER BY id LIMIT %(n)s"
TOUCH = f"UPDATE customer SET updated_at = now() WHERE id IN ({_FIRST})"
OWNER = (
    "UPDATE customer SET owner_id = (SELECT id FROM staff_user WHERE is_active ORDER BY id"
    f" LIMIT 1) WHERE id IN ({_FIRST})"
)
CASES = (
    ("touch, Patron's triggers", TOUCH, False),
    ("touch, raw (triggers disabled)", TOUCH, True),
    ("owner change, Patron's triggers", OWNER, False),
)


def _timed(connection: psycopg.Connection[object], statement: str, n: int, raw: bool) -> float:
    with connection.transaction(force_rollback=True):
        if raw:
            connection.execute("ALTER TABLE customer DISABLE TRIGGER USER")
        started = time.perf_counter()
        connection.execute(statement, {"n": n})
        return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="a loaded database (postgresql://…)")
    parser.add_argument("--sizes", default="1000,5000,20000", help="customers per statement")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs of each (median)")
    options = parser.parse_args()
    url = options.url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as connection:
        total = int(connection.execute("SELECT count(*) FROM customer").fetchone()[0])  # type: ignore[index]
        for size in sorted({min(int(n), total) for n in options.sizes.split(",")}):
            for label, statement, raw in CASES:
                ms = [_timed(connection, statement, size, raw) for _ in range(options.rounds)]
                print(f"{size:>9,} customers  {label:34} {statistics.median(ms):9,.0f} ms")


if __name__ == "__main__":
    main()
