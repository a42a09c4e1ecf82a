"""The SSRF-guarded HTTP transport: the sender's only way out.

One request goes: parse the URL with urllib3's own parser (the one the client uses, so no parser
differential), resolve the host ONCE, refuse if ANY address is not public, then connect to a
checked address itself (never to the name) with the ``Host`` header and TLS SNI / certificate
hostname kept as the original host. Redirects are never followed (a 3xx is handed back for the
caller to count as a failure), proxy environment variables are never read (urllib3 pools do not
look at them), TLS is verified against the system store, one deadline bounds the name lookup +
connect + TLS + send + every read, and at most ``max_body`` bytes of the answer are read.

Exceptions, each with a stable ``error_class`` that is recorded on the attempt::

    EgressError                       egress_error
    +-- InvalidURLError               invalid_url          scheme, userinfo, fragment, '\\', bad host
    +-- BlockedDestinationError       blocked_destination  a resolved address (or the name) is not public
    +-- DNSError                      dns_error            the name does not resolve
    +-- ConnectError                  connect_error        TCP connect refused / unreachable
    |   +-- ConnectTimedOutError      connect_error        no answer to the SYN within CONNECT_SECONDS
    +-- DeadlineExceededError         timeout              the total deadline passed (any phase)
    +-- TLSError                      tls_error            handshake or certificate verification failed
    +-- ProtocolError                 protocol_error       the peer broke HTTP (reset, garbage, short body)
    +-- ClientCertificateError        client_certificate_error  the endpoint's client certificate is unusable

``validate_url`` is the registration-time check; ``Transport.send`` repeats all of it at send
time, because DNS can change between the two. An error whose ``slow`` is true (a connect that timed
out, the deadline passed) took the sender seconds: it marks the endpoint slow (``outbound.lanes``). ``FunctionTransport`` wraps a plain function
``handler(request) -> response`` for unit tests of the code that sends.

Rebinding: the addresses are checked and connected to from the same resolution, so a name that
answers public first and private second cannot slip through. Pooled connections are keyed by
(scheme, address, port, host), so a reused connection always goes to an address that was
checked for this very request.

Outbound mutual TLS: a request may name a client certificate (``client_certificate``, a reference the
transport's ``certificates`` function resolves, with its own cache). Its TLS context is built once per
certificate and pooled connections are keyed by it too, so a connection made with one certificate (or
none) is never reused for a request that asked for another.
"""

from __future__ import annotations

import contextvars
import hashlib
import math
import os
import re
import socket
import ssl
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass, field
from typing import Any, Protocol

from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3 import exceptions as u3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.response import BaseHTTPResponse
from urllib3.util import Timeout, parse_url

from chalicelib.addresses import AddressError, canonical_ip, is_public

__all__ = [
    "DEFAULT_MAX_BODY",
    "BlockedDestinationError",
    "ClientCertificate",
    "ClientCertificateError",
    "ConnectError",
    "ConnectTimedOutError",
    "DNSError",
    "DeadlineExceededError",
    "EgressError",
    "FunctionTransport",
    "InvalidURLError",
    "OutboundRequest",
    "OutboundResponse",
    "OutboundTransport",
    "ProtocolError",
    "Resolver",
    "TLSError",
    "Transport",
    "ValidatedURL",
    "default_resolver",
    "validate_url",
]

DEFAULT_MAX_BODY = 64 * 1024
MAX_URL_LENGTH = 2048
_READ_CHUNK = 16 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}
_USER_AGENT = "Hookway-Webhooks/1"
_METHOD = re.compile(r"[A-Z]{1,16}")
# LDH labels plus '_' (seen in real service names); urllib3 lets "ex..com" and "-x" through.
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")

# Names that reach the instance itself or cloud metadata whatever DNS says; refused unless
# allow_private. Suffixes are special-use or private-use domains (RFC 6761, RFC 6762, ICANN .internal).
_BLOCKED_HOSTNAMES = frozenset(
    {
        "localhost",
        "metadata",
        "metadata.google.internal",
        "metadata.amazonaws.com",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
_BLOCKED_SUFFIXES = (".localhost", ".internal", ".local", ".localdomain", ".home.arpa")

Resolver = Callable[[str, int], Sequence[str]]
DNS_THREADS = 8  # lookups at once per transport (the sender sends ten tasks at a time)


# --- errors ------------------------------------------------------------------------------------


class EgressError(Exception):
    """Base of every egress failure; ``error_class`` is the stable code stored on the attempt."""

    error_class = "egress_error"
    slow = False  # whether this failure took the sender seconds (it marks the endpoint slow)


class InvalidURLError(EgressError):
    """The URL is malformed or uses something we refuse (scheme, userinfo, fragment, ...)."""

    error_class = "invalid_url"


class BlockedDestinationError(EgressError):
    """The host name, or one of the addresses it resolves to, is not a public destination."""

    error_class = "blocked_destination"


class DNSError(EgressError):
    """The host name did not resolve to any address."""

    error_class = "dns_error"


class ConnectError(EgressError):
    """The TCP connection to every checked address failed (refused, unreachable)."""

    error_class = "connect_error"


class ConnectTimedOutError(ConnectError):
    """The last address tried did not answer the TCP connect within the connect limit (blackholed)."""

    slow = True


class DeadlineExceededError(EgressError):
    """The request's total deadline passed during connect, TLS, sending or reading."""

    error_class = "timeout"
    slow = True


class TLSError(EgressError):
    """The TLS handshake or certificate verification (chain, hostname) failed."""

    error_class = "tls_error"


class ClientCertificateError(EgressError):
    """The endpoint's client certificate could not be read or used (missing, malformed, needs https)."""

    error_class = "client_certificate_error"


class ProtocolError(EgressError):
    """The peer spoke broken HTTP, reset the connection, or sent a short body."""

    error_class = "protocol_error"


# --- request / response ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """One HTTP request to send; ``timeout`` is the total deadline in seconds."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    timeout: float
    client_certificate: str | None = None  # a reference the transport's certificates function resolves

    def __post_init__(self) -> None:
        if not _METHOD.fullmatch(self.method):
            raise ValueError("method must be an upper-case HTTP token such as POST")
        if not (isinstance(self.timeout, int | float) and math.isfinite(self.timeout) and self.timeout > 0):
            raise ValueError("timeout must be a positive number of seconds")


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """A client certificate chain and its private key, PEM-encoded (never logged, never in a repr)."""

    chain_pem: str = field(repr=False)
    key_pem: str = field(repr=False)

    @property
    def fingerprint(self) -> str:
        """Names this certificate and key in caches and pool keys."""
        return hashlib.sha256(f"{self.chain_pem}\0{self.key_pem}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class OutboundResponse:
    """What came back: status, headers (lower-case names), at most ``max_body`` bytes of body."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    duration: float
    address: str
    body_truncated: bool = False


class OutboundTransport(Protocol):
    """Anything that can send an ``OutboundRequest``: the real ``Transport`` or a test double."""

    def send(self, request: OutboundRequest) -> OutboundResponse:
        """Send the request and return the response, or raise an ``EgressError``."""
        ...


class FunctionTransport:
    """A transport that is just a function ``handler(request) -> response``, for unit tests."""

    def __init__(self, handler: Callable[[OutboundRequest], OutboundResponse]) -> None:
        self.handler = handler

    def send(self, request: OutboundRequest) -> OutboundResponse:
        """Hand the request to the handler; it may return a response or raise an EgressError."""
        return self.handler(request)


# --- URL validation ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ValidatedURL:
    """A URL that passed every check, rebuilt from its parts, with the addresses it resolved to."""

    url: str
    scheme: str
    host: str
    port: int
    target: str
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Target:
    scheme: str
    host: str  # as parsed: lower-case, IPv6 in brackets
    port: int
    target: str  # path + query, what goes on the request line
    literal: str | None  # the canonical address when the host is an IP literal in any encoding
    host_header: str
    server_hostname: str

    @property
    def url(self) -> str:
        default = _DEFAULT_PORTS[self.scheme]
        port = "" if self.port == default else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}{self.target}"


def default_resolver(host: str, port: int) -> list[str]:
    """Every A and AAAA address of ``host`` via the system resolver, in its preference order."""
    infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def validate_url(
    url: str,
    *,
    allow_private: bool,
    https_only: bool,
    resolver: Resolver | None = None,
    refused: Sequence[tuple[str, int]] = (),
) -> ValidatedURL:
    """Registration-time check: parse, refuse tricks, resolve every A/AAAA and require all public
    (and none of them ``refused``, whatever ``allow_private`` says)."""
    target = _parse(url, https_only=https_only, allow_private=allow_private)
    addresses = _resolve(target, allow_private=allow_private, resolver=resolver or default_resolver)
    for address in addresses:
        _refuse(address, target.port, refused)
    return ValidatedURL(
        url=target.url,
        scheme=target.scheme,
        host=target.host,
        port=target.port,
        target=target.target,
        addresses=addresses,
    )


def _parse(url: str, *, https_only: bool, allow_private: bool) -> _Target:
    if not isinstance(url, str) or not url:
        raise InvalidURLError("URL must be a non-empty string")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidURLError(f"URL is longer than {MAX_URL_LENGTH} characters")
    # ASCII only: IDNA conversions differ between libraries (another parser differential), so the
    # host must come punycoded and the path percent-encoded. No whitespace or control characters.
    if any(not "\x21" <= ch <= "\x7e" for ch in url):
        raise InvalidURLError("URL must be printable ASCII without spaces (percent-encode, use punycode)")
    if "\\" in url:
        raise InvalidURLError("URL must not contain '\\'")
    if "#" in url:
        raise InvalidURLError("URL must not contain a fragment")
    raw_scheme, sep, rest = url.partition("://")
    scheme = raw_scheme.lower()
    if not sep or scheme not in _DEFAULT_PORTS:
        raise InvalidURLError("URL scheme must be http or https")
    if https_only and scheme != "https":
        raise InvalidURLError("URL scheme must be https")
    authority = re.split(r"[/?]", rest, maxsplit=1)[0]
    if "@" in authority:
        raise InvalidURLError("URL must not contain credentials (user:password@)")
    if "%" in authority:
        raise InvalidURLError("URL host must not contain '%' (zone ids or encoded characters)")
    try:
        parsed = parse_url(url)
    except u3.LocationParseError as exc:
        raise InvalidURLError("URL cannot be parsed") from exc
    host = parsed.host or ""
    if parsed.auth is not None or parsed.fragment is not None or not host:
        raise InvalidURLError("URL must have a host and no credentials or fragment")
    # Cross-check urllib3's reading of the authority against the raw text: they must agree.
    raw_host = authority[: authority.index("]") + 1] if authority.startswith("[") else authority.split(":")[0]
    if raw_host.lower() != host:
        raise InvalidURLError("URL host is ambiguous")
    port = parsed.port if parsed.port is not None else _DEFAULT_PORTS[scheme]
    if not 1 <= port <= 65535:
        raise InvalidURLError("URL port must be between 1 and 65535")

    literal = _literal_address(host)
    if literal is None:
        name = host.removesuffix(".")
        labels = name.split(".")
        if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
            raise InvalidURLError("URL host is not a valid host name")
        if not allow_private and (name in _BLOCKED_HOSTNAMES or name.endswith(_BLOCKED_SUFFIXES)):
            raise BlockedDestinationError("destination host name is not allowed")
        server_hostname = name
        host_header = host
    else:
        server_hostname = literal
        host_header = f"[{literal}]" if ":" in literal else literal
    if port != _DEFAULT_PORTS[scheme]:
        host_header = f"{host_header}:{port}"
    return _Target(
        scheme=scheme,
        host=host,
        port=port,
        target=parsed.request_uri,
        literal=literal,
        host_header=host_header,
        server_hostname=server_hostname,
    )


def _literal_address(host: str) -> str | None:
    """The canonical address if ``host`` is an IP literal in any encoding, else None (a name)."""
    if host.startswith("["):
        try:
            return str(canonical_ip(host))
        except AddressError as exc:
            raise InvalidURLError("URL host is not a valid IPv6 literal") from exc
    # AI_NUMERICHOST never touches the network; it reads the host exactly as a connect would,
    # so "0x7f000001", "127.1", "2130706433" and "0177.0.0.1" all come back as 127.0.0.1. A
    # trailing dot ("127.0.0.1.") must not turn a literal into a name handed to DNS.
    try:
        infos = socket.getaddrinfo(
            host.removesuffix("."), None, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST
        )
    except (OSError, UnicodeError):
        return None
    try:
        return str(canonical_ip(str(infos[0][4][0])))
    except (AddressError, IndexError) as exc:
        raise InvalidURLError("URL host is not a valid address") from exc


def _resolve(target: _Target, *, allow_private: bool, resolver: Resolver) -> tuple[str, ...]:
    if target.literal is not None:
        raw: Sequence[str] = [target.literal]
    else:
        try:
            # The name goes as written: dropping a trailing dot would let resolv.conf search
            # domains expand it (the answers are checked either way).
            raw = resolver(target.host, target.port)
        except (OSError, UnicodeError) as exc:
            raise DNSError("destination host name did not resolve") from exc
    addresses: list[str] = []
    for item in raw:
        try:
            address = canonical_ip(item)
        except AddressError as exc:
            # A scoped (zone id) or garbled answer cannot be checked, so it cannot be used.
            raise BlockedDestinationError("destination resolved to an unusable address") from exc
        if not allow_private and not is_public(address):
            raise BlockedDestinationError("destination resolves to an address that is not public")
        if str(address) not in addresses:
            addresses.append(str(address))
    if not addresses:
        raise DNSError("destination host name resolved to no address")
    return tuple(addresses)


def _refuse(address: str, port: int, refused: Sequence[tuple[str, int]]) -> None:
    """Raise if ``address:port`` is one of ``refused`` (the AWS emulator of the local stack), even where
    private destinations are allowed. A refused loopback host:port stands for every address that reaches
    this machine on that port (127.0.0.0/8, ::1, 0.0.0.0, ::), so no spelling of it gets through."""
    ip = canonical_ip(address)
    for host, refused_port in refused:
        if port != refused_port:
            continue
        other = canonical_ip(host)
        if ip == other or (
            (ip.is_loopback or ip.is_unspecified) and (other.is_loopback or other.is_unspecified)
        ):
            raise BlockedDestinationError("destination is this deployment's own AWS endpoint")


# --- deadline-aware sockets --------------------------------------------------------------------

# The deadline of the request this thread is sending. Sockets consult it before every blocking
# call, so a peer that trickles one byte at a time still hits the total deadline; a plain socket
# timeout would restart on every byte.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("egress_deadline", default=None)
# How long one TCP connect may take, apart from the total deadline: a blackholed address (a firewall that
# drops the SYN) fails in seconds and the next address, or the next attempt, gets the time; a slow
# receiver still has the whole deadline to answer once connected.
CONNECT_SECONDS = 3.0
_CONNECT_LIMIT: contextvars.ContextVar[float | None] = contextvars.ContextVar("egress_connect", default=None)


def _arm(sock: socket.socket) -> None:
    deadline = _DEADLINE.get()
    if deadline is None:
        return
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("egress deadline exceeded")
    sock.settimeout(remaining)


class _DeadlineSocket(socket.socket):
    """A TCP socket whose every send and receive is bounded by the request's remaining time."""

    __slots__ = ()

    def recv(self, *args: Any, **kwargs: Any) -> bytes:
        _arm(self)
        return super().recv(*args, **kwargs)

    def recv_into(self, *args: Any, **kwargs: Any) -> int:
        _arm(self)
        return super().recv_into(*args, **kwargs)

    def send(self, *args: Any, **kwargs: Any) -> int:
        _arm(self)
        return super().send(*args, **kwargs)

    def sendall(self, *args: Any, **kwargs: Any) -> None:
        _arm(self)
        super().sendall(*args, **kwargs)


class _DeadlineSSLSocket(ssl.SSLSocket):
    """The TLS counterpart of ``_DeadlineSocket``, installed as the context's ``sslsocket_class``."""

    def recv(self, *args: Any, **kwargs: Any) -> bytes:
        _arm(self)
        return super().recv(*args, **kwargs)

    def recv_into(self, *args: Any, **kwargs: Any) -> int:
        _arm(self)
        return super().recv_into(*args, **kwargs)

    def send(self, *args: Any, **kwargs: Any) -> int:
        _arm(self)
        return super().send(*args, **kwargs)

    def sendall(self, *args: Any, **kwargs: Any) -> None:
        _arm(self)
        super().sendall(*args, **kwargs)


class _ConnectTimedOut(u3.NewConnectionError):
    """The connect limit passed (not the deadline): the next address is tried, as after a refusal."""


def _open_pinned(conn: HTTPConnection, address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = _DeadlineSocket(family, socket.SOCK_STREAM)
    limit: float | None = None
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _arm(sock)
        limit = _CONNECT_LIMIT.get()
        left = sock.gettimeout()  # what the deadline leaves
        if limit is not None and (left is None or limit < left):
            sock.settimeout(limit)
        else:
            limit = None  # the deadline comes first: a timeout here is the deadline's
        sock.connect((address, port))
        # Re-arm so the TLS handshake that follows gets what is left, not the connect budget.
        _arm(sock)
    except TimeoutError as exc:
        sock.close()
        if limit is not None:
            # The connect limit, not the deadline: a failed connect, so the next address is tried.
            raise _ConnectTimedOut(conn, f"connect timed out after {limit:g} s") from exc
        raise u3.ConnectTimeoutError(conn, "connect timed out") from exc
    except OSError as exc:
        sock.close()
        raise u3.NewConnectionError(conn, f"connect failed: {exc.strerror or exc}") from exc
    return sock


class _PinnedHTTPConnection(HTTPConnection):
    """An urllib3 connection that connects to one checked address, whatever its host says."""

    def __init__(self, *args: Any, pinned_address: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pinned_address = pinned_address

    def _new_conn(self) -> socket.socket:
        return _open_pinned(self, self.pinned_address, self.port)


class _PinnedHTTPSConnection(HTTPSConnection):
    """The TLS twin of ``_PinnedHTTPConnection``; SNI and hostname checks use ``server_hostname``."""

    def __init__(self, *args: Any, pinned_address: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pinned_address = pinned_address

    def _new_conn(self) -> socket.socket:
        return _open_pinned(self, self.pinned_address, self.port)


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


# --- the transport -----------------------------------------------------------------------------

_PoolKey = tuple[str, str, int, str, str]


@dataclass
class _Pools:
    """A small LRU of urllib3 pools, one per (scheme, address, port, host); thread-safe."""

    max_pools: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    pools: OrderedDict[_PoolKey, HTTPConnectionPool] = field(default_factory=OrderedDict)

    def get(self, key: _PoolKey, make: Callable[[], HTTPConnectionPool]) -> HTTPConnectionPool:
        with self.lock:
            pool = self.pools.get(key)
            if pool is not None:
                self.pools.move_to_end(key)
                return pool
            pool = make()
            self.pools[key] = pool
            if len(self.pools) > self.max_pools:
                # A connection still in use from the evicted pool is closed when it is returned.
                _, oldest = self.pools.popitem(last=False)
                oldest.close()
            return pool

    def close(self) -> None:
        with self.lock:
            for pool in self.pools.values():
                pool.close()
            self.pools.clear()


class Transport:
    """The real transport: SSRF-checked, pinned, no redirects, no proxies, one total deadline."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        https_only: bool = False,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
        ca_file: str | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        pool_maxsize: int = 10,
        max_pools: int = 64,
        certificates: Callable[[str], ClientCertificate] | None = None,
        refused: Sequence[tuple[str, int]] = (),
        connect_timeout: float = CONNECT_SECONDS,
    ) -> None:
        self.connect_timeout = connect_timeout
        if ssl_context is not None and ca_file is not None:
            raise ValueError("pass either ssl_context or ca_file, not both")
        self.allow_private = allow_private
        self.https_only = https_only
        self.resolver: Resolver = resolver or default_resolver
        self.max_body = max_body
        self.pool_maxsize = pool_maxsize
        # create_default_context: system CAs (certifi is not guaranteed in Lambda), TLS >= 1.2,
        # hostname checking on. The socket class makes the handshake and reads deadline-aware; it
        # only acts while a send() is in progress, so a shared context is not otherwise affected.
        context = ssl_context or ssl.create_default_context(cafile=ca_file)
        context.sslsocket_class = _DeadlineSSLSocket
        self._ssl_context = context
        self._ca_file = ca_file
        self._pools = _Pools(max_pools=max_pools)
        self._certificates = certificates
        self.refused = tuple(refused)
        self._cert_contexts: dict[str, ssl.SSLContext] = {}
        self._cert_lock = threading.Lock()
        self._dns_pool: ThreadPoolExecutor | None = None
        self._dns_lock = threading.Lock()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every pooled connection (and let go of the resolver threads)."""
        self._pools.close()
        with self._dns_lock:
            if self._dns_pool is not None:
                self._dns_pool.shutdown(wait=False, cancel_futures=True)
                self._dns_pool = None

    def send(self, request: OutboundRequest) -> OutboundResponse:
        """Send one request through the guard; raise an ``EgressError`` subclass on any failure."""
        start = time.monotonic()
        deadline = start + request.timeout
        target = _parse(request.url, https_only=self.https_only, allow_private=self.allow_private)
        tls = self._tls_for(request, target)
        addresses = self._resolve_by(target, deadline)
        token = _DEADLINE.set(deadline)
        connect_token = _CONNECT_LIMIT.set(self.connect_timeout)
        try:
            last_error: ConnectError | None = None
            # Every address was checked above; fall through them only while connects are refused.
            for address in addresses:
                try:
                    return self._send_to(address, target, request, start, tls)
                except ConnectError as exc:
                    last_error = exc
            raise last_error or ConnectError("no address to connect to")
        finally:
            _CONNECT_LIMIT.reset(connect_token)
            _DEADLINE.reset(token)

    def _resolve_by(self, target: _Target, deadline: float) -> tuple[str, ...]:
        """Resolve and check the destination within the request's deadline.

        The system resolver cannot be given a timeout (``getaddrinfo`` blocks as long as resolv.conf
        says, retries included), so it runs on a small pool of its own and the attempt stops waiting at
        the deadline: a name server that never answers costs the attempt its timeout, not more. A lookup
        left behind finishes (or not) on its own thread; with every thread of the pool stuck, further
        lookups wait in the pool's queue and time out the same way.
        """
        if target.literal is not None:
            return _resolve(target, allow_private=self.allow_private, resolver=self.resolver)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceededError("deadline passed before resolving the destination")
        with self._dns_lock:
            if self._dns_pool is None:
                self._dns_pool = ThreadPoolExecutor(max_workers=DNS_THREADS, thread_name_prefix="egress-dns")
            future = self._dns_pool.submit(
                _resolve, target, allow_private=self.allow_private, resolver=self.resolver
            )
        try:
            return future.result(timeout=remaining)
        except FutureTimeoutError:
            future.cancel()
            raise DeadlineExceededError("deadline passed while resolving the destination") from None

    def _tls_for(self, request: OutboundRequest, target: _Target) -> tuple[ssl.SSLContext, str]:
        """The TLS context for a request and its pool-key part: the shared one, or its certificate's."""
        if request.client_certificate is None:
            return self._ssl_context, ""
        if target.scheme != "https":
            raise ClientCertificateError("a client certificate needs an https URL")
        if self._certificates is None:
            raise ClientCertificateError("this deployment has no client certificate source")
        try:
            cert = self._certificates(request.client_certificate)
        except ClientCertificateError:
            raise
        except Exception as exc:
            raise ClientCertificateError(
                f"the client certificate cannot be read ({type(exc).__name__})"
            ) from exc
        with self._cert_lock:
            context = self._cert_contexts.get(cert.fingerprint)
            if context is None:
                context = self._context_with(cert)
                self._cert_contexts[cert.fingerprint] = context
        return context, cert.fingerprint

    def _context_with(self, cert: ClientCertificate) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self._ca_file)
        context.sslsocket_class = _DeadlineSSLSocket
        # ssl loads a chain and key only from files: a private temporary directory, removed at once.
        with tempfile.TemporaryDirectory(prefix="hookway-cert-") as folder:
            chain, key = os.path.join(folder, "chain.pem"), os.path.join(folder, "key.pem")
            for path, text in ((chain, cert.chain_pem), (key, cert.key_pem)):
                with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
                    handle.write(text)
            try:
                context.load_cert_chain(chain, key)
            except (ssl.SSLError, ValueError, OSError) as exc:
                raise ClientCertificateError("the client certificate or its key is not usable") from exc
        return context

    def _pool(self, target: _Target, address: str, tls: tuple[ssl.SSLContext, str]) -> HTTPConnectionPool:
        context, cert_key = tls
        key = (target.scheme, address, target.port, target.server_hostname, cert_key)

        def make() -> HTTPConnectionPool:
            common: dict[str, Any] = {
                "host": address,
                "port": target.port,
                "maxsize": self.pool_maxsize,
                "block": False,
                "retries": False,
                "pinned_address": address,
            }
            if target.scheme == "https":
                return _PinnedHTTPSPool(server_hostname=target.server_hostname, ssl_context=context, **common)
            return _PinnedHTTPPool(**common)

        return self._pools.get(key, make)

    def _send_to(
        self,
        address: str,
        target: _Target,
        request: OutboundRequest,
        start: float,
        tls: tuple[ssl.SSLContext, str],
    ) -> OutboundResponse:
        _refuse(address, target.port, self.refused)
        headers = {name: value for name, value in request.headers.items() if name.lower() != "host"}
        headers["Host"] = target.host_header
        if not any(name.lower() == "user-agent" for name in headers):
            headers["User-Agent"] = _USER_AGENT
        deadline = _DEADLINE.get()
        remaining = (deadline or 0.0) - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceededError("deadline passed before connecting")
        pool = self._pool(target, address, tls)
        try:
            response = pool.urlopen(
                request.method,
                target.target,
                body=request.body,
                headers=headers,
                retries=False,
                redirect=False,
                assert_same_host=False,
                timeout=Timeout(connect=remaining, read=remaining),
                preload_content=False,
                release_conn=False,
                decode_content=False,
            )
        except (u3.HTTPError, OSError, ValueError) as exc:
            raise _translate(exc) from exc
        truncated = True
        try:
            body, truncated = self._read_capped(response)
        except (u3.HTTPError, OSError, ValueError) as exc:
            raise _translate(exc) from exc
        finally:
            if truncated:
                # Unread bytes remain on the wire: the connection cannot carry another request.
                response.close()
            response.release_conn()
        return OutboundResponse(
            status=response.status,
            headers={name.lower(): response.headers[name] for name in response.headers},
            body=body,
            duration=time.monotonic() - start,
            address=address,
            body_truncated=truncated,
        )

    def _read_capped(self, response: BaseHTTPResponse) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        # One byte past the cap tells "exactly max_body" from "more than max_body".
        while size <= self.max_body:
            chunk = response.read(min(_READ_CHUNK, self.max_body + 1 - size), decode_content=False)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
        return data[: self.max_body], size > self.max_body


def _translate(exc: BaseException) -> EgressError:
    """Map urllib3 / socket / ssl failures onto the egress tree (order matters: subclasses first)."""
    if isinstance(exc, u3.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, _ConnectTimedOut):
        return ConnectTimedOutError("the TCP connect timed out (the transport's connect limit)")
    if isinstance(exc, u3.NewConnectionError):
        return ConnectError("could not connect to the destination")
    if isinstance(exc, u3.TimeoutError | TimeoutError):
        return DeadlineExceededError("the request deadline passed")
    if isinstance(exc, u3.SSLError | ssl.SSLError | ssl.CertificateError):
        return TLSError("TLS handshake or certificate verification failed")
    if isinstance(exc, u3.ProtocolError) and any(isinstance(arg, TimeoutError) for arg in exc.args):
        return DeadlineExceededError("the request deadline passed")
    return ProtocolError(f"the destination broke the HTTP exchange ({type(exc).__name__})")
