"""GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``; no timestamp.

The legacy ``X-Hub-Signature: sha1=<hex>`` is read only with ``options={"allow_sha1": True}`` and only when
the SHA-256 header is absent: a present-but-wrong SHA-256 signature never falls back to SHA-1.
Meta uses the same pair of headers (``meta.py`` reuses ``hub_signature``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _samples
from ._common import Request, VerificationError, Verified, body_signature, check_mac, decode_hex, prefixed
from .options import Option
from .scheme import Sample, Scheme

#: GitHub's and Meta's legacy-signature option.
ALLOW_SHA1 = Option(
    "flag", "Also accept the legacy SHA-1 signature (X-Hub-Signature) when no SHA-256 one is sent"
)


def hub_signature(req: Request) -> None:
    """Check ``X-Hub-Signature-256`` (or, when allowed and it is absent, the SHA-1 ``X-Hub-Signature``)."""
    value = req.header("X-Hub-Signature-256")
    if value is None:
        if req.flag("allow_sha1"):
            body_signature(req, "X-Hub-Signature", algorithm="sha1", prefix="sha1=")
            return
        raise VerificationError("missing_header", "header X-Hub-Signature-256 is missing")
    check_mac(req, [decode_hex(prefixed(value, "sha256="))], req.body)


def verify_github(req: Request) -> Verified:
    """Verify a GitHub (or GitHub Enterprise, Gitea, Jenkins-relayed) delivery."""
    hub_signature(req)
    # GitHub signs the body only: its delivery id and event type headers are not covered.
    return Verified(
        delivery_id=req.header("X-GitHub-Delivery"),
        event_type=req.label_header("X-GitHub-Event"),
        unsigned=("delivery_id", "event_type"),
    )


def sample(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A GitHub delivery: ``X-Hub-Signature-256: sha256=<hex HMAC of the body>``."""
    delivery = _samples.uuid_like()
    body = _samples.json_body({"ref": "refs/heads/main", "hook_event": event, "sent_by": "hookway trigger"})
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": "sha256=" + _samples.hmac_hex(secret, body),
    }
    return Sample(headers, body, delivery, event)


SCHEME = Scheme(
    name="github",
    label="GitHub",
    key_label="Webhook secret",
    verify=verify_github,
    signs="HMAC-SHA256 of the body, hex, prefixed sha256=",
    headers=("X-Hub-Signature-256",),
    options={"allow_sha1": ALLOW_SHA1},
    sample=sample,
    sample_event="push",
    example_key="It's a Secret to Everybody",
)
