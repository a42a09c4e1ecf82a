"""The SSRF-guarded transport against real loopback servers; names come from stub resolvers."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
import trustme

from chalicelib.outbound.egress import (
    DEFAULT_MAX_BODY,
    BlockedDestinationError,
    ConnectError,
    ConnectTimedOutError,
    DeadlineExceededError,
    DNSError,
    EgressError,
    FunctionTransport,
    InvalidURLError,
    OutboundRequest,
    OutboundResponse,
    ProtocolError,
    TLSError,
    Transport,
    validate_url,
)
from tests.unit._servers import Recorded, canary, http_server, raw_server, read_request_head

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"
HOOK_HOST = "hooks.example.test"


def stub(mapping: dict[str, Sequence[str]]) -> Callable[[str, int], list[str]]:
    """A resolver that knows only ``mapping`` and fails like getaddrinfo for anything else."""

    def resolve(host: str, _port: int) -> list[str]:
        if host not in mapping:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(mapping[host])

    return resolve


def post(
    url: str, *, body: bytes = b'{"a": 1}', timeout: float = 5.0, headers: dict[str, str] | None = None
) -> OutboundRequest:
    return OutboundRequest(
        "POST", url, {"Content-Type": "application/json", **(headers or {})}, body, timeout
    )


@contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port bound but never listening, held for the block: connections are refused, and no
    other process can start listening there meanwhile (a port merely found free could be taken)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


# --- sending -------------------------------------------------------------------------------------


def test_sends_request_and_returns_status_headers_and_body() -> None:
    # GIVEN a receiver on loopback and a transport allowed to reach private addresses
    def reply(_request: Recorded) -> tuple[int, dict[str, str], bytes]:
        return 201, {"X-Receiver": "yes", "Retry-After": "7"}, b"created"

    with http_server(reply) as (port, state), Transport(allow_private=True) as transport:
        # WHEN a signed-looking POST is sent
        response = transport.send(post(f"http://127.0.0.1:{port}/hook?x=1", headers={"webhook-id": "msg_1"}))

    # THEN status, lower-cased headers, body and the address used come back
    assert response.status == 201
    assert response.body == b"created"
    assert not response.body_truncated
    assert response.headers["x-receiver"] == "yes"
    assert response.headers["retry-after"] == "7"
    assert response.address == "127.0.0.1"
    assert 0 < response.duration < 5
    # AND the receiver saw exactly what was sent
    (seen,) = state.requests
    assert (seen.method, seen.path, seen.body) == ("POST", "/hook?x=1", b'{"a": 1}')
    assert seen.headers["webhook-id"] == "msg_1"
    assert seen.headers["host"] == f"127.0.0.1:{port}"
    assert seen.headers["user-agent"].startswith("Hookway")


def test_connects_to_the_resolved_address_but_keeps_the_host_header() -> None:
    with http_server() as (port, state):
        transport = Transport(allow_private=True, resolver=stub({HOOK_HOST: ["127.0.0.1"]}))
        response = transport.send(post(f"http://{HOOK_HOST}:{port}/in", headers={"Host": "evil.example"}))
    assert response.status == 200
    # The caller's Host header cannot redirect the request to another virtual host.
    assert state.requests[0].headers["host"] == f"{HOOK_HOST}:{port}"


def test_falls_through_to_the_next_checked_address_when_a_connect_is_refused() -> None:
    with http_server() as (port, _state):
        # 127.0.0.2 is loopback too, but nothing listens there on this port.
        transport = Transport(allow_private=True, resolver=stub({HOOK_HOST: ["127.0.0.2", "127.0.0.1"]}))
        response = transport.send(post(f"http://{HOOK_HOST}:{port}/"))
    assert response.address == "127.0.0.1"


def test_refused_connection_is_connect_error() -> None:
    transport = Transport(allow_private=True)
    with refusing_port() as port, pytest.raises(ConnectError) as caught:
        transport.send(post(f"http://127.0.0.1:{port}/"))
    assert caught.value.error_class == "connect_error"
    assert not caught.value.slow  # refused at once: not a slow endpoint (outbound.lanes)


@pytest.mark.parametrize("answer", [[], None])
def test_unresolvable_name_is_dns_error(answer: list[str] | None) -> None:
    mapping: dict[str, Sequence[str]] = {} if answer is None else {HOOK_HOST: answer}
    transport = Transport(allow_private=True, resolver=stub(mapping))
    with pytest.raises(DNSError) as caught:
        transport.send(post(f"http://{HOOK_HOST}/"))
    assert caught.value.error_class == "dns_error"


def test_a_slow_name_lookup_counts_against_the_attempts_deadline() -> None:
    # GIVEN a resolver that takes 3 s to answer (a name server that does not reply; issue 19, security 11)
    import threading

    release = threading.Event()

    def slow(host: str, port: int) -> list[str]:
        release.wait(3.0)
        return ["127.0.0.1"]

    transport = Transport(allow_private=True, resolver=slow)
    try:
        # WHEN a request with a 0.5 s deadline is sent
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError) as caught:
            transport.send(post(f"http://{HOOK_HOST}/", timeout=0.5))
        elapsed = time.monotonic() - started
        # THEN it ends at the deadline as a timeout, not when the lookup finally answers (generous bound)
        assert caught.value.error_class == "timeout"
        assert elapsed < 2.0, elapsed
    finally:
        release.set()
        transport.close()


def test_reuses_connections_and_is_safe_across_threads() -> None:
    with http_server() as (port, state), Transport(allow_private=True, pool_maxsize=4) as transport:
        url = f"http://127.0.0.1:{port}/"
        transport.send(post(url))
        transport.send(post(url))
        assert state.connections == 1  # keep-alive: the second request reused the first connection

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda _i: transport.send(post(url)).status, range(40)))
    assert statuses == [200] * 40
    assert len(state.requests) == 42
    assert state.connections < 42


# --- SSRF: nothing reaches a private listener --------------------------------------------------


def test_literal_loopback_url_never_connects() -> None:
    with canary() as target:
        transport = Transport(allow_private=False)
        with pytest.raises(BlockedDestinationError) as caught:
            transport.send(post(f"http://127.0.0.1:{target.port}/"))
        with pytest.raises(BlockedDestinationError):
            transport.send(post(f"http://0x7f000001:{target.port}/"))
    assert caught.value.error_class == "blocked_destination"
    assert target.connections == 0


def test_name_resolving_to_loopback_never_connects() -> None:
    with canary() as target:
        transport = Transport(allow_private=False, resolver=stub({HOOK_HOST: ["127.0.0.1"]}))
        with pytest.raises(BlockedDestinationError):
            transport.send(post(f"http://{HOOK_HOST}:{target.port}/"))
    assert target.connections == 0


@pytest.mark.parametrize(
    "answers",
    [
        [PUBLIC_V4, "127.0.0.1"],
        ["127.0.0.1", PUBLIC_V4],
        [PUBLIC_V6, "::ffff:127.0.0.1"],
        [PUBLIC_V4, "fe80::1%lo"],
    ],
)
def test_any_private_address_among_the_answers_refuses_the_whole_name(answers: list[str]) -> None:
    with canary() as target:
        transport = Transport(allow_private=False, resolver=stub({HOOK_HOST: answers}))
        with pytest.raises(BlockedDestinationError):
            transport.send(post(f"http://{HOOK_HOST}:{target.port}/"))
    assert target.connections == 0


def test_rebinding_between_registration_and_send_is_caught_at_send_time() -> None:
    answers = iter([[PUBLIC_V4], ["127.0.0.1"]])

    def rebinding(_host: str, _port: int) -> list[str]:
        return next(answers)

    with canary() as target:
        url = f"http://{HOOK_HOST}:{target.port}/"
        assert validate_url(url, allow_private=False, https_only=False, resolver=rebinding).addresses == (
            PUBLIC_V4,
        )
        with pytest.raises(BlockedDestinationError):
            Transport(resolver=rebinding).send(post(url))
    assert target.connections == 0


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_returned_not_followed(status: int) -> None:
    with canary() as target:
        location = f"http://127.0.0.1:{target.port}/latest/meta-data/"

        def reply(_request: Recorded) -> tuple[int, dict[str, str], bytes]:
            return status, {"Location": location}, b""

        with http_server(reply) as (port, state):
            response = Transport(allow_private=True).send(post(f"http://127.0.0.1:{port}/"))
    assert response.status == status
    assert response.headers["location"] == location
    assert len(state.requests) == 1
    assert target.connections == 0


def test_proxy_environment_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    with canary() as proxy, http_server() as (port, state):
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        response = Transport(allow_private=True).send(post(f"http://127.0.0.1:{port}/"))
    assert response.status == 200
    assert len(state.requests) == 1
    assert proxy.connections == 0


# --- deadline and size cap ---------------------------------------------------------------------


def _trickle(head: bytes, then: bytes, every: float) -> Callable[[socket.socket], None]:
    def serve(conn: socket.socket) -> None:
        read_request_head(conn)
        conn.sendall(head)
        for byte in then:
            time.sleep(every)
            conn.sendall(bytes([byte]))

    return serve


@pytest.mark.parametrize(
    "head, then",
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", b"x" * 1000),  # slow body
        (b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"y" * 1000),  # slow headers
    ],
    ids=["body", "headers"],
)
def test_trickling_receiver_hits_the_total_deadline(head: bytes, then: bytes) -> None:
    # GIVEN a receiver that sends one byte every 0.1 s (each read succeeds well within the deadline)
    deadline = 0.8
    with raw_server(_trickle(head, then, every=0.1)) as port:
        start = time.monotonic()
        # WHEN the total deadline is 0.8 s
        with pytest.raises(DeadlineExceededError) as caught:
            Transport(allow_private=True).send(post(f"http://127.0.0.1:{port}/", timeout=deadline))
        elapsed = time.monotonic() - start
    # THEN the request fails at the deadline, not after 1000 reads (100 s); the upper bound leaves a
    # loaded machine its scheduling delays
    assert caught.value.error_class == "timeout"
    assert deadline - 0.05 <= elapsed < deadline + 5


def test_trickling_tls_receiver_hits_the_total_deadline(ca: trustme.CA) -> None:
    # The TLS socket class must be deadline-aware too, not just the plain TCP socket.
    server_context = _server_context(ca, HOOK_HOST)
    slow = _trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", b"x" * 1000, every=0.1)

    def serve(conn: socket.socket) -> None:
        slow(server_context.wrap_socket(conn, server_side=True))

    with raw_server(serve) as port:
        transport = Transport(
            allow_private=True, resolver=stub({HOOK_HOST: ["127.0.0.1"]}), ssl_context=_trusting(ca)
        )
        start = time.monotonic()
        with pytest.raises(DeadlineExceededError):
            transport.send(post(f"https://{HOOK_HOST}:{port}/", timeout=0.8))
        assert time.monotonic() - start < 0.8 + 5  # without the deadline: 100 s of trickle


#: How long the silent receivers below stay silent at most: the client must give up long before.
SILENCE = 30.0


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_silent_receiver_times_out_at_the_deadline(scheme: str) -> None:
    # For https the receiver never answers the ClientHello: the handshake is bounded too.
    # GIVEN a receiver silent until the test ends (released by an event, not after a fixed sleep)
    done = threading.Event()

    def silent(conn: socket.socket) -> None:
        conn.recv(65536)
        done.wait(SILENCE)

    with raw_server(silent) as port:
        start = time.monotonic()
        try:
            # WHEN the deadline is 0.5 s THEN the send fails near it, not when the receiver gives up
            with pytest.raises(DeadlineExceededError):
                Transport(allow_private=True).send(post(f"{scheme}://127.0.0.1:{port}/", timeout=0.5))
            assert time.monotonic() - start < 0.5 + 5
        finally:
            done.set()


def test_receiver_that_never_reads_the_body_times_out_at_the_deadline() -> None:
    done = threading.Event()

    def deaf(_conn: socket.socket) -> None:
        done.wait(SILENCE)

    with raw_server(deaf) as port:
        start = time.monotonic()
        try:
            with pytest.raises(DeadlineExceededError):
                # Far more than loopback socket buffers hold, so sendall blocks.
                Transport(allow_private=True).send(
                    post(f"http://127.0.0.1:{port}/", body=b"b" * (64 * 1024 * 1024), timeout=0.5)
                )
            assert time.monotonic() - start < 0.5 + 5
        finally:
            done.set()


@pytest.mark.parametrize("size, truncated", [(DEFAULT_MAX_BODY, False), (200_000, True)])
def test_response_body_is_capped_at_64_kib(size: int, truncated: bool) -> None:
    def reply(_request: Recorded) -> tuple[int, dict[str, str], bytes]:
        return 500, {}, b"z" * size

    with http_server(reply) as (port, state), Transport(allow_private=True) as transport:
        response = transport.send(post(f"http://127.0.0.1:{port}/"))
        # AND the transport still works afterwards (a truncated connection is not reused)
        again = transport.send(post(f"http://127.0.0.1:{port}/"))
    assert response.status == 500
    assert response.body == b"z" * min(size, DEFAULT_MAX_BODY)
    assert response.body_truncated is truncated
    assert again.status == 500
    assert state.connections == (2 if truncated else 1)


@pytest.mark.parametrize(
    "answer",
    [b"NONSENSE\r\n\r\n", b"", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"],
    ids=["garbage", "closed", "short-body"],
)
def test_broken_http_is_protocol_error(answer: bytes) -> None:
    def serve(conn: socket.socket) -> None:
        read_request_head(conn)
        conn.sendall(answer)

    with raw_server(serve) as port, pytest.raises(ProtocolError) as caught:
        Transport(allow_private=True).send(post(f"http://127.0.0.1:{port}/", timeout=2))
    assert caught.value.error_class == "protocol_error"


# --- TLS -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


def _trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def test_tls_verifies_against_the_injected_ca_with_sni_set_to_the_hostname(
    ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    with canary() as proxy, http_server(ssl_context=_server_context(ca, HOOK_HOST)) as (port, state):
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        transport = Transport(
            allow_private=True, resolver=stub({HOOK_HOST: ["127.0.0.1"]}), ssl_context=_trusting(ca)
        )
        response = transport.send(post(f"https://{HOOK_HOST}:{port}/tls"))
    assert response.status == 200
    assert response.address == "127.0.0.1"
    assert state.sni == [HOOK_HOST]
    assert state.requests[0].headers["host"] == f"{HOOK_HOST}:{port}"
    assert proxy.connections == 0


def test_tls_with_an_untrusted_certificate_is_tls_error(ca: trustme.CA) -> None:
    with http_server(ssl_context=_server_context(ca, HOOK_HOST)) as (port, state):
        # The default context trusts only the system store, which does not know the test CA.
        transport = Transport(allow_private=True, resolver=stub({HOOK_HOST: ["127.0.0.1"]}))
        with pytest.raises(TLSError) as caught:
            transport.send(post(f"https://{HOOK_HOST}:{port}/"))
    assert caught.value.error_class == "tls_error"
    assert state.requests == []


def test_tls_certificate_for_another_name_is_tls_error(ca: trustme.CA) -> None:
    with http_server(ssl_context=_server_context(ca, "other.example.test")) as (port, state):
        transport = Transport(
            allow_private=True, resolver=stub({HOOK_HOST: ["127.0.0.1"]}), ssl_context=_trusting(ca)
        )
        with pytest.raises(TLSError):
            transport.send(post(f"https://{HOOK_HOST}:{port}/"))
    assert state.requests == []


def test_https_to_a_plain_http_server_is_tls_error() -> None:
    with http_server() as (port, _state), pytest.raises(TLSError):
        Transport(allow_private=True).send(post(f"https://127.0.0.1:{port}/", timeout=2))


def test_https_only_transport_refuses_http() -> None:
    with canary() as target, pytest.raises(InvalidURLError):
        Transport(allow_private=True, https_only=True).send(post(f"http://127.0.0.1:{target.port}/"))
    assert target.connections == 0


# --- registration-time validation: the reliability.md 2.6 corpus ------------------------------------

STUB_DNS = stub(
    {
        "localhost": ["127.0.0.1", "::1"],
        "localtest.me": ["127.0.0.1"],
        "169.254.169.254.nip.io": ["169.254.169.254"],
        "metadata.google.internal": ["169.254.169.254"],
        "metadata.amazonaws.com": ["169.254.169.254"],
        "evil.example": [PUBLIC_V4],
        "mixed.example.test": [PUBLIC_V4, "10.0.0.1"],
        "aaaa-only.example.test": ["fd00:ec2::254"],
        "cname-to-localhost.example.test": ["127.0.0.1"],
        "nat64.example.test": ["64:ff9b::a9fe:a9fe"],
    }
)

BAD_URLS = [
    # loopback / unspecified
    "http://127.0.0.1/",
    "http://localhost/",
    "http://localhost./",
    "http://LOCALHOST/",
    "http://127.1/",
    "http://0/",
    "http://0.0.0.0/",
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[0:0:0:0:0:ffff:7f00:1]/",
    # encoded loopback
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://017700000001/",
    "http://127.000.000.001/",
    "http://0x7f.1/",
    "http://127.0.0.1./",
    "http://0x7f000001./",
    # cloud metadata
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://2852039166/",
    "http://0xa9fea9fe/",
    "http://0251.0376.0251.0376/",
    "http://169.254.170.2/v2/credentials",
    "http://metadata.google.internal/",
    "http://metadata.amazonaws.com/",
    # Lambda runtime API
    "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",
    # private / special
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://198.18.0.1/",
    "http://192.0.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://224.0.0.1/",
    "http://[fc00::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[ff02::1]/",
    # IPv6 embeddings
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    # DNS tricks (stub resolver)
    "http://localtest.me/",
    "http://169.254.169.254.nip.io/",
    "http://mixed.example.test/",
    "http://aaaa-only.example.test/",
    "http://cname-to-localhost.example.test/",
    "http://nat64.example.test/",
    # parser differentials
    "http://127.0.0.1:80\\@evil.example/",
    "http://evil.example@127.0.0.1/",
    "http://evil.example#@127.0.0.1/",
    "http://127.0.0.1%2523@evil.example/",
    "http://[::ffff:127.0.0.1]:80/",
    # schemes
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
    "dict://127.0.0.1:6379/",
    "ftp://127.0.0.1/",
    "http+unix://%2Fvar%2Frun%2Fdocker.sock/",
    "data:text/plain,x",
    "javascript:alert(1)",
    # credentials and other junk
    "https://user:pass@evil.example/",
    "https://user@evil.example/",
    "http:///path",
    "http://evil.example:0/",
    "http://evil .example/",
    "http://evil.example/\x00",
    "http://ex..ample/",
    "http://évil.example/",
    "",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_url_corpus_is_refused_at_registration_and_send(url: str) -> None:
    with pytest.raises((InvalidURLError, BlockedDestinationError)) as caught:
        validate_url(url, allow_private=False, https_only=False, resolver=STUB_DNS)
    assert caught.value.error_class in {"invalid_url", "blocked_destination"}
    # The send-time guard agrees (and, refusing before any connect, never reaches port 80).
    with pytest.raises((InvalidURLError, BlockedDestinationError)):
        Transport(resolver=STUB_DNS).send(post(url or "http:"))


def test_http_is_refused_when_https_only() -> None:
    with pytest.raises(InvalidURLError):
        validate_url("http://evil.example/", allow_private=False, https_only=True, resolver=STUB_DNS)


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://Evil.Example/hook?x=1", "https://evil.example/hook?x=1"),
        ("https://evil.example:8443", "https://evil.example:8443/"),
        ("http://93.184.215.14:8080/a", "http://93.184.215.14:8080/a"),
        (f"https://[{PUBLIC_V6}]/", f"https://[{PUBLIC_V6}]/"),
        ("HTTPS://evil.example:443/p", "https://evil.example/p"),
    ],
)
def test_public_urls_pass_and_are_rebuilt_from_their_parts(url: str, expected: str) -> None:
    validated = validate_url(url, allow_private=False, https_only=False, resolver=STUB_DNS)
    assert validated.url == expected
    assert validated.addresses
    assert validated.target.startswith("/")


def test_allow_private_admits_loopback_for_local_development() -> None:
    validated = validate_url(
        "http://localhost:8080/hook", allow_private=True, https_only=False, resolver=STUB_DNS
    )
    assert validated.addresses == ("127.0.0.1", "::1")
    assert validated.port == 8080


# --- the function transport and the request type --------------------------------------------------


def test_function_transport_hands_the_request_to_the_handler() -> None:
    seen: list[OutboundRequest] = []

    def handler(request: OutboundRequest) -> OutboundResponse:
        seen.append(request)
        return OutboundResponse(status=204, headers={}, body=b"", duration=0.0, address="192.0.2.1")

    request = post("https://hooks.example.test/")
    assert FunctionTransport(handler).send(request).status == 204
    assert seen == [request]


def test_function_transport_can_raise_egress_errors() -> None:
    def handler(_request: OutboundRequest) -> OutboundResponse:
        raise DeadlineExceededError("simulated")

    with pytest.raises(EgressError) as caught:
        FunctionTransport(handler).send(post("https://hooks.example.test/"))
    assert caught.value.error_class == "timeout"


@pytest.mark.parametrize("method, timeout", [("post", 1.0), ("", 1.0), ("POST", 0.0), ("POST", float("inf"))])
def test_outbound_request_rejects_bad_method_or_timeout(method: str, timeout: float) -> None:
    with pytest.raises(ValueError):
        OutboundRequest(method, "https://hooks.example.test/", {}, b"", timeout)


def test_every_error_class_is_distinct() -> None:
    classes = [
        InvalidURLError,
        BlockedDestinationError,
        DNSError,
        ConnectError,
        DeadlineExceededError,
        TLSError,
        ProtocolError,
    ]
    codes = {cls.error_class for cls in classes}
    assert codes == {
        "invalid_url",
        "blocked_destination",
        "dns_error",
        "connect_error",
        "timeout",
        "tls_error",
        "protocol_error",
    }
    assert all(issubclass(cls, EgressError) for cls in classes)


def test_thread_local_deadline_does_not_leak_between_threads() -> None:
    # A slow send on one thread must not shorten or lengthen a concurrent send on another.
    # GIVEN a receiver that answers only once the short send has given up (a condition, not a sleep)
    short_done = threading.Event()

    def slow(conn: socket.socket) -> None:
        read_request_head(conn)
        short_done.wait(SILENCE)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    results: dict[str, object] = {}
    with raw_server(slow) as port, Transport(allow_private=True) as transport:

        def run(name: str, timeout: float) -> None:
            try:
                results[name] = transport.send(post(f"http://127.0.0.1:{port}/", timeout=timeout)).status
            except EgressError as exc:
                results[name] = exc.error_class
            finally:
                if name == "short":
                    short_done.set()

        threads = [
            threading.Thread(target=run, args=("short", 0.3)),
            threading.Thread(target=run, args=("long", SILENCE)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == {"short": "timeout", "long": 200}


# --- connect timeout (issue 17: a blackholed receiver costs seconds, not the whole deadline) -----------


@contextmanager
def blackholed_port() -> Iterator[int]:
    """A loopback port whose SYNs go unanswered: it listens with a full backlog that is never accepted, so
    a further connect hangs as on a firewall that drops packets."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = int(server.getsockname()[1])
        fillers = []
        try:
            for _ in range(3):  # fill the backlog (Linux admits backlog + 1)
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
                fillers.append(filler)
            time.sleep(0.05)
            yield port
        finally:
            for filler in fillers:
                filler.close()


def test_a_connect_that_hangs_gives_up_after_the_connect_limit_not_the_whole_deadline() -> None:
    # GIVEN a destination that never answers a SYN, and a request with a 20 s deadline
    transport = Transport(allow_private=True, connect_timeout=1.0)
    with blackholed_port() as port:
        started = time.monotonic()
        # WHEN it is sent THEN it fails as a connect error after about the connect limit
        with pytest.raises(ConnectError) as caught:
            transport.send(post(f"http://127.0.0.1:{port}/", timeout=20.0))
        took = time.monotonic() - started
    assert caught.value.error_class == "connect_error"
    assert 0.8 <= took < 5.0, took
    # AND it says it timed out (the sender marks the endpoint slow), apart from a refused connect
    assert isinstance(caught.value, ConnectTimedOutError) and caught.value.slow


def test_the_transports_connect_limit_is_a_few_seconds_by_default() -> None:
    # GIVEN the transport as the wiring builds it (no connect_timeout passed) THEN a connect waits 3 s
    from chalicelib.outbound.egress import CONNECT_SECONDS

    assert CONNECT_SECONDS == 3.0 and Transport().connect_timeout == CONNECT_SECONDS
    assert DeadlineExceededError("late").slow
