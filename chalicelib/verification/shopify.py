"""Shopify: ``X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(client secret, body)>`` (Events use no ``X-``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _samples
from ._common import Request, Verified, body_signature
from .scheme import Sample, Scheme


def verify_shopify(req: Request) -> Verified:
    """Verify a Shopify webhook; configure old and new client secret during a rotation."""
    body_signature(req, "X-Shopify-Hmac-Sha256", encoding="base64", alternatives=("Shopify-Hmac-Sha256",))
    return Verified(
        delivery_id=req.first_header("X-Shopify-Webhook-Id", "X-Shopify-Event-Id", "Shopify-Event-Id"),
        event_type=req.label_header("X-Shopify-Topic", "Shopify-Topic"),
        unsigned=("delivery_id", "event_type"),
    )


def sample(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A Shopify delivery: ``X-Shopify-Hmac-Sha256: <base64 HMAC of the body>``."""
    delivery = _samples.uuid_like()
    body = _samples.json_body({"id": now, "note": "sent by hookway trigger"})
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": event,
        "X-Shopify-Webhook-Id": delivery,
        "X-Shopify-Hmac-Sha256": _samples.hmac_b64(secret, body),
    }
    return Sample(headers, body, delivery, event)


SCHEME = Scheme(
    name="shopify",
    label="Shopify",
    key_label="Client secret",
    verify=verify_shopify,
    signs="HMAC-SHA256 of the body, base64",
    headers=("X-Shopify-Hmac-Sha256", "Shopify-Hmac-Sha256"),
    sample=sample,
    sample_event="orders/create",
    example_key="7008c5f4da4718b9b45d26d3fcbbb157",
)
