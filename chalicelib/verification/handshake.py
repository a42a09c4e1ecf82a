"""Replies to providers' endpoint-ownership handshakes: the shared pieces.

Each scheme with a handshake declares it (``Scheme.handshake``) beside its verifier:

- Meta (``meta.py``), GET ``hub.mode=subscribe&hub.verify_token=T&hub.challenge=C``: 200 ``C`` when ``T``
  equals ``options["verify_token"]`` (constant time); otherwise ``bad_credentials`` (the ingest answers 403).
- X (``x.py``), GET ``crc_token=T``: 200 JSON ``{"response_token": "sha256=" + base64(HMAC-SHA256(secret,
  T))}``. ``T`` must be 1 to ``MAX_CRC_TOKEN`` characters of base64 (standard or URL-safe alphabet, ``=``
  padding); anything else is ``invalid_challenge``. This GET is unauthenticated and its answer is exactly
  the signature an X delivery of body ``T`` would carry, so ``T`` must never be a body ``verify_x``
  accepts: X bodies are JSON objects (they start with ``{``, which the token alphabet lacks). See ``x.py``.
- Slack (``slack.py``), POST ``{"type": "url_verification", "challenge": C}``: 200 text/plain ``C``.
- Zoom (``zoom.py``), POST ``{"event": "endpoint.url_validation", "payload": {"plainToken": P}}``: 200 JSON
  ``{"plainToken": P, "encryptedToken": hex(HMAC-SHA256(secret, P))}``.

POST handshakes are signed like any delivery, so ``challenge_reply`` is called for them only after
``verify()`` succeeded. Anything else, including a POST body that is not JSON, is "not a handshake": None.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Challenges are echoed back; a long one is not a real handshake and is not reflected.
MAX_CHALLENGE = 1024
#: X's CRC tokens are short opaque base64 strings; the bound and the alphabet keep the answer from ever
#: being the signature of an acceptable X delivery (a JSON object). See ``x.py``.
MAX_CRC_TOKEN = 255
CRC_TOKEN = re.compile(rf"[A-Za-z0-9+/_-]{{1,{MAX_CRC_TOKEN}}}={{0,2}}")


@dataclass(frozen=True)
class ChallengeReply:
    """The HTTP answer to a handshake: status, body bytes and content type."""

    status: int
    body: bytes
    content_type: str


def json_reply(document: Mapping[str, str]) -> ChallengeReply:
    """A 200 JSON answer."""
    return ChallengeReply(
        200, json.dumps(document, separators=(",", ":")).encode("utf-8"), "application/json"
    )


def query_value(query: Mapping[str, Any], name: str) -> str | None:
    """One query value; absent, repeated or non-text values count as absent."""
    value = query.get(name)
    if isinstance(value, list | tuple):
        value = value[0] if len(value) == 1 else None
    return value if isinstance(value, str) else None
