"""Customers in a real Chromium, on the demo shop: the customer page, the list with a filter,
a quick note, a field edited in place, and a bulk tag confirmed — at desktop and phone width,
with no console errors, CSP violations or horizontal overflow on the phone."""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg
import pytest
from playwright.sync_api import Browser, Dialog, Page, expect
from sqlalchemy.engine import make_url

from tests.chromium import WIDTHS, Panel, admin_panel, open_the_filters
from tests.conftest import Databases
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def shop_server(
    databases: Databases, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with live_server(databases, template_db, tmp_path_factory.mktemp("customers")) as running:
        yield running


def query(server: LiveServer, sql: str) -> list[tuple[object, ...]]:
    url = make_url(server.database_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as connection:
        return list(connection.execute(sql.encode()).fetchall())


def busy_customers(server: LiveServer, count: int) -> list[str]:
    """Demo customers with the most orders (their pages have the most to show)."""
    rows = query(
        server,
        "SELECT m.customer_id FROM customer_metrics m JOIN customer c ON c.id = m.customer_id"
        " WHERE c.merged_into_id IS NULL ORDER BY m.orders_count DESC, c.id"
        f" LIMIT {count}",
    )
    assert len(rows) == count, "the demo shop has too few customers"
    return [str(row[0]) for row in rows]


def common_stage(server: LiveServer) -> str:
    rows = query(
        server,
        "SELECT lifecycle_stage FROM customer WHERE merged_into_id IS NULL"
        " GROUP BY lifecycle_stage ORDER BY count(*) DESC LIMIT 1",
    )
    return str(rows[0][0])


def expected_failure(panel: Panel, path_part: str) -> None:
    """Drop the one refusal (422) a step provoked on purpose from the problems seen: the
    response, and the console line Chromium writes for a refused htmx request."""
    refused = [p for p in panel.watch.problems if "HTTP 422" in p and path_part in p]
    assert len(refused) == 1, panel.watch.problems
    panel.watch.problems.remove(refused[0])
    step = refused[0].split(": HTTP")[0]
    for problem in list(panel.watch.problems):
        if problem.startswith(step) and "status of 422" in problem:
            panel.watch.problems.remove(problem)


def open_the_customer_page(panel: Panel, page: Page, width: str, customer_id: str) -> None:
    panel.watch.where = f"/customers/{customer_id} ({width})"
    page.goto(f"/customers/{customer_id}")
    expect(page.locator('[data-figure="total_spent"]')).to_be_visible()
    expect(page.locator('[data-figure="orders"]')).not_to_have_text("0")
    expect(page.locator("[data-consent^='email:']")).to_be_visible()
    panel.check_layout(page, "customer-360", width)
    page.locator('[data-tab="orders"]').click()
    expect(page.locator("tr[data-order]").first).to_be_visible()
    panel.check_layout(page, "customer-orders", width)


def search_as_you_type(panel: Panel, page: Page, width: str, customer_id: str) -> None:
    """Typing narrows the list in place (htmx), and the address follows the search."""
    panel.watch.where = f"/customers search ({width})"
    sql = f"SELECT last_name FROM customer WHERE id = '{customer_id}'"
    last_name = str(query(panel.server, sql)[0][0])
    page.goto("/customers")
    page.locator("#q").press_sequentially(last_name, delay=30)
    expect(page).to_have_url(re.compile(r"[?&]q="))
    expect(page.locator(f'tr[data-customer="{customer_id}"]')).to_be_visible()
    expect(page.locator("#customer-count")).not_to_have_attribute("data-total", "300")


def filter_the_list(panel: Panel, page: Page, width: str, stage: str) -> None:
    panel.watch.where = f"/customers filtered ({width})"
    page.goto("/customers")
    open_the_filters(page, width)
    page.locator(f"#f-stage-{stage}").check()
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(rf"lifecycle={stage}"))
    stages = page.locator("tr[data-customer] [data-lifecycle]")
    expect(stages.first).to_be_visible()
    assert set(stages.evaluate_all("els => els.map(e => e.dataset.lifecycle)")) == {stage}
    panel.check_layout(page, "customers-filtered", width)


def add_a_note(panel: Panel, page: Page, width: str, customer_id: str) -> None:
    panel.watch.where = f"/customers/{customer_id} note ({width})"
    page.goto(f"/customers/{customer_id}?tab=timeline")
    page.locator("#note-body").fill("")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator('[data-field-error="body"]')).to_be_visible()
    expected_failure(panel, "/notes")
    page.locator("#note-body").fill(f"Asked for **gift wrapping** ({width})")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("[data-note-saved]")).to_have_text("Note added.")
    note = page.locator("#feed .timeline-entry[data-kind='note']").first
    expect(note.locator("strong")).to_have_text("gift wrapping")
    expect(page.locator("#note-body")).to_have_value("")
    expect(page.locator("#note-body")).not_to_have_class(re.compile("is-invalid"))
    panel.check_layout(page, "customer-timeline", width)


def edit_in_place(panel: Panel, page: Page, width: str, customer_id: str) -> None:
    panel.watch.where = f"/customers/{customer_id} editing in place ({width})"
    page.goto(f"/customers/{customer_id}?tab=details")
    contact = page.locator("#group-contact")
    contact.get_by_role("link", name="Edit contact").click()
    email = contact.get_by_label("Email")
    expect(email).to_be_visible()
    email.fill("not an email")
    contact.get_by_role("button", name="Save").click()
    expect(page.locator('#group-contact [data-field-error="email"]')).to_contain_text("not a valid")
    expected_failure(panel, "/fields")
    panel.check_layout(page, "customer-edit-error", width)

    profile = page.locator("#group-profile")
    profile.get_by_role("link", name="Edit profile").click()
    profile.get_by_label("Company").fill(f"Gift Co {width}")
    profile.get_by_role("button", name="Save").click()
    expect(page.locator("#group-profile [data-saved]")).to_be_visible()
    expect(page.locator('#group-profile [data-field="company"]')).to_have_text(f"Gift Co {width}")
    page.locator("#group-contact").get_by_role("link", name="Cancel").click()
    expect(page.locator("#group-contact form")).to_have_count(0)


def tag_in_bulk(panel: Panel, page: Page, width: str, stage: str) -> None:
    panel.watch.where = f"/customers bulk tag ({width})"
    page.goto(f"/customers?lifecycle={stage}")
    total = int(page.locator("[data-total]").get_attribute("data-total") or "0")
    assert total > 0
    page.locator("#scope-all").check()
    page.locator("#bulk-action").select_option("tag")
    page.locator("#bulk-tag").fill(f"spring-{width}")
    page.get_by_role("button", name="Continue…").click()
    summary = page.locator("[data-bulk-summary]")
    expect(summary).to_contain_text(f"This will tag {total:,} customer")
    assert int(summary.get_attribute("data-matched") or "-1") == total
    panel.check_layout(page, "customers-bulk-confirm", width)
    untouched = page.request.get(f"/customers?tag=spring-{width}").text()
    assert 'data-total="0"' in untouched, "the tag was applied before the confirmation"
    page.get_by_role("button", name=re.compile(r"^Yes, tag")).click()
    expect(page.get_by_text(re.compile(r"Done: .* changed"))).to_be_visible()
    page.goto(f"/customers?tag=spring-{width}")
    expect(page.locator("[data-total]")).to_have_attribute("data-total", str(total))


def test_customers_are_found_read_noted_edited_and_tagged_in_chromium(
    shop_server: LiveServer, browser: Browser
) -> None:
    customers = busy_customers(shop_server, len(WIDTHS))
    stage = common_stage(shop_server)
    with admin_panel(browser, shop_server) as panel:
        for width, customer_id in zip(WIDTHS, customers, strict=True):
            page = panel.page("admin", width)

            def accept(dialog: Dialog) -> None:
                dialog.accept()

            page.on("dialog", accept)
            open_the_customer_page(panel, page, width, customer_id)
            search_as_you_type(panel, page, width, customer_id)
            filter_the_list(panel, page, width, stage)
            add_a_note(panel, page, width, customer_id)
            edit_in_place(panel, page, width, customer_id)
            tag_in_bulk(panel, page, width, stage)
