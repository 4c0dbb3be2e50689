"""The customer, cohort and staff reports in a real Chromium, on the demo shop's two years of
orders: charts drawn from their JSON blocks, the cohort matrix scrolling sideways on a phone with
its first column in view, the staff table sorted by a click, and a mistyped period explained —
with no console errors, CSP violations or horizontal overflow."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from playwright.sync_api import Browser, expect

from tests.chromium import WIDTHS, admin_panel
from tests.conftest import Databases
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.browser

YEAR = f"from={(date.today() - timedelta(days=364)).isoformat()}&to={date.today().isoformat()}"


@pytest.fixture(scope="module")
def reports_server(
    databases: Databases, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with live_server(databases, template_db, tmp_path_factory.mktemp("reports")) as running:
        yield running


def test_the_customer_reports_work_in_chromium_at_desktop_and_phone_width(
    reports_server: LiveServer, browser: Browser
) -> None:
    with admin_panel(browser, reports_server) as panel:
        for width in WIDTHS:
            page = panel.page("admin", width)

            panel.watch.where = f"/reports/customers ({width})"
            page.goto(f"/reports/customers?{YEAR}&grain=month")
            for chart in ("chart-customers", "chart-signups", "chart-clv"):
                canvas = page.locator(f'canvas[data-report-chart="{chart}"]')
                expect(canvas).to_be_visible()
                drawn = canvas.evaluate("c => window.Chart.getChart(c) !== undefined")
                assert drawn, f"{chart} was not drawn"
            stacked = page.locator('canvas[data-report-chart="chart-customers"]').evaluate(
                "c => window.Chart.getChart(c).options.scales.x.stacked"
            )
            assert stacked is True
            panel.check_layout(page, "reports-customers-year", width)

            panel.watch.where = f"/reports/cohorts ({width})"
            page.goto(f"/reports/cohorts?{YEAR}")
            first_cell = page.locator("#cohort-table tbody th.cohort-name").first
            expect(first_cell).to_be_visible()
            scroller = page.locator(".cohort-scroll")
            before = first_cell.bounding_box()
            scroller.evaluate("box => { box.scrollLeft = box.scrollWidth; }")
            after = first_cell.bounding_box()
            assert before is not None
            assert after is not None
            assert abs(before["x"] - after["x"]) < 1, "the cohort column moved"
            assert page.locator("#cohort-table td[class*='heat-']").count() > 0
            panel.check_layout(page, "reports-cohorts-year", width)

            panel.watch.where = f"/reports/staff ({width})"
            page.goto(f"/reports/staff?{YEAR}")
            page.get_by_role("link", name="Notes written").focus()
            page.keyboard.press("Enter")
            expect(page).to_have_url(re.compile(r"sort=notes"))
            header = page.locator("th", has=page.get_by_role("link", name=re.compile("Notes")))
            expect(header).to_have_attribute("aria-sort", "descending")
            notes = [
                int(text) for text in page.locator('td[data-measure="notes"]').all_inner_texts()
            ]
            assert notes == sorted(notes, reverse=True)
            panel.check_layout(page, "reports-staff-by-notes", width)

            panel.watch.where = f"/reports/customers, a period back to front ({width})"
            page.goto("/reports/customers")
            page.get_by_label("From", exact=True).fill("2025-03-10")
            page.get_by_label("To", exact=True).fill("2025-03-01")
            with page.expect_response(re.compile(r"/reports/customers\?")) as answer:
                page.get_by_role("button", name="Show").click()
            assert answer.value.status == 422
            expect(page.get_by_role("alert")).to_contain_text("after it ends")
            panel.check_layout(page, "reports-customers-refused", width)
            # the refused answer is the page that explains it (not a browser problem)
            panel.watch.problems[:] = [p for p in panel.watch.problems if "422" not in p]
