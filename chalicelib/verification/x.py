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

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from . import _samples
from ._common import Request, VerificationError, Verified, body_signature, load_json, mac, normalise_secrets
from .handshake import CRC_TOKEN, MAX_CRC_TOKEN, ChallengeReply, json_reply, query_value
from .scheme import Handshake, Sample, Scheme


def verify_x(req: Request) -> Verified:
    """Verify an X Account Activity delivery; its body must be a JSON object (see the module docstring)."""
    body_signature(req, "X-Twitter-Webhooks-Signature", encoding="base64", prefix="sha256=")
    if not isinstance(load_json(req.body), dict):
        raise VerificationError("malformed_body", "an X delivery is a JSON object")
    return Verified()


def challenge(
    secrets: Sequence[str],
    query: Mapping[str, Any],
    headers: Mapping[str, Any],
    body: bytes,
    options: Mapping[str, Any],
) -> ChallengeReply | None:
    """X's GET ``crc_token`` check: ``sha256=`` + base64 HMAC of the token (see the module docstring)."""
    token = query_value(query, "crc_token")
    if token is None:
        return None
    if len(token) > MAX_CRC_TOKEN + 2 or not CRC_TOKEN.fullmatch(token):
        raise VerificationError(
            "invalid_challenge", f"crc_token must be 1 to {MAX_CRC_TOKEN} characters of base64"
        )
    secret = normalise_secrets(secrets)[0]
    digest = mac(secret.encode("utf-8"), token.encode("utf-8", "surrogatepass"))
    return json_reply({"response_token": "sha256=" + base64.b64encode(digest).decode("ascii")})


def sample(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """An Account Activity delivery: ``X-Twitter-Webhooks-Signature: sha256=<base64 HMAC of the body>``."""
    body = _samples.json_body({"for_user_id": "1", event: [{"created_timestamp": str(now * 1000)}]})
    headers = {
        "Content-Type": "application/json",
        "X-Twitter-Webhooks-Signature": "sha256=" + _samples.hmac_b64(secret, body),
    }
    return Sample(headers, body, None, event)


SCHEME = Scheme(
    name="x",
    label="X (Twitter)",
    aliases=("twitter",),
    key_label="Consumer secret",
    verify=verify_x,
    signs="HMAC-SHA256 of the body (a JSON object), base64, prefixed sha256=",
    headers=("X-Twitter-Webhooks-Signature",),
    handshake=Handshake("GET", "crc_token: answers response_token, the token's HMAC, as JSON", challenge),
    sample=sample,
    sample_event="tweet_create_events",
    example_key="x-consumer-secret",
)
