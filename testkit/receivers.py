"""Real HTTP receivers on loopback for end-to-end tests, scripted per path.

Each path answers its script step by step (then 200): a status, a status with headers, a delay before
answering, or a trickle that sends the response one byte at a time. Every request is recorded.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Step:
    """One scripted answer."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    trickle: float = 0.0  # seconds between body bytes


@dataclass
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    started: float
    finished: float = 0.0


class Receivers:
    """A threaded HTTP server on 127.0.0.1 with per-path scripts."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[Step]] = {}
        self.received: list[Received] = []
        self.in_flight: dict[str, int] = {}  # by "path webhook-id": one delivery
        self.max_in_flight: dict[str, int] = {}
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                record = Received(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time()
                )
                webhook_id = f"{self.path} {record.headers.get('webhook-id', '')}"  # one delivery
                with outer._lock:
                    outer.received.append(record)
                    script = outer.scripts.get(self.path, [])
                    step = script.pop(0) if script else Step()
                    outer.in_flight[webhook_id] = outer.in_flight.get(webhook_id, 0) + 1
                    outer.max_in_flight[webhook_id] = max(
                        outer.max_in_flight.get(webhook_id, 0), outer.in_flight[webhook_id]
                    )
                try:
                    time.sleep(step.delay)
                    payload = b'{"received": true}'
                    self.send_response(step.status)
                    for name, value in step.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if step.trickle:
                        for byte in payload:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(step.trickle)
                    else:
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with outer._lock:
                        outer.in_flight[webhook_id] -= 1
                        record.finished = time.time()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        """The URL of a path on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *steps: Step) -> str:
        """Set a path's answers; returns its URL."""
        with self._lock:
            self.scripts[path] = list(steps)
        return self.url(path)

    def at(self, path: str) -> list[Received]:
        """What a path received, in order."""
        with self._lock:
            return [r for r in self.received if r.path == path]

    def close(self) -> None:
        """Stop the server."""
        self._server.shutdown()
