"""A message's packed form: its fields and inline body in one byte string, deflated together.

The message item keeps it in one attribute (``chalicelib.aws.dynamodb.messages``), and a first attempt's
delivery task carries it when it is small (``chalicelib.outbound.tasks``), so the sender reads no item.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from chalicelib.models import BodyRef, Message

# The packed form: everything a message says but its id, receipt and fan-out counters (the item keeps
# those as attributes: keys and conditions read them), as one byte string ``{json of the fields}\0{body}``,
# deflated together when that makes it at least a tenth smaller, else as it is. Headers, ids and the body share one deflate window (a provider's
# delivery id is usually in a header, the source id in the path), the field names are one or two
# letters, and the times are written once: a 1 KB webhook's item is then under 1 KB (one write unit
# instead of two). The fields (an absent one decodes as the default):
_PACKED_FIELDS = {
    "s": "source_id",
    "e": "event_type",
    "t": "received_at",
    "n": "size",
    "h": "body_sha256",
    "c": "content_type",
    "M": "method",
    "p": "path",
    "q": "query",
    "H": "headers",
    "i": "source_ip",
    "d": "delivery_id",
    "k": "dedupe_key",
    "T": "signed_timestamp",
    "u": "dedupe_until",
    "x": "expires_at",
    "a": "application_id",
    "v": "event_type_verified",
    "V": "event_type_invalid",
    "r": "body_ref",
    "P": "payload",
    "E": "endpoints",
}
_PACKED_DEFAULTS: dict[str, Any] = {
    "event_type": None,
    "method": "POST",
    "query": "",
    "headers": {},
    "source_ip": None,
    "delivery_id": None,
    "dedupe_key": None,
    "signed_timestamp": None,
    "application_id": None,
    "event_type_verified": None,
    "event_type_invalid": False,
    "body_ref": None,
    "payload": None,
    "endpoints": (),
}


def _packed_fields(message: Message) -> bytes:
    fields: dict[str, Any] = {}
    for short, name in _PACKED_FIELDS.items():
        value = getattr(message, name)
        if name == "path" and value == f"/in/{message.source_id}":
            continue  # the usual path, rebuilt from the source id
        if name in _PACKED_DEFAULTS and value == _PACKED_DEFAULTS[name]:
            continue
        if name == "body_ref":
            value = {"bucket": value.bucket, "key": value.key, "sha256": value.sha256, "size": value.size}
        elif name == "endpoints":
            value = list(value)
        fields[short] = value
    fields["b"] = message.body is not None
    return json.dumps(fields, separators=(",", ":")).encode()


def pack_message(message: Message) -> tuple[bytes, bool]:
    """A message's packed form, and whether it is deflated (only when that makes it a tenth smaller)."""
    raw = _packed_fields(message) + b"\0" + (message.body or b"")
    packed = zlib.compress(raw, 6)
    if len(packed) <= len(raw) * 0.9:
        return packed, True
    return raw, False


def unpacked_fields(data: bytes, *, deflated: bool) -> dict[str, Any]:
    """The fields of a packed message, by ``Message`` field name (with ``body``; not ``id``, ``status``,
    ``receipt_id`` nor the fan-out's counters)."""
    raw = zlib.decompress(data) if deflated else data
    head, _, body = raw.partition(b"\0")
    fields = json.loads(head)
    out: dict[str, Any] = {name: fields[short] for short, name in _PACKED_FIELDS.items() if short in fields}
    for name, default in _PACKED_DEFAULTS.items():
        out.setdefault(name, dict(default) if isinstance(default, dict) else default)
    out.setdefault("path", f"/in/{out['source_id']}")
    if out.get("body_ref") is not None:
        out["body_ref"] = BodyRef(**out["body_ref"])
    out["endpoints"] = tuple(out.get("endpoints", ()))
    out["body"] = body if fields.get("b") else None
    return out
