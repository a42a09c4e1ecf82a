"""The ``github`` signing mode: ``X-Hub-Signature-256`` with the endpoint's secret, for receivers that
speak GitHub's format (Jenkins' GitHub plugin, GitHub-webhook libraries); pure."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

from chalicelib.outbound.signing.mode import Mode
from chalicelib.outbound.signing.standard import SigningError

if TYPE_CHECKING:
    from chalicelib.models import Endpoint, Message


def github_signature(secret: str, body: bytes) -> str:
    """GitHub's ``X-Hub-Signature-256`` value, ``sha256=<hex>``; the secret is used as UTF-8 text."""
    if not isinstance(secret, str) or not secret:
        raise SigningError("secret must be a non-empty string")
    if not isinstance(body, bytes | bytearray | memoryview):
        raise SigningError("body must be bytes")
    digest = hmac.new(secret.encode("utf-8"), bytes(body), hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def headers_for(message: Message, endpoint: Endpoint, body: bytes, now: float) -> dict[str, str]:
    """GitHub's headers, signed with the newest live secret (secrets are kept in the order they were added)."""
    newest = endpoint.live_secrets(now)[-1]
    return {
        "webhook-id": message.id,
        "X-Hub-Signature-256": github_signature(newest, body),
        "X-GitHub-Event": message.event_type or "message",
        "X-GitHub-Delivery": message.id,
    }


MIN_KEY_LENGTH = 16
MAX_KEY_LENGTH = 256


def _key_problem(secret: str) -> str | None:
    if not MIN_KEY_LENGTH <= len(secret) <= MAX_KEY_LENGTH:
        return f"a GitHub-style secret is {MIN_KEY_LENGTH} to {MAX_KEY_LENGTH} characters"
    return None


MODE = Mode(
    name="github",
    stored="github",
    label="GitHub style",
    headers=("X-Hub-Signature-256", "X-GitHub-Event", "X-GitHub-Delivery", "webhook-id"),
    key_rule=f"any text of {MIN_KEY_LENGTH} to {MAX_KEY_LENGTH} characters; 64 hex characters generated when not given",
    new_key=lambda: (secrets.token_hex(32), None),
    key_problem=_key_problem,
)
