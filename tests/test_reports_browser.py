"""The reports in a real Chromium, on the demo shop: charts drawn and sized to the screen,
the filter form, a refused period explained, CSV downloads — at desktop and phone width, with
no console errors, CSP violations or horizontal overflow on the phone."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.chromium import WIDTHS, Panel, admin_panel
from tests.conftest import Databases
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.browser

CHARTS = """
() => [...document.querySelectorAll("canvas[data-chart]")].map((canvas) => ({
    drawn: window.Chart.getChart(canvas) !== undefined,
    width: canvas.getBoundingClientRect().width,
    screen: document.documentElement.clientWidth,
}))
"""


@pytest.fixture(scope="module")
def reports_server(
    databases: Databases, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with live_server(databases, template_db, tmp_path_factory.mktemp("reports")) as running:
        yield running


def see_the_dashboard(panel: Panel, page: Page, width: str) -> None:
    panel.watch.where = f"/reports ({width})"
    page.goto("/reports")
    expect(page.locator('[data-kpi="revenue"] [data-value]')).not_to_have_text("0.00")
    charts = page.evaluate(CHARTS)
    assert len(charts) == 2, charts
    for chart in charts:
        assert chart["drawn"], chart
        assert 0 < chart["width"] <= chart["screen"], chart
    panel.check_layout(page, "reports-dashboard", width)


def group_by_week(panel: Panel, page: Page, width: str) -> None:
    panel.watch.where = f"/reports by week ({width})"
    page.get_by_label("Group by").select_option("week")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"grain=week"))
    expect(page.locator('[data-table="buckets"] thead th').first).to_have_text("Week of")
    expect(page.get_by_label("Group by")).to_have_value("week")
    assert all(chart["drawn"] for chart in page.evaluate(CHARTS))


def see_a_refused_period(panel: Panel, page: Page, width: str) -> None:
    panel.watch.where = f"/reports refused ({width})"
    page.goto("/reports?from=2026-03-01&to=2026-02-01")
    expect(page.locator('[data-error="invalid_period"]')).to_contain_text("after it ends")
    expect(page.locator("[data-kpi]")).to_have_count(0)
    panel.check_layout(page, "reports-refused", width)
    # the refusal answers 422 on purpose: Chromium logs it, the watch reports it; nothing else
    refused = [p for p in panel.watch.problems if p.startswith(panel.watch.where) and "422" in p]
    assert refused, panel.watch.problems
    for problem in refused:
        panel.watch.problems.remove(problem)


def download_the_top_sellers(panel: Panel, page: Page, width: str) -> None:
    panel.watch.where = f"/reports/products ({width})"
    reports = page.get_by_role("navigation", name="Reports")
    reports.get_by_role("link", name="Products", exact=True).click()
    expect(page).to_have_url(re.compile(r"/reports/products\?from="))
    expect(page.locator('[data-table="top"] tbody tr').first).to_be_visible()
    panel.check_layout(page, "reports-products-top", width)
    with page.expect_download() as download:
        page.locator('a[href^="/api/v1/reports/products.csv?table=top"]').click()
    saved = download.value.path()
    header = saved.read_text(encoding="utf-8-sig").splitlines()[0]
    assert header == "product_id,product,units,revenue,currency,orders"


def test_the_reports_work_in_chromium_at_desktop_and_phone_width(
    reports_server: LiveServer, browser: Browser
) -> None:
    with admin_panel(browser, reports_server) as panel:
        for width in WIDTHS:
            page = panel.page("admin", width)
            see_the_dashboard(panel, page, width)
            group_by_week(panel, page, width)
            see_a_refused_period(panel, page, width)
            see_the_dashboard(panel, page, width)
            download_the_top_sellers(panel, page, width)
