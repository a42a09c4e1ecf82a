"""Stripe: ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`` over ``f"{t}.{body}"`` with HMAC-SHA256.

The key is the whole ``whsec_...`` string as UTF-8 (not base64-decoded, unlike Standard Webhooks). Only
``v1`` entries count (``v0`` and unknown schemes are ignored; a header with no ``v1`` fails); during a
secret roll Stripe sends one ``v1`` per active secret and any may match.

Tolerance: 300 s. stripe-python rejects only ``t < now - tolerance``; Hookway also rejects a ``t`` more than
the tolerance in the future (``timestamp_too_new``), because a far-future stamp defeats the replay window.
Exactly 300 s either way passes. The signature is checked before the timestamp, as the SDK does.
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


def sample(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A Stripe event: ``Stripe-Signature: t=<ts>,v1=<hex HMAC of "ts.body">`` (the whole whsec_ key)."""
    event_id = _samples.new_id("evt_")
    body = _samples.json_body(
        {"id": event_id, "object": "event", "type": event, "created": now, "data": {"object": {}}}
    )
    signature = _samples.hmac_hex(secret, f"{now}.".encode() + body)
    headers = {"Content-Type": "application/json", "Stripe-Signature": f"t={now},v1={signature}"}
    return Sample(headers, body, event_id, event)


SCHEME = Scheme(
    name="stripe",
    label="Stripe",
    key_label="Signing secret (whsec_…)",
    verify=verify_stripe,
    signs="HMAC-SHA256 of `t.body`, hex, in the v1= entries",
    headers=("Stripe-Signature",),
    timestamp=True,
    tolerance=DEFAULT_TOLERANCE,
    timestamp_header="Stripe-Signature",
    options=WINDOW,
    sample=sample,
    sample_event="invoice.paid",
    example_key="whsec_test_secret",
)
