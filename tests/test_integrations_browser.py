"""In Chromium, at desktop and phone width: an administrator connects a Shopify store in the
panel, the store sends a signed order, and the delivery appears on the status page processed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx2
import pytest
from playwright.sync_api import Browser, expect

from tests.chromium import SCREENSHOTS, WIDTHS, admin_page, check_overflow
from tests.conftest import Databases
from tests.live import LiveServer, live_server
from tests.test_integrations_helpers import openssl_signature, order_payload

pytestmark = pytest.mark.browser

SECRET = "shpss_browser_secret_0042"


@pytest.fixture(scope="module")
def server(
    databases: Databases, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with live_server(databases, template_db, tmp_path_factory.mktemp("integrations")) as running:
        yield running


@pytest.mark.parametrize("width", list(WIDTHS))
def test_an_admin_connects_a_store_and_sees_its_first_delivery_arrive(
    server: LiveServer, browser: Browser, width: str
) -> None:
    domain = f"browser-{width}.myshopify.com"
    with admin_page(browser, server, WIDTHS[width]) as (page, watch):
        page.goto("/integrations/new")
        page.get_by_label("Name").fill(f"Browser {width}")
        page.get_by_label("Shop domain or site address").fill("www.example.com")
        page.get_by_label("Webhook signing secret").fill(SECRET)
        page.get_by_role("button", name="Connect").click()
        expect(page.locator(".alert-danger")).to_contain_text("myshopify.com domain")
        # the refusal answers 422 on purpose: the watch sees it and Chromium logs it
        watch.forget(lambda problem: "422" in problem)
        # the refused form keeps what was typed, except the secret
        expect(page.get_by_label("Name")).to_have_value(f"Browser {width}")
        expect(page.get_by_label("Webhook signing secret")).to_have_value("")
        page.get_by_label("Shop domain or site address").fill(domain)
        page.get_by_label("Webhook signing secret").fill(SECRET)
        page.get_by_role("button", name="Connect").click()
        expect(page.get_by_role("heading", name=f"Browser {width}")).to_be_visible()
        webhook_url = page.locator("[data-webhook-url]").inner_text().strip()
        watch.where = "status page"
        check_overflow(page, watch)

        body = json.dumps(order_payload(order_id=880000 + len(width))).encode()
        answer = httpx2.post(
            webhook_url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Shopify-Topic": "orders/create",
                "X-Shopify-Hmac-Sha256": openssl_signature(SECRET, body),
                "X-Shopify-Shop-Domain": domain,
                "X-Shopify-Webhook-Id": f"browser-{width}",
            },
        )
        assert answer.status_code == 200, answer.text

        for _ in range(30):  # the in-process worker picks the job up within moments
            page.reload()
            if page.get_by_text("Processed: 1").count():
                break
            page.wait_for_timeout(500)
        expect(page.get_by_text("Processed: 1")).to_be_visible()
        expect(page.get_by_role("cell", name="orders/create")).to_be_visible()
        watch.where = "status page with a delivery"
        check_overflow(page, watch)
        page.screenshot(path=SCREENSHOTS / f"integration-delivery-{width}.png", full_page=True)
