"""Stripe: ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`` over ``f"{t}.{body}"`` with HMAC-SHA256.

The key is the whole ``whsec_...`` string as UTF-8 (not base64-decoded, unlike Standard Webhooks). Only
``v1`` entries count (``v0`` and unknown schemes are ignored; a header with no ``v1`` fails); during a
secret roll Stripe sends one ``v1`` per active secret and any may match.

Tolerance: 300 s. stripe-python rejects only ``t < now - tolerance``; Hookway also rejects a ``t`` more than
the tolerance in the future (``timestamp_too_new``), because a far-future stamp defeats the replay window.
Exactly 300 s either way passes. The signature is checked before the timestamp, as the SDK does.
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

DEFAULT_TOLERANCE = 300


def verify_stripe(req: Request) -> Verified:
    """Verify a Stripe webhook; the event ``id`` (``evt_...``) in the body is the delivery id."""
    pairs, malformed = key_values(req.require_header("Stripe-Signature"), ",")
    stamp = single(pairs, "t")
    timestamp = parse_timestamp(stamp)
    signatures = well_formed(
        [value for key, value in pairs if key == "v1"], decode_hex, 32, malformed=malformed
    )
    check_mac(req, signatures, (stamp.encode("ascii") + b".", req.body))
    check_window(timestamp, req, DEFAULT_TOLERANCE)
    return Verified.from_body(req.body, _metadata, timestamp=timestamp)


def _metadata(document: Any) -> tuple[str | None, str | None]:
    """The event's ``id`` (``evt_...``) and ``type``; the signature covers them but does not need them."""
    return dig(document, "id"), dig(document, "type")
