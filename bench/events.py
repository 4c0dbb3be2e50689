"""Tracking events through ``POST /api/v1/events/batch``, beside COPY of the same rows.

``patron serve`` runs on a throwaway migrated database. ``--clients`` senders post batches of
``--batch`` events for ``--duration`` seconds (after ``--warmup`` seconds that are not
counted): storefront traffic, 80 % from anonymous visitors and 20 % from customers named by
email (a pool of 2,000, created before the measurement), each event with its own idempotency
key and a few properties. Figures: accepted events per second and the latency of a batch.

The lower bound is measured on the same server in the same run: the rows the API stored are
read back with ``COPY ... TO``, the table is emptied, and the same rows are loaded again with
``COPY ... FROM STDIN`` into the same partitioned table (same indexes, same foreign key).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx2
import psycopg

from bench.dataset import _figure as rows_per_second
from bench.harness import Context, run_async, say, start_report
from bench.load import BenchError, percentile
from bench.report import Figure, Report
from bench.servers import ADMIN_EMAIL, PatronServer, create_api_key, patron_server

NAME = "events"
TITLE = "Tracking events through the batch API, beside COPY of the same rows"
DEFAULT_BATCH = 500
CUSTOMERS = 2_000
KNOWN_SHARE = 0.2
NAMES = ("viewed_product", "viewed_product", "viewed_product", "added_to_cart", "searched")
COLUMNS = (
    "occurred_at, id, received_at, customer_id, anonymous_id, name, properties, source,"
    " idempotency_key"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("events options")
    group.add_argument(
        "--batch", type=int, default=DEFAULT_BATCH, help="events per request (default 500)"
    )
    group.add_argument(
        "--known",
        type=float,
        default=KNOWN_SHARE,
        help="share of events from customers named by email (default 0.2)",
    )


@dataclass
class Tally:
    recording: bool = False
    events: int = 0
    rejected: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    server_cpu: float = 0.0


def _batch(
    rng: random.Random, sender: int, sequence: int, size: int, known: float
) -> dict[str, Any]:
    events = []
    for index in range(size):
        event: dict[str, Any] = {
            "name": rng.choice(NAMES),
            "properties": {"product_id": f"P{rng.randrange(5_000)}", "price": "19.90"},
            "idempotency_key": f"{sender}-{sequence}-{index}",
        }
        if rng.random() < known:
            event["email"] = f"shopper{rng.randrange(CUSTOMERS)}@example.com"
        else:
            event["anonymous_id"] = f"visitor-{sender}-{rng.randrange(100_000)}"
        events.append(event)
    return {"events": events}


async def _sender(
    client: httpx2.AsyncClient, sender: int, shape: tuple[int, float], stop_at: float, tally: Tally
) -> None:
    rng = random.Random(sender)
    sequence = 0
    while time.perf_counter() < stop_at:
        body = _batch(rng, sender, sequence, *shape)
        sequence += 1
        started = time.perf_counter()
        try:
            response = await client.post("/api/v1/events/batch", json=body)
        except httpx2.HTTPError as error:
            if tally.recording:
                tally.errors[type(error).__name__] = tally.errors.get(type(error).__name__, 0) + 1
            continue
        elapsed = time.perf_counter() - started
        if not tally.recording:
            continue
        if response.status_code != 200:
            key = f"HTTP {response.status_code}"
            tally.errors[key] = tally.errors.get(key, 0) + 1
            continue
        result = response.json()
        tally.events += result["created"] + result["duplicates"]
        tally.rejected += result["rejected"]
        tally.latencies.append(elapsed)


async def _load(
    server: PatronServer, key: str, context: Context, shape: tuple[int, float]
) -> Tally:
    options = context.options
    tally = Tally()
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx2.Limits(max_connections=options.clients)
    async with httpx2.AsyncClient(
        base_url=server.url, headers=headers, timeout=120, limits=limits
    ) as client:
        say(f"Creating the {CUSTOMERS:,} customers of the pool (not measured)…")
        for first in range(0, CUSTOMERS, DEFAULT_BATCH):
            seed = [
                {"email": f"shopper{number}@example.com", "name": "signed_up"}
                for number in range(first, min(first + DEFAULT_BATCH, CUSTOMERS))
            ]
            response = await client.post("/api/v1/events/batch", json={"events": seed})
            if response.status_code != 200 or response.json()["rejected"]:
                raise BenchError(f"seeding customers failed: {response.text[:500]}")
        start = time.perf_counter()
        stop_at = start + options.warmup + options.duration
        senders = [
            asyncio.create_task(_sender(client, sender, shape, stop_at, tally))
            for sender in range(options.clients)
        ]
        await asyncio.sleep(options.warmup)
        tally.recording = True
        cpu_before = server.cpu_seconds()
        await asyncio.sleep(options.duration)
        tally.server_cpu = server.cpu_seconds() - cpu_before
        tally.recording = False
        await asyncio.gather(*senders)
    return tally


def _copy_back(url: str) -> tuple[int, float]:
    """Read the stored events out, empty the table, and time COPY of the same rows back in."""
    buffer = io.BytesIO()
    with psycopg.connect(url, autocommit=True) as connection:
        with connection.cursor().copy(
            f"COPY (SELECT {COLUMNS} FROM tracking_event) TO STDOUT".encode()
        ) as copy:
            for chunk in copy:
                buffer.write(chunk)
        connection.execute(b"TRUNCATE tracking_event, tracking_event_key")
        started = time.perf_counter()
        with connection.cursor().copy(
            f"COPY tracking_event ({COLUMNS}) FROM STDIN".encode()
        ) as copy:
            copy.write(buffer.getvalue())
        seconds = time.perf_counter() - started
        row = connection.execute(b"SELECT count(*) FROM tracking_event").fetchone()
    return (int(row[0]) if row else 0), seconds


def run(context: Context) -> Report:
    arguments = getattr(context, "arguments", None)
    size = int(getattr(arguments, "batch", DEFAULT_BATCH) or DEFAULT_BATCH)
    known = float(getattr(arguments, "known", KNOWN_SHARE))
    options = context.options
    load_before = [round(value, 2) for value in os.getloadavg()]
    say("Starting patron serve on a throwaway database…")
    with patron_server(context.postgres, options.workdir) as server:
        key = create_api_key(server, email=ADMIN_EMAIL, scopes=["events:write"])
        say(f"{options.clients} senders, {size} events a batch, {options.duration:.0f} s…")
        tally = run_async(_load(server, key, context, (size, known)))
        if not tally.latencies:
            raise BenchError(f"no batch was accepted: {tally.errors}")
        say("COPY of the same rows into the same table…")
        copied, copy_seconds = _copy_back(context.postgres.libpq_url(server.database))
    api = Figure(
        name=f"POST /api/v1/events/batch ({size} events a request)",
        unit="events/s",
        clients=options.clients,
        duration=options.duration,
        succeeded=tally.events,
        failed=tally.rejected + sum(tally.errors.values()),
        rate=tally.events / options.duration,
        p50_ms=1000 * percentile(tally.latencies, 0.50),
        p95_ms=1000 * percentile(tally.latencies, 0.95),
        p99_ms=1000 * percentile(tally.latencies, 0.99),
        errors=tally.errors,
        server_cpu_percent=100 * tally.server_cpu / options.duration,
        server_cpu_ms=1000 * tally.server_cpu / tally.events if tally.events else None,
    )
    copy = rows_per_second(
        "PostgreSQL COPY of the stored rows into tracking_event", copied, copy_seconds
    )
    report = start_report(
        context,
        NAME,
        TITLE,
        with_pgbench=False,
        load_since=load_before,
        server="patron serve --no-worker (one uvicorn process), JSON logs at INFO",
        clients=options.clients,
        duration_s=options.duration,
        warmup_s=options.warmup,
        batch=size,
        known_share=known,
        customer_pool=CUSTOMERS,
        rows_copied=copied,
    )
    report.figures = [api.relative_to(copy), copy]
    return report
