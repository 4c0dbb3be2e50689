"""The SQL every day-keyed rollup shares: which orders a (day, channel, currency) key counts.

A key's day is a UTC day; an order counts on the day it was placed, in its own channel and
currency, unless it was cancelled. The daily sales rollup (``rollups``) and the product
rollup (``product_rollups``) both build on these fragments, so the two can never disagree on
an order's day. Constant SQL, no input.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import text

Key = tuple[date, uuid.UUID | None, str]

# "k" is a key (day, channel_id, currency); "o" an order
DAY_START = "CAST(k.day AS timestamp) AT TIME ZONE 'UTC'"
DAY_END = "CAST(k.day + 1 AS timestamp) AT TIME ZONE 'UTC'"
SAME_KEY = "o.channel_id IS NOT DISTINCT FROM k.channel_id AND o.currency = k.currency"
# the uncancelled orders "o" placed in key "k"'s day, channel and currency
ORDERS_OF_KEY = (
    f"o.placed_at >= {DAY_START} AND o.placed_at < {DAY_END} AND {SAME_KEY}"
    " AND o.cancelled_at IS NULL"
)

# the UTC day of a timestamp column: UTC_DAY.format("o.placed_at")
UTC_DAY = "CAST({} AT TIME ZONE 'UTC' AS date)"


def in_days(column: str) -> str:
    """The condition that the timestamp ``column`` falls on a UTC day from ``:first`` to
    ``:last`` (both included)."""
    return (
        f"{column} >= CAST(:first AS timestamp) AT TIME ZONE 'UTC'"
        f" AND {column} < CAST(CAST(:last AS date) + 1 AS timestamp) AT TIME ZONE 'UTC'"
    )


# the keys given as three arrays (``given``)
GIVEN_KEYS = (
    "SELECT * FROM unnest(CAST(:days AS date[]), CAST(:channels AS uuid[]),"
    " CAST(:currencies AS text[])) AS given(day, channel_id, currency)"
)


def given(keys: Sequence[Key]) -> dict[str, list[Any]]:
    """The parameters of ``GIVEN_KEYS`` for these keys."""
    return {
        "days": [key[0] for key in keys],
        "channels": [key[1] for key in keys],
        "currencies": [key[2] for key in keys],
    }


# transaction-scoped advisory locks, taken in the order given (sort them: no deadlocks)
LOCK = text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:locks AS bigint[])) k")


def advisory_lock_id(name: str) -> int:
    """A stable 64-bit advisory lock number for a rollup row's name."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
