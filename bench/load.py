"""Figure 5: throughput and latency of the local API server under 16 concurrent keep-alive clients.

The servers run in this process, one at a time, each on its own loopback port; the load comes from a
separate process (``bench.loadgen``, 16 threads, one keep-alive connection each). Measured:

- Hookway's local API (``local.gateway.serve``) on ``POST /in/{source_id}`` with a 1 KB GitHub-signed
  body and ``GET /v1/health``, the AWS side replaced by the in-memory fakes: so the figure is the HTTP
  server, the API Gateway/Lambda emulation and the handler's CPU, not DynamoDB or SQS;
- a bare ``http.server.ThreadingHTTPServer`` answering 202 ``{"id":"x"}`` (HTTP/1.1 keep-alive, Nagle off):
  the floor of any Python server on this machine;
- stock ``chalice local`` (``chalice.local.LocalDevServer``) serving the same Hookway app, for reference:
  it writes headers and body in two sends with Nagle on, so each response waits for a delayed ACK.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.fixtures import app_on_fakes, github_headers, json_body
from bench.report import ROOT, Row, quiet, say

TARGET = 2.0
THREADS = 16


class _BareHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    reply = b'{"id":"x"}'

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.reply)))
        self.end_headers()
        self.wfile.write(self.reply)

    do_GET = do_POST = _answer


class _BareServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


@contextmanager
def _bare_server() -> Iterator[int]:
    server = _BareServer(("127.0.0.1", 0), _BareHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _hookway_server(app: Any) -> Iterator[int]:
    from local.emulator import free_port
    from local.gateway import serve

    server = serve(app, port=free_port())
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _chalice_local_server(app: Any) -> Iterator[int]:
    from chalice.config import Config
    from chalice.local import LocalDevServer

    from local.emulator import free_port

    dev = LocalDevServer(
        app, Config.create(chalice_stage="dev", app_name="hookway"), "127.0.0.1", free_port()
    )
    threading.Thread(target=dev.server.serve_forever, daemon=True).start()
    try:
        yield dev.port
    finally:
        dev.shutdown()
        dev.server.server_close()


def _drive(
    port: int, method: str, path: str, *, headers: dict[str, str], body: bytes | None, seconds: float
) -> dict[str, Any]:
    spec = {
        "host": "127.0.0.1",
        "port": port,
        "method": method,
        "path": path,
        "headers": headers,
        "body": body.decode("latin-1") if body is not None else None,
        "threads": THREADS,
        "seconds": seconds,
    }
    with quiet():  # the servers in this process log and print metric lines while the load runs
        out = subprocess.run(
            [sys.executable, "-m", "bench.loadgen"],
            cwd=ROOT,
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 120,
        )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _show(name: str, result: dict[str, Any]) -> None:
    say(
        f"   {name:<34} {result['rps']:8.0f} req/s  p50 {result['p50_ms']:7.2f} ms  "
        f"p90 {result['p90_ms']:7.2f} ms"
        f"  p99 {result['p99_ms']:7.2f} ms  ({result['requests']} requests, {result['errors']} errors, "
        f"statuses {result['statuses']})"
    )


def run(quick: bool) -> list[Row]:
    """Measure and print figure 5; return its table rows."""
    say(f"== 5. local API under {THREADS} concurrent keep-alive clients (separate load process)")
    seconds = 1.0 if quick else 3.0
    app, _, source_id = app_on_fakes()
    body = json_body(1024)
    ingest: dict[str, Any] = {
        "method": "POST",
        "path": f"/in/{source_id}",
        "body": body,
        "headers": github_headers(body),
    }
    health: dict[str, Any] = {"method": "GET", "path": "/v1/health", "body": None, "headers": {}}
    plan: list[tuple[str, Callable[[], Any], dict[str, Any], str]] = [
        ("bare ThreadingHTTPServer POST", _bare_server, ingest, "202"),
        ("hookway local API POST /in", lambda: _hookway_server(app), ingest, "202"),
        ("hookway local API GET /v1/health", lambda: _hookway_server(app), health, "200"),
        ("stock chalice local POST /in", lambda: _chalice_local_server(app), ingest, "202"),
    ]
    results: dict[str, dict[str, Any]] = {}
    for name, server, request, expected in plan:
        with server() as port:
            result = _drive(
                port,
                request["method"],
                request["path"],
                headers=request["headers"],
                body=request["body"],
                seconds=seconds,
            )
        _show(name, result)
        if set(result["statuses"]) != {expected}:
            raise AssertionError(f"{name}: expected only {expected} answers, got {result['statuses']}")
        results[name] = result

    bare = results["bare ThreadingHTTPServer POST"]
    ours = results["hookway local API POST /in"]
    hp = results["hookway local API GET /v1/health"]
    stock = results["stock chalice local POST /in"]
    scope = (
        f"{THREADS} keep-alive clients in a separate process, {seconds:g} s; AWS side on in-memory fakes, "
        "so this is the HTTP server + API Gateway/Lambda emulation + handler CPU"
    )
    return [
        Row(
            "local API POST /in p50",
            ours["p50_ms"],
            bare["p50_ms"],
            "ms",
            TARGET,
            note=f"reference: bare ThreadingHTTPServer answering 202 JSON; {scope}",
        ),
        Row("local API POST /in p99", ours["p99_ms"], bare["p99_ms"], "ms"),
        Row("local API POST /in throughput", ours["rps"], bare["rps"], "req/s"),
        Row("local API GET /v1/health p50", hp["p50_ms"], bare["p50_ms"], "ms"),
        Row(
            "local API p50 vs stock chalice local",
            ours["p50_ms"],
            stock["p50_ms"],
            "ms",
            note=f"reference: chalice.local.LocalDevServer serving the same app ({stock['rps']:.0f} req/s); "
            "it sends headers and body in two writes with Nagle on, so each answer waits ~40 ms for an ACK",
        ),
    ]
