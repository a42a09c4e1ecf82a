"""Identifiers: random ones, and the deterministic message id that makes deduplication one write.

Hex, not base32: ``base64.b32encode`` is pure Python and cost 7 µs per id on the ingest path.
"""

from __future__ import annotations

import hashlib
import secrets


def new_id(prefix: str) -> str:
    """A random identifier such as ``src_3f9a...`` (128 bits, 32 hex digits)."""
    return f"{prefix}_{secrets.token_hex(16)}"


def message_id_for(source_id: str, dedupe_key: str) -> str:
    """The message id of a deduplicated webhook: the same provider delivery always gets the same id."""
    return "msg_" + hashlib.sha256(f"{source_id}\n{dedupe_key}".encode()).hexdigest()[:32]
