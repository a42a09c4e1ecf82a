"""Configurable schemes for senders without a preset: ``hmac``, ``basic`` and ``token``.

``hmac`` options (``header`` is required):

- ``algorithm``: ``sha1``, ``sha256`` (default), ``sha512`` or ``md5``; ``encoding``: ``hex`` (default) or
  ``base64``; ``prefix`` before the encoded signature (default ``""``).
- ``template``: the signed content over ``{id}``, ``{timestamp}``, ``{url}`` and ``{body}`` (default
  ``"{body}"``); the body is inserted as raw bytes, the rest as UTF-8.
- ``timestamp_header``, ``id_header``, ``event_type_header``: where ``{timestamp}``, ``{id}`` and the
  event type come from. The replay window (default 300 s, both sides) applies only with ``timestamp_header``.
- ``separator``: when set, the header may hold several signatures; entries without ``prefix`` are ignored.

``basic`` takes ``user:password`` secrets and checks ``Authorization: Basic``; ``token`` compares a static
token in ``options["header"]`` (default ``Authorization``) after an optional ``options["prefix"]`` such as
``"Bearer "``. Both compare in constant time and fail with ``bad_credentials``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from . import _samples
from ._common import (
    DIGESTS,
    Request,
    VerificationError,
    Verified,
    check_mac,
    check_window,
    decode,
    decode_base64,
    equal_secret,
    parse_timestamp,
    prefixed,
    split_entries,
    well_formed,
)
from .options import WINDOW, Option, check_template_sources, nonempty_text, template_option
from .scheme import Sample, Scheme

DEFAULT_TOLERANCE = 300
_PLACEHOLDER = re.compile(r"(\{[A-Za-z_]*\})")
_FIELDS = ("{id}", "{timestamp}", "{url}", "{body}")


def _text_option(req: Request, name: str, default: str | None = None) -> str | None:
    value = req.option(name, default)
    if value is not None and not isinstance(value, str):
        raise VerificationError("invalid_options", f"option {name} must be a string")
    return value


def _render(template: str, fields: dict[str, bytes | None]) -> bytes:
    """Fill the template; the body goes in as raw bytes so its exact bytes are signed."""
    out = bytearray()
    for part in _PLACEHOLDER.split(template):
        if part in _FIELDS:
            value = fields[part]
            if value is None:
                raise VerificationError("invalid_options", f"template uses {part} but no header gives it")
            out += value
        elif _PLACEHOLDER.fullmatch(part):
            raise VerificationError("invalid_options", f"template has an unknown placeholder {part}")
        else:
            out += part.encode("utf-8")
    return bytes(out)


def verify_hmac(req: Request) -> Verified:
    """Verify a generic HMAC signature described entirely by options."""
    header = _text_option(req, "header")
    if not header:
        raise VerificationError("invalid_options", "the hmac scheme needs options['header']")
    algorithm = _text_option(req, "algorithm", "sha256") or ""
    encoding = _text_option(req, "encoding", "hex") or ""
    if algorithm not in DIGESTS or encoding not in ("hex", "base64"):
        raise VerificationError("invalid_options", "unknown algorithm or encoding")
    prefix = _text_option(req, "prefix", "") or ""
    template = _text_option(req, "template", "{body}") or "{body}"
    separator = _text_option(req, "separator")
    timestamp_header = _text_option(req, "timestamp_header")
    id_header = _text_option(req, "id_header")
    event_header = _text_option(req, "event_type_header")

    value = req.require_header(header)
    if separator:
        entries = [entry for entry in split_entries(value, separator) if entry.startswith(prefix)]
        if not entries:
            raise VerificationError("malformed_header", f"no signature with prefix {prefix!r}")
        size = DIGESTS[algorithm]().digest_size
        signatures = well_formed(
            [entry[len(prefix) :] for entry in entries], lambda text: decode(text, encoding), size
        )
    else:
        signatures = [decode(prefixed(value, prefix), encoding)]

    stamp = req.require_header(timestamp_header) if timestamp_header else None
    timestamp = parse_timestamp(stamp) if stamp is not None else None
    delivery_id = None
    if id_header:
        delivery_id = req.require_header(id_header) if "{id}" in template else req.header(id_header)
    fields: dict[str, bytes | None] = {
        "{id}": delivery_id.encode("ascii") if delivery_id is not None else None,
        "{timestamp}": stamp.encode("ascii") if stamp is not None else None,
        "{url}": req.url.encode("utf-8"),
        "{body}": req.body,
    }
    check_mac(req, signatures, _render(template, fields), algorithm)
    if timestamp is not None:
        check_window(timestamp, req, DEFAULT_TOLERANCE)
    # Only what the template renders is signed; the event type header never is.
    unsigned = {"event_type"}
    if "{id}" not in template:
        unsigned.add("delivery_id")
    if "{timestamp}" not in template:
        unsigned.add("timestamp")
    return Verified(
        delivery_id=delivery_id,
        timestamp=timestamp,
        event_type=req.label_header(event_header) if event_header else None,
        unsigned=unsigned,
    )


def check_token(req: Request, token: str) -> None:
    """Pass if ``token`` equals any secret (constant time, length hidden); else ``bad_credentials``."""
    found = False
    for key in req.secret_keys():
        found |= equal_secret(token.encode("ascii"), key)
    if not found:
        raise VerificationError("bad_credentials", "token does not match")


def verify_token(req: Request) -> Verified:
    """Verify a static token sent in a header, e.g. ``Authorization: Bearer <token>``."""
    header = _text_option(req, "header", "Authorization") or "Authorization"
    prefix = _text_option(req, "prefix", "") or ""
    value = req.require_header(header)
    # An auth scheme word ("Bearer") is case-insensitive.
    if value[: len(prefix)].lower() != prefix.lower():
        raise VerificationError("malformed_header", f"header {header} does not start with the prefix")
    token = value[len(prefix) :].strip()
    if not token:
        raise VerificationError("malformed_header", f"header {header} carries no token")
    check_token(req, token)
    return Verified()


def verify_basic(req: Request) -> Verified:
    """Verify ``Authorization: Basic`` against ``user:password`` secrets (split on the first colon)."""
    scheme, _, encoded = req.require_header("Authorization").partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise VerificationError("malformed_header", "Authorization is not Basic")
    credentials = decode_base64(encoded.strip(), what="credentials")
    user, colon, password = credentials.partition(b":")
    if not colon:
        raise VerificationError("malformed_header", "credentials have no colon")
    found = False
    for secret in req.secret_keys():
        want_user, secret_colon, want_password = secret.partition(b":")
        if not secret_colon:
            raise VerificationError("invalid_secret", "a basic secret must be user:password")
        # Both halves are always compared so timing does not tell which one was wrong.
        found |= equal_secret(user, want_user) & equal_secret(password, want_password)
    if not found:
        raise VerificationError("bad_credentials", "credentials do not match")
    return Verified()


def sample_hmac(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A request signed as the options describe (``header`` is required)."""
    algorithm = str(options.get("algorithm", "sha256"))
    delivery = _samples.new_id("evt_")
    body = _samples.json_body({"type": event, "id": delivery, "created": now})
    template = str(options.get("template", "{body}"))
    fields = {
        "{id}": delivery.encode(),
        "{timestamp}": str(now).encode(),
        "{url}": url.encode(),
        "{body}": body,
    }
    content = b"".join(fields.get(part, part.encode("utf-8")) for part in _PLACEHOLDER.split(template))
    if options.get("encoding", "hex") == "base64":
        signature = _samples.hmac_b64(secret, content, algorithm)
    else:
        signature = _samples.hmac_hex(secret, content, algorithm)
    headers = {
        "Content-Type": "application/json",
        str(options["header"]): str(options.get("prefix", "")) + signature,
    }
    for name, value in (
        ("timestamp_header", str(now)),
        ("id_header", delivery),
        ("event_type_header", event),
    ):
        if options.get(name):
            headers[str(options[name])] = value
    return Sample(headers, body, delivery if options.get("id_header") else None, event)


def sample_basic(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A request with ``Authorization: Basic base64(user:password)``."""
    body = _samples.json_body({"type": event, "created": now})
    credentials = base64.b64encode(secret.encode("utf-8")).decode("ascii")
    return Sample(
        {"Content-Type": "application/json", "Authorization": "Basic " + credentials}, body, None, event
    )


def sample_token(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A request carrying the token in ``options["header"]`` (Authorization) after ``options["prefix"]``."""
    body = _samples.json_body({"type": event, "created": now})
    header = str(options.get("header") or "Authorization")
    return Sample(
        {"Content-Type": "application/json", header: str(options.get("prefix", "")) + secret},
        body,
        None,
        event,
    )


HMAC = Scheme(
    name="hmac",
    label="Generic HMAC",
    key_label="Secret",
    verify=verify_hmac,
    signs="HMAC of the template (the body by default) with the chosen digest and encoding",
    headers=(),
    timestamp=True,
    tolerance=DEFAULT_TOLERANCE,
    signs_url=True,
    options={
        "header": Option(
            "header",
            "Signature header",
            "The header that carries the signature, such as X-Signature.",
            required=True,
        ),
        "algorithm": Option("choice", "Algorithm", choices=("sha256", "sha1", "sha512", "md5")),
        "encoding": Option("choice", "Encoding", choices=("hex", "base64")),
        "prefix": Option("text", "Prefix", "Text before the encoded signature, such as sha256=."),
        "template": Option(
            "text",
            "Signed content",
            "Over {id}, {timestamp}, {url} and {body}; {body} when empty.",
            check=template_option,
        ),
        "separator": Option(
            "text", "Separator", "When the header holds several signatures.", check=nonempty_text
        ),
        "timestamp_header": Option("header", "Timestamp header", "The replay window applies only with one."),
        "id_header": Option("header", "Delivery id header"),
        "event_type_header": Option("header", "Event type header"),
        **WINDOW,
    },
    check_options=check_template_sources,
    sample=sample_hmac,
    sample_event="order.created",
    example_key="generic-hmac-secret",
    sample_options={
        "header": "X-Signature",
        "prefix": "sha256=",
        "template": "{id}.{timestamp}.{body}",
        "timestamp_header": "X-Timestamp",
        "id_header": "X-Delivery",
        "event_type_header": "X-Event",
    },
)

BASIC = Scheme(
    name="basic",
    label="HTTP Basic auth",
    key_label="Credentials (user:password)",
    verify=verify_basic,
    signs="nothing: the credentials are sent as is (no body integrity)",
    headers=("Authorization",),
    sample=sample_basic,
    sample_event="test.event",
    example_key="hookway:correct horse battery staple",
)

TOKEN = Scheme(
    name="token",
    label="Static token",
    key_label="Token",
    verify=verify_token,
    signs="nothing: the token is sent as is (no body integrity)",
    headers=("Authorization",),
    options={
        "header": Option("header", "Header", "Authorization when empty."),
        "prefix": Option("text", "Prefix", 'Such as "Bearer ".'),
    },
    sample=sample_token,
    sample_event="test.event",
    example_key="static-token-value",
    sample_options={"prefix": "Bearer "},
)
