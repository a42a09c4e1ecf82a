"""Standard Webhooks (and Svix): ``webhook-id``, ``webhook-timestamp``, ``webhook-signature`` headers.

The signed content is ``f"{id}.{timestamp}.{body}"``. ``webhook-signature`` holds space-separated entries:

- ``v1,<base64 HMAC-SHA256>`` keyed with ``base64decode(secret after "whsec_")``; the prefix and the ``=``
  padding may be missing, as the reference libraries allow.
- ``v1a,<base64 ed25519 signature>`` checked against ``whpk_<base64 32-byte public key>`` secrets. Only this
  path imports ``cryptography``, and only when a ``v1a`` entry meets a ``whpk_`` secret.

Unknown versions are skipped; any matching entry verifies. Svix's ``svix-*`` header names are read when the
``webhook-*`` ones are absent. The timestamp must be within 300 s either way.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from . import _samples
from ._common import (
    Request,
    VerificationError,
    Verified,
    check_window,
    decode_base64,
    decode_entries,
    dig,
    mac_matches,
    mismatch,
    parse_timestamp,
    split_entries,
)
from .options import WINDOW
from .scheme import Sample, Scheme

DEFAULT_TOLERANCE = 300
_SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
_PUBLIC_PREFIX = "whpk_"
_PRIVATE_PREFIX = "whsk_"


def _header(req: Request, name: str) -> str:
    """``webhook-<name>``, else Svix's ``svix-<name>``."""
    value = req.header("webhook-" + name)
    if value is None:
        value = req.header("svix-" + name)
        if value is None:
            raise VerificationError("missing_header", f"header webhook-{name} is missing")
    return value


@functools.lru_cache(maxsize=128)
def _split_keys(secrets: tuple[str, ...]) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """Decode the secrets into HMAC keys and ed25519 public keys; a bad one is a configuration error.

    Cached: a source's secrets change rarely and decoding them cost more than the rest of a verification.
    """
    symmetric: list[bytes] = []
    public: list[bytes] = []
    for secret in secrets:
        if secret.startswith(_PUBLIC_PREFIX):
            key = decode_base64(secret[len(_PUBLIC_PREFIX) :], what="public key", reason="invalid_secret")
            if len(key) != 32:
                raise VerificationError("invalid_secret", "whpk_ key is not a 32-byte ed25519 public key")
            public.append(key)
        elif secret.startswith(_PRIVATE_PREFIX):
            raise VerificationError("invalid_secret", "configure the whpk_ public key, not the whsk_ key")
        else:
            text = secret.removeprefix(_SECRET_PREFIX)
            symmetric.append(decode_base64(text, what="secret", reason="invalid_secret", pad=True))
    return tuple(symmetric), tuple(public)


def _ed25519_matches(public_keys: tuple[bytes, ...], signatures: list[bytes], message: bytes) -> bool:
    # Imported here so that `import chalicelib.verification` stays free of cryptography (cold start).
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    found = False
    for raw in public_keys:
        key = Ed25519PublicKey.from_public_bytes(raw)
        for signature in signatures:
            if len(signature) != 64:
                continue
            try:
                key.verify(signature, message)
            except InvalidSignature:
                continue
            found = True
    return found


def verify_standard(req: Request) -> Verified:
    """Verify a Standard Webhooks / Svix delivery (``v1`` HMAC and ``v1a`` ed25519)."""
    symmetric, public = _split_keys(req.secrets)
    msg_id = _header(req, "id")
    if "." in msg_id:
        # The spec forbids it: a dot in the id would make "id.ts.body" ambiguous.
        raise VerificationError("malformed_header", "webhook-id must not contain '.'")
    stamp = _header(req, "timestamp")
    timestamp = parse_timestamp(stamp)
    v1_entries: list[str] = []
    v1a_entries: list[str] = []
    malformed = False
    for entry in split_entries(_header(req, "signature"), " "):
        version, comma, value = entry.partition(",")
        if not comma:
            malformed = True  # not "version,signature": skipped, like any other malformed entry
        elif version == "v1":
            v1_entries.append(value)
        elif version == "v1a":
            v1a_entries.append(value)
    v1, skipped_v1 = decode_entries(v1_entries, decode_base64, 32)
    v1a, skipped_v1a = decode_entries(v1a_entries, decode_base64, 64)
    if not v1 and not v1a and (malformed or skipped_v1 or skipped_v1a):
        raise VerificationError("malformed_header", "no signature entry is well formed")
    prefix = f"{msg_id}.{stamp}.".encode("ascii")
    found = mac_matches(symmetric, v1, (prefix, req.body))
    if not found and v1a and public:
        found = _ed25519_matches(public, v1a, prefix + req.body)
    if not found:
        raise mismatch()
    check_window(timestamp, req, DEFAULT_TOLERANCE)
    return Verified.from_body(req.body, _metadata, delivery_id=msg_id, timestamp=timestamp)


def _metadata(document: Any) -> tuple[str | None, str | None]:
    """The event type is the body's ``type`` (``eventType`` in some senders); the id is a header."""
    return None, dig(document, "type") or dig(document, "eventType")


def sample(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A Standard Webhooks delivery: ``webhook-signature: v1,<base64 HMAC of "id.ts.body">``.

    The key is ``base64decode(secret after whsec_)``; a secret that is not that base64 is a ValueError.
    """
    import base64
    import binascii

    encoded = secret.removeprefix(_SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a Standard Webhooks secret is whsec_ followed by base64") from None
    msg_id = _samples.new_id("msg_")
    body = _samples.json_body({"type": event, "timestamp": now, "data": {"sent_by": "hookway trigger"}})
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(now),
        "webhook-signature": "v1," + _samples.hmac_b64(key, f"{msg_id}.{now}.".encode() + body),
    }
    return Sample(headers, body, msg_id, event)


SCHEME = Scheme(
    name="standard",
    label="Standard Webhooks / Svix",
    aliases=("svix", "standard-webhooks"),
    key_label="Secret (whsec_… or a whpk_… public key)",
    verify=verify_standard,
    signs="HMAC-SHA256 of `id.timestamp.body`, base64, in v1, entries (v1a, entries: ed25519)",
    headers=("webhook-signature", "svix-signature", "webhook-id", "webhook-timestamp"),
    timestamp=True,
    tolerance=DEFAULT_TOLERANCE,
    timestamp_header="webhook-timestamp",
    options=WINDOW,
    sample=sample,
    sample_event="order.created",
    example_key="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
)
