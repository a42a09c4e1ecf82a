"""Zoom: ``x-zm-signature: v0=<hex HMAC-SHA256(secret token, "v0:{ts}:{body}")>``, raw body bytes.

Zoom documents no replay window; 300 s either way is Hookway's policy. (zoom/rivet-javascript hashes a
re-serialised body; this does not.) The ``endpoint.url_validation`` reply is ``challenge`` below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import _samples
from ._common import (
    Request,
    VerificationError,
    Verified,
    check_mac,
    check_window,
    decode_hex,
    dig,
    equal_secret,
    index_headers,
    load_json,
    mac,
    normalise_secrets,
    parse_timestamp,
    prefixed,
)
from .handshake import MAX_CHALLENGE, ChallengeReply, json_reply
from .options import WINDOW
from .scheme import Handshake, Sample, Scheme

DEFAULT_TOLERANCE = 300


def zoom_message(stamp: str, body: bytes) -> tuple[bytes, bytes]:
    """The signed content ``v0:{ts}:{body}``, in two parts (the body is not copied)."""
    return b"v0:" + stamp.encode("ascii") + b":", body


def verify_zoom(req: Request) -> Verified:
    """Verify a Zoom webhook; Zoom sends no delivery id."""
    signature = decode_hex(prefixed(req.require_header("x-zm-signature"), "v0="))
    stamp = req.require_header("x-zm-request-timestamp")
    timestamp = parse_timestamp(stamp)
    check_mac(req, [signature], zoom_message(stamp, req.body))
    check_window(timestamp, req, DEFAULT_TOLERANCE)
    return Verified.from_body(req.body, _metadata, timestamp=timestamp)


def _metadata(document: Any) -> tuple[str | None, str | None]:
    return None, dig(document, "event")


def _signing_secret(secrets: tuple[str, ...], headers: Mapping[str, Any], body: bytes) -> str:
    """The secret that signed this request (the one Zoom expects back during a rotation), else the first."""
    req = Request("zoom", secrets, "POST", "", index_headers(headers), body, 0.0, None)
    try:
        signature = decode_hex(prefixed(req.require_header("x-zm-signature"), "v0="))
        message = zoom_message(req.require_header("x-zm-request-timestamp"), body)
    except VerificationError:
        return secrets[0]
    for secret in secrets:
        if equal_secret(mac(secret.encode("utf-8"), message), signature):
            return secret
    return secrets[0]


def challenge(
    secrets: Sequence[str],
    query: Mapping[str, Any],
    headers: Mapping[str, Any],
    body: bytes,
    options: Mapping[str, Any],
) -> ChallengeReply | None:
    """Zoom's ``endpoint.url_validation``: its plainToken and that token's HMAC (after ``verify``)."""
    document = load_json(body)
    token = dig(document, "payload", "plainToken")
    if dig(document, "event") != "endpoint.url_validation" or token is None or len(token) > MAX_CHALLENGE:
        return None
    secret = _signing_secret(normalise_secrets(secrets), headers, body)
    encrypted = mac(secret.encode("utf-8"), token.encode("utf-8", "surrogatepass")).hex()
    return json_reply({"plainToken": token, "encryptedToken": encrypted})


def sample(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A Zoom event: ``x-zm-signature: v0=<hex HMAC of "v0:ts:body">``."""
    body = _samples.json_body({"event": event, "event_ts": now * 1000, "payload": {}})
    headers = {
        "Content-Type": "application/json",
        "x-zm-request-timestamp": str(now),
        "x-zm-signature": "v0=" + _samples.hmac_hex(secret, f"v0:{now}:".encode() + body),
    }
    return Sample(headers, body, None, event)


SCHEME = Scheme(
    name="zoom",
    label="Zoom",
    key_label="Secret token",
    verify=verify_zoom,
    signs="HMAC-SHA256 of `v0:timestamp:body`, hex, prefixed v0=",
    headers=("x-zm-signature", "x-zm-request-timestamp"),
    timestamp=True,
    tolerance=DEFAULT_TOLERANCE,
    timestamp_header="x-zm-request-timestamp",
    options=WINDOW,
    handshake=Handshake(
        "POST", "endpoint.url_validation: answers plainToken and its HMAC (encryptedToken) as JSON", challenge
    ),
    sample=sample,
    sample_event="meeting.started",
    example_key="zoom-secret-token",
)
