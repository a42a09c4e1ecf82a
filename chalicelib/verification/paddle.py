"""Paddle Billing: ``Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>...]`` over ``f"{ts}:{body}"``.

The key is the whole ``pdl_ntfset_...`` secret as UTF-8. Unknown keys (``h2=``) are ignored and any ``h1``
may match (paddle-node-sdk ignores unknown keys; paddle-python-sdk checks every ``h1``).

Tolerance: 5 s, the SDKs' default. The SDKs reject only ``now > ts + 5``; Hookway also rejects a ``ts`` more
than the tolerance in the future. Pass a larger ``tolerance`` if the clocks are known to drift.
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
    key_values,
    parse_timestamp,
    single,
    well_formed,
)

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
