"""Shopify ``orders/create`` webhooks: how fast Patron acknowledges them, and how long until
the orders and the customers' figures are there.

``patron serve --no-worker`` runs on a throwaway migrated database with one Shopify
connection, and no worker competes for the machine while deliveries arrive. After
``--warmup`` seconds of unrecorded deliveries (the server's first requests open its
connection pools and set up its routes), first saturation: ``--clients`` senders post signed
``orders/create`` deliveries (each a new order of two lines; one customer for every three
orders, so metrics move) as fast as they are answered for ``--duration`` seconds, at most
``--deliveries`` of them. Then a store's steady stream: ``--rate`` deliveries a second for
``--duration`` seconds, sent on schedule whatever the answers (an open loop, as a store sends
them), each one's latency counted from the moment it was due, so a server falling behind
shows as queueing. Then ``patron worker`` starts and the clock runs until every receipt is
processed: that is the processing rate, and the time until the last order and its
customer's metrics are visible.

The lower bound, in the same run on the same server: ``--clients`` psycopg connections insert
the same request bodies (with their headers) as single-row committed transactions into a bare
table — storing a receipt durably and nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import psycopg
from sqlalchemy import event, select

from bench.harness import Context, run_async, say, start_report
from bench.load import BenchError, LoadResult, check_result
from bench.report import Figure, Report, load_average
from bench.servers import (
    ADMIN_EMAIL,
    REPO_ROOT,
    PatronServer,
    add_server_workers_argument,
    create_api_key,
    patron_server,
)
from patron.config import Settings
from patron.db.engine import Database
from patron.integrations import processing
from patron.models import WebhookReceipt

NAME = "ingest"
TITLE = "Shopify orders/create webhooks: acknowledgement and processing"
DEFAULT_DELIVERIES = 20_000
ORDERS_PER_CUSTOMER = 3
SHOP_DOMAIN = "bench-shop.myshopify.com"
PROCESSING_TIMEOUT = 900.0  # seconds allowed for the worker to drain the receipts
REQUEST_TIMEOUT = 30.0
DEFAULT_RATE = 50.0
PACED_CONNECTIONS = 64  # a store opens more connections when answers are slow
COUNTED_DELIVERIES = 30  # processed in-process afterwards, their SQL statements counted


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("ingest options")
    group.add_argument(
        "--deliveries",
        type=int,
        default=DEFAULT_DELIVERIES,
        help=f"at most this many deliveries (default {DEFAULT_DELIVERIES:,})",
    )
    group.add_argument(
        "--worker-concurrency", type=int, default=4, help="jobs the worker runs at once"
    )
    add_server_workers_argument(group)
    group.add_argument(
        "--pool-size",
        type=int,
        default=None,
        help="database connections each server process keeps (PATRON_DATABASE_POOL_SIZE;"
        " default Patron's)",
    )
    group.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE,
        help=f"deliveries a second in the steady phase (default {DEFAULT_RATE:g}; 0 skips it)",
    )


@dataclass
class Tally:
    limit: int
    deadline: float
    issued: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def next_number(self) -> int | None:
        if self.issued >= self.limit or time.perf_counter() >= self.deadline:
            return None
        self.issued += 1
        return self.issued


def order_body(number: int, placed: datetime) -> bytes:
    """A Shopify order as the Admin API's webhook sends it (the fields Patron reads)."""
    customer = 10_000_000 + number // ORDERS_PER_CUSTOMER
    stamp = placed.isoformat(timespec="seconds")
    return json.dumps(
        {
            "id": 5_000_000_000 + number,
            "name": f"#{100_000 + number}",
            "order_number": 100_000 + number,
            "email": f"buyer{customer}@bench.example",
            "created_at": stamp,
            "updated_at": stamp,
            "processed_at": stamp,
            "cancelled_at": None,
            "cancel_reason": None,
            "currency": "USD",
            "subtotal_price": "84.98",
            "total_price": "92.48",
            "total_tax": "0.00",
            "total_discounts": "0.00",
            "taxes_included": False,
            "financial_status": "paid",
            "fulfillment_status": None,
            "note": "",
            "tags": "",
            "payment_gateway_names": ["shopify_payments"],
            "discount_codes": [],
            "line_items": [
                {
                    "id": 3 * number,
                    "title": "Linen Shirt",
                    "variant_title": "M",
                    "sku": "BENCH-SHIRT-M",
                    "quantity": 2,
                    "price": "19.99",
                    "total_discount": "0.00",
                    "discount_allocations": [],
                },
                {
                    "id": 3 * number + 1,
                    "title": "Canvas Tote",
                    "variant_title": None,
                    "sku": "BENCH-TOTE",
                    "quantity": 1,
                    "price": "45.00",
                    "total_discount": "0.00",
                    "discount_allocations": [],
                },
            ],
            "shipping_lines": [{"title": "Standard", "price": "7.50"}],
            "customer": {
                "id": customer,
                "email": f"buyer{customer}@bench.example",
                "first_name": "Bench",
                "last_name": f"Buyer {customer}",
                "created_at": stamp,
                "updated_at": stamp,
                "accepts_marketing": False,
            },
            "billing_address": {
                "first_name": "Bench",
                "last_name": f"Buyer {customer}",
                "address1": "1 Test Street",
                "city": "Leeds",
                "zip": "LS1 1AA",
                "country_code": "GB",
            },
            "shipping_address": None,
            "refunds": [],
            "fulfillments": [],
        },
        separators=(",", ":"),
    ).encode()


def signed_headers(body: bytes, secret: str, number: int) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Shop-Domain": SHOP_DOMAIN,
        "X-Shopify-Webhook-Id": f"bench-{number:012d}",
        "X-Shopify-Event-Id": f"bench-event-{number:012d}",
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
    }


def _connect_store(server: PatronServer, secret: str) -> str:
    key = create_api_key(
        server, email=ADMIN_EMAIL, scopes=["integrations:read", "integrations:write"]
    )
    response = httpx2.post(
        f"{server.url}/api/v1/integrations/connections",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "provider": "shopify",
            "name": "Benchmark shop",
            "shop_domain": SHOP_DOMAIN,
            "webhook_secret": secret,
            "access_token": "shpat_" + secrets.token_hex(16),
        },
        timeout=REQUEST_TIMEOUT,
    )
    if response.status_code != 201:
        raise BenchError(
            f"connecting the store failed: HTTP {response.status_code} {response.text}\n"
            + server.log.read_text(errors="replace")[-3000:]
        )
    return str(response.json()["id"])


async def _sender(client: httpx2.AsyncClient, path: str, secret: str, tally: Tally) -> None:
    placed = datetime.now(UTC) - timedelta(days=1)
    while (number := tally.next_number()) is not None:
        body = order_body(number, placed)
        headers = signed_headers(body, secret, number)
        started = time.perf_counter()
        try:
            response = await client.post(path, content=body, headers=headers)
        except httpx2.HTTPError as error:
            tally.errors[type(error).__name__] += 1
            continue
        if 200 <= response.status_code < 300:
            tally.latencies.append(time.perf_counter() - started)
        else:
            tally.errors[f"HTTP {response.status_code}"] += 1


async def _paced(
    server: PatronServer, path: str, secret: str, *, rate: float, count: int, first: int
) -> LoadResult:
    """``count`` deliveries, one every ``1 / rate`` seconds whatever the answers: latencies
    count from the moment each was due (no coordinated omission)."""
    placed = datetime.now(UTC) - timedelta(days=1)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    client = httpx2.AsyncClient(
        base_url=server.url,
        timeout=REQUEST_TIMEOUT,
        limits=httpx2.Limits(max_connections=PACED_CONNECTIONS),
    )
    server_before, client_before = server.cpu_seconds(), time.process_time()
    started = time.perf_counter()

    async def deliver(number: int) -> None:
        due = started + (number - first) / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        body = order_body(number, placed)
        try:
            response = await client.post(
                path, content=body, headers=signed_headers(body, secret, number)
            )
        except httpx2.HTTPError as error:
            errors[type(error).__name__] += 1
            return
        if 200 <= response.status_code < 300:
            latencies.append(time.perf_counter() - due)
        else:
            errors[f"HTTP {response.status_code}"] += 1

    try:
        await asyncio.gather(*(deliver(number) for number in range(first, first + count)))
    finally:
        await client.aclose()
    return LoadResult(
        clients=1,
        elapsed=time.perf_counter() - started,
        latencies=tuple(latencies),
        errors=dict(errors),
        client_cpu=time.process_time() - client_before,
        server_cpu=server.cpu_seconds() - server_before,
    )


async def _send(
    server: PatronServer,
    path: str,
    secret: str,
    *,
    clients: int,
    duration: float,
    limit: int,
    first: int = 1,
) -> LoadResult:
    pool = [
        httpx2.AsyncClient(
            base_url=server.url,
            timeout=REQUEST_TIMEOUT,
            limits=httpx2.Limits(max_connections=1, max_keepalive_connections=1),
        )
        for _ in range(clients)
    ]
    server_before, client_before = server.cpu_seconds(), time.process_time()
    started = time.perf_counter()
    tally = Tally(limit=first - 1 + limit, deadline=started + duration, issued=first - 1)
    try:
        await asyncio.gather(*(_sender(client, path, secret, tally) for client in pool))
    finally:
        for client in pool:
            await client.aclose()
    return LoadResult(
        clients=clients,
        elapsed=time.perf_counter() - started,
        latencies=tuple(tally.latencies),
        errors=dict(tally.errors),
        client_cpu=time.process_time() - client_before,
        server_cpu=server.cpu_seconds() - server_before,
    )


def _settled(conninfo: str) -> tuple[int, int]:
    """(receipts still waiting, receipts that failed)."""
    with psycopg.connect(conninfo) as connection:
        row = connection.execute(
            "SELECT count(*) FILTER (WHERE status IN ('received', 'pending')),"
            " count(*) FILTER (WHERE status = 'failed') FROM webhook_receipt"
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _process(server: PatronServer, conninfo: str, concurrency: int) -> tuple[float, int]:
    """Start ``patron worker``, wait until no receipt is waiting: (seconds, failed receipts)."""
    log = server.log.with_name(f"worker-{server.pid}.log")
    with open(log, "wb") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "patron.cli", "worker", "--concurrency", str(concurrency)],
            env=server.environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
    started = time.monotonic()
    try:
        while True:
            waiting, failed = _settled(conninfo)
            if waiting == 0:
                return time.monotonic() - started, failed
            if worker.poll() is not None:
                raise BenchError(f"patron worker exited (code {worker.returncode}); see {log}")
            if time.monotonic() - started > PROCESSING_TIMEOUT:
                raise BenchError(
                    f"{waiting:,} receipts still waiting after {PROCESSING_TIMEOUT:.0f} s"
                )
            time.sleep(0.5)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def _visible(conninfo: str, connection_id: str) -> dict[str, Any]:
    """What the deliveries became: the store's orders, its customers' metrics, and the span
    between the first and the last receipt processed (the worker's steady rate)."""
    with psycopg.connect(conninfo) as connection:
        row = connection.execute(
            "SELECT (SELECT count(*) FROM shop_order o JOIN store_connection c"
            "        ON c.channel_id = o.channel_id WHERE c.id = %(id)s),"
            " (SELECT coalesce(sum(m.orders_count), 0) FROM customer_metrics m"
            "        JOIN customer u ON u.id = m.customer_id"
            "        WHERE u.email LIKE '%%@bench.example'),"
            " (SELECT count(*) FROM customer WHERE email LIKE '%%@bench.example'),"
            " (SELECT extract(epoch FROM max(processed_at) - min(processed_at))"
            "        FROM webhook_receipt WHERE connection_id = %(id)s)",
            {"id": connection_id},
        ).fetchone()
    assert row is not None
    return {
        "orders": int(row[0]),
        "orders_in_metrics": int(row[1]),
        "customers": int(row[2]),
        "processing_span_seconds": float(row[3] or 0.0),
    }


async def _count_statements(server: PatronServer, connection_id: str) -> float:
    """Process the receipts still waiting, one transaction each as the worker's job does,
    in this process: the SQL statements (round trips) sent per delivery."""
    prefix = "PATRON_"
    settings = Settings(
        **{  # type: ignore[arg-type]
            key[len(prefix) :].lower(): value
            for key, value in server.environment.items()
            if key.startswith(prefix)
        }
    )
    database = Database(server.environment["PATRON_DATABASE_URL"], pool_size=1)
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    try:
        async with database.transaction() as db:
            waiting = list(
                await db.scalars(
                    select(WebhookReceipt.id).where(
                        WebhookReceipt.connection_id == connection_id,
                        WebhookReceipt.status == "received",
                    )
                )
            )
        event.listen(database.engine.sync_engine, "before_cursor_execute", count)
        for receipt_id in waiting:
            async with database.transaction() as db:
                if await processing.process(db, settings, receipt_id) != "processed":
                    raise BenchError(f"receipt {receipt_id} was not processed")
    finally:
        await database.dispose()
    return statements / len(waiting) if waiting else 0.0


def _raw_inserts(conninfo: str, secret: str, *, clients: int, count: int) -> Figure:
    """The same bodies and headers, one committed INSERT each, ``clients`` connections."""
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE bench_raw_receipt (id bigserial PRIMARY KEY, received_at timestamptz"
            " NOT NULL DEFAULT now(), headers jsonb NOT NULL, body bytea NOT NULL)"
        )
    placed = datetime.now(UTC) - timedelta(days=1)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    numbers = iter(range(1, count + 1))

    def insert_loop() -> None:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            for number in numbers:
                body = order_body(number, placed)
                headers = json.dumps(signed_headers(body, secret, number))
                started = time.perf_counter()
                try:
                    connection.execute(
                        "INSERT INTO bench_raw_receipt (headers, body) VALUES (%s, %s)",
                        (headers, body),
                    )
                except psycopg.Error as error:
                    errors[type(error).__name__] += 1
                    continue
                latencies.append(time.perf_counter() - started)

    async def run_all() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(asyncio.to_thread(insert_loop) for _ in range(clients)))
        return time.perf_counter() - started

    client_before = time.process_time()
    elapsed = run_async(run_all())
    client_cpu = time.process_time() - client_before
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("DROP TABLE bench_raw_receipt")
    result = LoadResult(clients, elapsed, tuple(latencies), dict(errors), client_cpu)
    return Figure.from_load("raw SQL: INSERT the same deliveries", result)


def run(context: Context) -> Report:
    options = context.options
    arguments = context.arguments
    limit = min(
        int(getattr(arguments, "deliveries", DEFAULT_DELIVERIES) or DEFAULT_DELIVERIES),
        options.max_requests,
    )
    concurrency = int(getattr(arguments, "worker_concurrency", 4) or 4)
    server_workers = int(getattr(arguments, "server_workers", 1) or 1)
    pool_size = getattr(arguments, "pool_size", None)
    rate = float(getattr(arguments, "rate", DEFAULT_RATE) or 0.0)
    paced_count = min(limit, int(rate * options.duration)) if rate > 0 else 0
    report = start_report(
        context,
        NAME,
        TITLE,
        deliveries_at_most=limit,
        worker_concurrency=concurrency,
        server_workers=server_workers,
        pool_size=pool_size,
        steady_rate=rate,
    )
    secret = secrets.token_urlsafe(24)
    with patron_server(
        context.postgres, options.workdir, workers=server_workers, pool_size=pool_size
    ) as server:
        conninfo = context.postgres.libpq_url(server.database)
        connection_id = _connect_store(server, secret)
        path = f"/webhooks/shopify/{connection_id}"

        def flat_out(seconds: float, first: int) -> LoadResult:
            return run_async(
                _send(
                    server,
                    path,
                    secret,
                    clients=options.clients,
                    duration=seconds,
                    limit=limit,
                    first=first,
                )
            )

        warmed = 0
        if options.warmup > 0:  # the server's first requests (its pools, lazy set-up) unrecorded
            say(f"Warming up with {options.clients} senders for {options.warmup:g} s…")
            warm = flat_out(options.warmup, 1)
            check_result("warm-up deliveries", warm)
            warmed = warm.total
        say(f"Sending signed orders/create deliveries with {options.clients} senders…")
        sent = flat_out(options.duration, warmed + 1)
        check_result("orders/create deliveries", sent)
        figures = [
            Figure.from_load(
                f"POST /webhooks/shopify, {options.clients} senders flat out (saturation)", sent
            )
        ]
        if paced_count:
            say(f"A steady stream: {rate:g} deliveries a second, {paced_count:,} of them…")
            paced = run_async(
                _paced(
                    server,
                    path,
                    secret,
                    rate=rate,
                    count=paced_count,
                    first=warmed + sent.total + 1,
                )
            )
            check_result("steady deliveries", paced)
            figures.append(
                Figure.from_load(
                    f"POST /webhooks/shopify at a steady {rate:g}/s (open loop)", paced
                )
            )
        accepted = warmed + sum(figure.succeeded for figure in figures)
        elapsed = sum(figure.duration for figure in figures)
        say(f"  {accepted:,} acknowledged in {elapsed:,.1f} s; processing them with a worker…")
        seconds, failed = _process(server, conninfo, concurrency)
        visible = _visible(conninfo, connection_id)
        say(
            f"  processed in {seconds:,.1f} s: {visible['orders']:,} orders,"
            f" {visible['customers']:,} customers, {failed:,} receipts failed"
        )
        if visible["orders"] != accepted or visible["orders_in_metrics"] != accepted:
            raise BenchError(f"the orders do not add up: {visible} for {accepted:,} deliveries")
        say(f"Counting SQL statements over {COUNTED_DELIVERIES} more deliveries processed here…")
        counted = run_async(
            _send(
                server,
                path,
                secret,
                clients=1,
                duration=options.duration,
                limit=COUNTED_DELIVERIES,
                first=accepted + 1,
            )
        )
        check_result("counted deliveries", counted)
        per_order = run_async(_count_statements(server, connection_id))
        say(f"  {per_order:.1f} SQL statements per order")
        span = visible["processing_span_seconds"] or seconds
        processed = Figure(
            name=f"worker: deliveries to orders and metrics (concurrency {concurrency})",
            unit="orders/s",
            clients=concurrency,
            duration=round(span, 3),
            succeeded=visible["orders"],
            failed=failed,
            rate=visible["orders"] / span if span else 0.0,
            p50_ms=None,
            p95_ms=None,
            p99_ms=None,
        )
        say("Raw INSERTs of the same deliveries (the PostgreSQL lower bound)…")
        baseline = _raw_inserts(conninfo, secret, clients=options.clients, count=accepted)
    report.figures = [
        *(figure.relative_to(baseline) for figure in figures),
        processed.relative_to(baseline),
        baseline,
    ]
    report.environment.update(
        {
            "accepted": accepted,
            "seconds_until_visible": round(seconds, 1),
            "visible": visible,
            "sql_statements_per_order": round(per_order, 1),
            "load_average_after": load_average(),
        }
    )
    return report
