"""WooCommerce: ``X-WC-Webhook-Signature: <base64 HMAC-SHA256(secret, body)>``."""

from __future__ import annotations

from ._common import Request, Verified, body_signature


def verify_woocommerce(req: Request) -> Verified:
    """Verify a WooCommerce webhook."""
    body_signature(req, "X-WC-Webhook-Signature", encoding="base64")
    return Verified(
        delivery_id=req.header("X-WC-Webhook-Delivery-ID"),
        event_type=req.label_header("X-WC-Webhook-Topic"),
        unsigned=("delivery_id", "event_type"),
    )
