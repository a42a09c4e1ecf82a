"""Replies to providers' endpoint-ownership handshakes.

- Meta, GET ``hub.mode=subscribe&hub.verify_token=T&hub.challenge=C``: 200 ``C`` when ``T`` equals
  ``options["verify_token"]`` (constant time); otherwise ``bad_credentials`` (the ingest answers 403).
- X, GET ``crc_token=T``: 200 JSON ``{"response_token": "sha256=" + base64(HMAC-SHA256(secret, T))}``.
  ``T`` must be 1 to ``MAX_CRC_TOKEN`` characters of base64 (standard or URL-safe alphabet, ``=`` padding);
  anything else is ``invalid_challenge``. This GET is unauthenticated and its answer is exactly the
  signature an X delivery of body ``T`` would carry, so ``T`` must never be a body ``verify_x`` accepts: X
  bodies are JSON objects (they start with ``{``, which the token alphabet lacks). See ``x.py``.
- Slack, POST ``{"type": "url_verification", "challenge": C}``: 200 text/plain ``C``.
- Zoom, POST ``{"event": "endpoint.url_validation", "payload": {"plainToken": P}}``: 200 JSON
  ``{"plainToken": P, "encryptedToken": hex(HMAC-SHA256(secret, P))}``.

POST handshakes are signed like any delivery, so ``challenge_reply`` is called for them only after
``verify()`` succeeded. Anything else, including a POST body that is not JSON, is "not a handshake": None.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._common import (
    Request,
    VerificationError,
    decode_hex,
    dig,
    equal_secret,
    index_headers,
    load_json,
    mac,
    normalise_secrets,
    prefixed,
)
from .zoom import zoom_message

#: Challenges are echoed back; a long one is not a real handshake and is not reflected.
MAX_CHALLENGE = 1024
#: X's CRC tokens are short opaque base64 strings; the bound and the alphabet keep the answer from ever
#: being the signature of an acceptable X delivery (a JSON object). See ``x.py``.
MAX_CRC_TOKEN = 255
_CRC_TOKEN = re.compile(rf"[A-Za-z0-9+/_-]{{1,{MAX_CRC_TOKEN}}}={{0,2}}")


@dataclass(frozen=True)
class ChallengeReply:
    """The HTTP answer to a handshake: status, body bytes and content type."""

    status: int
    body: bytes
    content_type: str


def _json(document: Mapping[str, str]) -> ChallengeReply:
    return ChallengeReply(
        200, json.dumps(document, separators=(",", ":")).encode("utf-8"), "application/json"
    )


def _query(query: Mapping[str, Any], name: str) -> str | None:
    """One query value; absent, repeated or non-text values count as absent."""
    value = query.get(name)
    if isinstance(value, list | tuple):
        value = value[0] if len(value) == 1 else None
    return value if isinstance(value, str) else None


def _meta(query: Mapping[str, Any], options: Mapping[str, Any]) -> ChallengeReply | None:
    challenge = _query(query, "hub.challenge")
    if _query(query, "hub.mode") != "subscribe" or challenge is None or len(challenge) > MAX_CHALLENGE:
        return None
    given = _query(query, "hub.verify_token")
    expected = options.get("verify_token")
    if not isinstance(expected, str) or not expected or given is None:
        raise VerificationError("bad_credentials", "verify token is missing")
    if not equal_secret(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8")):
        raise VerificationError("bad_credentials", "verify token does not match")
    return ChallengeReply(200, challenge.encode("utf-8", "surrogatepass"), "text/plain")


def _x(query: Mapping[str, Any], secrets: Sequence[str]) -> ChallengeReply | None:
    token = _query(query, "crc_token")
    if token is None:
        return None
    if len(token) > MAX_CRC_TOKEN + 2 or not _CRC_TOKEN.fullmatch(token):
        raise VerificationError(
            "invalid_challenge", f"crc_token must be 1 to {MAX_CRC_TOKEN} characters of base64"
        )
    secret = normalise_secrets(secrets)[0]
    digest = mac(secret.encode("utf-8"), token.encode("utf-8", "surrogatepass"))
    return _json({"response_token": "sha256=" + base64.b64encode(digest).decode("ascii")})


def _slack(document: Any) -> ChallengeReply | None:
    challenge = dig(document, "challenge")
    if dig(document, "type") != "url_verification" or challenge is None or len(challenge) > MAX_CHALLENGE:
        return None
    try:
        echoed = challenge.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: not a challenge anyone could read back
        return None
    return ChallengeReply(200, echoed, "text/plain")


def _zoom_secret(secrets: tuple[str, ...], headers: Mapping[str, Any], body: bytes) -> str:
    """The secret that signed this request (the one Zoom expects back during a rotation), else the first."""
    req = Request("zoom", secrets, "POST", "", index_headers(headers), body, 0.0, None)
    try:
        signature = decode_hex(prefixed(req.require_header("x-zm-signature"), "v0="))
        message = zoom_message(req.require_header("x-zm-request-timestamp"), body)
    except VerificationError:
        return secrets[0]
    for secret in secrets:
        if equal_secret(mac(secret.encode("utf-8"), message), signature):
            return secret
    return secrets[0]


def _zoom(
    document: Any, secrets: Sequence[str], headers: Mapping[str, Any], body: bytes
) -> ChallengeReply | None:
    token = dig(document, "payload", "plainToken")
    if dig(document, "event") != "endpoint.url_validation" or token is None or len(token) > MAX_CHALLENGE:
        return None
    secret = _zoom_secret(normalise_secrets(secrets), headers, body)
    encrypted = mac(secret.encode("utf-8"), token.encode("utf-8", "surrogatepass")).hex()
    return _json({"plainToken": token, "encryptedToken": encrypted})


def handshake(
    scheme: str,
    *,
    secrets: Sequence[str],
    method: str,
    query: Mapping[str, Any],
    headers: Mapping[str, Any],
    body: bytes,
    options: Mapping[str, Any],
) -> ChallengeReply | None:
    """The reply to a handshake for the canonical ``scheme`` name, or None if this is not one."""
    if method.upper() == "GET":
        if scheme == "meta":
            return _meta(query, options)
        if scheme == "x":
            return _x(query, secrets)
        return None
    if method.upper() != "POST" or scheme not in ("slack", "zoom"):
        return None
    document = load_json(body)
    if scheme == "slack":
        return _slack(document)
    return _zoom(document, secrets, headers, body)
