"""The customer list's segment filter in a real Chromium, on the demo shop, at desktop and
phone width: choosing a saved segment narrows the list to its members."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.chromium import WIDTHS, admin_panel, open_the_filters
from tests.conftest import Databases
from tests.live import LiveServer, live_server
from tests.test_customer_browser import query

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def shop_server(
    databases: Databases, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with live_server(databases, template_db, tmp_path_factory.mktemp("segments")) as running:
        yield running


def a_static_list_of(server: LiveServer, name: str, count: int) -> list[str]:
    """A saved static list of the first ``count`` demo customers; returns their ids."""
    segment_id = uuid.uuid4()
    query(
        server,
        "INSERT INTO segment (id, name, kind, member_count)"
        f" VALUES ('{segment_id}', '{name}', 'static', {count}) RETURNING id",
    )
    rows = query(
        server,
        "INSERT INTO segment_member (segment_id, customer_id)"
        f" SELECT '{segment_id}', id FROM customer WHERE merged_into_id IS NULL"
        f" ORDER BY id LIMIT {count} RETURNING customer_id",
    )
    return sorted(str(row[0]) for row in rows)


def test_choosing_a_segment_narrows_the_customer_list_to_its_members(
    shop_server: LiveServer, browser: Browser
) -> None:
    members = a_static_list_of(shop_server, "Spring mailing", 3)
    with admin_panel(browser, shop_server) as panel:
        for width in WIDTHS:
            page = panel.page("admin", width)
            panel.watch.where = f"/customers by segment ({width})"
            page.goto("/customers")
            open_the_filters(page, width)
            page.get_by_label("Segment").select_option(label="Spring mailing (list)")
            page.get_by_role("button", name="Apply filters").click()
            expect(page).to_have_url(re.compile(r"[?&]segment="))
            expect(page.locator("#customer-count")).to_have_attribute("data-total", "3")
            shown = page.locator("tr[data-customer]").evaluate_all(
                "rows => rows.map(row => row.dataset.customer)"
            )
            assert sorted(shown) == members
            expect(page.get_by_text("Segment: Spring mailing")).to_be_visible()
            panel.check_layout(page, "customers-by-segment", width)
