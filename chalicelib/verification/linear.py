"""Linear: ``Linear-Signature: <hex HMAC-SHA256(secret, body)>`` with no prefix.

The replay window uses the body's ``webhookTimestamp`` (milliseconds): @linear/sdk rejects
``|now_ms - webhookTimestamp| > 60 000``, so exactly 60 s passes. The field is read only after the
signature matched, and a body without it is ``malformed_body``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _samples
from ._common import Request, VerificationError, Verified, body_signature, check_window, load_json
from .options import WINDOW
from .scheme import Sample, Scheme

DEFAULT_TOLERANCE = 60
#: Milliseconds since the epoch with more digits than this are absurd.
_MAX_MILLIS = 10**15


def verify_linear(req: Request) -> Verified:
    """Verify a Linear webhook; ``Linear-Delivery`` is the delivery id."""
    body_signature(req, "Linear-Signature")
    document = load_json(req.body)
    millis = document.get("webhookTimestamp") if isinstance(document, dict) else None
    if isinstance(millis, bool) or not isinstance(millis, int) or not 0 <= millis < _MAX_MILLIS:
        raise VerificationError("malformed_body", "body has no valid webhookTimestamp")
    check_window(millis / 1000, req, DEFAULT_TOLERANCE)
    return Verified(
        delivery_id=req.header("Linear-Delivery"),
        timestamp=millis // 1000,
        event_type=req.label_header("Linear-Event"),
        unsigned=("delivery_id", "event_type"),  # headers; the body's webhookTimestamp is signed
    )


def sample(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A Linear delivery: ``Linear-Signature: <hex HMAC of the body>``, the time in the body (ms)."""
    delivery = _samples.uuid_like()
    body = _samples.json_body({"action": "create", "type": event, "data": {}, "webhookTimestamp": now * 1000})
    headers = {
        "Content-Type": "application/json",
        "Linear-Delivery": delivery,
        "Linear-Event": event,
        "Linear-Signature": _samples.hmac_hex(secret, body),
    }
    return Sample(headers, body, delivery, event)


SCHEME = Scheme(
    name="linear",
    label="Linear",
    key_label="Signing secret",
    verify=verify_linear,
    signs="HMAC-SHA256 of the body, hex; the body's webhookTimestamp (ms) is the signed time",
    headers=("Linear-Signature",),
    timestamp=True,
    tolerance=DEFAULT_TOLERANCE,
    options=WINDOW,
    sample=sample,
    sample_event="Issue",
    example_key="lin_wh_secret",
)
