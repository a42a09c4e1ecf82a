"""The ingest queue's message: everything the router needs, written once before the 202.

Bodies travel inline (UTF-8 text when they are, base64 otherwise) unless the whole envelope would pass
the claim-check threshold; then the bytes go to S3 first and the envelope carries a pointer with the
SHA-256 the router checks.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.inbound_models import BodyRef

if TYPE_CHECKING:
    from chalicelib.models import MessageKind

VERSION = 1


class EnvelopeError(ValueError):
    """An ingest message that cannot be read: a poison message, never retried into success."""


@dataclass(frozen=True)
class Envelope:
    """One accepted inbound webhook or published event, as queued for the router."""

    id: str
    receipt_id: str
    source_id: str
    received_at: float
    content_type: str
    size: int
    sha256: str
    replay_window: int
    kind: MessageKind = "inbound"
    method: str = "POST"
    path: str = ""
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    source_ip: str | None = None
    event_type: str | None = None
    event_type_verified: bool | None = None  # False: read from a header the signature does not cover
    event_type_invalid: bool = False  # the provider's event type was refused (see ingest.checked_event_type)
    delivery_id: str | None = None
    dedupe_key: str | None = None
    signed_timestamp: int | None = None
    body: bytes | None = None
    body_ref: BodyRef | None = None
    payload: Any = None
    application_id: str | None = None
    endpoint_id: str | None = None  # a test event's one endpoint (filters aside); None: fan out as usual

    def encode(self) -> str:
        """Serialise to the queue's text form (ASCII-only JSON, so any SQS character rules hold)."""
        doc: dict[str, Any] = {
            "v": VERSION,
            "kind": self.kind,
            "id": self.id,
            "receipt": self.receipt_id,
            "source_id": self.source_id,
            "received_at": self.received_at,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "replay_window": self.replay_window,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "source_ip": self.source_ip,
            "event_type": self.event_type,
            "delivery_id": self.delivery_id,
            "dedupe_key": self.dedupe_key,
            "signed_ts": self.signed_timestamp,
        }
        if self.payload is not None:
            doc["payload"] = self.payload
        if self.application_id is not None:
            doc["app"] = self.application_id
        if self.event_type_verified is not None:
            doc["etv"] = self.event_type_verified
        if self.event_type_invalid:
            doc["eti"] = True
        if self.endpoint_id is not None:
            doc["to"] = self.endpoint_id
        if self.body_ref is not None:
            r = self.body_ref
            doc["body_ref"] = {"bucket": r.bucket, "key": r.key, "sha256": r.sha256, "size": r.size}
        elif self.body is not None:
            try:
                doc["body_text"] = self.body.decode("utf-8")
            except UnicodeDecodeError:
                doc["body_b64"] = base64.b64encode(self.body).decode("ascii")
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> Envelope:
        """Parse the queue's text form; anything unreadable is an EnvelopeError."""
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict) or doc.get("v") != VERSION:
                raise EnvelopeError(
                    f"unknown envelope version {doc.get('v') if isinstance(doc, dict) else None}"
                )
            body: bytes | None = None
            if "body_text" in doc:
                body = doc["body_text"].encode("utf-8")
            elif "body_b64" in doc:
                body = base64.b64decode(doc["body_b64"], validate=True)
            ref = BodyRef(**doc["body_ref"]) if doc.get("body_ref") else None
            return cls(
                id=doc["id"],
                receipt_id=doc["receipt"],
                source_id=doc["source_id"],
                received_at=float(doc["received_at"]),
                content_type=doc["content_type"],
                size=int(doc["size"]),
                sha256=doc["sha256"],
                replay_window=int(doc["replay_window"]),
                kind=_kind(doc["kind"]),
                method=doc["method"],
                path=doc["path"],
                query=doc["query"],
                headers=dict(doc["headers"]),
                source_ip=doc["source_ip"],
                event_type=doc["event_type"],
                event_type_verified=_optional_bool(doc.get("etv")),
                event_type_invalid=doc.get("eti") is True,
                delivery_id=doc["delivery_id"],
                dedupe_key=doc["dedupe_key"],
                signed_timestamp=doc["signed_ts"],
                body=body,
                body_ref=ref,
                payload=doc.get("payload"),
                application_id=doc.get("app"),
                endpoint_id=_optional_str(doc.get("to")),
            )
        except EnvelopeError:
            raise
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise EnvelopeError(f"unreadable envelope: {type(exc).__name__}") from exc


def _optional_str(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValueError("not a string")


def _optional_bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ValueError("not a boolean")


def _kind(value: Any) -> MessageKind:
    if value == "inbound":
        return "inbound"
    if value == "published":
        return "published"
    raise ValueError(f"unknown envelope kind {value!r}")
