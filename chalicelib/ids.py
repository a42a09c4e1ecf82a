"""Identifiers: random ones, and message ids that make deduplication one write and carry a MAC.

Hex, not base32: ``base64.b32encode`` is pure Python and cost 7 µs per id on the ingest path.

A message id is ``msg_`` + 24 hex digits + an 8-digit tag, an HMAC of the digits under the deployment's
id key. The tag lets the API tell an id this deployment issued (a message accepted with 202 and still
queued, or past its retention) from one it never issued, without a lookup. It is not an access control:
ids are not secrets, and every read is still scoped to its caller.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

_TAG_HEX = 8
_BODY_HEX = 24


def new_id(prefix: str) -> str:
    """A random identifier such as ``src_3f9a...`` (128 bits, 32 hex digits)."""
    return f"{prefix}_{secrets.token_hex(16)}"


class MessageIds:
    """Makes and recognises message ids under one deployment's id key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _tag(self, body: str) -> str:
        return hmac.new(self._key, body.encode("ascii"), hashlib.sha256).hexdigest()[:_TAG_HEX]

    def derived(self, source_id: str, dedupe_key: str) -> str:
        """The id of a deduplicated webhook: the same provider delivery always gets the same id."""
        body = hashlib.sha256(f"{source_id}\n{dedupe_key}".encode()).hexdigest()[:_BODY_HEX]
        return f"msg_{body}{self._tag(body)}"

    def random(self) -> str:
        """A fresh id for a message that is not deduplicated."""
        body = secrets.token_hex(_BODY_HEX // 2)
        return f"msg_{body}{self._tag(body)}"

    def issued(self, message_id: str) -> bool:
        """Whether this deployment made the id (constant time in the tag)."""
        if len(message_id) != 4 + _BODY_HEX + _TAG_HEX or not message_id.startswith("msg_"):
            return False
        body, tag = message_id[4 : 4 + _BODY_HEX], message_id[4 + _BODY_HEX :]
        if any(c not in "0123456789abcdef" for c in body):
            return False
        return hmac.compare_digest(tag, self._tag(body))
