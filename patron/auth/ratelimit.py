"""Fixed-window rate limits, shared by every web process.

Counters live in PostgreSQL by default (a separate, immediately committed statement, so a
rolled-back request still counts) or in Redis when ``PATRON_REDIS_URL`` is set.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from patron.errors import RateLimited


@dataclass(frozen=True)
class Limit:
    name: str
    hits: int
    window_seconds: int


class CounterStore(Protocol):
    async def hit(self, key: str, window_start: int, window_seconds: int) -> int: ...

    async def close(self) -> None: ...


_UPSERT = text(
    """
    INSERT INTO rate_limit_counter (key, window_start, hits)
    VALUES (:key, to_timestamp(:window_start), 1)
    ON CONFLICT (key) DO UPDATE SET
        hits = CASE WHEN rate_limit_counter.window_start = EXCLUDED.window_start
                    THEN rate_limit_counter.hits + 1 ELSE 1 END,
        window_start = EXCLUDED.window_start
    RETURNING hits
    """
)


class PostgresCounters:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def hit(self, key: str, window_start: int, window_seconds: int) -> int:
        async with self._engine.begin() as connection:
            result = await connection.execute(_UPSERT, {"key": key, "window_start": window_start})
            return int(result.scalar_one())

    async def close(self) -> None:
        return None


class RedisCounters:
    def __init__(self, url: str) -> None:
        self._redis: Redis = Redis.from_url(url)

    async def hit(self, key: str, window_start: int, window_seconds: int) -> int:
        bucket = f"patron:rl:{key}:{window_start}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(bucket)
            pipe.expire(bucket, window_seconds + 5)
            hits, _ = await pipe.execute()
        return int(hits)

    async def close(self) -> None:
        await self._redis.aclose()


class RateLimiter:
    def __init__(self, store: CounterStore) -> None:
        self.store = store

    async def check(self, limit: Limit, subject: str) -> None:
        """Count one attempt; raise ``RateLimited`` with the wait when over the limit."""
        now = time.time()
        window_start = int(now // limit.window_seconds) * limit.window_seconds
        hits = await self.store.hit(f"{limit.name}:{subject}", window_start, limit.window_seconds)
        if hits > limit.hits:
            retry_after = math.ceil(window_start + limit.window_seconds - now)
            raise RateLimited(
                f"Too many attempts; try again in {retry_after} seconds.", retry_after=retry_after
            )
