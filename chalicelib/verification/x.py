"""X (Twitter) Account Activity: ``X-Twitter-Webhooks-Signature: sha256=<base64 HMAC-SHA256(body)>``.

The key is the app's consumer secret. The GET ``crc_token`` check is in ``handshake.py``.

The CRC answer and a delivery's signature are the same function, ``HMAC-SHA256(secret, bytes)``, and the
CRC is answered to anyone. So the two must never meet on the same bytes: a CRC token is at most
``handshake.MAX_CRC_TOKEN`` characters of URL-safe base64 (what X sends), and a delivery's body must be a
JSON object, which starts with ``{`` (after optional white space), a character no CRC token can hold. No CRC
answer is therefore ever the signature of an acceptable body: the disjointness holds by construction, not
by a list of known-bad tokens. A signed body that is not a JSON object is ``malformed_body``; it is checked
after the signature, so an unauthenticated request never makes us parse its body.
"""

from __future__ import annotations

from ._common import Request, VerificationError, Verified, body_signature, load_json


def verify_x(req: Request) -> Verified:
    """Verify an X Account Activity delivery; its body must be a JSON object (see the module docstring)."""
    body_signature(req, "X-Twitter-Webhooks-Signature", encoding="base64", prefix="sha256=")
    if not isinstance(load_json(req.body), dict):
        raise VerificationError("malformed_body", "an X delivery is a JSON object")
    return Verified()
