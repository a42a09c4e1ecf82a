"""Shared pieces of every verifier: the request view, the result, the error and strict decoders.

Everything an attacker controls (headers, body, URL) passes through these helpers, so each one turns bad
input into a ``VerificationError`` and nothing else: no ``TypeError`` from ``compare_digest`` on non-ASCII
text, no ``binascii.Error``, no ``ValueError`` from ``int()``, no ``RecursionError`` from deep JSON.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

#: A header value longer than this is refused before any parsing (API Gateway caps all headers at 10 KiB).
MAX_HEADER_LENGTH = 8192
#: Signature lists are capped so a crafted header cannot make us compute thousands of comparisons.
MAX_SIGNATURES = 32
#: Unix seconds with more digits than this are absurd (year 33658); refusing them early avoids huge ints.
MAX_TIMESTAMP_DIGITS = 12

# Built once: ``isinstance(x, list | tuple)`` would build the union on every call.
_VALUE_LISTS = (list, tuple)
NUMBER = (int, float)

DIGESTS: Mapping[str, Callable[..., Any]] = {
    "md5": hashlib.md5,
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}


class VerificationError(Exception):
    """A request failed verification; ``reason`` is a stable code, the message is safe to log."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or reason)
        self.reason = reason

    def __repr__(self) -> str:
        return f"VerificationError({self.reason!r}, {str(self)!r})"


#: A verifier's reader of body metadata: the parsed JSON body (None if it is not JSON) to
#: ``(delivery_id, event_type)``. It must not raise: it runs on attribute access, after verification.
BodyMetadata = Callable[[Any], tuple[str | None, str | None]]


#: The fields of a ``Verified`` that a verifier may have read from outside the signed content.
UNSIGNABLE = frozenset({"delivery_id", "timestamp", "event_type"})


class Verified:
    """What a successful verification learned: the provider's delivery id, signed timestamp and event type.

    An immutable value: read-only attributes, equality, hash and repr over the three fields. Metadata that
    lives in the body but is not needed to verify (Standard Webhooks' event type, Stripe's event id) is
    parsed on first access (``from_body``), so a caller that never reads it never parses the whole body. A
    body that is not JSON then gives None, never an error: the request is already verified.

    ``unsigned`` names the fields a verifier read from outside the signed content (GitHub's
    ``X-GitHub-Delivery`` and ``X-GitHub-Event`` headers): anyone replaying a captured request may change
    them, so a caller must not dedupe on such an id or trust such an event type (``*_signed``). It is
    provenance, not part of the value: equality, hash and repr ignore it.
    """

    __slots__ = ("_delivery_id", "_event_type", "_pending", "_timestamp", "_unsigned")
    __match_args__ = ("delivery_id", "timestamp", "event_type")

    def __init__(
        self,
        delivery_id: str | None = None,
        timestamp: int | None = None,
        event_type: str | None = None,
        *,
        unsigned: Iterable[str] = (),
    ) -> None:
        self._delivery_id = delivery_id
        self._timestamp = timestamp
        self._event_type = event_type
        self._pending: tuple[bytes, BodyMetadata] | None = None
        self._unsigned = frozenset(unsigned) & UNSIGNABLE

    @classmethod
    def from_body(
        cls,
        body: bytes,
        metadata: BodyMetadata,
        *,
        delivery_id: str | None = None,
        timestamp: int | None = None,
        unsigned: Iterable[str] = (),
    ) -> Verified:
        """A result whose event type (and delivery id, unless given) ``metadata`` reads from the body later."""
        result = cls(delivery_id, timestamp, unsigned=unsigned)
        result._pending = (body, metadata)
        return result

    def _resolve(self) -> None:
        pending = self._pending
        if pending is None:
            return
        body, metadata = pending
        delivery_id, event_type = metadata(load_json(body))
        if self._delivery_id is None:
            self._delivery_id = delivery_id
            # An id read from the (signed) body is signed, whatever the verifier said of a header id.
            self._unsigned = self._unsigned - {"delivery_id"}
        self._event_type = event_type
        # Drops the body; two threads resolving at once compute the same values, so no lock is needed.
        self._pending = None

    @property
    def delivery_id(self) -> str | None:
        """The provider's id of this delivery (to dedupe on), or None."""
        if self._pending is not None:
            self._resolve()
        return self._delivery_id

    @property
    def timestamp(self) -> int | None:
        """The request's timestamp in unix seconds, or None if the scheme reads none."""
        return self._timestamp

    @property
    def event_type(self) -> str | None:
        """The provider's event type, or None."""
        if self._pending is not None:
            self._resolve()
        return self._event_type

    @property
    def delivery_id_signed(self) -> bool:
        """True when the delivery id is covered by the signature (a replay cannot change it)."""
        if self._pending is not None:
            self._resolve()
        return "delivery_id" not in self._unsigned

    @property
    def timestamp_signed(self) -> bool:
        """True when the timestamp is covered by the signature."""
        return "timestamp" not in self._unsigned

    @property
    def event_type_signed(self) -> bool:
        """True when the event type is covered by the signature (read from the body or a signed header)."""
        return "event_type" not in self._unsigned

    def _fields(self) -> tuple[str | None, int | None, str | None]:
        return self.delivery_id, self._timestamp, self.event_type

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Verified):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        delivery_id, timestamp, event_type = self._fields()
        return f"Verified(delivery_id={delivery_id!r}, timestamp={timestamp!r}, event_type={event_type!r})"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Pickle and copy carry the resolved values and their provenance, never the body.
        return _rebuild, (*self._fields(), tuple(sorted(self._unsigned)))


def _rebuild(
    delivery_id: str | None, timestamp: int | None, event_type: str | None, unsigned: tuple[str, ...]
) -> Verified:
    return Verified(delivery_id, timestamp, event_type, unsigned=unsigned)


class Request:
    """The inputs of one verification: secrets as a tuple, headers indexed by lower-case name.

    Header values stay as the caller gave them (a string, a list of values, None) until a verifier reads
    one: a scheme reads two or three headers, so only those pay for the checks in ``header``.
    """

    __slots__ = ("body", "headers", "method", "now", "options", "scheme", "secrets", "tolerance", "url")

    def __init__(
        self,
        scheme: str,
        secrets: tuple[str, ...],
        method: str,
        url: str,
        headers: Mapping[str, object],
        body: bytes,
        now: float,
        tolerance: float | None,
        options: Mapping[str, Any] = MappingProxyType({}),
    ) -> None:
        self.scheme = scheme
        self.secrets = secrets
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.now = now
        self.tolerance = tolerance
        self.options = options

    def header(self, name: str) -> str | None:
        """The single value of header ``name`` (any case), stripped; None if absent or empty."""
        value = self.headers.get(name.lower())
        if isinstance(value, _VALUE_LISTS):
            value = value[0] if len(value) == 1 else _only_value(name, value)
        if value is None:
            # None is how some event shapes spell "absent".
            return None
        if not isinstance(value, str):
            raise VerificationError("malformed_header", f"header {name} is not text")
        if len(value) > MAX_HEADER_LENGTH:
            raise VerificationError("malformed_header", f"header {name} is too long")
        if not value.isascii():
            raise VerificationError("malformed_header", f"header {name} is not ASCII")
        return value.strip() or None

    def require_header(self, name: str) -> str:
        """Like ``header`` but a missing header is a ``missing_header`` error."""
        value = self.header(name)
        if value is None:
            raise VerificationError("missing_header", f"header {name} is missing")
        return value

    def label_header(self, *names: str) -> str | None:
        """An informational header (an event type) that never fails the request: the first of ``names``
        present, as text, repeated values joined with ", ". It is not checked (non-ASCII, CR/LF or very
        long text comes back as is): the caller decides what it keeps, the authentic request is not lost."""
        for name in names:
            value = self.headers.get(name.lower())
            if isinstance(value, _VALUE_LISTS):
                value = ", ".join(item for item in value if isinstance(item, str)) or None
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None

    def first_header(self, *names: str) -> str | None:
        """The value of the first of ``names`` that is present (alternative spellings of one header)."""
        for name in names:
            value = self.header(name)
            if value is not None:
                return value
        return None

    def option(self, name: str, default: Any = None) -> Any:
        """A scheme option, or ``default``."""
        return self.options.get(name, default)

    def flag(self, name: str) -> bool:
        """A boolean option; anything but ``True`` is false, so a typo never weakens verification."""
        return self.options.get(name) is True

    def secret_keys(self) -> list[bytes]:
        """The secrets as UTF-8 bytes, the key form of every scheme that uses its secret literally."""
        return [secret.encode("utf-8") for secret in self.secrets]


Verifier = Callable[[Request], Verified]


def _only_value(name: str, values: list[object] | tuple[object, ...]) -> object:
    """The one value of a header given as a list (API Gateway's multiValueHeaders), or None."""
    present = [value for value in values if value is not None]
    if len(present) > 1:
        # Choosing one of several values would let an attacker pick.
        raise VerificationError("malformed_header", f"header {name} appears more than once")
    return present[0] if present else None


def index_headers(headers: Mapping[Any, Any]) -> Mapping[str, object]:
    """Index headers by lower-case name, values untouched; names differing only in case are one header."""
    try:
        lowered: dict[Any, object] = {name.lower(): value for name, value in headers.items()}
    except (AttributeError, TypeError):  # a name that is not text: take the careful path
        lowered = {}
    if len(lowered) == len(headers):
        # No two names folded together. A bytes name is kept under its bytes key, where no lookup by
        # text finds it: ignored, as the careful path ignores it.
        return lowered
    merged: dict[str, list[object]] = {}
    for name, value in headers.items():
        if not isinstance(name, str):
            continue
        values = list(value) if isinstance(value, _VALUE_LISTS) else [value]
        merged.setdefault(name.lower(), []).extend(item for item in values if item is not None)
    return merged


def normalise_secrets(secrets: Sequence[str] | str) -> tuple[str, ...]:
    """The configured secrets; a bare string is one secret (iterating it would make each letter a key)."""
    if isinstance(secrets, str):
        secrets = [secrets]
    elif not isinstance(secrets, _VALUE_LISTS) and not isinstance(secrets, Sequence):
        raise VerificationError("invalid_secret", "secrets must be a sequence of strings")
    cleaned: list[str] = []
    for secret in secrets:
        if not isinstance(secret, str):
            raise VerificationError("invalid_secret", "every secret must be a string")
        if secret:
            cleaned.append(secret)
    if not cleaned:
        raise VerificationError("missing_secret", "no secret is configured")
    return tuple(cleaned)


def equal(a: bytes, b: bytes) -> bool:
    """Constant-time equality over bytes (``compare_digest`` on str raises on non-ASCII)."""
    return hmac.compare_digest(a, b)


def equal_secret(given: bytes, expected: bytes) -> bool:
    """Constant-time equality that also hides the expected length (tokens and passwords)."""
    return hmac.compare_digest(hashlib.sha256(given).digest(), hashlib.sha256(expected).digest())


_IPAD = bytes(byte ^ 0x36 for byte in range(256))
_OPAD = bytes(byte ^ 0x5C for byte in range(256))


@functools.lru_cache(maxsize=256)
def _keyed(key: bytes, algorithm: str) -> tuple[Any, Any]:
    """HMAC's inner and outer hash states with the padded key absorbed (RFC 2104), once per key.

    OpenSSL 3 spends about 1.4 µs setting up every ``hmac.new``, more than hashing 1 KB; copying these
    two states instead costs about 0.2 µs. They are as secret as the key and live as long as the process,
    like the configured secrets themselves.
    """
    new = DIGESTS[algorithm]
    block = new().block_size
    if len(key) > block:
        key = new(key).digest()
    key = key.ljust(block, b"\0")
    return new(key.translate(_IPAD)), new(key.translate(_OPAD))


#: Signed content, whole or in parts: ``(prefix, body)`` is hashed as their concatenation without
#: copying the body into a new ``prefix + body`` (a quarter of the floor's cost at 256 KB).
Message = bytes | tuple[bytes, ...]


def mac(key: bytes, message: Message, algorithm: str = "sha256") -> bytes:
    """HMAC of ``message`` under ``key`` with the named digest (equal to ``hmac.new(...).digest()``)."""
    inner_state, outer_state = _keyed(key, algorithm)
    inner = inner_state.copy()
    if isinstance(message, tuple):
        for part in message:
            inner.update(part)
    else:
        inner.update(message)
    outer = outer_state.copy()
    outer.update(inner.digest())
    digest: bytes = outer.digest()
    return digest


def decode_hex(text: str, *, what: str = "signature", reason: str = "malformed_header") -> bytes:
    """Strict hex decoding (an even number of hex digits, nothing else)."""
    try:
        decoded = bytes.fromhex(text)
    except (ValueError, TypeError):
        decoded = b""
    # fromhex skips whitespace between bytes; two digits per decoded byte proves there was none.
    if not decoded or 2 * len(decoded) != len(text):
        raise VerificationError(reason, f"{what} is not hex")
    return decoded


def decode_base64(
    text: str, *, what: str = "signature", reason: str = "malformed_header", pad: bool = False
) -> bytes:
    """Strict standard base64 (``validate=True``: non-alphabet characters are errors, not skipped)."""
    if pad:
        text = text.rstrip("=")
        text += "=" * (-len(text) % 4)
    try:
        # strict_mode accepts a subset of what validate=True accepts, with the same result, and is
        # about three times faster; anything it refuses gets the usual answer below.
        decoded = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        try:
            decoded = base64.b64decode(text.encode("ascii"), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise VerificationError(reason, f"{what} is not valid base64") from exc
    if not decoded:
        raise VerificationError(reason, f"{what} is empty")
    return decoded


def parse_timestamp(text: str, *, what: str = "timestamp", reason: str = "malformed_header") -> int:
    """Unix seconds as plain ASCII digits; anything else (signs, decimals, huge values) is malformed."""
    if not text or not text.isascii() or not text.isdigit() or len(text) > MAX_TIMESTAMP_DIGITS:
        raise VerificationError(reason, f"{what} is not a valid unix timestamp")
    return int(text)


def _check_seconds(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, NUMBER) or not math.isfinite(value) or value < 0:
        raise VerificationError("invalid_options", "tolerance must be a non-negative number of seconds")


def check_window(timestamp: float, req: Request, default: float | None) -> None:
    """Reject a timestamp outside the window; exactly ``tolerance`` seconds away on either side passes.

    Both sides are checked (reliability.md §3.6); ``options["future_tolerance"]`` narrows or widens the
    future side only. Callers check the signature first, so a timestamp error means an authentic request.
    """
    tolerance = req.tolerance if req.tolerance is not None else default
    if tolerance is None:
        return
    future = req.options.get("future_tolerance", tolerance) if req.options else tolerance
    _check_seconds(tolerance)
    if future is not tolerance:
        _check_seconds(future)
    if req.now - timestamp > tolerance:
        raise VerificationError("timestamp_too_old", "timestamp is outside the tolerance window")
    if timestamp - req.now > future:
        raise VerificationError("timestamp_too_new", "timestamp is in the future beyond the tolerance window")


def split_entries(text: str, separator: str, *, limit: int = MAX_SIGNATURES) -> list[str]:
    """Split a signature list, refusing more than ``limit`` entries; blank entries are dropped."""
    if separator not in text:  # the usual single signature
        entry = text.strip()
        return [entry] if entry else []
    parts = text.split(separator, limit)
    if len(parts) > limit:
        raise VerificationError("malformed_header", "too many signature entries")
    return [entry for part in parts if (entry := part.strip())]


def key_values(text: str, separator: str) -> tuple[list[tuple[str, str]], bool]:
    """Parse ``k=v<sep>k=v`` entries (Stripe, Paddle, PagerDuty) into pairs, and whether any entry was
    malformed (no ``=``): such an entry is skipped, as the providers' SDKs skip it, not fatal."""
    pairs: list[tuple[str, str]] = []
    malformed = False
    for entry in split_entries(text, separator):
        key, eq, value = entry.partition("=")
        if not eq:
            malformed = True
            continue
        pairs.append((key.strip(), value.strip()))
    return pairs, malformed


def well_formed(
    candidates: Iterable[str], decoder: Callable[[str], bytes], size: int, *, malformed: bool = False
) -> list[bytes]:
    """The decoded signatures among ``candidates`` (entries of one known version) that are well formed.

    The rule of every scheme that carries a list: try every entry of a known version, skip the malformed
    ones (not decodable, or not ``size`` bytes), and answer ``malformed_header`` only when no entry is well
    formed and some entry was malformed (``malformed`` says one was already skipped while parsing). Which
    entries are skipped depends only on the request, never on a secret, so the MACs stay constant-time.
    """
    signatures, skipped = decode_entries(candidates, decoder, size)
    if not signatures and (malformed or skipped):
        raise VerificationError("malformed_header", "no signature entry is well formed")
    return signatures


def decode_entries(
    candidates: Iterable[str], decoder: Callable[[str], bytes], size: int
) -> tuple[list[bytes], bool]:
    """The well-formed decoded ``candidates`` (``size`` bytes each), and whether any was skipped."""
    signatures: list[bytes] = []
    skipped = False
    for candidate in candidates:
        try:
            signature = decoder(candidate)
        except VerificationError:
            skipped = True
            continue
        if len(signature) != size:
            skipped = True
            continue
        signatures.append(signature)
    return signatures, skipped


def single(pairs: Sequence[tuple[str, str]], key: str) -> str:
    """The one value of ``key`` in parsed pairs; absent or repeated is malformed (never pick one)."""
    values = [value for name, value in pairs if name == key]
    if not values:
        raise VerificationError("malformed_header", f"signature header has no {key}")
    if len(values) > 1:
        raise VerificationError("malformed_header", f"signature header repeats {key}")
    return values[0]


def load_json(body: bytes) -> Any:
    """The body parsed as JSON, or None if it is not JSON (metadata is best effort)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def dig(document: Any, *path: str) -> str | None:
    """The string at ``path`` in a JSON document, or None (wrong types are simply absent)."""
    for key in path:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document if isinstance(document, str) and document else None


def prefixed(value: str, prefix: str, *, what: str = "signature") -> str:
    """``value`` without its required ``prefix``; a wrong prefix is malformed."""
    if not value.startswith(prefix):
        raise VerificationError("malformed_header", f"{what} does not start with {prefix!r}")
    return value[len(prefix) :]


def mismatch() -> VerificationError:
    """The one error for 'no signature matched any secret' (never says which part differed)."""
    return VerificationError("signature_mismatch", "no signature matched")


def decode(text: str, encoding: str) -> bytes:
    """Decode a signature written in ``hex`` or ``base64``."""
    return decode_hex(text) if encoding == "hex" else decode_base64(text)


def mac_matches(
    keys: Sequence[bytes], signatures: Sequence[bytes], message: Message, algorithm: str = "sha256"
) -> bool:
    """True if the MAC of ``message`` under any key equals any given signature (rotation both ways)."""
    found = False
    for key in keys:
        expected = mac(key, message, algorithm)
        for candidate in signatures:
            found |= hmac.compare_digest(expected, candidate)
    return found


def check_mac(req: Request, signatures: Sequence[bytes], message: Message, algorithm: str = "sha256") -> None:
    """Raise ``signature_mismatch`` unless some secret's MAC of ``message`` equals some signature."""
    if not mac_matches(req.secret_keys(), signatures, message, algorithm):
        raise mismatch()


def body_signature(
    req: Request,
    header: str,
    *,
    algorithm: str = "sha256",
    encoding: str = "hex",
    prefix: str = "",
    alternatives: Sequence[str] = (),
) -> None:
    """The common shape: one header holding ``prefix + encode(HMAC(secret, raw body))``."""
    value = req.first_header(header, *alternatives) if alternatives else req.header(header)
    if value is None:
        raise VerificationError("missing_header", f"header {header} is missing")
    check_mac(req, [decode(prefixed(value, prefix), encoding)], req.body, algorithm)
