"""Shared pieces of every verifier: the request view, the result, the error and strict decoders.

Everything an attacker controls (headers, body, URL) passes through these helpers, so each one turns bad
input into a ``VerificationError`` and nothing else: no ``TypeError`` from ``compare_digest`` on non-ASCII
text, no ``binascii.Error``, no ``ValueError`` from ``int()``, no ``RecursionError`` from deep JSON.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: A header value longer than this is refused before any parsing (API Gateway caps all headers at 10 KiB).
MAX_HEADER_LENGTH = 8192
#: Signature lists are capped so a crafted header cannot make us compute thousands of comparisons.
MAX_SIGNATURES = 32
#: Unix seconds with more digits than this are absurd (year 33658); refusing them early avoids huge ints.
MAX_TIMESTAMP_DIGITS = 12

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


@dataclass(frozen=True)
class Verified:
    """What a successful verification learned: the provider's delivery id, signed timestamp and event type."""

    delivery_id: str | None = None
    timestamp: int | None = None
    event_type: str | None = None


@dataclass(frozen=True)
class Request:
    """The inputs of one verification, normalised once: secrets as a tuple, headers keyed in lower case."""

    scheme: str
    secrets: tuple[str, ...]
    method: str
    url: str
    headers: Mapping[str, tuple[object, ...]]
    body: bytes
    now: float
    tolerance: float | None
    options: Mapping[str, Any] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """The single value of header ``name`` (any case), stripped; None if absent or empty."""
        values = self.headers.get(name.lower(), ())
        if not values:
            return None
        if len(values) > 1:
            # API Gateway's multiValueHeaders: choosing one of several values would let an attacker pick.
            raise VerificationError("malformed_header", f"header {name} appears more than once")
        value = values[0]
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

    def window(self, default: float | None) -> float | None:
        """The tolerance in seconds: the caller's override, else the scheme default (None: no window)."""
        return self.tolerance if self.tolerance is not None else default

    def secret_keys(self) -> list[bytes]:
        """The secrets as UTF-8 bytes, the key form of every scheme that uses its secret literally."""
        return [secret.encode("utf-8") for secret in self.secrets]


Verifier = Callable[[Request], Verified]


def normalise_headers(headers: Mapping[str, Any]) -> dict[str, tuple[object, ...]]:
    """Key headers by lower-case name; names differing only in case are values of one header."""
    merged: dict[str, list[object]] = {}
    for name, value in headers.items():
        if not isinstance(name, str):
            continue
        values = list(value) if isinstance(value, list | tuple) else [value]
        # None is how some event shapes spell "absent"; anything else that is not text is malformed later.
        merged.setdefault(name.lower(), []).extend(item for item in values if item is not None)
    return {name: tuple(values) for name, values in merged.items()}


def normalise_secrets(secrets: Sequence[str] | str) -> tuple[str, ...]:
    """The configured secrets; a bare string is one secret (iterating it would make each letter a key)."""
    if isinstance(secrets, str):
        secrets = [secrets]
    if not isinstance(secrets, Sequence):
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


def mac(key: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    """HMAC of ``message`` under ``key`` with the named digest."""
    return hmac.new(key, message, DIGESTS[algorithm]).digest()


def matches_any(expected: bytes, candidates: Sequence[bytes]) -> bool:
    """True if any candidate equals ``expected``; every candidate is compared (no early exit leak)."""
    found = False
    for candidate in candidates:
        found |= equal(expected, candidate)
    return found


def decode_hex(text: str, *, what: str = "signature", reason: str = "malformed_header") -> bytes:
    """Strict hex decoding (an even number of hex digits, nothing else)."""
    if not text or len(text) % 2 or not all(c in "0123456789abcdefABCDEF" for c in text):
        raise VerificationError(reason, f"{what} is not hex")
    return bytes.fromhex(text)


def decode_base64(
    text: str, *, what: str = "signature", reason: str = "malformed_header", pad: bool = False
) -> bytes:
    """Strict standard base64 (``validate=True``: non-alphabet characters are errors, not skipped)."""
    if pad:
        text = text.rstrip("=")
        text += "=" * (-len(text) % 4)
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


def check_window(timestamp: float, req: Request, default: float | None) -> None:
    """Reject a timestamp outside the window; exactly ``tolerance`` seconds away on either side passes.

    Both sides are checked (reliability.md §3.6); ``options["future_tolerance"]`` narrows or widens the
    future side only. Callers check the signature first, so a timestamp error means an authentic request.
    """
    tolerance = req.window(default)
    if tolerance is None:
        return
    future = req.option("future_tolerance", tolerance)
    for value in (tolerance, future):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise VerificationError("invalid_options", "tolerance must be a non-negative number of seconds")
    if req.now - timestamp > tolerance:
        raise VerificationError("timestamp_too_old", "timestamp is outside the tolerance window")
    if timestamp - req.now > future:
        raise VerificationError("timestamp_too_new", "timestamp is in the future beyond the tolerance window")


def split_entries(text: str, separator: str, *, limit: int = MAX_SIGNATURES) -> list[str]:
    """Split a signature list, refusing more than ``limit`` entries; blank entries are dropped."""
    parts = [part.strip() for part in text.split(separator, limit)]
    if len(parts) > limit:
        raise VerificationError("malformed_header", "too many signature entries")
    return [part for part in parts if part]


def key_values(text: str, separator: str) -> list[tuple[str, str]]:
    """Parse ``k=v<sep>k=v`` entries (Stripe, Paddle, PagerDuty); an entry without ``=`` is malformed."""
    pairs: list[tuple[str, str]] = []
    for entry in split_entries(text, separator):
        key, eq, value = entry.partition("=")
        if not eq:
            raise VerificationError("malformed_header", "signature entry is not key=value")
        pairs.append((key.strip(), value.strip()))
    return pairs


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
    keys: Sequence[bytes], signatures: Sequence[bytes], message: bytes, algorithm: str = "sha256"
) -> bool:
    """True if the MAC of ``message`` under any key equals any given signature (rotation both ways)."""
    found = False
    for key in keys:
        found |= matches_any(mac(key, message, algorithm), signatures)
    return found


def check_mac(req: Request, signatures: Sequence[bytes], message: bytes, algorithm: str = "sha256") -> None:
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
    value = req.first_header(header, *alternatives)
    if value is None:
        raise VerificationError("missing_header", f"header {header} is missing")
    check_mac(req, [decode(prefixed(value, prefix), encoding)], req.body, algorithm)
