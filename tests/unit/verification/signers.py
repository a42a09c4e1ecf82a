"""Test-side signers: each builds a signed request from the provider's documented recipe.

They use ``hmac.new`` directly, independent of ``chalicelib.verification``, so a verifier that agrees
with them agrees with the recipe, not with itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib.verification import Verified, verify

NOW = 1_700_000_000
URL = "https://hooks.example.com/in/src_1?x=1"


@dataclass(frozen=True)
class Signed:
    """A signed request ready for ``verify``."""

    scheme: str
    secret: str
    headers: dict[str, Any]
    body: bytes
    url: str = URL
    method: str = "POST"
    options: dict[str, Any] = field(default_factory=dict)

    def verify(self, **overrides: Any) -> Verified:
        """Call ``verify`` with this request, any field overridden by keyword."""
        args: dict[str, Any] = {
            "secrets": [self.secret],
            "method": self.method,
            "url": self.url,
            "headers": self.headers,
            "body": self.body,
            "now": NOW,
            "options": self.options,
        }
        args.update(overrides)
        return verify(self.scheme, **args)

    def with_headers(self, **changes: Any) -> Signed:
        """A copy with headers replaced (``None`` removes one); names are matched case-insensitively."""
        headers = dict(self.headers)
        for raw_name, value in changes.items():
            name = raw_name.replace("_", "-")
            for existing in [key for key in headers if key.lower() == name.lower()]:
                del headers[existing]
            if value is not None:
                headers[name] = value
        return replace(self, headers=headers)


def hexmac(secret: str | bytes, message: bytes, digest: Any = hashlib.sha256) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message, digest).hexdigest()


def b64mac(secret: str | bytes, message: bytes, digest: Any = hashlib.sha256) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return base64.b64encode(hmac.new(key, message, digest).digest()).decode()


def github(secret: str, body: bytes, ts: int = NOW) -> Signed:
    headers = {
        "X-Hub-Signature-256": "sha256=" + hexmac(secret, body),
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-GitHub-Event": "push",
    }
    return Signed("github", secret, headers, body)


def meta(secret: str, body: bytes, ts: int = NOW) -> Signed:
    return Signed("meta", secret, {"X-Hub-Signature-256": "sha256=" + hexmac(secret, body)}, body)


def bitbucket(secret: str, body: bytes, ts: int = NOW) -> Signed:
    headers = {
        "X-Hub-Signature": "sha256=" + hexmac(secret, body),
        "X-Request-UUID": "req-1",
        "X-Event-Key": "repo:push",
    }
    return Signed("bitbucket", secret, headers, body)


def jira(secret: str, body: bytes, ts: int = NOW) -> Signed:
    headers = {"X-Hub-Signature": "sha256=" + hexmac(secret, body), "X-Atlassian-Webhook-Identifier": "wh-1"}
    return Signed("jira", secret, headers, body)


def stripe(secret: str, body: bytes, ts: int = NOW) -> Signed:
    header = f"t={ts},v1={hexmac(secret, f'{ts}.'.encode() + body)}"
    return Signed("stripe", secret, {"Stripe-Signature": header}, body)


def standard(secret: str, body: bytes, ts: int = NOW, msg_id: str = "msg_1") -> Signed:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signature = b64mac(key, f"{msg_id}.{ts}.".encode() + body)
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": f"v1,{signature}"}
    return Signed("standard", secret, headers, body)


def slack(secret: str, body: bytes, ts: int = NOW) -> Signed:
    headers = {
        "X-Slack-Signature": "v0=" + hexmac(secret, f"v0:{ts}:".encode() + body),
        "X-Slack-Request-Timestamp": str(ts),
    }
    return Signed("slack", secret, headers, body)


def zoom(secret: str, body: bytes, ts: int = NOW) -> Signed:
    headers = {
        "x-zm-signature": "v0=" + hexmac(secret, f"v0:{ts}:".encode() + body),
        "x-zm-request-timestamp": str(ts),
    }
    return Signed("zoom", secret, headers, body)


def shopify(secret: str, body: bytes, ts: int = NOW) -> Signed:
    headers = {
        "X-Shopify-Hmac-Sha256": b64mac(secret, body),
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "X-Shopify-Topic": "orders/create",
    }
    return Signed("shopify", secret, headers, body)


def twilio_json(secret: str, body: bytes, ts: int = NOW) -> Signed:
    url = URL + "&bodySHA256=" + hashlib.sha256(body).hexdigest()
    headers = {"X-Twilio-Signature": b64mac(secret, url.encode(), hashlib.sha1)}
    return Signed("twilio", secret, headers, body, url=url)


def square(secret: str, body: bytes, ts: int = NOW) -> Signed:
    headers = {"x-square-hmacsha256-signature": b64mac(secret, URL.encode() + body)}
    return Signed("square", secret, headers, body)


def pagerduty(secret: str, body: bytes, ts: int = NOW) -> Signed:
    return Signed("pagerduty", secret, {"X-PagerDuty-Signature": "v1=" + hexmac(secret, body)}, body)


def paddle(secret: str, body: bytes, ts: int = NOW) -> Signed:
    header = f"ts={ts};h1={hexmac(secret, f'{ts}:'.encode() + body)}"
    return Signed("paddle", secret, {"Paddle-Signature": header}, body)


def linear(secret: str, body: bytes, ts: int = NOW) -> Signed:
    # Linear's timestamp lives in the body, so the body is wrapped around the given bytes.
    document = {"webhookTimestamp": ts * 1000, "data": body.decode("latin-1")}
    wrapped = json.dumps(document).encode()
    headers = {"Linear-Signature": hexmac(secret, wrapped), "Linear-Delivery": "d-1", "Linear-Event": "Issue"}
    return Signed("linear", secret, headers, wrapped)


def docusign(secret: str, body: bytes, ts: int = NOW) -> Signed:
    return Signed("docusign", secret, {"X-DocuSign-Signature-1": b64mac(secret, body)}, body)


def google_code(secret: str, body: bytes, ts: int = NOW) -> Signed:
    headers = {"Google-Code-Project-Hosting-Hook-Hmac": hexmac(secret, body, hashlib.md5)}
    return Signed("google-code", secret, headers, body)


def woocommerce(secret: str, body: bytes, ts: int = NOW) -> Signed:
    headers = {"X-WC-Webhook-Signature": b64mac(secret, body), "X-WC-Webhook-Delivery-ID": "7"}
    return Signed("woocommerce", secret, headers, body)


def x(secret: str, body: bytes, ts: int = NOW) -> Signed:
    return Signed("x", secret, {"X-Twitter-Webhooks-Signature": "sha256=" + b64mac(secret, body)}, body)


def generic_hmac(secret: str, body: bytes, ts: int = NOW) -> Signed:
    options = {
        "header": "X-Signature",
        "algorithm": "sha512",
        "encoding": "base64",
        "prefix": "sha512=",
        "template": "{id}:{timestamp}:{body}",
        "timestamp_header": "X-Timestamp",
        "id_header": "X-Id",
        "event_type_header": "X-Event",
    }
    message = f"id-1:{ts}:".encode() + body
    headers = {
        "X-Signature": "sha512=" + b64mac(secret, message, hashlib.sha512),
        "X-Timestamp": str(ts),
        "X-Id": "id-1",
        "X-Event": "thing.created",
    }
    return Signed("hmac", secret, headers, body, options=options)


def mailgun(secret: str, body: bytes, ts: int = NOW) -> Signed:
    # The signature lives in the body; the given bytes become the token's tail.
    token = "tok" + body.hex()[:40]
    document = {
        "signature": {
            "timestamp": str(ts),
            "token": token,
            "signature": hexmac(secret, f"{ts}{token}".encode()),
        },
        "event-data": {"event": "delivered"},
    }
    return Signed("mailgun", secret, {}, json.dumps(document).encode())


#: Schemes whose signature covers the body: sign, verify, then tamper.
BODY_SIGNERS: dict[str, Callable[..., Signed]] = {
    "github": github,
    "meta": meta,
    "bitbucket": bitbucket,
    "jira": jira,
    "stripe": stripe,
    "slack": slack,
    "zoom": zoom,
    "shopify": shopify,
    "twilio": twilio_json,
    "square": square,
    "pagerduty": pagerduty,
    "paddle": paddle,
    "linear": linear,
    "docusign": docusign,
    "google-code": google_code,
    "woocommerce": woocommerce,
    "x": x,
    "hmac": generic_hmac,
}
#: Schemes with a timestamp: (signer, default tolerance); both sides are checked.
TIMESTAMPED: dict[str, tuple[Callable[..., Signed], int]] = {
    "stripe": (stripe, 300),
    "slack": (slack, 300),
    "zoom": (zoom, 300),
    "paddle": (paddle, 5),
    "linear": (linear, 60),
    "hmac": (generic_hmac, 300),
    "mailgun": (mailgun, 300),
    "standard": (standard, 300),
}
#: A usable secret per scheme (Standard Webhooks needs base64 after whsec_).
STANDARD_SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()


def secret_for(scheme: str) -> str:
    """A valid secret for ``scheme``."""
    return STANDARD_SECRET if scheme == "standard" else "s3cret-key"
