"""SendGrid signed Event Webhook: ECDSA P-256 / SHA-256 over ``timestamp + body`` (no separator).

``X-Twilio-Email-Event-Webhook-Signature`` is a base64 DER signature and
``X-Twilio-Email-Event-Webhook-Timestamp`` the signed timestamp. Secrets are the base64 DER
SubjectPublicKeyInfo keys shown under Mail Settings. The body's trailing ``\\r\\n`` is signed.

SendGrid's SDK applies no replay window, so none is applied unless ``tolerance`` is given. The body is a
batch of events; when it holds exactly one, its ``sg_event_id`` and ``event`` are reported.
``cryptography`` is imported inside the verifier only (Lambda cold start).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _samples
from ._common import (
    Request,
    VerificationError,
    Verified,
    check_window,
    decode_base64,
    dig,
    mismatch,
    parse_timestamp,
)
from .options import WINDOW
from .scheme import Sample, Scheme

DEFAULT_TOLERANCE = None


def _public_keys(secrets: tuple[str, ...]) -> list[Any]:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    keys = []
    for secret in secrets:
        der = decode_base64(secret.strip(), what="public key", reason="invalid_secret")
        try:
            key = load_der_public_key(der)
        except (ValueError, TypeError) as exc:
            raise VerificationError("invalid_secret", "secret is not a DER public key") from exc
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            raise VerificationError("invalid_secret", "secret is not a P-256 public key")
        keys.append(key)
    return keys


def verify_sendgrid(req: Request) -> Verified:
    """Verify a SendGrid signed Event Webhook batch."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    keys = _public_keys(req.secrets)
    signature = decode_base64(req.require_header("X-Twilio-Email-Event-Webhook-Signature"))
    stamp = req.require_header("X-Twilio-Email-Event-Webhook-Timestamp")
    timestamp = parse_timestamp(stamp)
    message = stamp.encode("ascii") + req.body
    found = False
    for key in keys:
        try:
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            continue
        found = True
    if not found:
        raise mismatch()
    check_window(timestamp, req, DEFAULT_TOLERANCE)
    return Verified.from_body(req.body, _metadata, timestamp=timestamp)


def _metadata(events: Any) -> tuple[str | None, str | None]:
    """``sg_event_id`` and ``event`` of a batch of exactly one event; a larger batch has no single id."""
    event = events[0] if isinstance(events, list) and len(events) == 1 else None
    return dig(event, "sg_event_id"), dig(event, "event")


def _sample_keys(example: str) -> tuple[str, str]:
    """A fresh P-256 pair: (base64 DER PKCS#8 private key to sign with, base64 DER public key to verify)."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    der = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii"), base64.b64encode(public).decode("ascii")


def sample(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A signed Event Webhook batch of one event, signed with a base64 DER P-256 *private* key."""
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    private = load_der_private_key(base64.b64decode(secret), password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        raise ValueError("a SendGrid sample is signed with a P-256 private key (base64 DER)")
    event_id = _samples.new_id()
    body = _samples.json_body([{"event": event, "sg_event_id": event_id, "timestamp": now}]) + b"\r\n"
    signature = private.sign(str(now).encode("ascii") + body, ec.ECDSA(hashes.SHA256()))
    headers = {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode("ascii"),
        "X-Twilio-Email-Event-Webhook-Timestamp": str(now),
    }
    return Sample(headers, body, event_id, event)


SCHEME = Scheme(
    name="sendgrid",
    label="SendGrid",
    key_label="Verification key (base64 public key)",
    verify=verify_sendgrid,
    signs="ECDSA P-256 SHA-256 of `timestamp + body`, base64 DER",
    headers=("X-Twilio-Email-Event-Webhook-Signature", "X-Twilio-Email-Event-Webhook-Timestamp"),
    timestamp=True,
    tolerance=DEFAULT_TOLERANCE,
    timestamp_header="X-Twilio-Email-Event-Webhook-Timestamp",
    options=WINDOW,
    sample=sample,
    sample_event="delivered",
    example_key="(a generated P-256 key pair)",
    sample_keys=_sample_keys,
)
