"""Figure 16: the console's first load and what each page view costs, in Debian's headless Chromium.

The local stack of the end-to-end tests (moto server, API server, workers), seeded with a source, an
application, an endpoint at a real receiver and a few delivered messages. Each load is a new browser
context (an empty cache), signed in through the API, opening ``/console#/``:

* bytes and requests of the first load, as the local gateway serves them (uncompressed) and as API
  Gateway would with ``minimum_compression_size`` (each response gzip-compressed here);
* the time from navigation start until the overview is usable (its heading is there and nothing says
  Loading…), against the reference measured in the same run: the same responses fetched one after the
  other by a plain HTTP client (the serving floor, no browser);
* the API calls each page makes when it is opened (counted from the browser's own requests).
"""

from __future__ import annotations

import gzip
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.report import Row, say

# A function, not an expression: Playwright evaluates a string expression with eval, which the CSP forbids.
USABLE = (
    "() => Boolean(document.querySelector('main h1')) && !Array.from(document.querySelectorAll('main .state'))"
    ".some(e => e.textContent.includes('Loading'))"
)


def _seed(stack: Any, receivers: Any) -> dict[str, str]:
    from testkit.stack import github_headers, wait_until

    source = stack.github_source()
    application = stack.request("POST", "/v1/applications", admin=True, json_body={"name": "Bench"}).json()
    endpoint = stack.request(
        "POST",
        "/v1/endpoints",
        admin=True,
        json_body={"url": receivers.url("/bench"), "description": "bench"},
    ).json()
    stack.request("POST", "/v1/event-types", admin=True, json_body={"name": "order.created"})
    for i in range(5):
        body = b'{"ref": "refs/heads/main", "n": %d}' % i
        assert (
            stack.request("POST", f"/in/{source}", body=body, headers=github_headers(body, f"d{i}")).status
            == 202
        )
    wait_until(lambda: len(receivers.at("/bench")) >= 5, timeout=60)
    message = stack.messages(source)[0]["id"]
    return {
        "source": source,
        "application": application["id"],
        "endpoint": endpoint["id"],
        "message": message,
    }


def _load(browser: Any, stack: Any, route: str) -> tuple[float, list[tuple[str, bytes]], list[str]]:
    """One cold load: ms until usable, (url, body) of every response, the /v1 calls made."""
    from testkit.stack import ADMIN_KEY
    from tests.browser.harness import DESKTOP

    context = browser.new_context(viewport=DESKTOP)
    try:
        assert (
            context.request.post(f"{stack.base}/v1/console/session", data={"admin_key": ADMIN_KEY}).status
            == 201
        )
        page = context.new_page()
        responses: list[tuple[str, bytes]] = []
        page.on("response", lambda r: responses.append((r.url, r.body() if r.status < 300 else b"")))
        page.goto(f"{stack.base}/console#{route}")
        page.wait_for_function(USABLE, timeout=30_000)
        usable = page.evaluate("performance.now()")
        page.wait_for_load_state("networkidle")
        calls = [url for url, _ in responses if "/v1/" in url]
        return float(usable), responses, calls
    finally:
        context.close()


def _floor(urls: list[str]) -> float:
    """The same responses, one after the other, by a plain client (ms)."""
    start = time.perf_counter()
    for url in urls:
        if "/v1/" in url:
            continue  # the API answers need the session; the floor is the static part's
        with urllib.request.urlopen(url, timeout=30) as resp:
            resp.read()
    return (time.perf_counter() - start) * 1000


def run(quick: bool) -> list[Row]:
    """Measure the console on one stack."""
    from playwright.sync_api import sync_playwright

    from testkit.receivers import Receivers
    from testkit.stack import Stack
    from tests.browser.harness import launch

    loads = 3 if quick else 10
    say("== 16. console first load, time to a usable overview, API calls per page view (headless Chromium)")
    with tempfile.TemporaryDirectory() as logs:
        stack = Stack(Path(logs))
        receivers = Receivers()
        try:
            stack.start_worker("ingest")
            stack.start_worker("deliveries")
            ids = _seed(stack, receivers)
            with sync_playwright() as playwright:
                browser = launch(playwright)
                try:
                    _load(browser, stack, "/")  # warm the API's caches and the browser binary
                    timings, floors = [], []
                    for _ in range(loads):
                        usable, responses, _calls = _load(browser, stack, "/")
                        timings.append(usable)
                        floors.append(_floor([url for url, _ in responses]))
                    _, responses, _ = _load(browser, stack, "/")
                    views = {
                        "overview": "/",
                        "sources": "/sources",
                        "a source": f"/sources/{ids['source']}",
                        "endpoints": "/endpoints",
                        "an endpoint": f"/endpoints/{ids['endpoint']}",
                        "messages": "/messages",
                        "a message": f"/messages/{ids['message']}",
                        "applications": "/applications",
                        "an application": f"/applications/{ids['application']}",
                        "event types": "/event-types",
                    }
                    calls = {name: len(_load(browser, stack, route)[2]) for name, route in views.items()}
                finally:
                    browser.close()
        finally:
            receivers.close()
            stack.close()
    static = [(url, body) for url, body in responses if "/v1/" not in url]
    raw = sum(len(body) for _, body in static)
    # API Gateway compresses a response of at least minimum_compression_size (1024) bytes.
    compressed = sum(len(gzip.compress(body, 6)) if len(body) >= 1024 else len(body) for _, body in static)
    usable, floor = statistics.median(timings), statistics.median(floors)
    say(
        f"   first load: {len(responses)} requests ({len(static)} files, {len(responses) - len(static)} API calls)"
    )
    say(f"   {raw / 1024:.1f} KB uncompressed, {compressed / 1024:.1f} KB gzip-compressed")
    say(
        f"   overview usable after {usable:.0f} ms (median of {loads}); the files alone by a plain client {floor:.0f} ms"
    )
    say("   API calls per page view: " + ", ".join(f"{k} {v}" for k, v in calls.items()))
    rows = [
        Row(
            "console first load, requests",
            len(responses),
            None,
            "requests",
            note=f"{len(static)} files + {len(responses) - len(static)} API calls; no other origin",
        ),
        Row(
            "console first load, bytes (uncompressed)",
            raw / 1024,
            None,
            "KB",
            note="as the local gateway serves them",
        ),
        Row(
            "console first load, bytes (gzip, as API Gateway sends them)",
            compressed / 1024,
            raw / 1024,
            "KB",
            note="reference: uncompressed",
        ),
        Row(
            "console: overview usable, from navigation start",
            usable,
            floor,
            "ms",
            note=f"median of {loads} cold contexts; reference: the same files fetched serially by urllib",
        ),
    ]
    rows += [Row(f"API calls to open {name}", count, None, "calls") for name, count in calls.items()]
    return rows
