"""Square: ``x-square-hmacsha256-signature: <base64 HMAC-SHA256(key, notification URL + body)>``.

The URL must be the subscription URL exactly as configured; ``options["notification_url"]`` overrides the
request URL for deployments behind a proxy that rewrites it.
"""

from __future__ import annotations

from ._common import Request, VerificationError, Verified, check_mac, decode_base64, dig, load_json


def verify_square(req: Request) -> Verified:
    """Verify a Square webhook; ``event_id`` in the body is the delivery id."""
    url = req.option("notification_url", req.url)
    if not isinstance(url, str):
        raise VerificationError("invalid_options", "notification_url must be a string")
    signature = decode_base64(req.require_header("x-square-hmacsha256-signature"))
    check_mac(req, [signature], url.encode("utf-8") + req.body)
    document = load_json(req.body)
    return Verified(delivery_id=dig(document, "event_id"), event_type=dig(document, "type"))
