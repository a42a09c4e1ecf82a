"""The console under an API Gateway stage prefix (``https://<api>/api/console``) works as at the root.

API Gateway takes the stage off the path before Chalice routes it; a small proxy here does the same in
front of the local stack, so the browser sees every URL with ``/api`` in front.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Browser

from testkit.stack import ADMIN_KEY, Stack
from tests.browser.harness import DESKTOP, Guard

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@pytest.fixture
def staged(stack: Stack) -> Iterator[str]:
    """``http://127.0.0.1:<port>/api``: the stack behind a stage prefix."""

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _forward(self) -> None:
            if not self.path.startswith("/api/"):
                self.send_response(403)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            request = urllib.request.Request(
                stack.base + self.path.removeprefix("/api"), data=body, method=self.command, headers=headers
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    status, answer_headers, data = answer.status, answer.headers.items(), answer.read()
            except urllib.error.HTTPError as err:
                status, answer_headers, data = err.code, err.headers.items(), err.read()
            self.send_response(status)
            for name, value in answer_headers:
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api"
    finally:
        server.shutdown()
        server.server_close()


def test_the_console_works_under_a_stage_prefix(browser: Browser, stack: Stack, staged: str) -> None:
    origin = staged.removesuffix("/api")
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        guard = Guard(origin)
        guard.watch(page)
        paths: list[str] = []
        page.on("request", lambda r: paths.append(r.url.removeprefix(origin)))
        # GIVEN the console at <api>/api/console, WHEN the operator signs in and opens a list
        page.goto(f"{staged}/console")
        page.get_by_label("Admin key").fill(ADMIN_KEY)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("navigation").get_by_role("link", name="Endpoints").click()
        page.get_by_role("heading", name="Endpoints").wait_for()
        page.wait_for_load_state("networkidle")
        # THEN every file and every API call went through the prefix
        assert paths and all(p.startswith("/api/") for p in paths), paths
        assert "/api/v1/console/session" in paths and "/api/assets/console.js" in paths
        assert any(p.startswith("/api/v1/endpoints") for p in paths), paths
        guard.check(page)
    finally:
        context.close()
