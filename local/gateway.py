"""A local stand-in for API Gateway's REST API with Lambda proxy integration.

It turns each HTTP request into the event API Gateway would send (multi-value headers and query,
``requestContext.identity.sourceIp`` from the TCP peer, base64 bodies for binary media types matched the
way API Gateway matches them) and calls the API function's handler (``chalicelib.api.entry``: webhooks
straight to the ingest service, the rest to the Chalice app), as the Lambda would.

Unlike ``chalice local`` it serves many clients at once (one thread each, HTTP/1.1 keep-alive) and
turns Nagle's algorithm off, so a response is not held back waiting for an ACK (stock ``chalice local``
loses about 40 ms per response to that).
"""

from __future__ import annotations

import base64
import fnmatch
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from chalice.app import Chalice
from chalice.local import LambdaContext, LocalChalice, RouteMatcher

from chalicelib.api import entry
from chalicelib.replies import error_bytes, gateway_code

MAX_EVENT_BYTES = 6 * 1024 * 1024  # Lambda's synchronous invoke payload limit
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
_JSON = {"Content-Type": "application/json"}
_LINGER_SECONDS = 2.0


def _is_binary(content_type: str, binary_types: list[str]) -> bool:
    if "*/*" in binary_types:
        return True  # even a body sent with no Content-Type at all
    media = content_type.split(";", 1)[0].strip().lower()
    return bool(media) and any(fnmatch.fnmatch(media, pattern.lower()) for pattern in binary_types)


class Gateway:
    """Builds API Gateway proxy events for a Chalice app and calls it."""

    def __init__(
        self, app: Any, stage: str = "local", binary_media_types: tuple[str, ...] = ("*/*",)
    ) -> None:
        if not isinstance(app, LocalChalice):
            # current_request must be per thread when requests are served concurrently; the app's own
            # class (app.py's, which also answers function URL events) stays in the line.
            own = type(app)
            app.__class__ = (
                LocalChalice if own is Chalice else type(f"Local{own.__name__}", (LocalChalice, own), {})
            )
        self.app = app
        self.stage = stage
        self.binary_media_types = list(binary_media_types)
        self._matcher = RouteMatcher(list(app.routes))

    def event(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, client_ip: str
    ) -> dict[str, Any] | None:
        """The proxy event for a request, or None when no route matches."""
        parts = urlsplit(target)
        path = parts.path or "/"
        try:
            match = self._matcher.match_route(path)
        except ValueError:
            return None
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in headers:
            single[name] = value
            multi.setdefault(name, []).append(value)
        query_multi: dict[str, list[str]] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            query_multi.setdefault(name, []).append(value)
        content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
        # As deployed: the API's binary media types are */* (infra/api_gateway.py), so every body is base64.
        is_binary = _is_binary(content_type, self.binary_media_types)
        if is_binary:
            body_field: str | None = base64.b64encode(body).decode("ascii")
        else:
            body_field = body.decode("utf-8", errors="replace") if body else None
        return {
            "resource": match.route,
            "path": path,
            "httpMethod": method,
            "headers": single or None,
            "multiValueHeaders": multi or None,
            "queryStringParameters": {k: v[-1] for k, v in query_multi.items()} or None,
            "multiValueQueryStringParameters": query_multi or None,
            "pathParameters": match.captured or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": match.route,
                "httpMethod": method,
                "path": path,
                "stage": self.stage,
                "requestId": str(uuid.uuid4()),
                "requestTimeEpoch": int(time.time() * 1000),
                "domainName": single.get("Host", "127.0.0.1"),
                "apiId": "local",
                "identity": {"sourceIp": client_ip, "userAgent": single.get("User-Agent", "")},
            },
            "body": body_field,
            "isBase64Encoded": is_binary and body_field is not None,
        }

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """Call the app as Lambda would; a payload over 6 MB fails as Lambda's invoke would."""
        # The body dominates the event's size; headers and context add a few KB at most.
        approx = len(event["body"] or "") + sum(len(k) + len(v) for k, v in (event["headers"] or {}).items())
        if approx + 4096 > MAX_EVENT_BYTES:
            message = "the request is larger than the function's 6 MB invoke payload (about 4.5 MiB of body)"
            return {
                "statusCode": 413,
                "headers": {"Content-Type": "application/json"},
                "body": error_bytes("payload_too_large", message).decode(),
            }
        context = LambdaContext("api_handler", 512, max_runtime_ms=30_000)
        # Through the API function's handler, as the deployed function: webhooks skip the Chalice app.
        return dict(entry.serve(event, context, self.app))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 60  # a client that stops sending mid-request does not hold a thread forever
    _refused = False
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """``http.server``'s own refusals (431 header too large, 414, 400, ...) in Hookway's error shape."""
        self._refuse(code, gateway_code(code), message or "the request is malformed")

    def _refuse(self, status: int, code: str, message: str) -> None:
        # The rest of the request was not read, so the stream cannot carry another request; and closing
        # with unread input would send a TCP reset that can destroy the answer before the client reads it.
        self.close_connection = True
        self._refused = True
        self._send(status, _JSON, error_bytes(code, message))

    def finish(self) -> None:
        """Flush the answer; after a refusal, close gracefully (see ``_linger``)."""
        super().finish()
        if self._refused:
            _linger(self.connection)

    def _content_length(self) -> int | None:
        """The body's length, or None after answering 400/411/413 for framing the gateway refuses."""
        if self.headers.get("Transfer-Encoding") is not None:
            self._refuse(411, "length_required", "send the body with a Content-Length, not Transfer-Encoding")
            return None
        values = {value.strip() for value in self.headers.get_all("Content-Length") or []}
        if len(values) > 1:
            self._refuse(400, "invalid_content_length", "Content-Length is given twice with different values")
            return None
        raw = values.pop() if values else "0"
        if not raw.isascii() or not raw.isdigit():
            self._refuse(
                400, "invalid_content_length", "Content-Length must be a non-negative decimal integer"
            )
            return None
        # Length checked before int(): Python refuses to parse integers of more than 4,300 digits.
        if len(raw) > len(str(MAX_BODY_BYTES)) or int(raw) > MAX_BODY_BYTES:
            self._refuse(413, "payload_too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
            return None
        return int(raw)

    def _handle(self) -> None:
        length = self._content_length()
        if length is None:
            return
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            # The client hung up mid-body: a truncated body must never reach the app (it could be stored).
            self.close_connection = True
            return
        gateway = self.server.gateway
        event = gateway.event(
            self.command, self.path, list(self.headers.items()), body, self.client_address[0]
        )
        if event is None:
            # Deployed, the API's gateway responses give an unknown path the same answer.
            self._send(404, _JSON, error_bytes("not_found", "no route for this path"))
            return
        if self.server.on_request is not None:
            self.server.on_request()
        result = gateway.invoke(event)
        raw = result.get("body") or ""
        payload = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode("utf-8")
        headers = dict(result.get("headers") or {})
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(values)
        self._send(int(result.get("statusCode", 200)), headers, payload)

    def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def __getattr__(self, name: str) -> Any:
        # Every method reaches the app, as through API Gateway (which answers unknown ones itself).
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)


def _linger(sock: socket.socket) -> None:
    """A lingering close: end our side, then read and drop what the client still sends, for a moment.

    The client sees the whole answer and EOF; the unread rest of its request (a 70 KB header line, a body
    we refused) is drained instead of answered with a reset. Bounded in time and bytes.
    """
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(_LINGER_SECONDS)
        deadline = time.monotonic() + _LINGER_SECONDS
        drained = 0
        while time.monotonic() < deadline and drained < MAX_BODY_BYTES:
            chunk = sock.recv(65536)
            if not chunk:
                return
            drained += len(chunk)
    except OSError:
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        gateway: Gateway,
        verbose: bool,
        on_request: Callable[[], None] | None = None,
    ) -> None:
        self.gateway = gateway
        self.verbose = verbose
        self.on_request = on_request
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away before its answer (a listener stopped mid-poll, a closed tab) is no
        error of ours: one line with --verbose, never a traceback. Anything else as ``socketserver``."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            if self.verbose:
                print(f"{client_address[0]}:{client_address[1]} went away before its answer", flush=True)
            return
        super().handle_error(request, client_address)


def serve(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    verbose: bool = False,
    stage: str = "local",
    on_request: Callable[[], None] | None = None,
) -> _Server:
    """Start serving the app in a background thread; returns the server (call ``shutdown()`` to stop).

    ``on_request`` is called before each request reaches the app (``make dev`` saves its state after them).
    """
    server = _Server((host, port), Gateway(app, stage), verbose, on_request)
    threading.Thread(target=server.serve_forever, name="hookway-api", daemon=True).start()
    return server
