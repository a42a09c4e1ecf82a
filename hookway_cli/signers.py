"""Sample provider webhooks, signed the way each provider signs, for ``hookway trigger``.

Each signer takes the source's secret, an event name and the current time, and returns the headers and
body the provider would send. They follow each provider's published recipe with ``hmac`` directly (a
few lines each), independent of the gateway's verifiers, so ``trigger`` shows the whole pipeline works
rather than that the gateway agrees with itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from hookway_cli.errors import UsageError


@dataclass(frozen=True)
class Sample:
    """A signed sample webhook."""

    headers: dict[str, str]
    body: bytes
    delivery_id: str
    event: str


def _json(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def _hmac_hex(key: bytes, data: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def github(secret: str, event: str, now: int) -> Sample:
    """GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC of the body>``."""
    delivery = str(uuid.uuid4())
    body = _json({"ref": "refs/heads/main", "hook_event": event, "sent_by": "hookway trigger"})
    return Sample(
        {
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": "sha256=" + _hmac_hex(secret.encode(), body),
        },
        body,
        delivery,
        event,
    )


def stripe(secret: str, event: str, now: int) -> Sample:
    """Stripe: ``Stripe-Signature: t=<ts>,v1=<hex HMAC of "ts.body">``."""
    event_id = "evt_" + uuid.uuid4().hex[:24]
    body = _json({"id": event_id, "object": "event", "type": event, "created": now, "data": {"object": {}}})
    signature = _hmac_hex(secret.encode(), f"{now}.".encode() + body)
    return Sample(
        {"Content-Type": "application/json", "Stripe-Signature": f"t={now},v1={signature}"},
        body,
        event_id,
        event,
    )


def standard(secret: str, event: str, now: int) -> Sample:
    """Standard Webhooks: ``webhook-signature: v1,<base64 HMAC of "id.ts.body">``, key = base64(whsec_...)."""
    encoded = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise UsageError("a Standard Webhooks secret is whsec_ followed by base64") from None
    msg_id = "msg_" + uuid.uuid4().hex
    body = _json({"type": event, "timestamp": now, "data": {"sent_by": "hookway trigger"}})
    digest = hmac.new(key, f"{msg_id}.{now}.".encode() + body, hashlib.sha256).digest()
    return Sample(
        {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(now),
            "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        },
        body,
        msg_id,
        event,
    )


def shopify(secret: str, event: str, now: int) -> Sample:
    """Shopify: ``X-Shopify-Hmac-Sha256: <base64 HMAC of the body>``."""
    delivery = str(uuid.uuid4())
    body = _json({"id": now, "note": "sent by hookway trigger"})
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return Sample(
        {
            "Content-Type": "application/json",
            "X-Shopify-Topic": event,
            "X-Shopify-Webhook-Id": delivery,
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        },
        body,
        delivery,
        event,
    )


def slack(secret: str, event: str, now: int) -> Sample:
    """Slack: ``X-Slack-Signature: v0=<hex HMAC of "v0:ts:body">`` with ``X-Slack-Request-Timestamp``."""
    event_id = "Ev" + uuid.uuid4().hex[:10].upper()
    body = _json({"type": "event_callback", "event_id": event_id, "event": {"type": event, "text": "hi"}})
    signature = _hmac_hex(secret.encode(), f"v0:{now}:".encode() + body)
    return Sample(
        {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": str(now),
            "X-Slack-Signature": f"v0={signature}",
        },
        body,
        event_id,
        event,
    )


Signer = Callable[[str, str, int], Sample]

SIGNERS: dict[str, Signer] = {
    "github": github,
    "stripe": stripe,
    "standard": standard,
    "svix": standard,
    "shopify": shopify,
    "slack": slack,
}

DEFAULT_EVENTS = {
    "github": "push",
    "stripe": "invoice.paid",
    "standard": "order.created",
    "svix": "order.created",
    "shopify": "orders/create",
    "slack": "app_mention",
}
