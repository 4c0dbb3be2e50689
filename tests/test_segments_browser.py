"""The segment editor in a real Chromium: a segment built in the visual builder, switched to
text and back without a character changing, counted as it changes, saved; an error marked
where it is and mended with its suggestion; field names offered by keyboard; the pages at
375 px. Console errors, CSP violations, failed requests and horizontal overflow on the phone
fail the test; screenshots go to ``test-artifacts/screenshots/``."""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.engine import make_url

from tests.chromium import PHONE, SCREENSHOTS, Watch, admin_page, check_overflow
from tests.conftest import Databases
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.browser

BUILT = 'orders_count >= 2 and (country = "DE" or not country = "FR")'
WITH_PURCHASE = BUILT + " and bought anything within 365 days"


@pytest.fixture(scope="module")
def server(
    databases: Databases, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with live_server(databases, template_db, tmp_path_factory.mktemp("segments")) as running:
        yield running


def repeat_buyers(server: LiveServer) -> int:
    """Customers with two orders or more, counted straight from the database."""
    url = make_url(server.database_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as connection:
        row = connection.execute(
            "SELECT count(*) FROM customer c JOIN customer_metrics m ON m.customer_id = c.id"
            " WHERE c.merged_into_id IS NULL AND m.orders_count >= 2"
        ).fetchone()
    assert row is not None
    return int(row[0])


def counted(page: Page) -> int:
    return int(page.locator("[data-preview-count]").inner_text().replace(",", ""))


def look(page: Page, watch: Watch, name: str) -> None:
    page.screenshot(path=SCREENSHOTS / f"segments-{name}.png", full_page=True)
    size = page.viewport_size
    if size is not None and size["width"] == PHONE["width"]:
        check_overflow(page, watch)


def show(page: Page, tab: str) -> None:
    page.get_by_role("tab", name=tab).click()
    expect(page.get_by_role("tab", name=tab)).to_have_attribute("aria-selected", "true")


def build_a_segment(page: Page, watch: Watch, server: LiveServer) -> None:
    watch.where = "/segments (empty)"
    page.goto("/segments")
    expect(page.get_by_text("No segments yet")).to_be_visible()
    page.get_by_role("link", name="New segment").first.click()
    watch.where = "/segments/new (builder)"
    expect(page.locator("[data-preview-state=empty]")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("Repeat buyers in Germany")
    expression = page.locator("#expression")

    show(page, "Builder")
    page.get_by_role("button", name="Add a condition to group 1").click()
    expect(expression).to_have_value("orders_count >= 1")
    expect(page.locator("[data-preview-count]")).to_be_visible()
    anyone = counted(page)
    page.get_by_label("Value of condition 2").fill("2")
    expect(expression).to_have_value("orders_count >= 2")
    expect(page.locator("[data-canonical]")).to_have_text("orders_count >= 2")
    assert counted(page) == repeat_buyers(server) < anyone

    page.get_by_role("button", name="Add a group to group 1").click()
    page.get_by_label("Field of condition 4").select_option("country")
    page.get_by_label("Value of condition 4").fill("DE")
    page.get_by_role("button", name="Add a condition to group 3").click()
    page.get_by_label("Field of condition 5").select_option("country")
    page.get_by_label("Value of condition 5").fill("FR")
    page.get_by_label("Not: condition 5").check()
    expect(page.get_by_label("Combine group 3 with")).to_have_value("or")
    expect(expression).to_have_value(BUILT)
    expect(page.locator("[data-canonical]")).to_have_text(BUILT)
    look(page, watch, "builder-desktop")

    watch.where = "/segments/new (text and back)"
    show(page, "Text")
    expect(expression).to_have_value(BUILT)
    show(page, "Builder")
    expect(page.get_by_label("Value of condition 4")).to_have_value("DE")
    expect(page.get_by_label("Not: condition 5")).to_be_checked()
    show(page, "Text")
    expect(expression).to_have_value(BUILT)

    expression.fill(WITH_PURCHASE)
    expect(page.locator("[data-canonical]")).to_have_text(WITH_PURCHASE)
    show(page, "Builder")
    expect(page.get_by_label("Condition 6 as text")).to_have_value(
        "bought anything within 365 days"
    )
    show(page, "Text")
    expect(expression).to_have_value(WITH_PURCHASE)
    size = counted(page)

    page.get_by_role("button", name="Save segment").click()
    watch.where = "/segments/{id}"
    expect(page).to_have_url(re.compile(r"/segments/[0-9a-f-]{36}$"))
    expect(page.locator("[data-expression]")).to_have_text(WITH_PURCHASE)
    expect(page.locator("[data-segment-size]")).to_have_text(f"{size:,}")
    look(page, watch, "detail-desktop")


def edit_in_the_builder_and_save_at_once(page: Page, watch: Watch) -> None:
    watch.where = "/segments/{id}/edit (builder)"
    page.get_by_role("link", name="Edit").click()
    expect(page.locator("#expression")).to_have_value(WITH_PURCHASE)
    show(page, "Builder")
    page.get_by_label("Value of condition 2").fill("3")
    page.get_by_role("button", name="Save changes").click()  # before the text has caught up
    watch.where = "/segments/{id} (edited)"
    expect(page.locator("[data-expression]")).to_have_text(
        WITH_PURCHASE.replace("orders_count >= 2", "orders_count >= 3")
    )
    expect(
        page.get_by_text(re.compile(r"Segment “Repeat buyers in Germany” saved\."))
    ).to_be_visible()


def mend_an_error(page: Page, watch: Watch) -> None:
    watch.where = "/segments/new (an error)"
    page.goto("/segments/new")
    expression = page.locator("#expression")
    expression.fill("total_spent > 100 and\ntotl_spent < 1000")
    expect(page.locator("#segment-preview mark")).to_have_text("totl_spent")
    expect(page.locator("[data-problem-position]")).to_contain_text("Line 2, column 1")
    expect(page.locator("[data-problem-suggestion]")).to_contain_text("Did you mean total_spent?")
    look(page, watch, "error-desktop")
    page.get_by_role("button", name="Use total_spent").click()
    expect(expression).to_have_value("total_spent > 100 and\ntotal_spent < 1000")
    expect(page.locator("[data-preview-count]")).to_be_visible()

    watch.where = "/segments/new (field names by keyboard)"
    expression.fill("")
    expression.press_sequentially("orders_c")
    suggestions = page.get_by_role("listbox", name="Field names")
    expect(suggestions).to_be_visible()
    expect(suggestions.get_by_role("option")).to_have_text(["orders_count"])
    expression.press("Enter")
    expect(suggestions).to_be_hidden()
    expect(expression).to_have_value("orders_count ")
    expression.press_sequentially('>= 1 and in segment "rep')
    expect(suggestions.get_by_role("option")).to_have_text(["Repeat buyers in Germany"])
    expression.press("Tab")
    expect(expression).to_have_value('orders_count >= 1 and in segment "Repeat buyers in Germany"')
    expect(page.locator("[data-preview-count]")).to_be_visible()


def on_a_phone(page: Page, watch: Watch) -> None:
    page.set_viewport_size(PHONE)
    watch.where = "/segments (phone)"
    page.goto("/segments")
    look(page, watch, "list-phone")
    watch.where = "/segments/new (phone)"
    page.goto("/segments/new")
    show(page, "Builder")
    page.get_by_role("button", name="Add a condition to group 1").click()
    page.get_by_role("button", name="Add a group to group 1").click()
    page.get_by_role("button", name="Add a group to group 3").click()
    expect(page.locator("#expression")).to_have_value(
        "orders_count >= 1 and (orders_count >= 1 or orders_count >= 1)"
    )
    expect(page.locator("[data-preview-count]")).to_be_visible()
    look(page, watch, "builder-phone")
    watch.where = "/segments/{id} (phone)"
    page.goto("/segments")
    page.get_by_role("link", name="Repeat buyers in Germany").click()
    expect(page.locator("[data-expression]")).to_be_visible()
    look(page, watch, "detail-phone")


def test_a_segment_is_built_visually_round_trips_through_text_and_works_on_a_phone(
    server: LiveServer, browser: Browser
) -> None:
    with admin_page(browser, server) as (page, watch):
        build_a_segment(page, watch, server)
        edit_in_the_builder_and_save_at_once(page, watch)
        mend_an_error(page, watch)
        on_a_phone(page, watch)
