"""How long does one customer search take, by kind of term?

``python -m bench.search_terms URL [--rounds N]`` (a loaded database, e.g. one kept by
``python -m bench scale --keep``; nothing is written): the four kinds of term
``python -m bench customers`` rotates over (a last name, a first name with two letters swapped
plus the last name, six digits of a phone, the end of an email's local part with the ``@``),
drawn from ``--rounds`` random samples of the customers, each searched once through
:func:`patron.customers.listing.list_customers` as an admin (first page of 50, the default
sort), one after the other on one connection. Prints p50 / p95 / max per kind and the three
slowest terms: where the HTTP benchmark's rotation of 60 terms mixes the kinds, this says
which kind a change moved.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bench.customers import _sample, _typo
from patron.auth import repository
from patron.auth.dependencies import role_scopes
from patron.auth.principal import Principal
from patron.customers.listing import CustomerQuery, list_customers
from patron.models import StaffUser

KINDS = ("last name", "typed full name", "phone digits", "email part")


def _term(kind: int, row: tuple[object, ...], rng: random.Random) -> tuple[str, str]:
    _id, first, last, email, phone = (str(value or "") for value in row)
    if kind == 0 and last:
        return KINDS[0], last.lower()
    if kind == 1 and first and last:
        return KINDS[1], f"{_typo(first.lower(), rng)} {last.lower()}"
    if kind == 2 and len(phone) > 6:
        return KINDS[2], "".join(ch for ch in phone if ch.isdigit())[-6:]
    return KINDS[3], email.split("@")[0][-6:] + "@"


async def _run(url: str, rounds: int) -> None:
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    engine = create_async_engine(plain.replace("postgresql://", "postgresql+psycopg://", 1))
    timings: dict[str, list[tuple[float, str]]] = defaultdict(list)
    async with AsyncSession(engine, expire_on_commit=False) as db:
        admin = (
            await db.execute(select(StaffUser).where(StaffUser.role == "admin").limit(1))
        ).scalar_one()
        role = await repository.role_by_name(db, admin.role)
        assert role is not None
        principal = Principal(admin, role, role_scopes(role))
        for seed in range(rounds):
            rng = random.Random(seed)
            for index, row in enumerate(_sample(plain, rng)):
                kind, term = _term(index % 4, row, rng)
                started = time.perf_counter()
                await list_customers(db, principal, CustomerQuery(q=term), limit=50)
                timings[kind].append(((time.perf_counter() - started) * 1000, term))
                await db.commit()
    await engine.dispose()
    for kind in KINDS:
        measured = sorted(timings[kind])
        if not measured:
            continue
        ms = [value for value, _term in measured]
        slowest = ", ".join(f"{term!r} {value:.0f} ms" for value, term in measured[-3:])
        print(
            f"{kind:16} {len(ms):4} searches  p50 {ms[len(ms) // 2]:6.0f} ms  "
            f"p95 {ms[int(len(ms) * 0.95)]:6.0f} ms  max {ms[-1]:6.0f} ms  slowest: {slowest}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the loaded database (postgresql://…)")
    parser.add_argument("--rounds", type=int, default=5, help="samples of 60 customers")
    options = parser.parse_args()
    asyncio.run(_run(options.url, options.rounds))


if __name__ == "__main__":
    main()
