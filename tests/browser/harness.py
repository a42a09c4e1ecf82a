"""Driving the console and the portal in Debian's Chromium, with guards that fail a test on anything
that should never happen in a page: a dialog, a script error, a Content-Security-Policy violation, or a
request to any origin but the stack's own.

Playwright starts ``/usr/bin/chromium`` (no browser download); the flags keep it off the network, which
this machine closes anyway (background services would otherwise try to reach their hosts).
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser, BrowserContext, Page, Playwright

from testkit.stack import ADMIN_KEY, Stack

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"

# Collected in the page from its first script on (an init script runs before the page's own, whatever
# the CSP: Playwright injects it through the DevTools protocol).
_WATCH = """
window.__hookwayViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__hookwayViolations.push({directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample});
});
"""


def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless, off the network."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)


@dataclass
class Guard:
    """What a page did that it never should: every list must stay empty."""

    origin: str
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    in_flight: int = 0  # requests the page made that have not answered (or failed) yet
    last_request_event: float = 0.0  # time.monotonic() of the last start or end of one

    def watch(self, page: Page) -> None:
        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        def on_request_end(_: Any) -> None:
            self.in_flight -= 1
            self.last_request_event = time.monotonic()

        def on_request(request: Any) -> None:
            self.in_flight += 1
            self.last_request_event = time.monotonic()
            url = request.url
            if url.startswith(("data:", "blob:", "about:")):
                return
            parts = urlsplit(url)
            if f"{parts.scheme}://{parts.netloc}" != self.origin:
                self.foreign_requests.append(url)

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("request", on_request)
        page.on("requestfinished", on_request_end)
        page.on("requestfailed", on_request_end)

    def violations(self, page: Page) -> list[dict[str, Any]]:
        return list(page.evaluate("window.__hookwayViolations || []"))

    def check(self, page: Page) -> None:
        """Fail with everything that went wrong in the page."""
        problems = {
            "dialogs": self.dialogs,
            "script errors": self.errors,
            "requests to other origins": self.foreign_requests,
            "CSP violations": self.violations(page),
        }
        assert not any(problems.values()), json.dumps(problems, indent=2)


@dataclass
class Session:
    """A browser context on the stack: its page, its guard, and helpers to reach a view."""

    stack: Stack
    context: BrowserContext
    page: Page
    guard: Guard
    base_path: str  # "/console" or "/portal"

    def open(self, route: str = "/") -> Page:
        """Go to a view (``/endpoints/ep_1``) and wait for its heading."""
        self.page.goto(f"{self.stack.base}{self.base_path}#{route}")
        self.wait_loaded()
        return self.page

    def wait_loaded(self) -> None:
        """The view's heading is there and nothing says Loading… any more."""
        self.page.wait_for_selector("main h1")
        # A function, not an expression: Playwright evaluates a string expression with eval (CSP: refused).
        self.page.wait_for_function(
            "() => !Array.from(document.querySelectorAll('main .state'))"
            ".some(e => e.textContent.includes('Loading'))"
        )

    def settled(self, quiet: float = 0.1, timeout: float = 15.0) -> None:
        """Every request the page made has answered, and none started for ``quiet`` seconds (the late
        parts of a view, loaded after its first answer, are in)."""
        deadline = time.monotonic() + timeout
        while self.guard.in_flight > 0 or time.monotonic() - self.guard.last_request_event < quiet:
            assert time.monotonic() < deadline, f"{self.guard.in_flight} request(s) still open"
            self.page.wait_for_timeout(25)  # Playwright delivers the page's events while it waits

    def shot(self, name: str) -> Path:
        """A full-page screenshot in tests/artifacts/ (git-ignored), named for the view and the viewport."""
        size = self.page.viewport_size or DESKTOP
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}-{size['width']}x{size['height']}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def axe(self) -> list[dict[str, Any]]:
        """axe-core's serious and critical violations on the current view (axe from npm, node_modules).
        axe is loaded once per document (the views are routes of one page: ~0.3 s each time saved)."""
        if not self.page.evaluate("() => typeof window.axe === 'object'"):
            self.page.evaluate(_axe_source())
        result = self.page.evaluate(
            "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => "
            "({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))})))"
        )
        return [v for v in result if v["impact"] in ("serious", "critical")]


@functools.cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8") + "\n;true"


@contextmanager
def session(
    browser: Browser,
    stack: Stack,
    base_path: str,
    viewport: dict[str, int] = DESKTOP,
    *,
    sign_in: bool = True,
) -> Iterator[Session]:
    """A new context (no cookies but its own); the console one signed in through the API unless asked not to."""
    context = browser.new_context(viewport=viewport, base_url=stack.base)
    context.add_init_script(_WATCH)
    context.set_default_timeout(15_000)
    if base_path == "/console" and sign_in:
        reply = context.request.post(f"{stack.base}/v1/console/session", data={"admin_key": ADMIN_KEY})
        assert reply.status == 201, reply.text()
    page = context.new_page()
    guard = Guard(stack.base)
    guard.watch(page)
    try:
        yield Session(stack, context, page, guard, base_path)
    finally:
        context.close()


def portal_link(stack: Stack, application_id: str, *, read_only: bool = False) -> str:
    """A portal link minted through the API, as the operator's platform would."""
    reply = stack.request(
        "POST",
        f"/v1/applications/{application_id}/portal-access",
        json_body={"read_only": read_only},
        admin=True,
    )
    assert reply.status == 201, reply.body
    return str(reply.json()["url"])
