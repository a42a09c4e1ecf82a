"""Meta (Facebook, Instagram, WhatsApp Graph): ``X-Hub-Signature-256`` with the App Secret, as GitHub.

Meta sends no delivery id; the event type is the body's ``object`` (``page``, ``whatsapp_business_account``).
The GET ``hub.challenge`` subscription handshake lives in ``handshake.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import _samples
from ._common import Request, VerificationError, Verified, dig, equal_secret
from .github import ALLOW_SHA1, hub_signature
from .handshake import MAX_CHALLENGE, ChallengeReply, query_value
from .options import Option, nonempty_text
from .scheme import Handshake, Sample, Scheme


def verify_meta(req: Request) -> Verified:
    """Verify a Meta Graph webhook POST."""
    hub_signature(req)
    return Verified.from_body(req.body, _metadata)


def _metadata(document: Any) -> tuple[str | None, str | None]:
    return None, dig(document, "object")


def challenge(
    secrets: Sequence[str],
    query: Mapping[str, Any],
    headers: Mapping[str, Any],
    body: bytes,
    options: Mapping[str, Any],
) -> ChallengeReply | None:
    """Meta's GET ``hub.challenge``: echo it when ``hub.verify_token`` is the configured one."""
    token = query_value(query, "hub.challenge")
    if query_value(query, "hub.mode") != "subscribe" or token is None or len(token) > MAX_CHALLENGE:
        return None
    given = query_value(query, "hub.verify_token")
    expected = options.get("verify_token")
    if not isinstance(expected, str) or not expected or given is None:
        raise VerificationError("bad_credentials", "verify token is missing")
    if not equal_secret(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8")):
        raise VerificationError("bad_credentials", "verify token does not match")
    return ChallengeReply(200, token.encode("utf-8", "surrogatepass"), "text/plain")


def sample(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A Meta Graph delivery: ``X-Hub-Signature-256`` over the body, the object type in the body."""
    body = _samples.json_body({"object": event, "entry": [{"id": "1", "time": now, "changes": []}]})
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": "sha256=" + _samples.hmac_hex(secret, body),
    }
    return Sample(headers, body, None, event)


SCHEME = Scheme(
    name="meta",
    label="Meta (Facebook, Instagram, WhatsApp)",
    aliases=("facebook", "instagram", "whatsapp"),
    key_label="App secret",
    verify=verify_meta,
    signs="HMAC-SHA256 of the body, hex, prefixed sha256=",
    headers=("X-Hub-Signature-256",),
    options={
        "verify_token": Option(
            "text",
            "Verify token",
            "Answers Meta's subscription handshake (hub.verify_token).",
            check=nonempty_text,
        ),
        "allow_sha1": ALLOW_SHA1,
    },
    handshake=Handshake(
        "GET", "hub.mode=subscribe with hub.verify_token: answers hub.challenge as text", challenge
    ),
    sample=sample,
    sample_event="page",
    example_key="meta-app-secret",
)
