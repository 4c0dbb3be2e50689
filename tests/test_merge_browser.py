"""Reviewing likely duplicates and merging them in a real Chromium, at desktop and phone width.

Two pairs of customers are created through the API of a live server, the scan is started with
the queue's button (the server's in-process worker runs it), and each pair is reviewed and
merged with one value taken from the other customer: one pair on a desktop screen, the other
on a 375 px phone. Console errors, CSP violations, failed requests and horizontal overflow on
the phone fail the test; screenshots go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import psycopg
import pytest
from playwright.sync_api import Browser, Dialog, Page, ViewportSize, expect
from sqlalchemy.engine import make_url

from tests.chromium import DESKTOP, PHONE, SCREENSHOTS, Watch, admin_page, check_overflow
from tests.conftest import TEST_SECRET, Databases
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.browser

SCAN_TIMEOUT = 60.0


@dataclass(frozen=True)
class Twins:
    """Two records of one person, and the field to take from the one merged away."""

    older: dict[str, Any]
    newer: dict[str, Any]
    take: str
    width: str
    size: ViewportSize


@pytest.fixture(scope="module")
def server(
    databases: Databases, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with live_server(databases, template_db, tmp_path_factory.mktemp("merge")) as running:
        yield running


@pytest.fixture(scope="module")
def api_key(server: LiveServer) -> str:
    environment = {
        **os.environ,
        "PATRON_DATABASE_URL": server.database_url,
        "PATRON_SECRET_KEY": TEST_SECRET,
    }
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "patron.cli",
            "apikey",
            "create",
            "--user",
            "admin@example.com",
            "--name",
            "merge browser test",
            "--scope",
            "customers:read",
            "--scope",
            "customers:write",
        ],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return created.stdout.strip()


def create_customer(server: LiveServer, key: str, **body: Any) -> dict[str, Any]:
    response = httpx2.post(
        f"{server.url}/api/v1/customers",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def audit_actions(server: LiveServer, object_id: str) -> list[str]:
    url = make_url(server.database_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as connection:
        rows = connection.execute(
            "SELECT action FROM audit_event WHERE object_id = %s ORDER BY occurred_at",
            (object_id,),
        ).fetchall()
    return [str(row[0]) for row in rows]


def look(page: Page, watch: Watch, name: str, width: str) -> None:
    page.screenshot(path=SCREENSHOTS / f"merge-flow-{name}-{width}.png", full_page=True)
    if width == "phone":
        check_overflow(page, watch)


def pair_card(page: Page, twins: Twins) -> Any:
    return page.locator(f'[data-pair][data-customers~="{twins.older["id"]}"]').filter(
        has=page.locator(f'[data-side="{twins.newer["id"]}"]')
    )


def scan_until_listed(page: Page, watch: Watch, pairs: list[Twins]) -> None:
    watch.where = "/customers/duplicates (scan now)"
    page.goto("/customers/duplicates")
    page.get_by_role("button", name="Scan now").click()
    expect(page.get_by_text("Scanning; refresh in a moment.")).to_be_visible()
    deadline = time.monotonic() + SCAN_TIMEOUT
    while not all(pair_card(page, twins).count() == 1 for twins in pairs):
        assert time.monotonic() < deadline, "the scan did not list the pairs in time"
        page.wait_for_timeout(500)
        page.reload()


def review_and_merge(page: Page, watch: Watch, server: LiveServer, twins: Twins) -> None:
    older, newer, width = twins.older, twins.newer, twins.width
    page.set_viewport_size(twins.size)
    watch.where = f"/customers/duplicates ({width})"
    page.goto("/customers/duplicates")
    card = pair_card(page, twins)
    expect(card).to_have_count(1)
    card.scroll_into_view_if_needed()
    look(page, watch, "queue", width)

    card.get_by_role("link", name="Review and merge").click()
    watch.where = f"/customers/merge ({width})"
    expect(page).to_have_url(re.compile(rf"/customers/merge\?survivor={older['id']}"))
    expect(page.locator('[data-role="merged"]')).to_contain_text(newer["first_name"])
    choice = page.locator(f"#f-{twins.take}-merged")
    expect(page.locator(f"#f-{twins.take}-survivor")).to_be_checked()
    choice.check()
    expect(choice).to_be_checked()
    older_name = f"{older['first_name']} {older['last_name']}"
    newer_name = f"{newer['first_name']} {newer['last_name']}"
    question = f"Merge {newer_name} into {older_name}? This cannot be undone."
    expect(page.locator("[data-question]")).to_have_text(question)
    look(page, watch, "review", width)

    asked: list[str] = []

    def confirm(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", confirm)
    page.get_by_role("button", name=f"Merge {newer_name} into {older_name}").click()
    watch.where = f"/customers/{{survivor}} after the merge ({width})"
    expect(page).to_have_url(f"{server.url}/customers/{older['id']}")
    assert asked == [question]
    survivor_name = newer_name if twins.take == "first_name" else older_name
    expect(page.get_by_text(f"Merged {newer_name} into {older_name}.")).to_be_visible()
    expect(page.locator("h1")).to_contain_text(survivor_name)
    if twins.take == "email":
        expect(page.locator("header")).to_contain_text(newer["email"])
    expect(page.get_by_text(re.compile(rf"Merged with {newer_name}"))).to_be_visible()
    look(page, watch, "survivor", width)
    assert "customer.merged" in audit_actions(server, older["id"])

    page.goto(f"/customers/{newer['id']}")  # the old id leads to the survivor
    expect(page).to_have_url(f"{server.url}/customers/{older['id']}")


def test_likely_duplicates_are_reviewed_and_merged_at_desktop_and_phone_width(
    server: LiveServer, browser: Browser, api_key: str
) -> None:
    address = {
        "line1": "4 Orchard Lane",
        "city": "Concord",
        "postal_code": "01742",
        "country": "US",
    }
    kim = create_customer(
        server, api_key, first_name="Kim", last_name="Lee", email="kim.lee@example.net",
        addresses=[address],
    )  # fmt: skip
    kimberly = create_customer(
        server, api_key, first_name="Kimberly", last_name="Lee",
        email="kimberly.lee@example.net", other_emails=["kim.lee@example.net"],
    )  # fmt: skip
    jo = create_customer(
        server, api_key, first_name="Jo", last_name="March", email="jo.march@example.net",
        phone="+16175550142",
    )  # fmt: skip
    josephine = create_customer(
        server, api_key, first_name="Josephine", last_name="March",
        email="josephine.march@example.net", phone="+16175550142", company="March & Co",
    )  # fmt: skip
    pairs = [
        Twins(kim, kimberly, take="email", width="desktop", size=DESKTOP),
        Twins(jo, josephine, take="first_name", width="phone", size=PHONE),
    ]

    with admin_page(browser, server) as (page, watch):
        scan_until_listed(page, watch, pairs)
        for twins in pairs:
            review_and_merge(page, watch, server, twins)
