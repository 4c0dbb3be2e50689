"""The panel in a real Chromium: sign in with two-factor authentication, then open every panel
page at desktop and phone width. Any console error, uncaught exception, CSP violation, failed
request or (on the phone) horizontal overflow fails the test. Screenshots of every page go to
``test-artifacts/screenshots/``.

The pages come from the panel's routers, so a new page is visited without touching this file;
a page whose path has parameters needs an entry in ``PATH_VALUES``.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import psycopg
import pyotp
import pytest
from fastapi.routing import APIRoute
from playwright.sync_api import Browser, expect
from playwright.sync_api import Error as PlaywrightError
from sqlalchemy.engine import make_url

from patron.app import panel_routers
from patron.config import Settings
from patron.orders.service import tracking_token
from tests.chromium import SCREENSHOTS, WIDTHS, Panel, sign_in_with_password
from tests.conftest import TEST_SECRET, Databases
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.browser

PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")
# The live server's secret, for the signed links it would put in its emails.
LIVE_SETTINGS = Settings(_env_file=None, environment="test", secret_key=TEST_SECRET)


@dataclass(frozen=True)
class Records:
    """Real rows of the live database that pages with path parameters are opened with."""

    user_id: str
    role_name: str
    message_id: str
    reset_token: str
    invite_token: str
    tracking_token: str
    order_id: str
    product_id: str
    customer_id: str
    webhook_id: str
    connection_id: str
    segment_id: str


# How to fill the path parameters of each panel page that has them.
PATH_VALUES: dict[str, Callable[[Records], dict[str, str]]] = {
    "/admin/users/{user_id}": lambda r: {"user_id": r.user_id},
    "/admin/roles/{name}": lambda r: {"name": r.role_name},
    "/admin/mailbox/{message_id}": lambda r: {"message_id": r.message_id},
    "/password/reset/{token}": lambda r: {"token": r.reset_token},
    "/invite/{token}": lambda r: {"token": r.invite_token},
    "/track/{token}": lambda r: {"token": r.tracking_token},
    "/orders/{order_id}": lambda r: {"order_id": r.order_id},
    "/products/{product_id}": lambda r: {"product_id": r.product_id},
    "/customers/{customer_id}": lambda r: {"customer_id": r.customer_id},
    "/customers/{customer_id}/erase": lambda r: {"customer_id": r.customer_id},
    "/integrations/{connection_id}": lambda r: {"connection_id": r.connection_id},
    "/admin/webhooks/{subscription_id}": lambda r: {"subscription_id": r.webhook_id},
    "/admin/webhooks/{subscription_id}/delete": lambda r: {"subscription_id": r.webhook_id},
    "/segments/{segment_id}": lambda r: {"segment_id": r.segment_id},
    "/segments/{segment_id}/edit": lambda r: {"segment_id": r.segment_id},
    "/segments/{segment_id}/delete": lambda r: {"segment_id": r.segment_id},
}
# GET routes that are not pages of their own.
NOT_PAGES = {
    "/account/2fa/qr.svg": "an image; the set-up page shows it and checks that it loads",
    "/customers/export.csv": "a download; tests/test_customer_pages.py checks it",
    "/customers/export.xlsx": "a download; tests/test_customer_pages.py checks it",
    "/customers/{customer_id}/fields": "a fragment swapped in by htmx (editing in place)",
    "/customers/{customer_id}/timeline": "a fragment swapped in by htmx (load more)",
    "/imports/{import_id}": "an import; tests/test_imports_browser.py opens each of its steps "
    "at both widths (the demo data has no import)",
    "/imports/{import_id}/progress": "a fragment polled by htmx",
    "/integrations/{connection_id}/backfill": "a fragment polled by htmx",
    "/imports/{import_id}/errors.csv": "a download; tests/test_imports.py checks it",
    "/orders/export.xlsx": "a download; tests/test_order_pages.py checks it",
    "/admin/privacy/{request_id}/download": "a download; tests/test_privacy_pages.py checks it",
}
# Pages that exist only at one moment of signing in; the sign-in steps check them.
CHECKED_WHILE_SIGNING_IN = {
    "/login/2fa": "needs a half-finished sign-in",
    "/account/2fa/setup": "redirects once two-factor authentication is on",
}
# Pages that draw themselves after loading: what to wait for before looking at them.
READY_WHEN_VISIBLE = {
    "/api/docs": ".swagger-ui .info .title",
}
# Pages for people who are not signed in, opened in a browser context without a session.
SIGNED_OUT = {
    "/login",
    "/password/forgot",
    "/password/reset/{token}",
    "/invite/{token}",
    "/track/{token}",
}


def route_templates() -> list[str]:
    """The path of every GET route of the panel, in the routers' order."""
    paths = {
        route.path: None
        for router in panel_routers()
        for route in router.routes
        if isinstance(route, APIRoute) and "GET" in (route.methods or ())
    }
    return list(paths)


def pages_to_visit() -> list[str]:
    """Panel pages (route templates) the walk opens; fails on a page it cannot open."""
    templates = route_templates()
    missing = [
        path
        for path in templates
        if PARAMETER.search(path)
        and path not in PATH_VALUES
        and path not in NOT_PAGES
        and path not in CHECKED_WHILE_SIGNING_IN
    ]
    assert not missing, (
        f"Panel pages with path parameters that the browser test cannot fill: {missing}. "
        "Add each to PATH_VALUES in tests/test_browser.py (with a real record to show), "
        "or to NOT_PAGES if it is not a page."
    )
    listed = {
        *PATH_VALUES,
        *NOT_PAGES,
        *CHECKED_WHILE_SIGNING_IN,
        *SIGNED_OUT,
        *READY_WHEN_VISIBLE,
    }
    stale = sorted(listed - set(templates))
    assert not stale, f"tests/test_browser.py lists routes that no longer exist: {stale}"
    return [p for p in templates if p not in NOT_PAGES and p not in CHECKED_WHILE_SIGNING_IN]


def fill(template: str, records: Records) -> str:
    values = PATH_VALUES[template](records) if template in PATH_VALUES else {}
    return PARAMETER.sub(lambda match: values[match.group(1)], template)


def screenshot_name(template: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", template.lower()).strip("-") or "home"


class Walk(Panel):
    """The panel's pages, opened one after the other at both widths."""

    def visit(self, template: str, path: str) -> None:
        who = "signed_out" if template in SIGNED_OUT else "admin"
        for width in WIDTHS:
            page = self.page(who, width)
            self.watch.where = f"{path} ({width})"
            try:
                response = page.goto(path, wait_until="load")
            except PlaywrightError as error:
                self.watch.report(f"{error.message.splitlines()[0]} (not a page? add to NOT_PAGES)")
                continue
            if response is None or response.status >= 400:
                status = response.status if response else "no response"
                self.watch.report(f"the page answered {status}")
            elif urlsplit(page.url).path != urlsplit(path).path:
                self.watch.report(f"redirected to {page.url} (not a page? add to NOT_PAGES)")
            elif "content-security-policy" not in response.headers:
                self.watch.report("no Content-Security-Policy header")
            if template in READY_WHEN_VISIBLE:
                page.locator(READY_WHEN_VISIBLE[template]).wait_for()
            self.check_layout(page, screenshot_name(template), width)


def the_csp_listener_reports_a_violation(panel: Walk) -> None:
    """Prove the detector works: an inline style must be reported, then forget the report."""
    page = panel.page("signed_out")
    panel.watch.where = "CSP self-check"
    page.goto("/login")
    page.evaluate(
        "() => { const s = document.createElement('style');"
        " s.textContent = 'body { color: red }'; document.head.append(s); }"
    )
    deadline = time.monotonic() + 5
    while not any("CSP: style-src" in p for p in panel.watch.problems):
        assert time.monotonic() < deadline, "the CSP listener did not report an inline style"
        page.wait_for_timeout(50)
    panel.watch.problems.clear()


def ask_for_a_password_reset(panel: Walk, email: str) -> None:
    page = panel.page("signed_out")
    panel.watch.where = "/password/forgot (sending)"
    page.goto("/password/forgot")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_role("button", name="Send the link").click()
    page.wait_for_load_state()
    panel.inspect(page, "password-forgot-sent")


def turn_on_two_factor(panel: Walk) -> pyotp.TOTP:
    page = panel.page("admin")
    panel.watch.where = "/account/2fa/setup"
    page.goto("/account/2fa/setup")
    expect(page.get_by_role("heading", name="Set up two-factor authentication")).to_be_visible()
    qr = page.get_by_alt_text("QR code for your authenticator app")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.naturalWidth") > 0, "the QR code image did not load"
    page.get_by_text("Can't scan it?").click()
    secret = "".join(page.locator("[data-totp-secret]").inner_text().split())
    panel.inspect(page, "account-2fa-setup")
    totp = pyotp.TOTP(secret)
    page.get_by_label("Code", exact=True).fill(totp.now())
    page.get_by_role("button", name="Turn on").click()
    panel.watch.where = "/account/2fa/setup (recovery codes)"
    expect(page.get_by_role("heading", name="Two-factor authentication is on")).to_be_visible()
    expect(page.locator("[data-recovery-code]")).to_have_count(10)
    panel.inspect(page, "account-2fa-recovery-codes")
    return totp


def sign_out(panel: Walk) -> None:
    page = panel.page("admin")
    panel.watch.where = "signing out"
    page.goto("/")
    page.locator("#nav-user").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_text("You are signed out.")).to_be_visible()


def sign_in_with_two_factor(panel: Walk, totp: pyotp.TOTP) -> None:
    page = panel.page("admin")
    panel.watch.where = "/login (with 2FA)"
    sign_in_with_password(page, panel.server.demo_password)
    expect(page).to_have_url(re.compile(r"/login/2fa"))
    panel.watch.where = "/login/2fa"
    panel.inspect(page, "login-2fa")
    # The enrolment used the current time step, and a step is never accepted twice; the
    # next step's code is accepted as one step of clock drift, so there is no 30 s wait.
    page.get_by_label("Code", exact=True).fill(totp.at(time.time() + 30))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(f"{panel.server.url}/")
    expect(page.get_by_role("heading", name="Hello, Ada Admin")).to_be_visible()
    expect(page.get_by_text("Protect your account with two-factor")).to_have_count(0)


def invite_a_user(panel: Walk) -> None:
    page = panel.page("admin")
    panel.watch.where = "/admin/users/new (sending)"
    page.goto("/admin/users/new")
    page.get_by_label("Email", exact=True).fill("nia.newcomer@example.com")
    page.get_by_label("Name", exact=True).fill("Nia Newcomer")
    page.get_by_label("Role").select_option("support")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_text("Invitation sent to nia.newcomer@example.com.")).to_be_visible()


def create_an_api_key(panel: Walk) -> None:
    page = panel.page("admin")
    panel.watch.where = "/account/api-keys (creating)"
    page.goto("/account/api-keys")
    page.get_by_label("Name", exact=True).fill("Nightly export")
    page.get_by_label("users:read", exact=False).check()
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("[data-api-key-secret]")).to_have_value(re.compile(r"^ptk_"))
    panel.inspect(page, "account-api-key-created")


def subscribe_a_webhook(panel: Walk) -> None:
    page = panel.page("admin")
    panel.watch.where = "/admin/webhooks/new (creating)"
    page.goto("/admin/webhooks/new")
    page.get_by_label("URL", exact=True).fill("https://crm-sync.example.test/patron")
    page.get_by_label("customer.created", exact=False).check()
    page.get_by_role("button", name="Create subscription").click()
    expect(page.locator("[data-webhook-secret]")).to_have_value(re.compile(r"^whsec_"))
    panel.inspect(page, "admin-webhook-created")


def the_nav_is_reachable_by_keyboard(panel: Walk) -> None:
    page = panel.page("admin", "phone")
    panel.watch.where = "keyboard navigation (phone)"
    page.goto("/")
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('navbar-toggler')"):
            break
    expect(page.locator(".navbar-toggler")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Administration")).to_be_visible()


def read_records(server: LiveServer) -> Records:
    url = make_url(server.database_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as connection:

        def one(sql: str, *params: str) -> str:
            row = connection.execute(sql.encode(), params).fetchone()
            assert row is not None, f"no record for {sql}"
            return str(row[0])

        def link(kind: str, pattern: str) -> tuple[str, str]:
            message_id = one(
                "SELECT id FROM mail_message WHERE kind = %s ORDER BY created_at DESC", kind
            )
            body = one("SELECT body_text FROM mail_message WHERE id = %s", message_id)
            found = re.search(pattern, body)
            assert found is not None, f"no link in the {kind} email:\n{body}"
            return message_id, found.group(1)

        _, reset_token = link("password_reset", r"/password/reset/([\w-]+)")
        message_id, invite_token = link("invite", r"/invite/([\w-]+)")
        # a privacy request, so that the requests page shows a row
        one(
            "INSERT INTO privacy_request (id, kind, customer_id, source, status)"
            " SELECT gen_random_uuid(), 'export', customer_id, 'staff', 'failed'"
            " FROM customer_metrics ORDER BY orders_count DESC LIMIT 1 RETURNING id"
        )
        shipped_order = one(
            "SELECT s.order_id FROM shipment s"
            " WHERE EXISTS (SELECT FROM shipment_event e WHERE e.shipment_id = s.id)"
            " ORDER BY s.shipped_at DESC NULLS LAST LIMIT 1"
        )
        return Records(
            user_id=one("SELECT id FROM staff_user WHERE email = %s", "sales@example.com"),
            role_name=one("SELECT name FROM role WHERE name = %s", "manager"),
            message_id=message_id,
            reset_token=reset_token,
            invite_token=invite_token,
            tracking_token=tracking_token(LIVE_SETTINGS, uuid.UUID(shipped_order)),
            order_id=shipped_order,
            product_id=one("SELECT product_id FROM product_variant ORDER BY created_at LIMIT 1"),
            customer_id=one(
                "SELECT customer_id FROM customer_metrics ORDER BY orders_count DESC LIMIT 1"
            ),
            webhook_id=one("SELECT id FROM webhook_subscription ORDER BY created_at LIMIT 1"),
            # a store connection for its status page (the demo shop has none)
            connection_id=one(
                "INSERT INTO store_connection"
                " (id, provider, name, shop_domain, channel_id, webhook_secret)"
                " SELECT gen_random_uuid(), 'shopify', 'Browser shop',"
                " 'browser-shop.myshopify.com', id, '\\x00'::bytea FROM channel LIMIT 1"
                " ON CONFLICT (provider, shop_domain) DO UPDATE SET name = excluded.name"
                " RETURNING id"
            ),
            # a saved segment (the demo data has none); tests/test_segments_browser.py builds one
            segment_id=one(
                "INSERT INTO segment (id, name, kind, expression, ast)"
                " VALUES (gen_random_uuid(), 'Repeat buyers', 'dynamic', 'orders_count >= 2',"
                ' \'{"type": "compare", "field": "orders_count", "op": ">=",'
                ' "value": {"number": "2"}}\')'
                " ON CONFLICT (name) DO UPDATE SET kind = excluded.kind RETURNING id"
            ),
        )


@pytest.fixture(scope="module")
def server(
    databases: Databases, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with live_server(databases, template_db, tmp_path_factory.mktemp("browser")) as running:
        yield running


def test_the_walk_can_open_every_panel_page_including_those_with_path_parameters() -> None:
    pages = pages_to_visit()
    assert "/" in pages
    assert "/admin/users/{user_id}" in pages


def test_every_panel_page_works_in_chromium_at_desktop_and_phone_width(
    server: LiveServer, browser: Browser
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pages = pages_to_visit()
    panel = Walk(browser, server)
    try:
        with panel.watch.failing_on_problems():
            the_csp_listener_reports_a_violation(panel)
            ask_for_a_password_reset(panel, "sales@example.com")

            panel.watch.where = "/login (password only)"
            sign_in_with_password(panel.page("admin"), server.demo_password)
            expect(panel.page("admin")).to_have_url(f"{server.url}/")
            totp = turn_on_two_factor(panel)
            sign_out(panel)
            sign_in_with_two_factor(panel, totp)

            invite_a_user(panel)
            create_an_api_key(panel)
            subscribe_a_webhook(panel)
            the_nav_is_reachable_by_keyboard(panel)

            records = read_records(server)
            for template in pages:
                panel.visit(template, fill(template, records))
    finally:
        panel.close()
