"""In Chromium, at desktop and phone width: an administrator tries a Shopify store's API
credentials from its status page, runs a backfill (confirming it), and watches the last run's
card fill in while the in-process worker reads a real local HTTP server standing in for
Shopify."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.chromium import SCREENSHOTS, WIDTHS, admin_page, check_overflow
from tests.conftest import Databases
from tests.live import LiveServer, http_server, live_server
from tests.test_integrations_backfill import TOKEN, FakeStore, _handler, shopify_data

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def store() -> Iterator[FakeStore]:
    state = FakeStore(data=shopify_data())
    with http_server(_handler(state)) as port:
        state.port = port
        yield state


@pytest.fixture(scope="module")
def server(
    databases: Databases,
    template_db: str,
    tmp_path_factory: pytest.TempPathFactory,
    store: FakeStore,
) -> Iterator[LiveServer]:
    with live_server(
        databases,
        template_db,
        tmp_path_factory.mktemp("backfill"),
        PATRON_STORE_API_ALLOW_PRIVATE="true",
        PATRON_STORE_API_BASE_URL=store.url,
    ) as running:
        yield running


@pytest.mark.parametrize("width", list(WIDTHS))
def test_an_admin_tests_the_credentials_and_watches_a_backfill_finish(
    server: LiveServer, browser: Browser, width: str
) -> None:
    with admin_page(browser, server, WIDTHS[width]) as (page, watch):
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto("/integrations/new")
        page.get_by_label("Name").fill(f"Backfill {width}")
        page.get_by_label("Shop domain or site address").fill(f"backfill-{width}.myshopify.com")
        page.get_by_label("Webhook signing secret").fill("shpss_browser_secret_0042")
        page.get_by_label("Admin API access token").fill(TOKEN)
        page.get_by_role("button", name="Connect").click()
        expect(page.get_by_role("heading", name=f"Backfill {width}")).to_be_visible()
        expect(page.locator("[data-backfill]")).to_contain_text("No backfill yet")

        page.get_by_role("button", name="Test credentials").click()
        expect(page.locator(".alert-success")).to_contain_text("Patron Test Shop")

        page.get_by_label("Run a backfill: records updated since").fill("2026-10-01")
        page.get_by_role("button", name="Run a backfill").click()
        expect(page.locator(".alert-success")).to_contain_text("Backfill queued")
        card = page.locator("[data-backfill]")
        # the card polls itself until the in-process worker has read every page
        expect(card).to_have_attribute("data-backfill-status", "done", timeout=60_000)
        expect(card.locator("[data-resource=orders]")).to_contain_text("3")
        expect(card.locator("tfoot")).to_contain_text("Total")
        watch.where = "status page with a finished backfill"
        check_overflow(page, watch)
        page.screenshot(path=SCREENSHOTS / f"integration-backfill-{width}.png", full_page=True)
