"""PagerDuty v3: ``X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]``, HMAC-SHA256 of the raw body.

One entry per subscription secret allows zero-downtime rotation. The secret looks like base64 but is used
as text. Only ``v1=`` entries are read; others are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _samples
from ._common import Request, Verified, check_mac, decode_hex, dig, key_values, well_formed
from .scheme import Sample, Scheme


def verify_pagerduty(req: Request) -> Verified:
    """Verify a PagerDuty v3 webhook; ``event.id`` in the body is the delivery id."""
    pairs, malformed = key_values(req.require_header("X-PagerDuty-Signature"), ",")
    candidates = [value for key, value in pairs if key == "v1"]
    check_mac(req, well_formed(candidates, decode_hex, 32, malformed=malformed), req.body)
    return Verified.from_body(req.body, _metadata)


def _metadata(document: Any) -> tuple[str | None, str | None]:
    return dig(document, "event", "id"), dig(document, "event", "event_type")


def sample(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A PagerDuty v3 event: ``X-PagerDuty-Signature: v1=<hex HMAC of the body>``."""
    event_id = _samples.new_id()
    body = _samples.json_body({"event": {"id": event_id, "event_type": event, "data": {}}})
    headers = {
        "Content-Type": "application/json",
        "X-PagerDuty-Signature": "v1=" + _samples.hmac_hex(secret, body),
    }
    return Sample(headers, body, event_id, event)


SCHEME = Scheme(
    name="pagerduty",
    label="PagerDuty",
    key_label="Subscription secret",
    verify=verify_pagerduty,
    signs="HMAC-SHA256 of the body, hex, in the v1= entries",
    headers=("X-PagerDuty-Signature",),
    sample=sample,
    sample_event="incident.triggered",
    example_key="lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK",
)
