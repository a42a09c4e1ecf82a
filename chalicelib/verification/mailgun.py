"""Mailgun: the signature lives in the body, ``hex HMAC-SHA256(signing key, timestamp + token)``.

JSON webhooks carry ``{"signature": {"timestamp", "token", "signature"}, "event-data": {...}}``; legacy and
route posts carry ``timestamp``, ``token`` and ``signature`` as url-encoded form fields. The event data is
*not* covered by the signature, so the replay window and the ``token`` (the delivery id, to dedupe on) are
the only protection: the default window is 300 s either way. Missing or malformed signature fields are
``malformed_body``. Multipart route posts and the subaccount ``parent-signature`` are not supported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from . import _samples
from ._common import (
    Request,
    VerificationError,
    Verified,
    check_mac,
    check_window,
    decode_hex,
    dig,
    load_json,
    parse_timestamp,
)
from .options import WINDOW
from .scheme import Sample, Scheme

DEFAULT_TOLERANCE = 300
_FIELDS = ("timestamp", "token", "signature")


def _fields(body: bytes) -> tuple[dict[str, str], str | None]:
    """The three signature fields and the event type, from a JSON or a url-encoded form body."""
    if body.lstrip().startswith(b"{"):
        document = load_json(body)
        fields = {name: dig(document, "signature", name) for name in _FIELDS}
        event_type = dig(document, "event-data", "event")
    else:
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=1000)
        except (UnicodeDecodeError, ValueError) as exc:
            raise VerificationError("malformed_body", "body is neither JSON nor a form") from exc
        if any(len(form.get(name, ())) > 1 for name in (*_FIELDS, "event")):
            raise VerificationError("malformed_body", "a signature field is repeated")
        fields = {name: form.get(name, [None])[0] for name in _FIELDS}
        event_type = form.get("event", [None])[0]
    present = {name: value for name, value in fields.items() if value}
    if len(present) != len(_FIELDS) or not all(value.isascii() for value in present.values()):
        raise VerificationError("malformed_body", "body lacks timestamp, token or signature")
    return present, event_type or None


def verify_mailgun(req: Request) -> Verified:
    """Verify a Mailgun webhook; the signed ``token`` is the delivery id."""
    fields, event_type = _fields(req.body)
    timestamp = parse_timestamp(fields["timestamp"], reason="malformed_body")
    signature = decode_hex(fields["signature"], reason="malformed_body")
    check_mac(req, [signature], (fields["timestamp"] + fields["token"]).encode("ascii"))
    check_window(timestamp, req, DEFAULT_TOLERANCE)
    return Verified(delivery_id=fields["token"], timestamp=timestamp, event_type=event_type)


def sample(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A Mailgun JSON webhook: ``signature`` holds the timestamp, a token and their hex HMAC."""
    token = _samples.new_id()
    signature = {
        "timestamp": str(now),
        "token": token,
        "signature": _samples.hmac_hex(secret, f"{now}{token}".encode("ascii")),
    }
    body = _samples.json_body({"signature": signature, "event-data": {"event": event, "timestamp": now}})
    return Sample({"Content-Type": "application/json"}, body, token, event)


SCHEME = Scheme(
    name="mailgun",
    label="Mailgun",
    key_label="HTTP webhook signing key",
    verify=verify_mailgun,
    signs="HMAC-SHA256 of `timestamp + token` from the body, hex (the event data is not signed)",
    headers=(),
    timestamp=True,
    tolerance=DEFAULT_TOLERANCE,
    options=WINDOW,
    sample=sample,
    sample_event="delivered",
    example_key="key-mailgun-signing",
)
