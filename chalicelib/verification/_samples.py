"""Small helpers for the sample signers each scheme module declares (``Scheme.sample``).

Samples follow each provider's published recipe with ``hmac`` directly, not through the verifiers'
helpers, so a test that the verifier accepts a sample checks two readings of the recipe against each other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any


def key(secret: str) -> bytes:
    """The secret as UTF-8 bytes: the key of every scheme that uses its secret as text."""
    return secret.encode("utf-8")


def hmac_hex(secret: str | bytes, data: bytes, algorithm: str = "sha256") -> str:
    """Lower-case hex HMAC."""
    raw = key(secret) if isinstance(secret, str) else secret
    return hmac.new(raw, data, getattr(hashlib, algorithm)).hexdigest()


def hmac_b64(secret: str | bytes, data: bytes, algorithm: str = "sha256") -> str:
    """Standard base64 HMAC."""
    raw = key(secret) if isinstance(secret, str) else secret
    return base64.b64encode(hmac.new(raw, data, getattr(hashlib, algorithm)).digest()).decode("ascii")


def json_body(document: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def new_id(prefix: str = "") -> str:
    """A random id (hex), with an optional prefix."""
    return prefix + os.urandom(12).hex()


def uuid_like() -> str:
    """A random id in the 8-4-4-4-12 shape providers use for delivery GUIDs."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
