"""Slack v0 signing: ``X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:{ts}:{body}")>``.

``X-Slack-Request-Timestamp`` must be within 300 s either way (the SDK rejects ``abs(now - ts) > 300``).
Events API bodies are JSON and carry ``event_id``; slash commands and interactivity are form-encoded and
have no delivery id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import _samples
from ._common import (
    Request,
    Verified,
    check_mac,
    check_window,
    decode_hex,
    dig,
    load_json,
    parse_timestamp,
    prefixed,
)
from .handshake import MAX_CHALLENGE, ChallengeReply
from .options import WINDOW
from .scheme import Handshake, Sample, Scheme

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


def challenge(
    secrets: Sequence[str],
    query: Mapping[str, Any],
    headers: Mapping[str, Any],
    body: bytes,
    options: Mapping[str, Any],
) -> ChallengeReply | None:
    """The Events API ``url_verification``: echo its ``challenge`` as text (after ``verify``)."""
    document = load_json(body)
    token = dig(document, "challenge")
    if dig(document, "type") != "url_verification" or token is None or len(token) > MAX_CHALLENGE:
        return None
    try:
        echoed = token.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: not a challenge anyone could read back
        return None
    return ChallengeReply(200, echoed, "text/plain")


def sample(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A Slack Events API callback: ``X-Slack-Signature: v0=<hex HMAC of "v0:ts:body">``."""
    event_id = "Ev" + _samples.new_id().upper()[:10]
    body = _samples.json_body({"type": "event_callback", "event_id": event_id, "event": {"type": event}})
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": str(now),
        "X-Slack-Signature": "v0=" + _samples.hmac_hex(secret, f"v0:{now}:".encode() + body),
    }
    return Sample(headers, body, event_id, event)


SCHEME = Scheme(
    name="slack",
    label="Slack",
    key_label="Signing secret",
    verify=verify_slack,
    signs="HMAC-SHA256 of `v0:timestamp:body`, hex, prefixed v0=",
    headers=("X-Slack-Signature", "X-Slack-Request-Timestamp"),
    timestamp=True,
    tolerance=DEFAULT_TOLERANCE,
    timestamp_header="X-Slack-Request-Timestamp",
    options=WINDOW,
    handshake=Handshake("POST", "Events API url_verification: answers its challenge as text", challenge),
    sample=sample,
    sample_event="app_mention",
    example_key="8f742231b10e8888abcd99yyyzzz85a5",
)
