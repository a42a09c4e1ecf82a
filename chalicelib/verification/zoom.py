"""Zoom: ``x-zm-signature: v0=<hex HMAC-SHA256(secret token, "v0:{ts}:{body}")>``, raw body bytes.

Zoom documents no replay window; 300 s either way is Hookway's policy. (zoom/rivet-javascript hashes a
re-serialised body; this does not.) The ``endpoint.url_validation`` reply is built in ``handshake.py``.
"""

from __future__ import annotations

from typing import Any

from ._common import (
    Request,
    Verified,
    check_mac,
    check_window,
    decode_hex,
    dig,
    parse_timestamp,
    prefixed,
)

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
