"""PagerDuty v3: ``X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]``, HMAC-SHA256 of the raw body.

One entry per subscription secret allows zero-downtime rotation. The secret looks like base64 but is used
as text. Only ``v1=`` entries are read; others are ignored.
"""

from __future__ import annotations

from typing import Any

from ._common import Request, Verified, check_mac, decode_hex, dig, key_values, well_formed


def verify_pagerduty(req: Request) -> Verified:
    """Verify a PagerDuty v3 webhook; ``event.id`` in the body is the delivery id."""
    pairs, malformed = key_values(req.require_header("X-PagerDuty-Signature"), ",")
    candidates = [value for key, value in pairs if key == "v1"]
    check_mac(req, well_formed(candidates, decode_hex, 32, malformed=malformed), req.body)
    return Verified.from_body(req.body, _metadata)


def _metadata(document: Any) -> tuple[str | None, str | None]:
    return dig(document, "event", "id"), dig(document, "event", "event_type")
