"""Orders in a real Chromium, on the demo shop: filter the list, open an order, add a shipment
with tracking, record a refund, and see a refused refund explained; then carts and products —
at desktop and phone width, with no console errors, CSP violations or horizontal overflow on
the phone."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, Dialog, Page, expect
from sqlalchemy import select
from sqlalchemy.engine import make_url

from patron.db.engine import Database
from patron.kit.time import utcnow
from patron.models import Customer
from patron.orders.service import LineRequest
from tests.chromium import WIDTHS, Panel, admin_panel, open_the_filters
from tests.conftest import Databases, make_settings
from tests.live import LiveServer, live_server
from tests.test_reports_sales import sell

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def shop_server(
    databases: Databases, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with live_server(databases, template_db, tmp_path_factory.mktemp("orders")) as running:
        yield running


_PAID_UNSHIPPED = (
    b"SELECT id FROM shop_order WHERE cancelled_at IS NULL"
    b" AND financial_status = 'paid' AND fulfillment_status = 'unfulfilled'"
    b" ORDER BY placed_at DESC LIMIT %s"
)


async def place_paid_orders(database_url: str, count: int, workdir: Path) -> None:
    """Take ``count`` paid orders for a demo customer through Patron's order services: the
    demo shop ships its orders within 1–30 hours, so how many still wait depends on the hour
    it was seeded at."""
    database = Database(database_url, pool_size=1)
    try:
        async with database.transaction() as db:
            customer = await db.scalar(
                select(Customer).where(Customer.email.is_not(None)).order_by(Customer.id).limit(1)
            )
            assert customer is not None, "the demo shop has no customer with an email"
            settings = make_settings(database_url, workdir)
            for _ in range(count):
                await sell(
                    db,
                    settings,
                    customer,
                    [LineRequest(1, title="Atlas", unit_price=Decimal("40.00"))],
                    when=utcnow(),
                )
    finally:
        await database.dispose()


def paid_unshipped_orders(server: LiveServer, count: int, workdir: Path) -> list[str]:
    """Orders of the demo shop with money to refund and units still to ship."""
    url = make_url(server.database_url).set(drivername="postgresql")
    conninfo = url.render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as connection:
        rows = connection.execute(_PAID_UNSHIPPED, (count,)).fetchall()
    if len(rows) < count:
        # in a thread of its own: Playwright's sync API runs an event loop in this one
        missing = place_paid_orders(server.database_url, count - len(rows), workdir)
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, missing).result()
        with psycopg.connect(conninfo) as connection:
            rows = connection.execute(_PAID_UNSHIPPED, (count,)).fetchall()
    assert len(rows) == count, "too few paid, unshipped orders"
    return [str(row[0]) for row in rows]


def filter_the_list(panel: Panel, page: Page, width: str) -> None:
    panel.watch.where = f"/orders filtered ({width})"
    page.goto("/orders")
    open_the_filters(page, width)
    page.get_by_label("Paid", exact=True).check()
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"financial_status=paid"))
    rows = page.locator("tr[data-order]")
    expect(rows.first).to_be_visible()
    statuses = page.locator('tr[data-order] [data-status^="financial:"]').all_inner_texts()
    assert statuses, "no order is listed"
    assert set(statuses) == {"Paid"}, statuses
    panel.check_layout(page, "orders-filtered", width)


def add_tracking(panel: Panel, page: Page, width: str, order_id: str) -> None:
    panel.watch.where = f"/orders/{order_id} adding tracking ({width})"
    page.goto(f"/orders/{order_id}")
    panel.check_layout(page, "order-detail", width)
    page.get_by_text("Add a shipment with tracking").click()
    page.locator("#ship-carrier").fill("DHL")
    page.locator("#ship-tracking-number").fill(f"JD-{width}-0001")
    page.locator("#ship-tracking-url").fill(f"https://dhl.example/track/JD-{width}-0001")
    page.get_by_role("button", name="Add shipment").click()
    expect(page.get_by_text("Shipment added.")).to_be_visible()
    expect(page.locator("[data-tracking-number]").first).to_have_text(f"JD-{width}-0001")
    expect(page.locator('[data-status="fulfillment:fulfilled"]')).to_be_visible()


def record_refunds(panel: Panel, page: Page, width: str, order_id: str) -> None:
    panel.watch.where = f"/orders/{order_id} refunding ({width})"
    page.get_by_text("Record a refund").click()
    page.locator("#refund-amount").fill("999999")
    page.locator("#refund-reason").fill("Too much")
    page.get_by_role("button", name="Record refund").click()
    expect(page.locator("[data-page-error]")).to_contain_text("can be refunded")
    expect(page.locator("#refund-amount")).to_have_value("999999")
    panel.check_layout(page, "order-refund-refused", width)
    # the refusal answers 422 on purpose: Chromium logs it, the watch reports it; nothing else
    refused = [p for p in panel.watch.problems if p.startswith(panel.watch.where) and "422" in p]
    assert refused, panel.watch.problems
    for problem in refused:
        panel.watch.problems.remove(problem)

    page.locator("#refund-amount").fill("1.00")
    page.locator("#refund-reason").fill("Late delivery")
    page.get_by_role("button", name="Record refund").click()
    expect(page.get_by_text(re.compile(r"Refund of .*1\.00.* recorded\."))).to_be_visible()
    expect(page.locator("[data-refund]").last).to_contain_text("Late delivery")
    panel.check_layout(page, "order-refunded", width)


def look_at_carts_and_products(panel: Panel, page: Page, width: str) -> None:
    for path, name in (
        ("/carts?status=abandoned", "carts-abandoned"),
        ("/products?q=a", "products-search"),
        ("/products/low-stock", "products-low-stock"),
    ):
        panel.watch.where = f"{path} ({width})"
        page.goto(path)
        expect(page.locator("main h1")).to_be_visible()
        panel.check_layout(page, name, width)
    page.goto("/products")
    page.locator("tr[data-product] a").first.click()
    panel.watch.where = f"{page.url} ({width})"
    expect(page.locator("[data-variant]").first).to_be_visible()
    panel.check_layout(page, "product-detail", width)


def test_orders_are_filtered_shipped_and_refunded_in_chromium(
    shop_server: LiveServer,
    browser: Browser,
    tmp_path: Path,
) -> None:
    orders = paid_unshipped_orders(shop_server, len(WIDTHS), tmp_path)
    with admin_panel(browser, shop_server) as panel:
        for width, order_id in zip(WIDTHS, orders, strict=True):
            page = panel.page("admin", width)

            def accept(dialog: Dialog) -> None:
                dialog.accept()

            page.on("dialog", accept)
            filter_the_list(panel, page, width)
            add_tracking(panel, page, width, order_id)
            record_refunds(panel, page, width, order_id)
            look_at_carts_and_products(panel, page, width)
