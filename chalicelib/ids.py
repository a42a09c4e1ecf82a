"""Identifiers: random ones, and the deterministic message id that makes deduplication one write."""

from __future__ import annotations

import base64
import hashlib
import secrets


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=").lower()


def new_id(prefix: str) -> str:
    """A random identifier such as ``src_7k2...`` (130 bits)."""
    return f"{prefix}_{_b32(secrets.token_bytes(17))[:26]}"


def message_id_for(source_id: str, dedupe_key: str) -> str:
    """The message id of a deduplicated webhook: the same provider delivery always gets the same id."""
    digest = hashlib.sha256(f"{source_id}\n{dedupe_key}".encode()).digest()
    return f"msg_{_b32(digest)[:26]}"
