"""Square: ``x-square-hmacsha256-signature: <base64 HMAC-SHA256(key, notification URL + body)>``.

The URL must be the subscription URL exactly as configured; ``options["notification_url"]`` overrides the
request URL for deployments behind a proxy that rewrites it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _samples
from ._common import Request, VerificationError, Verified, check_mac, decode_base64, dig
from .options import Option
from .scheme import Sample, Scheme


def verify_square(req: Request) -> Verified:
    """Verify a Square webhook; ``event_id`` in the body is the delivery id."""
    url = req.option("notification_url", req.url)
    if not isinstance(url, str):
        raise VerificationError("invalid_options", "notification_url must be a string")
    signature = decode_base64(req.require_header("x-square-hmacsha256-signature"))
    check_mac(req, [signature], (url.encode("utf-8"), req.body))
    return Verified.from_body(req.body, _metadata)


def _metadata(document: Any) -> tuple[str | None, str | None]:
    return dig(document, "event_id"), dig(document, "type")


def sample(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A Square event: ``x-square-hmacsha256-signature: <base64 HMAC of the notification URL + body>``."""
    event_id = _samples.uuid_like()
    body = _samples.json_body({"merchant_id": "M1", "type": event, "event_id": event_id, "data": {}})
    signed_url = options.get("notification_url", url)
    headers = {
        "Content-Type": "application/json",
        "x-square-hmacsha256-signature": _samples.hmac_b64(secret, str(signed_url).encode("utf-8") + body),
    }
    return Sample(headers, body, event_id, event)


SCHEME = Scheme(
    name="square",
    label="Square",
    key_label="Signature key",
    verify=verify_square,
    signs="HMAC-SHA256 of `notification URL + body`, base64",
    headers=("x-square-hmacsha256-signature",),
    signs_url=True,
    options={
        "notification_url": Option(
            "url",
            "Notification URL",
            "The subscription URL exactly as configured at Square, if it differs from the ingest URL.",
        )
    },
    sample=sample,
    sample_event="payment.created",
    example_key="Ibxx_5AKakO-3qeNVR61Dw",
)
