"""A bounded HTTP load generator: N concurrent keep-alive clients, a deadline and a request cap.

Each client is an ``httpx2.AsyncClient`` with one connection of its own, issuing requests one
after another (a closed loop, like pgbench's clients). The run stops at whichever comes first:
``duration`` seconds or ``max_requests`` requests issued. A 2xx response counts as a success
and its latency is recorded; anything else (another status, a timeout, a refused connection)
is an error, counted by kind.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx2

REQUEST_TIMEOUT = 10.0


class BenchError(RuntimeError):
    """The benchmark cannot produce a meaningful figure; the message says why."""


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (``fraction`` in 0..1): an observed value.

    The smallest value such that at least ``fraction`` of all values are less or equal.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be within 0..1, got {fraction}")
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Scenario:
    """One request, repeated: a name for the table, a path, and how to authenticate."""

    name: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadResult:
    """What a load run measured. Latencies are of successful requests, in seconds; CPU times
    are of the load generator's process and (when probed) of the server's, in seconds."""

    clients: int
    elapsed: float
    latencies: tuple[float, ...]
    errors: Mapping[str, int]
    client_cpu: float = 0.0
    server_cpu: float | None = None

    @property
    def succeeded(self) -> int:
        return len(self.latencies)

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @property
    def total(self) -> int:
        return self.succeeded + self.failed

    @property
    def rate(self) -> float:
        """Successful requests per second."""
        return self.succeeded / self.elapsed if self.elapsed > 0 else 0.0

    def latency_ms(self, fraction: float) -> float | None:
        return percentile(self.latencies, fraction) * 1000 if self.latencies else None

    def cpu_percent(self, seconds: float | None) -> float | None:
        """CPU seconds as a share of one core over the run (200 = two cores busy)."""
        if seconds is None or self.elapsed <= 0:
            return None
        return 100 * seconds / self.elapsed


@dataclass
class _Tally:
    max_requests: int
    deadline: float
    issued: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def may_issue(self) -> bool:
        return self.issued < self.max_requests and time.perf_counter() < self.deadline


async def _client_loop(client: httpx2.AsyncClient, path: str, tally: _Tally) -> None:
    while tally.may_issue():
        tally.issued += 1
        started = time.perf_counter()
        try:
            response = await client.get(path)
        except httpx2.HTTPError as error:
            tally.errors[type(error).__name__] += 1
            continue
        latency = time.perf_counter() - started
        if 200 <= response.status_code < 300:
            tally.latencies.append(latency)
        else:
            tally.errors[f"HTTP {response.status_code}"] += 1


async def _run(
    clients: Sequence[httpx2.AsyncClient],
    path: str,
    duration: float,
    max_requests: int,
    server_cpu: Callable[[], float] | None,
) -> LoadResult:
    server_cpu_before = server_cpu() if server_cpu else 0.0
    cpu_before = time.process_time()
    started = time.perf_counter()
    tally = _Tally(max_requests=max_requests, deadline=started + duration)
    # every request has its own timeout; this bounds the whole run in case one is ignored
    await asyncio.wait_for(
        asyncio.gather(*(_client_loop(client, path, tally) for client in clients)),
        timeout=duration + REQUEST_TIMEOUT * 2,
    )
    elapsed = time.perf_counter() - started
    return LoadResult(
        clients=len(clients),
        elapsed=elapsed,
        latencies=tuple(tally.latencies),
        errors=dict(tally.errors),
        client_cpu=time.process_time() - cpu_before,
        server_cpu=server_cpu() - server_cpu_before if server_cpu else None,
    )


async def run_load(
    base_url: str,
    scenario: Scenario,
    *,
    clients: int,
    duration: float,
    max_requests: int,
    warmup: float = 0.0,
    server_cpu: Callable[[], float] | None = None,
) -> LoadResult:
    """Run ``scenario`` with ``clients`` concurrent clients; warm up first without recording.

    ``server_cpu``, when given, returns the server's cumulative CPU seconds; the run records
    how much of it the measured phase used.
    """
    if clients < 1 or duration <= 0 or max_requests < 1:
        raise ValueError("clients, duration and max_requests must be positive")
    pool = [
        httpx2.AsyncClient(
            base_url=base_url,
            headers=dict(scenario.headers),
            cookies=dict(scenario.cookies),
            timeout=REQUEST_TIMEOUT,
            limits=httpx2.Limits(max_connections=1, max_keepalive_connections=1),
            follow_redirects=False,
        )
        for _ in range(clients)
    ]
    try:
        if warmup > 0:
            await _run(pool, scenario.path, warmup, max_requests, None)
        return await _run(pool, scenario.path, duration, max_requests, server_cpu)
    finally:
        for client in pool:
            await client.aclose()


def check_result(name: str, result: LoadResult) -> None:
    """Fail loudly when most requests failed: the figure would describe an error page."""
    if result.total == 0:
        raise BenchError(f"{name}: no request completed")
    if result.failed * 2 > result.total:
        breakdown = ", ".join(f"{kind}: {count}" for kind, count in sorted(result.errors.items()))
        raise BenchError(f"{name}: {result.failed} of {result.total} requests failed ({breakdown})")
