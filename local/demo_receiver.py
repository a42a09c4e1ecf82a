"""A demo receiver for ``make dev``: prints every webhook it gets and answers 200.

Point an endpoint at it (``http://127.0.0.1:8001/hooks``) to watch deliveries arrive; ``/fail`` answers 500
and ``/gone`` answers 410, to watch retries and auto-disable.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = {"/fail": 500, "/gone": 410}.get(self.path, 200)
        print(
            json.dumps(
                {
                    "demo_receiver": self.path,
                    "status": status,
                    "webhook_id": self.headers.get("webhook-id"),
                    "event_type": self.headers.get("Hookway-Event-Type"),
                    "signed": bool(self.headers.get("webhook-signature")),
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


def serve(port: int) -> ThreadingHTTPServer:
    """Start the demo receiver on 127.0.0.1:port in a background thread."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="demo-receiver", daemon=True).start()
    return server
