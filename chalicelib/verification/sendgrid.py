"""SendGrid signed Event Webhook: ECDSA P-256 / SHA-256 over ``timestamp + body`` (no separator).

``X-Twilio-Email-Event-Webhook-Signature`` is a base64 DER signature and
``X-Twilio-Email-Event-Webhook-Timestamp`` the signed timestamp. Secrets are the base64 DER
SubjectPublicKeyInfo keys shown under Mail Settings. The body's trailing ``\\r\\n`` is signed.

SendGrid's SDK applies no replay window, so none is applied unless ``tolerance`` is given. The body is a
batch of events; when it holds exactly one, its ``sg_event_id`` and ``event`` are reported.
``cryptography`` is imported inside the verifier only (Lambda cold start).
"""

from __future__ import annotations

from typing import Any

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
