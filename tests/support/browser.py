"""A real browser for page tests: Playwright (PyPI) driving Debian's Chromium (/usr/bin/chromium), one
browser per test module, a fresh context (cookies, storage) per session.

Use from a test module under tests/clients (whose conftest imports these fixtures):

    def test_something(live, browser_session):
        alice = browser_session(live)          # a new browser context on the live appliance
        alice.sign_in("alice")                 # the /login form, password `LOGIN-password`
        alice.goto("/settings/tokens")
        alice.shot("tokens")                   # a PNG under the run's screenshots directory
        assert not alice.dialogs and not alice.foreign_requests

Every session watches what a page does that it must not: dialogs (alert, confirm, prompt) are
recorded and dismissed, and requests to any origin other than the appliance's are recorded (and
aborted, so a test machine never reaches out). Screenshots go to `--screenshots DIR` when given, else
to a `screenshots` directory under pytest's base temporary directory (printed at the end of the run).
With CI=true a missing browser or Playwright fails the test instead of skipping it.
"""
from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"


def require_browser() -> None:
    """Playwright and Debian's Chromium; on CI a missing one fails the run (scripts/install-test-deps.sh)."""
    problems = []
    if importlib.util.find_spec("playwright") is None:
        problems.append("the Python package playwright is not installed")
    if not Path(CHROMIUM).exists():
        problems.append(f"{CHROMIUM} is not installed (Debian's chromium)")
    if problems:
        message = "; ".join(problems) + ": scripts/install-test-deps.sh installs them"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


class BrowserSession:
    """One person's browser (a Playwright context and its page) on the appliance at `origin`."""

    def __init__(self, browser, origin: str, screenshots: Path, prefix: str):
        self.origin = origin.rstrip("/")
        self.screenshots = screenshots
        self.prefix = prefix
        self.context = browser.new_context(base_url=self.origin, accept_downloads=False)
        self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=self.origin)
        self.dialogs: list[str] = []
        self.foreign_requests: list[str] = []
        self.context.route(re.compile(r".*"), self._route)
        self.page = self.context.new_page()
        self.page.on("dialog", self._dialog)
        self.shots: list[Path] = []

    def _route(self, route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and f"{parts.scheme}://{parts.netloc}" != self.origin:
            self.foreign_requests.append(url)
            route.abort()
        else:
            route.continue_()

    def _dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    # ---- driving the pages ----

    def goto(self, path: str):
        """Open `path` of the appliance; returns Playwright's response (its `.status`)."""
        return self.page.goto(path)

    def sign_in(self, login: str, password: str | None = None) -> None:
        """Sign in with the /login form (from wherever the browser is, or from /login)."""
        if "/login" not in self.page.url:
            self.goto("/login")
        self.page.fill("input[name=login]", login)
        self.page.fill("input[name=password]", password or f"{login}-password")
        self.page.click("form[action='/login'] button[type=submit]")
        self.page.wait_for_load_state()

    def sign_out(self) -> None:
        self.page.click("form[action='/logout'] button[type=submit]")
        self.page.wait_for_load_state()

    def signed_in_as(self) -> str | None:
        who = self.page.locator("[data-testid=signed-in-user]")
        return who.inner_text() if who.count() else None

    def text(self, test_id: str) -> str:
        """The text of the element with `data-testid=test_id`."""
        return self.page.get_by_test_id(test_id).inner_text()

    def shot(self, name: str) -> Path:
        """A full-page PNG of what the browser shows now."""
        path = self.screenshots / f"{self.prefix}-{len(self.shots) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="session")
def screenshots_dir(request, tmp_path_factory) -> Path:
    """Where this run's screenshots go: `--screenshots DIR`, else BASETEMP/screenshots."""
    chosen = request.config.getoption("--screenshots", default=None)
    path = Path(chosen) if chosen else tmp_path_factory.getbasetemp() / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Chromium, headless, once per test module."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


@pytest.fixture
def browser_session(request, browser, screenshots_dir) -> Iterator[Callable[..., BrowserSession]]:
    """A factory of browser sessions on a live appliance: `browser_session(live)` (or an origin), each
    a fresh context closed after the test; screenshots are named after the test."""
    sessions: list[BrowserSession] = []
    test_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)

    def new(live_or_origin) -> BrowserSession:
        origin = live_or_origin if isinstance(live_or_origin, str) else live_or_origin.origin
        session = BrowserSession(browser, origin, screenshots_dir, f"{test_name}-{len(sessions) + 1}")
        sessions.append(session)
        return session

    yield new
    for session in sessions:
        session.close()
