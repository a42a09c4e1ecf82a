"""Paddle Billing: ``Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>...]`` over ``f"{ts}:{body}"``.

The key is the whole ``pdl_ntfset_...`` secret as UTF-8. Unknown keys (``h2=``) are ignored and any ``h1``
may match (paddle-node-sdk ignores unknown keys; paddle-python-sdk checks every ``h1``).

Tolerance: 5 s, the SDKs' default. The SDKs reject only ``now > ts + 5``; Hookway also rejects a ``ts`` more
than the tolerance in the future. Pass a larger ``tolerance`` if the clocks are known to drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _samples
from ._common import (
    Request,
    Verified,
    check_mac,
    check_window,
    decode_hex,
    dig,
    key_values,
    parse_timestamp,
    single,
    well_formed,
)
from .options import WINDOW
from .scheme import Sample, Scheme

DEFAULT_TOLERANCE = 5


def verify_paddle(req: Request) -> Verified:
    """Verify a Paddle Billing notification; ``notification_id`` (else ``event_id``) is the delivery id."""
    pairs, malformed = key_values(req.require_header("Paddle-Signature"), ";")
    stamp = single(pairs, "ts")
    timestamp = parse_timestamp(stamp)
    signatures = well_formed(
        [value for key, value in pairs if key == "h1"], decode_hex, 32, malformed=malformed
    )
    check_mac(req, signatures, (stamp.encode("ascii") + b":", req.body))
    check_window(timestamp, req, DEFAULT_TOLERANCE)
    return Verified.from_body(req.body, _metadata, timestamp=timestamp)


def _metadata(document: Any) -> tuple[str | None, str | None]:
    return dig(document, "notification_id") or dig(document, "event_id"), dig(document, "event_type")


def sample(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A Paddle notification: ``Paddle-Signature: ts=<ts>;h1=<hex HMAC of "ts:body">``."""
    notification = _samples.new_id("ntf_")
    body = _samples.json_body(
        {
            "event_id": _samples.new_id("evt_"),
            "event_type": event,
            "notification_id": notification,
            "data": {},
        }
    )
    signature = _samples.hmac_hex(secret, f"{now}:".encode() + body)
    headers = {"Content-Type": "application/json", "Paddle-Signature": f"ts={now};h1={signature}"}
    return Sample(headers, body, notification, event)


SCHEME = Scheme(
    name="paddle",
    label="Paddle Billing",
    key_label="Secret key (pdl_ntfset_…)",
    verify=verify_paddle,
    signs="HMAC-SHA256 of `ts:body`, hex, in the h1= entries",
    headers=("Paddle-Signature",),
    timestamp=True,
    tolerance=DEFAULT_TOLERANCE,
    timestamp_header="Paddle-Signature",
    options=WINDOW,
    sample=sample,
    sample_event="subscription.created",
    example_key="pdl_ntfset_01example_secret",
)
