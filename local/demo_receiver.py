"""A demo receiver for ``make dev``: verifies and prints every webhook it gets, and answers 200.

Point an endpoint at it (``http://127.0.0.1:8001/hooks``, port ``HOOKWAY_DEMO_PORT``) to watch deliveries
arrive; ``/fail`` answers 500 and ``/gone`` answers 410, to watch retries and auto-disable. It checks each
request's Standard Webhooks signature with the demo secret (``HOOKWAY_DEMO_SECRET``; ``make dev`` prints
it and its example creates the endpoint with it) through ``chalicelib.verification``, the same code a
receiver can reuse, and prints ``"verified": true`` or the reason code it failed with.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    secret = ""  # the demo secret, set by serve()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = {"/fail": 500, "/gone": 410}.get(self.path, 200)
        reason = _check(self.secret, dict(self.headers.items()), body)
        print(
            json.dumps(
                {
                    "demo_receiver": self.path,
                    "status": status,
                    "webhook_id": self.headers.get("webhook-id"),
                    "event_type": self.headers.get("Hookway-Event-Type"),
                    "verified": reason is None,
                    **({"reason": reason} if reason else {}),
                    "bytes": len(body),
                }
            ),
            flush=True,
        )
        reply = b'{"ok": true}' if status == 200 else b'{"ok": false}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


def _check(secret: str, headers: dict[str, str], body: bytes) -> str | None:
    """None if the Standard Webhooks signature matches the demo secret, else the reason code."""
    from chalicelib.verification import VerificationError, verify

    try:
        verify("standard", secrets=[secret], method="POST", url="http://demo/", headers=headers, body=body)
    except VerificationError as exc:
        return exc.reason
    return None


def serve(port: int, secret: str) -> ThreadingHTTPServer:
    """Start the demo receiver on 127.0.0.1:port in a background thread, verifying with ``secret``."""
    handler = type("DemoHandler", (_Handler,), {"secret": secret})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="demo-receiver", daemon=True).start()
    return server
