"""Loopback servers for transport tests: a recording HTTP(S) server, a canary and raw-socket servers."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Reply = tuple[int, dict[str, str], bytes]
Handler = Callable[[Recorded], Reply]


@dataclass
class ServerState:
    """What a test server observed: requests, connections, SNI names, handshake failures."""

    requests: list[Recorded] = field(default_factory=list)
    connections: int = 0
    sni: list[str | None] = field(default_factory=list)
    tls_failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler: Handler, ssl_context: ssl.SSLContext | None) -> None:
        self.reply = handler
        self.state = ServerState()
        self.ssl_context = ssl_context
        super().__init__(("127.0.0.1", 0), _RequestHandler)

    def handle_error(self, request: object, client_address: object) -> None:
        # Handshake failures and client disconnects are expected in these tests; stay quiet.
        pass


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        state = self.server.state
        with state.lock:
            state.connections += 1
        context = self.server.ssl_context
        if context is not None:
            try:
                self.request = context.wrap_socket(self.request, server_side=True)
            except (ssl.SSLError, OSError):
                with state.lock:
                    state.tls_failures += 1
                raise
        super().setup()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        recorded = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        with self.server.state.lock:
            self.server.state.requests.append(recorded)
        status, headers, payload = self.server.reply(recorded)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle


@contextmanager
def http_server(
    handler: Handler | None = None, *, ssl_context: ssl.SSLContext | None = None
) -> Iterator[tuple[int, ServerState]]:
    """A threaded HTTP/1.1 (or HTTPS) server on 127.0.0.1; yields (port, observed state)."""
    reply = handler or (lambda _request: (200, {"Content-Type": "text/plain"}, b"ok"))
    server = _Server(reply, ssl_context)
    if ssl_context is not None:

        def remember_sni(
            _sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _ctx: ssl.SSLContext
        ) -> None:
            with server.state.lock:
                server.state.sni.append(name)

        ssl_context.sni_callback = remember_sni
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], server.state
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Canary:
    """A listener that must never be reached; counts every TCP connection it accepts."""

    port: int
    connections: int = 0


@contextmanager
def canary() -> Iterator[Canary]:
    """A TCP listener on 127.0.0.1 that records connections (and then closes them)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.05)
    state = Canary(port=listener.getsockname()[1])
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            state.connections += 1
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        # Give a stray connection attempt the chance to be counted before judging.
        time.sleep(0.1)
        stop.set()
        thread.join(1)
        listener.close()


@contextmanager
def raw_server(serve: Callable[[socket.socket], None]) -> Iterator[int]:
    """A one-connection-at-a-time TCP server running ``serve(conn)`` per connection; yields the port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.05)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=_serve_quietly, args=(serve, conn, stop), daemon=True).start()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(1)
        listener.close()


def _serve_quietly(
    serve: Callable[[socket.socket], None], conn: socket.socket, stop: threading.Event
) -> None:
    try:
        serve(conn)
    except OSError:
        pass
    finally:
        conn.close()


def read_request_head(conn: socket.socket) -> bytes:
    """Read bytes until the end of the request head (the tests' bodies are small and ignored)."""
    data = b""
    conn.settimeout(5)
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data
