"""What ``hookway verify`` says it compared: the headers the scheme reads, the body, the clock.

It shows what *was received* (header values, cut short), the body's length and SHA-256, how many
secrets were tried and the timestamp's age: never anything computed from a secret.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hookway_cli.capture import Captured

# The headers each scheme reads: (signature headers, timestamp header or None, what is signed).
SCHEMES: dict[str, tuple[tuple[str, ...], str | None, str]] = {
    "github": (("x-hub-signature-256",), None, "HMAC-SHA256 of the body, hex"),
    "meta": (("x-hub-signature-256",), None, "HMAC-SHA256 of the body, hex"),
    "stripe": (("stripe-signature",), "stripe-signature", "HMAC-SHA256 of `t.body`, hex"),
    "standard": (
        ("webhook-signature", "svix-signature"),
        "webhook-timestamp",
        "HMAC-SHA256 of `id.timestamp.body`, base64",
    ),
    "svix": (
        ("webhook-signature", "svix-signature"),
        "webhook-timestamp",
        "HMAC-SHA256 of `id.timestamp.body`, base64",
    ),
    "slack": (("x-slack-signature",), "x-slack-request-timestamp", "HMAC-SHA256 of `v0:timestamp:body`, hex"),
    "shopify": (("x-shopify-hmac-sha256",), None, "HMAC-SHA256 of the body, base64"),
    "zoom": (("x-zm-signature",), "x-zm-request-timestamp", "HMAC-SHA256 of `v0:timestamp:body`, hex"),
    "paddle": (("paddle-signature",), "paddle-signature", "HMAC-SHA256 of `ts:body`, hex"),
    "square": (("x-square-hmacsha256-signature",), None, "HMAC-SHA256 of `url + body`, base64"),
    "twilio": (("x-twilio-signature",), None, "HMAC-SHA1 of the URL and sorted form fields, base64"),
    "linear": (("linear-signature",), None, "HMAC-SHA256 of the body, hex"),
    "woocommerce": (("x-wc-webhook-signature",), None, "HMAC-SHA256 of the body, base64"),
    "pagerduty": (("x-pagerduty-signature",), None, "HMAC-SHA256 of the body, hex"),
}


def _shown(value: str) -> str:
    return value if len(value) <= 24 else value[:20] + "…"


def compared(scheme: str, captured: Captured, secrets: int, now: float, tolerance: int | None) -> list[str]:
    """Lines describing the inputs of the check."""
    lines = []
    known = SCHEMES.get(scheme)
    if known:
        names, stamp, recipe = known
        lines.append(f"recipe: {recipe}")
        for name in names:
            values = captured.headers.get(name)
            if values:
                lines.append(f"header {name}: {', '.join(_shown(v) for v in values)} (as received)")
            elif name == names[0]:
                lines.append(f"header {name}: absent")
        if stamp and captured.headers.get(stamp):
            raw = captured.headers[stamp][0]
            match = (
                re.search(r"(?:^|[,;]\s*)(?:t|ts)=(\d+)", raw)
                if "=" in raw
                else re.fullmatch(r"\s*(\d+)\s*", raw)
            )
            if match:
                age = int(now - int(match.group(1)))
                lines.append(
                    f"timestamp: {match.group(1)}, {age} s before the check time"
                    + (f" (tolerance {tolerance} s)" if tolerance is not None else "")
                )
    else:
        lines.append(f"headers received: {', '.join(sorted(captured.headers)) or 'none'}")
    digest = hashlib.sha256(captured.body).hexdigest()
    lines.append(f"body: {len(captured.body)} bytes, sha256 {digest[:16]}…")
    lines.append(f"secrets tried: {secrets}")
    return lines
