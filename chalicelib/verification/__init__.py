"""Inbound webhook verification: one pure function per provider scheme, behind one registry.

Each scheme module declares a ``Scheme`` (``scheme.py``): its name, label, secret label, default
tolerance, the headers it reads, what it signs, its options, its handshake and a sample signer.
``REGISTRY`` lists them; the verifier table, aliases, option checks, handshakes and ``describe_schemes()``
(the metadata ``GET /v1/schemes`` serves) all derive from it. Adding a scheme is one module and one entry.

    verify(scheme, *, secrets, method, url, headers, body, now=None, tolerance=None, options=None)
        -> Verified(delivery_id, timestamp, event_type)        or raises VerificationError(reason)
    challenge_reply(scheme, *, secrets, method, query, headers, body, options=None)
        -> ChallengeReply(status, body, content_type) | None

A ``Verified`` is an immutable value (equality, hash and repr over its three fields); metadata read from
the body only for information (Standard Webhooks' event type, Stripe's event id) is parsed on first access,
and a body that is not JSON gives None there, never an error. Its ``delivery_id_signed``,
``timestamp_signed`` and ``event_type_signed`` say whether the signature covers each field: body-only
schemes (GitHub, Shopify, Bitbucket, GitLab, WooCommerce, ...) read the id and event type from unsigned
headers, which a replay of a captured request may change at will.

Headers are looked up case-insensitively; a value may be a string or the list of all values of that
header (API Gateway's ``multiValueHeaders``), and a header the scheme reads that arrives more than once is
``malformed_header``. Every secret is tried (rotation), every signature entry of a known version is tried,
malformed entries are skipped (``malformed_header`` only when no entry is well formed), unknown versions
are ignored, comparisons are constant-time over bytes. The signature is checked before the
timestamp, so a timestamp error always describes an authentic request. Windows include their boundary
(exactly ``tolerance`` seconds away passes) and, unless documented otherwise, apply in both directions.

``VerificationError.reason`` is one of these stable codes (its message never holds a secret or an
expected signature):

    missing_secret       no secret is configured
    invalid_secret       a configured secret cannot be used (bad whsec_ base64, a non-P-256 key, ...)
    invalid_options      the options are unusable (hmac without ``header``, unknown algorithm, ...)
    unsupported_scheme   the scheme name is not registered
    missing_header       a required header is absent or empty
    malformed_header     a header is duplicated, non-ASCII, too long, badly prefixed or badly encoded
    malformed_body       the signature or timestamp lives in the body and is missing or unreadable
    signature_mismatch   no signature matched any secret (also Twilio's bodySHA256 mismatch)
    timestamp_too_old    authentic but older than the tolerance
    timestamp_too_new    authentic but further in the future than the tolerance
    bad_credentials      a token, Basic credentials or Meta verify token is wrong
    invalid_challenge    a handshake challenge is not what the provider sends (X's crc_token: short base64)

Only the ed25519 (Standard Webhooks ``v1a``) and ECDSA (SendGrid) paths import ``cryptography``, lazily,
so importing this package costs the Lambda cold start nothing beyond the standard library.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from importlib import import_module
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ._common import (
    NUMBER,
    Request,
    VerificationError,
    Verified,
    Verifier,
    index_headers,
    normalise_secrets,
)
from .handshake import ChallengeReply
from .options import Check, Option, OptionError, check_against
from .scheme import Handshake, Sample, Scheme

__all__ = [
    "REGISTRY",
    "SCHEMES",
    "ChallengeReply",
    "Handshake",
    "Option",
    "OptionError",
    "Sample",
    "Scheme",
    "VerificationError",
    "Verified",
    "canonical_scheme",
    "challenge_reply",
    "check_options",
    "describe_schemes",
    "get_scheme",
    "scheme_names",
    "signature_window",
    "verify",
]

#: Every scheme, in the order a person picks from (the console lists them so): its name, the module and
#: attribute of its ``Scheme``, and its aliases. Adding a scheme is one module that declares its ``Scheme``
#: and one entry here. A request loads only its own scheme's module (each costs a cold start about half a
#: millisecond); ``REGISTRY`` loads them all, and a test checks this table against what they declare.
_TABLE: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("github", "github", "SCHEME", ()),
    ("stripe", "stripe", "SCHEME", ()),
    ("standard", "standard", "SCHEME", ("svix", "standard-webhooks")),
    ("shopify", "shopify", "SCHEME", ()),
    ("slack", "slack", "SCHEME", ()),
    ("twilio", "twilio", "SCHEME", ()),
    ("square", "square", "SCHEME", ()),
    ("meta", "meta", "SCHEME", ("facebook", "instagram", "whatsapp")),
    ("x", "x", "SCHEME", ("twitter",)),
    ("zoom", "zoom", "SCHEME", ()),
    ("docusign", "docusign", "SCHEME", ()),
    ("gitlab", "gitlab", "SCHEME", ()),
    ("linear", "linear", "SCHEME", ()),
    ("mailgun", "mailgun", "SCHEME", ()),
    ("paddle", "paddle", "SCHEME", ()),
    ("pagerduty", "pagerduty", "SCHEME", ()),
    ("sendgrid", "sendgrid", "SCHEME", ()),
    ("woocommerce", "woocommerce", "SCHEME", ()),
    ("bitbucket", "atlassian", "BITBUCKET", ()),
    ("jira", "atlassian", "JIRA", ()),
    ("google-code", "google_code", "SCHEME", ()),
    ("hmac", "generic", "HMAC", ()),
    ("basic", "generic", "BASIC", ()),
    ("token", "generic", "TOKEN", ()),
)

_WHERE: Mapping[str, tuple[str, str]] = MappingProxyType({name: (mod, attr) for name, mod, attr, _ in _TABLE})
_ALIASES: Mapping[str, str] = MappingProxyType(
    {alias: name for name, _, _, aliases in _TABLE for alias in aliases}
)
_LOADED: dict[str, Scheme] = {}

_NO_OPTIONS: Mapping[str, Any] = MappingProxyType({})

if TYPE_CHECKING:
    #: Every scheme's ``Scheme``, in registry order (loads every scheme module on first use).
    REGISTRY: tuple[Scheme, ...]
    #: Every registered scheme name, aliases included, to its verifier (loads every scheme module).
    SCHEMES: Mapping[str, Verifier]


def _spec(name: str) -> Scheme:
    """The ``Scheme`` of a canonical name, its module imported on first use."""
    spec = _LOADED.get(name)
    if spec is None:
        module, attribute = _WHERE[name]
        spec = _LOADED[name] = getattr(import_module(f"{__name__}.{module}"), attribute)
    return spec


def __getattr__(name: str) -> Any:
    """``REGISTRY`` and ``SCHEMES``, built (every scheme module imported) when first read."""
    if name == "REGISTRY":
        value: Any = tuple(_spec(entry[0]) for entry in _TABLE)
    elif name == "SCHEMES":
        verifiers = {spec.name: spec.verify for spec in __getattr__("REGISTRY")}
        value = MappingProxyType({**verifiers, **{a: verifiers[n] for a, n in _ALIASES.items()}})
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def scheme_names() -> list[str]:
    """All registered scheme names (aliases included), sorted."""
    return sorted([*_WHERE, *_ALIASES])


def _canonical(scheme: object) -> str:
    if isinstance(scheme, str) and scheme in _WHERE:
        return scheme
    name = scheme.strip().lower() if isinstance(scheme, str) else ""
    name = _ALIASES.get(name, name)
    if name not in _WHERE:
        raise VerificationError("unsupported_scheme", "the scheme is not registered")
    return name


def canonical_scheme(scheme: str) -> str:
    """The registered name behind a scheme name or alias (``svix`` -> ``standard``); else unsupported_scheme."""
    return _canonical(scheme)


def get_scheme(name: str) -> Scheme:
    """The ``Scheme`` a name or alias stands for; else ``unsupported_scheme``."""
    return _spec(_canonical(name))


def describe_schemes() -> list[dict[str, Any]]:
    """Every scheme's metadata (``Scheme.describe``), in registry order: JSON-ready, never a secret."""
    return [spec.describe() for spec in __getattr__("REGISTRY")]


def check_options(
    scheme: str, options: Mapping[str, Any], *, extra: Mapping[str, Check | Option] | None = None
) -> None:
    """Raise ``OptionError`` unless every option is one ``scheme`` reads, usable as given.

    ``extra`` admits a caller's own options (Hookway's ingest reads ``signed_url``) with their checks.
    ``scheme`` must be a canonical name (``verify`` resolves aliases; so does ``canonical_scheme``).
    """
    if not isinstance(scheme, str) or scheme not in _WHERE:
        raise VerificationError("unsupported_scheme", "the scheme is not registered")
    spec = _spec(scheme)
    check_against(scheme, spec.options, options, extra=extra)
    if spec.check_options is not None:
        spec.check_options(options)


def signature_window(
    scheme: str, tolerance: float | None = None, options: Mapping[str, Any] | None = None
) -> float | None:
    """How long one signed request keeps verifying: the past tolerance plus the future one, in seconds.

    A request stamped ``t`` passes from ``t - future_tolerance`` to ``t + tolerance``, so a copy captured at
    its first arrival can be replayed for that whole span. None when the scheme checks no timestamp (or, as
    SendGrid without a tolerance, none bounds it): nothing but deduplication limits replays then.
    """
    spec = _spec(_canonical(scheme))
    options = options or _NO_OPTIONS
    if not spec.timestamp:
        return None
    if spec.name == "hmac" and not (
        options.get("timestamp_header") and "{timestamp}" in str(options.get("template", ""))
    ):
        return None  # no timestamp, or one the signature does not cover: it bounds nothing
    past = tolerance if tolerance is not None else spec.tolerance
    if past is None:
        return None
    future = options.get("future_tolerance", past)
    return float(past) + float(future) if isinstance(future, int | float) else float(past)


def _as_bytes(body: object) -> bytes:
    if type(body) is bytes:
        return body
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    raise VerificationError("malformed_body", "body must be bytes")


def verify(
    scheme: str,
    *,
    secrets: Sequence[str],
    method: str,
    url: str,
    headers: Mapping[str, str | Sequence[str]],
    body: bytes,
    now: float | None = None,
    tolerance: float | None = None,
    options: Mapping[str, Any] | None = None,
) -> Verified:
    """Verify one inbound request with the named scheme; raise ``VerificationError`` if it fails."""
    name = _canonical(scheme)
    if not isinstance(url, str) or not isinstance(method, str):
        raise VerificationError("malformed_header", "method and url must be strings")
    if not url.isascii():
        try:
            url.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise VerificationError("malformed_header", "url is not encodable") from exc
    # The dict test first: an ABC isinstance costs more than the rest of these checks together.
    if not isinstance(headers, dict) and not isinstance(headers, Mapping):
        raise VerificationError("malformed_header", "headers must be a mapping")
    if now is not None and (isinstance(now, bool) or not isinstance(now, NUMBER)):
        raise VerificationError("invalid_options", "now must be a number of seconds")
    if options is not None and not isinstance(options, dict) and not isinstance(options, Mapping):
        raise VerificationError("invalid_options", "options must be a mapping")
    request = Request(
        name,
        normalise_secrets(secrets),
        method,
        url,
        index_headers(headers),
        _as_bytes(body),
        time.time() if now is None else float(now),
        tolerance,
        options or _NO_OPTIONS,
    )
    return _spec(name).verify(request)


def challenge_reply(
    scheme: str,
    *,
    secrets: Sequence[str],
    method: str,
    query: Mapping[str, str],
    headers: Mapping[str, str | Sequence[str]],
    body: bytes,
    options: Mapping[str, Any] | None = None,
) -> ChallengeReply | None:
    """The reply to a provider handshake (Meta, X, Slack, Zoom), or None if the request is not one.

    Call it for a POST only after ``verify()`` succeeded; a GET handshake carries no signature (Meta's is
    checked against ``options["verify_token"]`` here, X's CRC proves knowledge of the secret instead).
    """
    spec = _spec(_canonical(scheme))
    verb = method.upper() if isinstance(method, str) else ""
    if spec.handshake is None or spec.handshake.method != verb:
        return None
    return spec.handshake.reply(
        secrets,
        query if isinstance(query, Mapping) else {},
        headers if isinstance(headers, Mapping) else {},
        _as_bytes(body),
        options or _NO_OPTIONS,
    )
