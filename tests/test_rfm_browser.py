"""The RFM grid in a real Chromium on a 375 px phone: a cell and a group open exactly their
customers, the customer's page shows the group, and "Score again now" runs the scoring through
the live server's worker. The demo shop is scored when it is seeded."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.engine import make_url

from tests.chromium import PHONE, SCREENSHOTS, Watch, admin_page, check_overflow
from tests.conftest import Databases
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.browser

RUN_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def server(
    databases: Databases, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with live_server(databases, template_db, tmp_path_factory.mktemp("rfm")) as running:
        yield running


def scoring_runs(server: LiveServer) -> int:
    url = make_url(server.database_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as connection:
        row = connection.execute("SELECT count(*) FROM rfm_cut_points").fetchone()
    return int(row[0]) if row else 0


def look(page: Page, watch: Watch, name: str) -> None:
    page.screenshot(path=SCREENSHOTS / f"rfm-flow-{name}-phone.png", full_page=True)
    check_overflow(page, watch)


def count_of(text: str) -> int:
    return int(text.replace(",", "").strip())


def open_a_cell_by_keyboard(page: Page, watch: Watch) -> None:
    watch.where = "/reports/rfm (a cell)"
    page.goto("/reports/rfm")
    look(page, watch, "grid")
    cells = page.locator("[data-rfm-grid] td[data-cell]")
    expect(cells).to_have_count(25)
    busiest = max(range(25), key=lambda i: count_of(cells.nth(i).locator("a").inner_text()))
    link = cells.nth(busiest).locator("a")
    cell = cells.nth(busiest).get_attribute("data-cell") or ""
    customers = count_of(link.inner_text())
    assert customers > 0

    link.focus()
    page.keyboard.press("Enter")

    watch.where = f"/customers (cell R{cell[0]} F{cell[1]})"
    expect(page).to_have_url(
        re.compile(rf"/customers\?recency_score={cell[0]}&frequency_score={cell[1]}$")
    )
    expect(page.locator("#customer-count")).to_have_attribute("data-total", str(customers))
    expect(page.locator("#f-recency_score")).to_have_value(cell[0])
    look(page, watch, "cell-customers")


def open_a_group_and_one_of_its_customers(page: Page, watch: Watch) -> None:
    watch.where = "/reports/rfm (a group)"
    page.goto("/reports/rfm")
    row = page.locator('[data-rfm-groups] tr[data-group="at_risk"]')
    customers = count_of(row.locator("td").nth(2).inner_text())
    assert customers > 0
    row.get_by_role("link", name="At risk").click()

    watch.where = "/customers (At risk)"
    expect(page).to_have_url(re.compile(r"/customers\?rfm_group=at_risk$"))
    expect(page.locator("#customer-count")).to_have_attribute("data-total", str(customers))
    page.locator("#customer-results a[href^='/customers/']").first.click()

    watch.where = "/customers/{id} (RFM card)"
    expect(page.locator("[data-rfm-group]")).to_have_text("At risk")
    expect(page.locator("[data-rfm-scores]")).to_contain_text("Recency")
    look(page, watch, "customer")


def score_again(page: Page, watch: Watch, server: LiveServer) -> None:
    watch.where = "/reports/rfm (score again)"
    before = scoring_runs(server)
    page.goto("/reports/rfm")
    page.get_by_role("button", name="Score again now").click()
    expect(page.get_by_text("Scoring every customer now")).to_be_visible()
    deadline = time.monotonic() + RUN_TIMEOUT
    while scoring_runs(server) == before:
        assert time.monotonic() < deadline, "the worker did not run the scoring in time"
        page.wait_for_timeout(500)
    page.reload()
    expect(page.locator("[data-rfm-grid]")).to_be_visible()


def test_the_rfm_grid_leads_to_its_customers_on_a_phone(
    server: LiveServer, browser: Browser
) -> None:
    with admin_page(browser, server, PHONE) as (page, watch):
        open_a_cell_by_keyboard(page, watch)
        open_a_group_and_one_of_its_customers(page, watch)
        score_again(page, watch, server)
