"""Shopify: ``X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(client secret, body)>`` (Events use no ``X-``)."""

from __future__ import annotations

from ._common import Request, Verified, body_signature


def verify_shopify(req: Request) -> Verified:
    """Verify a Shopify webhook; configure old and new client secret during a rotation."""
    body_signature(req, "X-Shopify-Hmac-Sha256", encoding="base64", alternatives=("Shopify-Hmac-Sha256",))
    return Verified(
        delivery_id=req.first_header("X-Shopify-Webhook-Id", "X-Shopify-Event-Id", "Shopify-Event-Id"),
        event_type=req.label_header("X-Shopify-Topic", "Shopify-Topic"),
        unsigned=("delivery_id", "event_type"),
    )
