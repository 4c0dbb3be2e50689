"""Backfill and reconciliation against a real HTTP server on 127.0.0.1 that answers like the
Shopify Admin REST API and the WooCommerce REST API v3: cursor and numbered pagination,
rate limits, refused credentials, malformed pages, a worker that dies mid-run, and the
versions already applied by webhooks."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit.service import SYSTEM
from patron.config import Settings
from patron.db.engine import Database
from patron.integrations import backfill, service
from patron.integrations.shopify.admin_api import api_base
from patron.integrations.storeapi import StoreAPIError
from patron.kit.crypto import SecretBox
from patron.kit.time import utcnow
from patron.models import (
    Customer,
    Order,
    Product,
    StoreBackfill,
    StoreConnection,
    TimelineEntry,
)
from patron.worker.app import run_worker, set_runtime
from tests.conftest import (
    IsolatedDatabase,
    MakeKey,
    MakeUser,
    bearer,
    form_token,
    make_settings,
    sign_in,
)
from tests.live import http_server
from tests.shop import CommittedShop, committed_shop
from tests.test_integrations_helpers import (
    connect_shop,
    customer_payload,
    deliver,
    order_payload,
    product_payload,
    woo_order_payload,
)

TOKEN = "shpat_0123456789abcdef"
WOO_KEY, WOO_SECRET = "ck_0123456789abcdef", "cs_fedcba9876543210"
SINCE = datetime(2026, 10, 1, tzinfo=UTC)
RESOURCES = ("customers", "products", "orders")


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float


@dataclass
class Answer:
    """A scripted answer for one request of a resource's page (instead of the data)."""

    status: int = 200
    body: bytes | None = None  # None: the page's data
    headers: dict[str, str] = field(default_factory=dict)
    gate: threading.Event | None = None  # hold the answer until the test opens it
    arrived: threading.Event = field(default_factory=threading.Event)


@dataclass
class FakeStore:
    """The store's side: its records, how many per page, and what it saw."""

    provider: str = "shopify"
    data: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    page_size: int = 2
    call_limit: str = "1/40"
    scripts: dict[tuple[str, int], list[Answer]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, resource: str, page: int, *answers: Answer) -> None:
        self.scripts.setdefault((resource, page), []).extend(answers)

    def pages_read(self, resource: str) -> list[int]:
        return [
            self.page_of(s) for s in self.seen if s.path.removesuffix(".json").endswith(resource)
        ]

    def page_of(self, seen: Seen) -> int:
        if "page_info" in seen.query:
            return int(json.loads(base64.b64decode(seen.query["page_info"]))["page"])
        return int(seen.query.get("page", "1"))


def _updated(record: dict[str, Any]) -> datetime:
    value = record.get("updated_at") or record.get("date_modified_gmt") or ""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _handler(store: FakeStore) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            store.seen.append(Seen(parts.path, query, headers, time.monotonic()))
            if store.provider == "shopify":
                self.shopify(parts.path, query, headers)
            else:
                self.woocommerce(parts.path, query, headers)

        def reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def records(self, resource: str, since: str | None) -> list[dict[str, Any]]:
            rows = store.data.get(resource, [])
            if since:
                floor = datetime.fromisoformat(since)
                floor = floor if floor.tzinfo else floor.replace(tzinfo=UTC)
                rows = [r for r in rows if _updated(r) >= floor]
            return rows

        def scripted(self, resource: str, page: int) -> Answer | None:
            waiting = store.scripts.get((resource, page))
            answer = waiting.pop(0) if waiting else None
            if answer is not None:
                answer.arrived.set()
            if answer is not None and answer.gate is not None:
                answer.gate.wait(timeout=30)
            return answer

        def shopify(self, path: str, query: dict[str, str], headers: dict[str, str]) -> None:
            limit = {"X-Shopify-Shop-Api-Call-Limit": store.call_limit}
            if headers.get("x-shopify-access-token") != TOKEN:
                body = b'{"errors":"[API] Invalid API key or access token"}'
                return self.reply(401, body, {})
            prefix = "/admin/api/2025-10/"
            name = path.removeprefix(prefix).removesuffix(".json")
            if name == "shop":
                shop = {"shop": {"name": "Patron Test Shop", "myshopify_domain": "x"}}
                return self.reply(200, json.dumps(shop).encode(), limit)
            if not path.startswith(prefix) or name not in RESOURCES:
                return self.reply(404, b'{"errors":"Not Found"}', {})
            if "page_info" in query:
                cursor = json.loads(base64.b64decode(query["page_info"]))
                page, since = int(cursor["page"]), cursor["since"]
            else:
                page, since = 1, query.get("updated_at_min")
            answer = self.scripted(name, page)
            if answer is not None and answer.body is not None:
                return self.reply(answer.status, answer.body, {**limit, **answer.headers})
            rows = self.records(name, since)
            start = (page - 1) * store.page_size
            chunk = rows[start : start + store.page_size]
            links = []
            if start + store.page_size < len(rows):
                info = base64.b64encode(json.dumps({"page": page + 1, "since": since}).encode())
                next_query = urlencode({"limit": query.get("limit", "50"), "page_info": info})
                links.append(f'<{store.url}{path}?{next_query}>; rel="next"')
            if page > 1:
                links.append(f'<{store.url}{path}?page_info=previous>; rel="previous"')
            extra = {"Link": ", ".join(links)} if links else {}
            body = json.dumps({name: chunk}).encode()
            return self.reply(200, body, {**limit, **extra})

        def woocommerce(self, path: str, query: dict[str, str], headers: dict[str, str]) -> None:
            expected = base64.b64encode(f"{WOO_KEY}:{WOO_SECRET}".encode()).decode()
            if headers.get("authorization") != f"Basic {expected}":
                body = b'{"code":"woocommerce_rest_cannot_view","data":{"status":401}}'
                return self.reply(401, body, {})
            name = path.removeprefix("/wp-json/wc/v3/")
            if name not in RESOURCES:
                return self.reply(404, b'{"code":"rest_no_route"}', {})
            page = int(query.get("page", "1"))
            answer = self.scripted(name, page)
            if answer is not None and answer.body is not None:
                return self.reply(answer.status, answer.body, answer.headers)
            size = store.page_size
            rows = self.records(name, query.get("modified_after"))
            pages = max(1, -(-len(rows) // size))
            chunk = rows[(page - 1) * size : page * size]
            totals = {"X-WP-Total": str(len(rows)), "X-WP-TotalPages": str(pages)}
            return self.reply(200, json.dumps(chunk).encode(), totals)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


@pytest.fixture
def store() -> Iterator[FakeStore]:
    state = FakeStore()
    with http_server(_handler(state)) as port:
        state.port = port
        yield state


def shopify_data(orders: int = 5, customers: int = 5, products: int = 3) -> dict[str, Any]:
    people = [
        customer_payload(7000 + i, email=f"person{i}@example.com", minutes=i)
        for i in range(customers)
    ]
    items = []
    for i in range(products):
        product = product_payload(632910000 + i, title=f"Mug {i}", minutes=i)
        product["variants"][0]["id"] = 808950000 + i
        product["variants"][0]["inventory_item_id"] = 39070000 + i
        items.append(product)
    sales = [
        order_payload(450789000 + i, minutes=i, customer=people[i % customers])
        for i in range(orders)
    ]
    return {"customers": people, "products": items, "orders": sales}


async def connect_woo(db: AsyncSession, settings: Settings, address: str) -> StoreConnection:
    """A WooCommerce store at ``address`` with a good consumer key and secret."""
    return await service.connect(
        db,
        SecretBox(settings),
        actor=SYSTEM,
        provider="woocommerce",
        name="Woo shop",
        shop_domain=address,
        webhook_secret="wc-secret-0123456789",
        access_token=f"{WOO_KEY}:{WOO_SECRET}",
    )


def settings_for(url: str, tmp_path: Path, store: FakeStore, **overrides: Any) -> Settings:
    return make_settings(
        url,
        tmp_path,
        store_api_allow_private=True,
        store_api_base_url=store.url,
        **overrides,
    )


@dataclass
class Shop:
    """A connected store on a database with real commits, and a worker to run its jobs."""

    database: Database
    settings: Settings
    connection: StoreConnection

    @property
    def box(self) -> SecretBox:
        return SecretBox(self.settings)

    async def request(self, since: datetime = SINCE, kind: str = "backfill") -> uuid.UUID:
        async with self.database.transaction() as db:
            connection = await service.get_connection(db, self.connection.id)
            run = await backfill.request_run(
                db, connection=connection, actor=SYSTEM, since=since, kind=kind
            )
            return run.id

    async def execute(self, run_id: uuid.UUID) -> str | None:
        return await backfill.execute(self.settings, self.database, self.box, run_id)

    async def backfill(self, since: datetime = SINCE) -> StoreBackfill:
        run_id = await self.request(since)
        await self.execute(run_id)
        return await self.run(run_id)

    async def run(self, run_id: uuid.UUID) -> StoreBackfill:
        async with self.database.transaction() as db:
            run = await db.get(StoreBackfill, run_id)
            assert run is not None
            return run

    async def work(self) -> None:
        """Run the queued jobs (backfills, webhooks, sweeps) in a worker, then return."""
        set_runtime(self.settings, self.database)
        await run_worker(self.database, wait=False, concurrency=1)

    async def count(self, model: Any) -> int:
        async with self.database.transaction() as db:
            return int(await db.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
async def shop(isolated_database: IsolatedDatabase, tmp_path: Path, store: FakeStore) -> Shop:
    settings = settings_for(isolated_database.url, tmp_path, store)
    async with isolated_database.database.transaction() as db:
        connection = await connect_shop(db, settings)
    return Shop(isolated_database.database, settings, connection)


@pytest.fixture
async def woo_shop(isolated_database: IsolatedDatabase, tmp_path: Path, store: FakeStore) -> Shop:
    store.provider = "woocommerce"
    settings = settings_for(isolated_database.url, tmp_path, store)
    async with isolated_database.database.transaction() as db:
        connection = await connect_woo(db, settings, store.url)
    return Shop(isolated_database.database, settings, connection)


def counts(run: StoreBackfill) -> dict[str, int]:
    return {
        "created": run.created,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "failed": run.failed,
    }


# -- reading whole stores ---------------------------------------------------------------------


async def test_a_shopify_backfill_asked_through_the_api_reads_every_page_in_a_worker(
    shop: Shop, store: FakeStore
) -> None:
    store.data = shopify_data()
    path = f"/api/v1/integrations/connections/{shop.connection.id}/backfills"
    async with committed_shop(shop.database, shop.settings, CommittedShop) as admin:
        response = await admin.http.post(
            path, json={"since": "2026-10-01"}, headers=bearer(admin.key)
        )
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "queued"
        await shop.work()
        listed = await admin.http.get(path, headers=bearer(admin.key))
    # (the hourly reconciliation may have run in the same worker: only the backfill counts)
    [run] = [item for item in listed.json()["items"] if item["kind"] == "backfill"]
    assert run["status"] == "done", run
    assert (run["created"], run["updated"], run["unchanged"], run["failed"]) == (13, 0, 0, 0)
    assert {name: state["pages"] for name, state in run["progress"].items()} == {
        "customers": 3,
        "products": 2,
        "orders": 3,
    }
    assert store.pages_read("customers")[:3] == [1, 2, 3]
    assert store.pages_read("orders")[:3] == [1, 2, 3]
    first, *later = [s for s in store.seen if s.path.endswith("orders.json")][:3]
    assert first.query["status"] == "any"
    assert first.query["limit"] == "250"
    assert datetime.fromisoformat(first.query["updated_at_min"]) == SINCE
    assert all("page_info" in s.query and "status" not in s.query for s in later)
    assert all(s.headers["x-shopify-access-token"] == TOKEN for s in store.seen)
    assert await shop.count(Order) == 5
    assert await shop.count(Customer) == 5
    assert await shop.count(Product) == 3


async def test_a_woocommerce_backfill_follows_x_wp_totalpages_with_basic_auth(
    woo_shop: Shop, store: FakeStore
) -> None:
    orders = [
        woo_order_payload(
            id=900 + i,
            number=str(900 + i),
            modified=f"2026-11-02T10:0{i}:00",
            billing={"first_name": "Jo", "last_name": f"Doe{i}", "email": f"jo{i}@example.com"},
        )
        for i in range(5)
    ]
    customers = [
        {
            "id": 30 + i,
            "email": f"jo{i}@example.com",
            "first_name": "Jo",
            "last_name": f"Doe{i}",
            "date_modified_gmt": "2026-11-01T08:00:00",
        }
        for i in range(3)
    ]
    old_customer = {**customers[0], "id": 29, "email": "old@example.com"}
    old_customer["date_modified_gmt"] = "2025-01-01T08:00:00"
    store.data = {"customers": [old_customer, *customers], "products": [], "orders": orders}
    run = await woo_shop.backfill()
    assert run.status == "done", run.error
    assert counts(run) == {"created": 8, "updated": 0, "unchanged": 0, "failed": 0}
    assert store.pages_read("orders") == [1, 2, 3]
    assert store.pages_read("customers") == [1, 2]
    orders_seen = [s for s in store.seen if s.path.endswith("/orders")]
    assert all(s.query["orderby"] == "modified" and s.query["order"] == "asc" for s in orders_seen)
    assert datetime.fromisoformat(orders_seen[0].query["modified_after"]) == SINCE
    assert all("consumer_key" not in s.query for s in store.seen)
    assert await woo_shop.count(Order) == 5
    # the customer not modified since the date is left out
    async with woo_shop.database.transaction() as db:
        emails = set(await db.scalars(select(Customer.email)))
    assert "old@example.com" not in emails


async def test_a_429_is_retried_after_the_wait_it_asks_for(shop: Shop, store: FakeStore) -> None:
    store.data = shopify_data(orders=3)
    store.script("customers", 2, Answer(429, b'{"errors":"Exceeded"}', {"Retry-After": "1"}))
    run = await shop.backfill()
    assert run.status == "done", run.error
    asked = [s for s in store.seen if s.path.endswith("customers.json")]
    assert [store.page_of(s) for s in asked] == [1, 2, 2, 3]
    assert asked[2].at - asked[1].at >= 0.95
    assert await shop.count(Customer) == 5


async def test_a_store_that_keeps_answering_429_fails_the_run_after_bounded_retries(
    shop: Shop, store: FakeStore
) -> None:
    store.data = shopify_data()
    limited = Answer(429, b"{}", {"Retry-After": "0"})
    store.script("customers", 1, *[limited] * 6)
    run = await shop.backfill()
    assert (run.status, run.error_code) == ("failed", "store_rate_limited")
    assert len(store.pages_read("customers")) == 6
    assert await shop.count(Customer) == 0


async def test_a_nearly_full_call_limit_bucket_slows_the_next_call(
    shop: Shop, store: FakeStore
) -> None:
    store.data = shopify_data(orders=0, products=0, customers=3)
    store.call_limit = "33/40"  # past 80 %: wait for one call to leak out (2 a second)
    run = await shop.backfill()
    assert run.status == "done", run.error
    asked = [s for s in store.seen if s.path.endswith(".json")]
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(asked)]
    assert gaps
    assert min(gaps) >= 0.95


# -- failures -----------------------------------------------------------------------------------


async def test_rejected_credentials_fail_the_run_with_a_clear_error(
    shop: Shop, store: FakeStore
) -> None:
    async with shop.database.transaction() as db:
        connection = await service.get_connection(db, shop.connection.id)
        await service.update_connection(
            db, shop.box, connection, actor=SYSTEM, changes={"access_token": "shpat_wrong_token"}
        )
    store.data = shopify_data()
    run = await shop.backfill()
    assert (run.status, run.error_code) == ("failed", "store_credentials_rejected")
    assert "access token" in run.error
    assert run.finished_at is not None
    assert await shop.count(Customer) == 0
    async with shop.database.transaction() as db:
        connection = await service.get_connection(db, shop.connection.id)
        result = await backfill.test_credentials(shop.settings, shop.box, connection)
    assert (result.ok, result.code) == (False, "store_credentials_rejected")


async def test_a_malformed_page_fails_the_run_and_applies_nothing_of_that_page(
    shop: Shop, store: FakeStore
) -> None:
    store.data = shopify_data()
    store.script("orders", 2, Answer(200, b'{"orders": [{"id": 450789002, "name": "#9002"'))
    run = await shop.backfill()
    assert (run.status, run.error_code) == ("failed", "store_bad_response")
    assert "not JSON" in run.error
    assert run.progress["orders"]["pages"] == 1
    assert run.progress["orders"]["cursor"] is not None
    async with shop.database.transaction() as db:
        external = set(await db.scalars(select(Order.external_id)))
    assert external == {"450789000", "450789001"}


async def test_a_page_with_a_record_that_is_not_an_object_is_refused_whole(
    shop: Shop, store: FakeStore
) -> None:
    store.data = shopify_data(orders=0, products=0, customers=2)
    good = json.dumps({"customers": [store.data["customers"][0], "oops"]}).encode()
    store.script("customers", 1, Answer(200, good))
    run = await shop.backfill()
    assert (run.status, run.error_code) == ("failed", "store_bad_response")
    assert "Record 2" in run.error
    assert await shop.count(Customer) == 0


async def test_a_record_the_handlers_refuse_is_counted_failed_and_the_run_goes_on(
    shop: Shop, store: FakeStore
) -> None:
    store.data = shopify_data(orders=3, products=0, customers=3)
    store.data["orders"][1]["currency"] = "EUR"  # no exchange rate given: refused
    run = await shop.backfill()
    assert run.status == "done"
    assert counts(run) == {"created": 5, "updated": 0, "unchanged": 0, "failed": 1}
    [failure] = run.failures
    assert (failure["resource"], failure["id"]) == ("orders", "450789001")
    assert failure["code"] == "exchange_rate_required"
    assert await shop.count(Order) == 2


async def test_a_run_whose_worker_dies_resumes_from_its_saved_cursor_without_duplicates(
    shop: Shop, store: FakeStore
) -> None:
    store.data = shopify_data()
    gate = threading.Event()
    held = Answer(gate=gate)
    store.script("orders", 2, held)
    run_id = await shop.request()
    worker = asyncio.create_task(shop.execute(run_id))
    assert await asyncio.to_thread(held.arrived.wait, 20)
    assert store.pages_read("orders") == [1, 2]
    worker.cancel()  # the worker process is killed while it waits for page 2
    with pytest.raises(asyncio.CancelledError):
        await worker
    gate.set()
    stopped = await shop.run(run_id)
    assert stopped.status == "running"
    assert stopped.progress["orders"]["pages"] == 1
    assert await shop.count(Order) == 2
    # a restarted worker picks the run up where it stopped
    assert await shop.execute(run_id) == "done"
    finished = await shop.run(run_id)
    assert store.pages_read("orders") == [1, 2, 2, 3]
    assert store.pages_read("customers") == [1, 2, 3]
    assert counts(finished) == {"created": 13, "updated": 0, "unchanged": 0, "failed": 0}
    assert await shop.count(Order) == 5
    assert await shop.count(Customer) == 5


async def test_a_stalled_run_is_queued_again_by_the_sweep(shop: Shop, store: FakeStore) -> None:
    run_id = await shop.request()
    async with shop.database.transaction() as db:
        assert await backfill.requeue_stalled(db) == 0
        later = utcnow() + backfill.STALLED_AFTER + timedelta(minutes=1)
        assert await backfill.requeue_stalled(db, now=later) == 1
    store.data = shopify_data(orders=1, products=0, customers=1)
    await shop.work()
    assert (await shop.run(run_id)).status == "done"


async def test_a_run_that_makes_no_progress_for_hours_is_failed_and_frees_the_store(
    shop: Shop,
) -> None:
    run_id = await shop.request()
    async with shop.database.transaction() as db:
        much_later = utcnow() + backfill.GIVE_UP_AFTER + timedelta(minutes=1)
        assert await backfill.requeue_stalled(db, now=much_later) == 1
    stalled = await shop.run(run_id)
    assert (stalled.status, stalled.error_code) == ("failed", "backfill_stalled")
    assert await shop.request() != run_id  # a new backfill may start


# -- idempotency and ordering ------------------------------------------------------------------


async def test_a_second_backfill_of_the_same_data_changes_nothing(
    shop: Shop, store: FakeStore
) -> None:
    store.data = shopify_data()
    first = await shop.backfill()
    assert first.status == "done"
    entries = await shop.count(TimelineEntry)
    second = await shop.backfill()
    assert second.status == "done"
    assert counts(second) == {"created": 0, "updated": 0, "unchanged": 13, "failed": 0}
    assert await shop.count(TimelineEntry) == entries
    assert (await shop.count(Order), await shop.count(Customer)) == (5, 5)


async def test_an_older_record_from_the_api_does_not_overwrite_a_newer_webhook(
    shop: Shop, store: FakeStore
) -> None:
    newer = customer_payload(7000, email="person0@example.com", minutes=60, first_name="Augusta")
    async with committed_shop(shop.database, shop.settings, CommittedShop) as admin:
        assert (await deliver(admin.http, shop.connection, "customers/update", newer)).is_success
    await shop.work()
    store.data = shopify_data(orders=0, products=0, customers=1)  # Ada, updated at minute 0
    run = await shop.backfill()
    assert counts(run) == {"created": 0, "updated": 0, "unchanged": 1, "failed": 0}
    async with shop.database.transaction() as db:
        person = await db.scalar(select(Customer))
    assert person is not None
    assert person.first_name == "Augusta"


async def test_reconciliation_reads_only_what_changed_since_the_last_run(
    shop: Shop, store: FakeStore
) -> None:
    store.data = shopify_data()
    first = await shop.backfill()
    assert first.status == "done"
    assert first.started_at is not None
    store.seen.clear()
    recent = order_payload(450789003, minutes=0, customer=store.data["customers"][3])
    recent["updated_at"] = utcnow().isoformat()
    recent["note"] = "gift wrap"
    store.data["orders"][3] = recent
    async with shop.database.transaction() as db:
        assert await backfill.schedule_reconciliations(db, shop.settings) == 1
        assert await backfill.schedule_reconciliations(db, shop.settings) == 0  # one at a time
        run = await db.scalar(select(StoreBackfill).where(StoreBackfill.kind == "reconciliation"))
        assert run is not None
        run_id = run.id
    assert run.since == first.started_at - timedelta(minutes=15)
    await shop.execute(run_id)
    done = await shop.run(run_id)
    assert counts(done) == {"created": 0, "updated": 1, "unchanged": 0, "failed": 0}
    asked = datetime.fromisoformat(store.seen[0].query["updated_at_min"])
    assert asked == first.started_at - timedelta(minutes=15)
    async with shop.database.transaction() as db:
        order = await db.scalar(select(Order).where(Order.external_id == "450789003"))
    assert order is not None
    assert order.note == "gift wrap"


# -- the API and the panel (rolled-back requests) ---------------------------------------------


@pytest.fixture
def settings(database: Database, tmp_path: Path, store: FakeStore) -> Settings:
    return settings_for(database.url, tmp_path, store)


API = "/api/v1/integrations/connections"


@pytest.fixture
async def headers(make_user: MakeUser, make_key: MakeKey) -> dict[str, str]:
    """The API key of an administrator, as a request header."""
    return bearer(await make_key(await make_user("admin")))


async def test_testing_credentials_says_whether_the_store_accepts_them(
    client: httpx2.AsyncClient,
    db: AsyncSession,
    settings: Settings,
    headers: dict[str, str],
) -> None:
    connection = await connect_shop(db, settings)
    good = await client.post(f"{API}/{connection.id}/test", headers=headers)
    assert good.status_code == 200, good.text
    assert good.json()["ok"] is True
    assert "Patron Test Shop" in good.json()["message"]
    await service.update_connection(
        db, SecretBox(settings), connection, actor=SYSTEM, changes={"access_token": "shpat_nope_1"}
    )
    bad = await client.post(f"{API}/{connection.id}/test", headers=headers)
    assert bad.status_code == 200
    assert bad.json()["ok"] is False
    assert bad.json()["code"] == "store_credentials_rejected"


async def test_a_store_at_a_wrong_address_or_without_https_gets_a_clear_error(
    db: AsyncSession, settings: Settings, tmp_path: Path, store: FakeStore
) -> None:
    box = SecretBox(settings)
    woo = await connect_woo(db, settings, f"{store.url}/not-wordpress")
    store.provider = "woocommerce"
    missing = await backfill.test_credentials(settings, box, woo)
    assert (missing.ok, missing.code) == (False, "store_not_found")
    strict = make_settings(settings.database_url, tmp_path)  # private addresses not allowed
    refused = await backfill.test_credentials(strict, box, woo)
    assert (refused.ok, refused.code) == (False, "store_https_required")


async def test_woocommerce_credentials_are_tried_and_a_wrong_secret_is_named(
    db: AsyncSession, settings: Settings, store: FakeStore
) -> None:
    store.provider = "woocommerce"
    store.data = {"orders": [woo_order_payload()]}
    box = SecretBox(settings)
    woo = await connect_woo(db, settings, store.url)
    good = await backfill.test_credentials(settings, box, woo)
    assert good.ok, good.message
    assert "1 orders" in good.message
    for token, code in (
        (f"{WOO_KEY}:cs_wrong_secret", "store_credentials_rejected"),
        (WOO_KEY, "store_credentials_missing"),
    ):
        await service.update_connection(db, box, woo, actor=SYSTEM, changes={"access_token": token})
        result = await backfill.test_credentials(settings, box, woo)
        assert (result.ok, result.code) == (False, code)


async def test_a_store_that_does_not_answer_in_time_gets_a_timeout_not_a_hang(
    db: AsyncSession, database: Database, tmp_path: Path, store: FakeStore
) -> None:
    quick = settings_for(database.url, tmp_path, store, store_api_timeout_seconds=1)
    connection = await connect_shop(db, quick)
    store.data = shopify_data(orders=0, products=0, customers=1)
    gate = threading.Event()
    store.script("customers", 1, Answer(gate=gate))
    client = backfill.client_for(quick, SecretBox(quick), connection)
    started = time.monotonic()
    try:
        with pytest.raises(StoreAPIError) as raised:
            await client.page("customers", since=SINCE, cursor=None)
    finally:
        gate.set()
    assert raised.value.code == "store_timeout"
    assert time.monotonic() - started < 5


def test_the_shopify_api_base_url_setting_is_ignored_unless_private_addresses_are_allowed(
    tmp_path: Path,
) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1/none"
    loose = make_settings(
        url, tmp_path, store_api_allow_private=True, store_api_base_url="http://127.0.0.1:9"
    )
    strict = make_settings(url, tmp_path, store_api_base_url="http://127.0.0.1:9")
    assert api_base(loose, "a.myshopify.com") == "http://127.0.0.1:9"
    assert api_base(strict, "a.myshopify.com") == "https://a.myshopify.com"


async def test_one_run_at_a_time_per_connection(
    client: httpx2.AsyncClient,
    db: AsyncSession,
    settings: Settings,
    headers: dict[str, str],
) -> None:
    connection = await connect_shop(db, settings)
    first = await client.post(f"{API}/{connection.id}/backfills", json={}, headers=headers)
    assert first.status_code == 202, first.text
    since = datetime.fromisoformat(first.json()["since"])
    assert abs((utcnow() - since) - timedelta(days=90)) < timedelta(minutes=1)
    one = await client.get(f"{API}/{connection.id}/backfills/{first.json()['id']}", headers=headers)
    assert (one.status_code, one.json()["status"]) == (200, "queued")
    unknown = await client.get(f"{API}/{connection.id}/backfills/{uuid.uuid4()}", headers=headers)
    assert unknown.json()["error"]["code"] == "backfill_not_found"
    second = await client.post(f"{API}/{connection.id}/backfills", json={}, headers=headers)
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "backfill_in_progress"
    future = await client.post(
        f"{API}/{connection.id}/backfills", json={"since": "2999-01-01"}, headers=headers
    )
    assert future.status_code == 422
    assert future.json()["error"]["code"] == "invalid_since"


async def test_a_connection_without_a_token_or_a_stripe_account_cannot_be_backfilled(
    client: httpx2.AsyncClient,
    db: AsyncSession,
    settings: Settings,
    headers: dict[str, str],
) -> None:
    bare = await service.connect(
        db,
        SecretBox(settings),
        actor=SYSTEM,
        provider="shopify",
        name="No token",
        shop_domain="no-token.myshopify.com",
        webhook_secret="shpss_0123456789",
    )
    response = await client.post(f"{API}/{bare.id}/backfills", json={}, headers=headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "store_credentials_missing"
    checked = await client.post(f"{API}/{bare.id}/test", headers=headers)
    assert checked.json()["code"] == "store_credentials_missing"


async def test_a_manager_sees_runs_but_cannot_start_one_or_try_the_credentials(
    client: httpx2.AsyncClient,
    db: AsyncSession,
    settings: Settings,
    make_user: MakeUser,
    make_key: MakeKey,
) -> None:
    connection = await connect_shop(db, settings)
    headers = bearer(await make_key(await make_user("manager")))
    listed = await client.get(f"{API}/{connection.id}/backfills", headers=headers)
    assert listed.status_code == 200
    assert listed.json()["items"] == []
    for path in ("backfills", "test"):
        refused = await client.post(f"{API}/{connection.id}/{path}", json={}, headers=headers)
        assert refused.status_code == 403
    support = bearer(await make_key(await make_user("support")))
    hidden = await client.get(f"{API}/{connection.id}/backfills", headers=support)
    assert hidden.status_code == 403


async def test_the_status_page_tests_credentials_and_runs_a_backfill(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings, make_user: MakeUser
) -> None:
    connection = await connect_shop(db, settings)
    await sign_in(client, await make_user("admin"))
    page = await client.get(f"/integrations/{connection.id}")
    assert page.status_code == 200
    assert "Test credentials" in page.text
    assert 'name="since"' in page.text
    token = await form_token(client, f"/integrations/{connection.id}")
    tested = await client.post(
        f"/integrations/{connection.id}/test", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Patron Test Shop" in tested.text
    started = await client.post(
        f"/integrations/{connection.id}/backfills",
        data={"csrf_token": token, "since": "2026-10-01"},
        follow_redirects=True,
    )
    assert started.status_code == 200
    assert "Backfill queued" in started.text
    fragment = await client.get(f"/integrations/{connection.id}/backfill")
    assert 'hx-trigger="every 2s"' in fragment.text
    assert "Queued" in fragment.text
    again = await client.post(
        f"/integrations/{connection.id}/backfills",
        data={"csrf_token": token, "since": "2026-10-01"},
        follow_redirects=True,
    )
    assert "already queued or running" in again.text
    run = await db.scalar(select(StoreBackfill))
    assert run is not None
    assert run.since == datetime(2026, 10, 1, tzinfo=UTC)


async def test_a_store_refusing_the_credentials_is_said_plainly_on_the_status_page(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings, make_user: MakeUser
) -> None:
    connection = await connect_shop(db, settings)
    await service.update_connection(
        db, SecretBox(settings), connection, actor=SYSTEM, changes={"access_token": "shpat_nope_1"}
    )
    await sign_in(client, await make_user("admin"))
    token = await form_token(client, f"/integrations/{connection.id}")
    tested = await client.post(
        f"/integrations/{connection.id}/test", data={"csrf_token": token}, follow_redirects=True
    )
    assert "refused the API credentials" in tested.text
