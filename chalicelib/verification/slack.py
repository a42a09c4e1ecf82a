"""Slack v0 signing: ``X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:{ts}:{body}")>``.

``X-Slack-Request-Timestamp`` must be within 300 s either way (the SDK rejects ``abs(now - ts) > 300``).
Events API bodies are JSON and carry ``event_id``; slash commands and interactivity are form-encoded and
have no delivery id.
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


def verify_slack(req: Request) -> Verified:
    """Verify a Slack request (Events API, slash command or interactivity payload)."""
    signature = decode_hex(prefixed(req.require_header("X-Slack-Signature"), "v0="))
    stamp = req.require_header("X-Slack-Request-Timestamp")
    timestamp = parse_timestamp(stamp)
    check_mac(req, [signature], (b"v0:" + stamp.encode("ascii") + b":", req.body))
    check_window(timestamp, req, DEFAULT_TOLERANCE)
    return Verified.from_body(req.body, _metadata, timestamp=timestamp)


def _metadata(document: Any) -> tuple[str | None, str | None]:
    """Events API ``event_id`` and ``event.type`` (else ``type``); a form body has neither."""
    return dig(document, "event_id"), dig(document, "event", "type") or dig(document, "type")
