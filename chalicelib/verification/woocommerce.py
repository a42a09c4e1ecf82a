"""WooCommerce: ``X-WC-Webhook-Signature: <base64 HMAC-SHA256(secret, body)>``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _samples
from ._common import Request, Verified, body_signature
from .scheme import Sample, Scheme


def verify_woocommerce(req: Request) -> Verified:
    """Verify a WooCommerce webhook."""
    body_signature(req, "X-WC-Webhook-Signature", encoding="base64")
    return Verified(
        delivery_id=req.header("X-WC-Webhook-Delivery-ID"),
        event_type=req.label_header("X-WC-Webhook-Topic"),
        unsigned=("delivery_id", "event_type"),
    )


def sample(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A WooCommerce delivery: ``X-WC-Webhook-Signature: <base64 HMAC of the body>``."""
    delivery = _samples.new_id()
    body = _samples.json_body({"id": now, "status": "processing"})
    headers = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Topic": event,
        "X-WC-Webhook-Delivery-ID": delivery,
        "X-WC-Webhook-Signature": _samples.hmac_b64(secret, body),
    }
    return Sample(headers, body, delivery, event)


SCHEME = Scheme(
    name="woocommerce",
    label="WooCommerce",
    key_label="Secret",
    verify=verify_woocommerce,
    signs="HMAC-SHA256 of the body, base64",
    headers=("X-WC-Webhook-Signature",),
    sample=sample,
    sample_event="order.created",
    example_key="woo-secret",
)
