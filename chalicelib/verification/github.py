"""GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``; no timestamp.

The legacy ``X-Hub-Signature: sha1=<hex>`` is read only with ``options={"allow_sha1": True}`` and only when
the SHA-256 header is absent: a present-but-wrong SHA-256 signature never falls back to SHA-1.
Meta uses the same pair of headers (``meta.py`` reuses ``hub_signature``).
"""

from __future__ import annotations

from ._common import Request, VerificationError, Verified, body_signature, check_mac, decode_hex, prefixed


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
