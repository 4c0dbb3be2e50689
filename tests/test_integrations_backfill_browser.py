"""In Chromium, at desktop and phone width: an administrator tries a Shopify store's API
credentials from its status page, runs a backfill (confirming it), and watches the last run's
card fill in while the in-process worker reads a real local HTTP server standing in for
Shopify."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import Databases
from tests.live import LiveServer, http_server, live_server
from tests.test_integrations_backfill import TOKEN, FakeStore, _handler, shopify_data

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
WIDTH_CHECK = "() => [document.documentElement.scrollWidth, window.innerWidth]"


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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def _fits(page: Page, problems: list[str], where: str) -> None:
    scroll, width = page.evaluate(WIDTH_CHECK)
    if scroll > width + 1:
        problems.append(f"{where}: {scroll}px wide on a {width}px screen")


@pytest.mark.parametrize("width", list(WIDTHS))
def test_an_admin_tests_the_credentials_and_watches_a_backfill_finish(
    server: LiveServer, browser: Browser, width: str
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    context = browser.new_context(base_url=server.url, viewport=WIDTHS[width])  # type: ignore[arg-type]
    page = context.new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.on("dialog", lambda dialog: dialog.accept())
    try:
        page.goto("/login")
        page.get_by_label("Email", exact=True).fill("admin@example.com")
        page.get_by_label("Password", exact=True).fill(server.demo_password)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{server.url}/")

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
        _fits(page, problems, "status page with a finished backfill")
        page.screenshot(path=SCREENSHOTS / f"integration-backfill-{width}.png", full_page=True)
    finally:
        context.close()
    assert not problems, "\n".join(problems)
