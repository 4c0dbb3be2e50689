"""Exporting and erasing a customer in a real Chromium against a live server whose in-process
worker runs the jobs: the export is downloaded from the privacy page on a desktop screen, the
erasure is confirmed by typing the email on a 375 px phone."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.chromium import PHONE, SCREENSHOTS, admin_page, check_overflow
from tests.conftest import Databases
from tests.live import LiveServer, live_server
from tests.test_merge_browser import api_key as api_key  # a key of the live server's admin
from tests.test_merge_browser import create_customer

pytestmark = pytest.mark.browser

EMAIL = "augusta.byronova@example.net"
JOB_TIMEOUT = 60.0
# the steps whose 4xx answers are the point: a wrong confirmation, an erased customer's page
REFUSAL = "expected refusal"


def refused_as_expected(problem: str) -> bool:
    return problem.startswith(REFUSAL) and (
        "HTTP 4" in problem or "the server responded with a status of 4" in problem
    )


@pytest.fixture(scope="module")
def server(
    databases: Databases, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with live_server(databases, template_db, tmp_path_factory.mktemp("privacy")) as running:
        yield running


def wait_until_done(page: Page, kind: str) -> None:
    row = page.locator(f'tr[data-kind="{kind}"]').first
    deadline = time.monotonic() + JOB_TIMEOUT
    while row.get_attribute("data-status") != "done":
        assert time.monotonic() < deadline, f"the {kind} did not finish in time"
        page.wait_for_timeout(500)
        page.reload()


def test_staff_export_then_erase_a_customer_in_the_browser(
    server: LiveServer, browser: Browser, api_key: str
) -> None:
    customer = create_customer(
        server, api_key, first_name="Augusta", last_name="Byronova", email=EMAIL,
        addresses=[{"line1": "12 St James's Square", "city": "London", "country": "GB"}],
    )  # fmt: skip
    with admin_page(browser, server, accept_downloads=True) as (page, watch):
        watch.where = "/customers/{id} (export)"
        page.goto(f"/customers/{customer['id']}")
        page.get_by_role("button", name="Export personal data").click()
        watch.where = "/admin/privacy (export)"
        expect(page).to_have_url(re.compile(r"/admin/privacy#request-"))
        expect(page.get_by_text("The export is being prepared")).to_be_visible()
        wait_until_done(page, "export")
        page.screenshot(path=SCREENSHOTS / "privacy-requests-desktop.png", full_page=True)
        with page.expect_download() as download:
            page.get_by_role("link", name="Download").first.click()
        document = json.loads(download.value.path().read_text())
        assert document["customer"]["email"] == EMAIL

        page.set_viewport_size(PHONE)
        watch.where = "/customers/{id}/erase (phone)"
        page.goto(f"/customers/{customer['id']}")
        page.get_by_role("link", name="Erase…").click()
        expect(page.locator("h1")).to_contain_text("Erase Augusta Byronova")
        check_overflow(page, watch)
        page.screenshot(path=SCREENSHOTS / "privacy-erase-phone.png", full_page=True)
        watch.where = REFUSAL
        page.get_by_label("Type").fill("someone@example.net")
        page.get_by_role("button", name="Erase permanently").click()
        expect(page.locator("[data-error-code=confirmation_mismatch]")).to_be_visible()
        check_overflow(page, watch)
        watch.where = "/customers/{id}/erase (confirmed)"
        page.get_by_label("Type").fill(EMAIL)
        page.keyboard.press("Enter")
        watch.where = "/admin/privacy (erasure, phone)"
        expect(page).to_have_url(re.compile(r"/admin/privacy#request-"))
        wait_until_done(page, "erasure")
        check_overflow(page, watch)
        expect(page.get_by_text("Erased customer").first).to_be_visible()
        assert EMAIL not in page.content()
        watch.where = REFUSAL
        gone = page.goto(f"/customers/{customer['id']}")
        assert gone is not None
        assert gone.status == 404
        watch.forget(refused_as_expected)
