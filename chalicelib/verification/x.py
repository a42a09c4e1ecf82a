"""X (Twitter) Account Activity: ``X-Twitter-Webhooks-Signature: sha256=<base64 HMAC-SHA256(body)>``.

The key is the app's consumer secret. The GET ``crc_token`` check is in ``handshake.py``.
"""

from __future__ import annotations

from ._common import Request, Verified, body_signature


def verify_x(req: Request) -> Verified:
    """Verify an X Account Activity delivery."""
    body_signature(req, "X-Twitter-Webhooks-Signature", encoding="base64", prefix="sha256=")
    return Verified()
