"""The ``standard`` signing mode: Standard Webhooks v1 (HMAC-SHA256) and v1a (ed25519); pure.

Content signed is ``{msg_id}.{timestamp}.{body}``. The ``webhook-signature`` header carries one
space-separated ``<version>,<base64>`` entry per secret, so an endpoint whose secret is being
rotated receives a signature from the new and the old secret and verifies with either.

Secret formats:

* ``whsec_`` + base64 of 24..64 random bytes: HMAC key, signature version ``v1``.
* ``whsk_`` + base64 of private(32) || public(32): ed25519 signing key, version ``v1a``;
  the matching ``whpk_`` + base64 of public(32) is what the receiver is given.

``cryptography`` is imported only on the ed25519 path, so the HMAC path stays standard library.
Nothing here logs; callers must never log secrets or computed signatures either.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from secrets import token_bytes
from typing import TYPE_CHECKING

from chalicelib.outbound.signing.mode import Mode

if TYPE_CHECKING:
    from chalicelib.models import Endpoint, Message

__all__ = [
    "MAX_SECRET_BYTES",
    "MIN_SECRET_BYTES",
    "SigningError",
    "decode_secret",
    "generate_ed25519_keypair",
    "generate_secret",
    "headers_for",
    "sign",
    "standard_headers",
]

MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
_HMAC_PREFIX = "whsec_"
_ED25519_PRIVATE_PREFIX = "whsk_"
_ED25519_PUBLIC_PREFIX = "whpk_"
_ED25519_KEY_BYTES = 32


class SigningError(ValueError):
    """A secret, key, id or timestamp cannot be used for signing."""


def generate_secret(nbytes: int = 32) -> str:
    """A new ``whsec_`` HMAC secret of ``nbytes`` random bytes (24..64)."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, int):
        raise SigningError("nbytes must be an integer")
    if not MIN_SECRET_BYTES <= nbytes <= MAX_SECRET_BYTES:
        raise SigningError(f"nbytes must be between {MIN_SECRET_BYTES} and {MAX_SECRET_BYTES}")
    return _HMAC_PREFIX + base64.b64encode(token_bytes(nbytes)).decode("ascii")


def decode_secret(secret: str) -> bytes:
    """The raw HMAC key of a ``whsec_`` secret; refuses a bad prefix, bad base64 or bad length."""
    raw = _decode_prefixed(secret, _HMAC_PREFIX)
    if not MIN_SECRET_BYTES <= len(raw) <= MAX_SECRET_BYTES:
        raise SigningError(f"secret must decode to {MIN_SECRET_BYTES}..{MAX_SECRET_BYTES} bytes")
    return raw


def _decode_prefixed(value: str, prefix: str) -> bytes:
    # The message never repeats the value: it is a secret.
    if not isinstance(value, str) or not value.startswith(prefix):
        raise SigningError(f"secret must start with {prefix!r}")
    try:
        return base64.b64decode(value[len(prefix) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SigningError(f"secret after {prefix!r} is not valid base64") from exc


def generate_ed25519_keypair() -> tuple[str, str]:
    """A new ed25519 pair: (``whsk_`` signing key, ``whpk_`` public key for the receiver)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private_key = Ed25519PrivateKey.generate()
    private_raw = private_key.private_bytes_raw()
    public_raw = private_key.public_key().public_bytes_raw()
    signing_key = _ED25519_PRIVATE_PREFIX + base64.b64encode(private_raw + public_raw).decode("ascii")
    public_key = _ED25519_PUBLIC_PREFIX + base64.b64encode(public_raw).decode("ascii")
    return signing_key, public_key


def _sign_ed25519(signing_key: str, content: bytes) -> bytes:
    # Imported here only: cryptography costs cold-start time and most endpoints use HMAC.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    raw = _decode_prefixed(signing_key, _ED25519_PRIVATE_PREFIX)
    if len(raw) != 2 * _ED25519_KEY_BYTES:
        raise SigningError("ed25519 signing key must decode to 64 bytes (private || public)")
    private_key = Ed25519PrivateKey.from_private_bytes(raw[:_ED25519_KEY_BYTES])
    # A key whose halves disagree would sign with a key the receiver does not have.
    if private_key.public_key().public_bytes_raw() != raw[_ED25519_KEY_BYTES:]:
        raise SigningError("ed25519 signing key's public half does not match its private half")
    return private_key.sign(content)


def _signed_content(msg_id: str, timestamp: int, body: bytes) -> bytes:
    if not isinstance(msg_id, str) or not msg_id:
        raise SigningError("message id must be a non-empty string")
    # '.' separates the signed fields; whitespace or control characters would not survive a
    # header, and non-ASCII ids are not portable across receivers' header parsers.
    if "." in msg_id or any(not "\x21" <= ch <= "\x7e" for ch in msg_id):
        raise SigningError("message id must be printable ASCII without '.' or spaces")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise SigningError("timestamp must be a non-negative integer of Unix seconds")
    if not isinstance(body, bytes | bytearray | memoryview):
        raise SigningError("body must be bytes")
    return f"{msg_id}.{timestamp}.".encode("ascii") + bytes(body)


def sign(msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> str:
    """The ``webhook-signature`` value: one ``v1,`` / ``v1a,`` entry per secret, space-separated."""
    if isinstance(secrets, str):
        # A str is a Sequence[str] of characters; refuse rather than sign with each letter.
        raise SigningError("secrets must be a sequence of secrets, not one string")
    if not secrets:
        raise SigningError("at least one secret is required")
    content = _signed_content(msg_id, timestamp, body)
    entries: list[str] = []
    for secret in secrets:
        if isinstance(secret, str) and secret.startswith(_ED25519_PRIVATE_PREFIX):
            signature = _sign_ed25519(secret, content)
            version = "v1a"
        else:
            signature = hmac.new(decode_secret(secret), content, hashlib.sha256).digest()
            version = "v1"
        entries.append(f"{version},{base64.b64encode(signature).decode('ascii')}")
    return " ".join(entries)


def standard_headers(msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt: webhook-id, -timestamp, -signature."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(msg_id, timestamp, body, secrets),
    }


def headers_for(message: Message, endpoint: Endpoint, body: bytes, now: float) -> dict[str, str]:
    """The signing mode's headers: Standard Webhooks, signed by every live secret of the endpoint."""
    return standard_headers(message.id, int(now), body, endpoint.live_secrets(now))


def _key_problem(secret: str) -> str | None:
    try:
        decode_secret(secret)
    except SigningError as exc:
        return f"secret: {exc}"
    return None


def _new_hmac_key() -> tuple[str, str | None]:
    return generate_secret(), None


STANDARD = Mode(
    name="standard",
    stored="standard",
    label="Standard Webhooks",
    headers=("webhook-id", "webhook-timestamp", "webhook-signature"),
    key_rule=f"whsec_ and the base64 of {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} random bytes; generated when not given",
    new_key=_new_hmac_key,
    key_problem=_key_problem,
)

ED25519 = Mode(
    name="standard-ed25519",
    stored="standard",
    label="Standard Webhooks, Ed25519",
    headers=("webhook-id", "webhook-timestamp", "webhook-signature"),
    key_rule="generated by Hookway (a whsk_ signing key); the receiver is given its whpk_ public key",
    new_key=generate_ed25519_keypair,
    key_problem=lambda secret: "ed25519 keys are generated by Hookway; do not pass a secret",
    generated_only=True,
)
