"""``POST /v1/filters/test``: does a filter take a message, and if not, which part refused it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.filters.message import filter_mismatch, message_document
from chalicelib.filters.pattern import compile_pattern, document

if TYPE_CHECKING:
    from chalicelib.commands import TestFilter
    from chalicelib.models import Message
    from chalicelib.scope import Scope


class MessageReader(Protocol):
    """One stored message with its body, if the caller may see it (404 otherwise)."""

    def body(self, message_id: str, scope: Scope) -> tuple[Message, bytes]:
        """The message and its body (read from S3 if it lives there), or NotFoundError."""


@dataclass(frozen=True)
class FilterVerdict:
    """Whether a filter takes a message: the document it was matched against and, when it does not,
    the part that refused it (``event_types``, ``sources`` or ``payload``) and for the payload the
    pattern's first field that did not match."""

    match: bool
    document: dict[str, Any]
    part: str | None = None
    path: str | None = None


class FilterTests:
    """Matches a filter against a message exactly as the router does (same document, same matcher)."""

    def __init__(self, messages: MessageReader) -> None:
        self._messages = messages

    def test(self, command: TestFilter, scope: Scope) -> FilterVerdict:
        """The filter's verdict on the message given, or on the stored one.

        A stored message is read as the caller may read it: a portal token reaches only its own
        application's messages and never sees their signature headers, so a pattern cannot probe them.
        """
        from chalicelib.messages import shown_to

        if command.message_id is not None:
            message, body = self._messages.body(command.message_id, scope)
            # With its body in hand even when it lives in S3, as the router matched it.
            doc = message_document(replace(shown_to(message, scope), body=body))
        else:
            given = command.message or {}
            doc = document(
                event_type=given.get("event_type"),
                source=given.get("source"),
                application=given.get("application"),
                payload=given.get("payload"),
                headers=given.get("headers") or {},
            )
        pattern = compile_pattern(command.payload) if command.payload is not None else None
        where = filter_mismatch(
            event_types=command.event_types, sources=command.sources, pattern=pattern, doc=doc
        )
        if where is None:
            return FilterVerdict(True, doc)
        part, _, path = where.partition(".")
        return FilterVerdict(False, doc, part, path or None)
