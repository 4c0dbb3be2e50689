"""An import with a hand-made mapping, in Chromium, at desktop and phone width: upload a CSV,
map a column the presets do not know, run the dry run, import, see the completed state."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.chromium import SCREENSHOTS, WIDTHS, admin_page, check_overflow
from tests.conftest import Databases
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(
    databases: Databases, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with live_server(databases, template_db, tmp_path_factory.mktemp("imports")) as running:
        yield running


@pytest.mark.parametrize("width", list(WIDTHS))
def test_an_import_with_a_hand_made_mapping_runs_to_completion(
    server: LiveServer, browser: Browser, width: str, tmp_path: Path
) -> None:
    with admin_page(browser, server, WIDTHS[width]) as (page, watch):
        csv_file = tmp_path / f"old-crm-{width}.csv"
        csv_file.write_text(
            "Mail,Given name,Family name,Land\n"
            f"ida.{width}@example.com,Ida,Holm,SE\n"
            f"ole.{width}@example.com,Ole,Berg,NO\n"
            "not-an-email,Bad,Row,DK\n",
            encoding="utf-8",
        )
        page.goto("/imports/new")
        page.get_by_label("What do you import?").select_option("customers")
        page.get_by_label("File").set_input_files(str(csv_file))
        page.get_by_role("button", name="Upload").click()
        expect(page.get_by_role("heading", name="Map the columns")).to_be_visible()
        watch.where = "mapping step"
        check_overflow(page, watch)
        page.screenshot(path=SCREENSHOTS / f"import-mapping-{width}.png", full_page=True)

        page.locator("select[data-header='Mail']").select_option("email")
        page.locator("select[data-header='Given name']").select_option("first_name")
        page.locator("select[data-header='Family name']").select_option("last_name")
        page.locator("select[data-header='Land']").select_option("country")
        page.get_by_role("button", name="Save and run the dry run").click()

        expect(page.locator("[data-would-insert]")).to_have_text("2", timeout=30_000)
        expect(page.locator("[data-row-error='4']")).to_contain_text("not a valid email")
        watch.where = "dry run"
        check_overflow(page, watch)
        page.screenshot(path=SCREENSHOTS / f"import-dry-run-{width}.png", full_page=True)

        page.get_by_role("button", name="Start the import").click()
        expect(page.locator("[data-import-done]")).to_contain_text("2 new", timeout=30_000)
        expect(page.locator("[data-import-status]")).to_have_text("completed")
        watch.where = "completed"
        check_overflow(page, watch)
        page.screenshot(path=SCREENSHOTS / f"import-completed-{width}.png", full_page=True)

        page.goto("/imports")
        expect(page.get_by_role("link", name=re.compile(f"old-crm-{width}"))).to_be_visible()
