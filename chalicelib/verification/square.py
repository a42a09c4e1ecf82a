"""Square: ``x-square-hmacsha256-signature: <base64 HMAC-SHA256(key, notification URL + body)>``.

The URL must be the subscription URL exactly as configured; ``options["notification_url"]`` overrides the
request URL for deployments behind a proxy that rewrites it.
"""

from __future__ import annotations

from typing import Any

from ._common import Request, VerificationError, Verified, check_mac, decode_base64, dig


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
