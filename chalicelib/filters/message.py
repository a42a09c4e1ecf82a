"""A message as payload filters see it, and an endpoint's whole filter (event types, sources, payload).

The router builds a message's document at most once, and only when it meets an endpoint with a payload
filter: most messages of most deployments never parse their body for filtering.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from chalicelib.filters.pattern import Pattern, document
from chalicelib.models import API_SOURCE, OPS_SOURCE, Message


def _glob(pattern: str, text: str) -> bool:
    from chalicelib.outbound.routing import glob_match

    return glob_match(pattern, text)


def payload_of(message: Message) -> Any:
    """What a pattern's ``payload`` is: a published message's payload (its body's ``data``), or an
    inbound webhook's body parsed as JSON (None when it is not JSON, or was parked in S3 for its size)."""
    if message.payload is not None:
        return message.payload
    body = message.body
    if not body or body.lstrip()[:1] not in (b"{", b"["):
        return None
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if message.source_id in (API_SOURCE, OPS_SOURCE):
        return parsed.get("data") if isinstance(parsed, dict) else None
    return parsed


def message_document(message: Message) -> dict[str, Any]:
    """The document a payload filter is matched against (``chalicelib.filters.pattern``).

    Its headers are those a portal token may read: no signature or credential-like header, so a
    tenant's pattern cannot learn one a byte at a time from which messages it receives.
    """
    from chalicelib.inbound.credentials import for_tokens

    return document(
        event_type=message.event_type,
        source=message.source_id,
        application=message.application_id,
        payload=payload_of(message),
        headers=for_tokens(message.headers),
    )


class MessageDocument:
    """A message's document, built on first use; ``load`` gives the full message when the one at hand is
    a fan-out chunk's probe (no body): read once, and only if a payload filter needs it."""

    def __init__(self, message: Message, load: Callable[[], Message] | None = None) -> None:
        self._message = message
        self._load = load
        self._doc: dict[str, Any] | None = None

    def get(self) -> dict[str, Any]:
        """The document (built once)."""
        if self._doc is None:
            message = self._load() if self._load is not None else self._message
            self._doc = message_document(message)
        return self._doc


def filter_mismatch(
    *,
    event_types: Sequence[str],
    sources: Sequence[str],
    pattern: Pattern | None,
    doc: dict[str, Any],
) -> str | None:
    """None when a filter matches a message's document, else the part that did not: ``event_types``,
    ``sources``, or ``payload`` followed by the pattern's path (``payload.payload.total``)."""
    if sources and doc.get("source") not in sources:
        return "sources"
    if event_types and not any(_glob(p, doc.get("event_type") or "") for p in event_types):
        return "event_types"
    if pattern is not None:
        where = pattern.mismatch(doc)
        if where is not None:
            return f"payload.{where}"
    return None
