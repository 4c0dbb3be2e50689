"""What the browser tests share: Debian's Chromium and how it is launched, the two screen
widths, a watch that collects what goes wrong in the browser (console errors, uncaught
exceptions, CSP violations, failed requests, horizontal overflow), signing in, and a page or a
set of pages signed in as the demo administrator that fails the test on any problem seen.

The ``browser`` fixture (tests/conftest.py) launches Chromium once per module with
:func:`launch_chromium`."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Response,
    ViewportSize,
    expect,
    sync_playwright,
)

from tests.live import LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# a loaded CI machine is slow to hash passwords
EXPECT_TIMEOUT_MS = 15_000
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=375, height=812)
WIDTHS = {"desktop": DESKTOP, "phone": PHONE}
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
ADMIN = "admin@example.com"

CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  const blocked = event.blockedURI || "inline code";
  const where = location.pathname;
  window.patronCspViolation(`${event.violatedDirective} blocked ${blocked} on ${where}`);
}, true);
"""

OVERFLOW = """
() => {
  const width = window.innerWidth;
  const scrollWidth = document.documentElement.scrollWidth;
  if (scrollWidth <= width + 1) return {width, scrollWidth, offenders: []};
  // Is the element inside a scrolling or clipping box? An absolutely positioned element is
  // clipped only by boxes at or above its containing block (its nearest positioned ancestor).
  const clipped = (el) => {
    let position = getComputedStyle(el).position;
    for (let up = el.parentElement; up; up = up.parentElement) {
      const style = getComputedStyle(up);
      if (position === "fixed") return false;
      if (position === "absolute" && style.position === "static") continue;
      if (style.overflowX !== "visible") return true;
      position = style.position;
    }
    return false;
  };
  const describe = (el) =>
    el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.classList.length ? "." + [...el.classList].join(".") : "");
  const wide = new Set(
    [...document.body.querySelectorAll("*")].filter(
      (el) => el.getBoundingClientRect().right > width + 1 && !clipped(el)
    )
  );
  const offenders = [...wide]
    .filter((el) => !wide.has(el.parentElement))
    .map((el) => `${describe(el)} reaches ${Math.round(el.getBoundingClientRect().right)}px`);
  return {width, scrollWidth, offenders: offenders.slice(0, 5)};
}
"""


@contextlib.contextmanager
def launch_chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, until the block ends."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"The browser tests drive Debian's Chromium at {CHROMIUM}: make browser-deps")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Watch:
    """Collects what went wrong in the browser, labelled with the step it happened in."""

    origin: str
    where: str = "start"
    problems: list[str] = field(default_factory=list)

    def report(self, problem: str) -> None:
        self.problems.append(f"{self.where}: {problem}")

    def forget(self, refused: Callable[[str], bool]) -> None:
        """Drop the problems a step provoked on purpose (a refusal the test asked for)."""
        self.problems[:] = [p for p in self.problems if not refused(p)]

    def attach(self, context: BrowserContext) -> None:
        context.expose_function("patronCspViolation", lambda text: self.report(f"CSP: {text}"))
        context.add_init_script(CSP_LISTENER)
        context.on("page", self._attach_page)

    def _attach_page(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.report(f"uncaught exception: {error}"))
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            self.report(f"console {message.type}: {message.text}")

    def _response(self, response: Response) -> None:
        if response.status >= 400 and response.url.startswith(self.origin):
            self.report(f"HTTP {response.status} for {response.url}")

    @contextlib.contextmanager
    def failing_on_problems(self) -> Iterator[None]:
        """Fail the test when the block saw a problem; note those seen when it raises."""
        try:
            yield
        except Exception as error:
            error.add_note("Problems in the browser so far:\n" + "\n".join(self.problems))
            raise
        if self.problems:
            pytest.fail("Problems in the browser:\n" + "\n".join(self.problems))


def check_overflow(page: Page, watch: Watch) -> None:
    """Report a page wider than its screen, with the elements that stick out."""
    found = page.evaluate(OVERFLOW)
    if found["scrollWidth"] > found["width"] + 1:
        watch.report(
            f"{found['scrollWidth']}px wide on a {found['width']}px screen "
            f"({'; '.join(found['offenders']) or 'no single element found'})"
        )


def sign_in_with_password(page: Page, password: str, email: str = ADMIN) -> None:
    page.goto("/login")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def open_the_filters(page: Page, width: str) -> None:
    """On a phone the list filters sit in a collapsed panel: open it and wait
    until Bootstrap's slide-down has finished, so clicks land where they aim."""
    if width != "phone":
        return
    page.get_by_role("button", name=re.compile("Filters")).click()
    panel = page.locator("#filter-panel")
    expect(panel).to_have_class(re.compile(r"(^|\s)show(\s|$)"))
    expect(panel).not_to_have_class(re.compile("collapsing"))


@contextlib.contextmanager
def admin_page(
    browser: Browser, server: LiveServer, viewport: ViewportSize = DESKTOP, **options: Any
) -> Iterator[tuple[Page, Watch]]:
    """A page signed in as the demo administrator, watched: the test fails on any problem
    left in the watch when the block ends (``watch.forget`` drops those provoked on purpose).
    ``options`` go to the browser context (``accept_downloads=True``, ...)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    watch = Watch(origin=server.url)
    context = browser.new_context(base_url=server.url, viewport=viewport, **options)
    watch.attach(context)
    page = context.new_page()
    try:
        with watch.failing_on_problems():
            watch.where = "/login"
            sign_in_with_password(page, server.demo_password)
            expect(page).to_have_url(f"{server.url}/")
            yield page, watch
    finally:
        context.close()


class Panel:
    """Browser contexts for people signed out and for the demo administrator, each with a
    page at desktop and one at phone width, and one watch over them all."""

    def __init__(self, browser: Browser, server: LiveServer) -> None:
        self.server = server
        self.watch = Watch(origin=server.url)
        self.contexts: dict[str, BrowserContext] = {}
        self.pages: dict[tuple[str, str], Page] = {}
        for who in ("signed_out", "admin"):
            context = browser.new_context(base_url=server.url, viewport=DESKTOP)
            self.watch.attach(context)
            self.contexts[who] = context
            for width, size in WIDTHS.items():
                page = context.new_page()
                page.set_viewport_size(size)
                self.pages[who, width] = page

    def close(self) -> None:
        for context in self.contexts.values():
            context.close()

    def page(self, who: str, width: str = "desktop") -> Page:
        return self.pages[who, width]

    def inspect(self, page: Page, name: str) -> None:
        """Screenshot the page at both widths (resizing it) and check the phone layout."""
        original = page.viewport_size
        for width, size in WIDTHS.items():
            page.set_viewport_size(size)
            self.check_layout(page, name, width)
        if original is not None:
            page.set_viewport_size(original)

    def check_layout(self, page: Page, name: str, width: str) -> None:
        page.screenshot(path=SCREENSHOTS / f"{name}-{width}.png", full_page=True)
        if width == "phone":
            check_overflow(page, self.watch)


@contextlib.contextmanager
def admin_panel(browser: Browser, server: LiveServer) -> Iterator[Panel]:
    """A :class:`Panel` whose administrator is signed in; the test fails on any problem left
    in its watch when the block ends."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    panel = Panel(browser, server)
    try:
        with panel.watch.failing_on_problems():
            panel.watch.where = "/login"
            sign_in_with_password(panel.page("admin"), server.demo_password)
            yield panel
    finally:
        panel.close()
