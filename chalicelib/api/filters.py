"""Filters: test an endpoint's filter against a message before saving it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Response

from chalicelib.api.resource import Resource, container, json_reply

if TYPE_CHECKING:
    from chalicelib.commands import TestFilter
    from chalicelib.filters.service import FilterVerdict

routes = Resource(__name__)


@routes.operation("/v1/filters/test", ["POST"], access="read")
def test_filter() -> Response:
    """``{"filter", "message" | "message_id"}`` -> ``{"match", "document", "part"?, "path"?}``.

    Read access: it changes nothing. A stored message is read with the caller's scope (a portal token:
    its own application's messages only, 404 for any other).
    """
    command = parse_test(routes.json_body())
    return json_reply(public_verdict(container().filter_tests.test(command, routes.scope())))


def public_verdict(verdict: FilterVerdict) -> dict[str, Any]:
    """``{"match", "document"}``, with ``part`` and (for the payload) ``path`` when it does not match."""
    reply: dict[str, Any] = {"match": verdict.match, "document": verdict.document}
    if verdict.part is not None:
        reply["part"] = verdict.part
    if verdict.path is not None:
        reply["path"] = verdict.path
    return reply


# ------------------------------------------------------------------------------------------------ parse

MESSAGE_FIELDS = ("event_type", "source", "application", "payload", "headers")


def parse_test(doc: Any) -> TestFilter:
    """The filter checked as an endpoint's is, and exactly one of ``message`` and ``message_id``."""
    from chalicelib.api.endpoints import parse_fields
    from chalicelib.commands import UNSET, TestFilter
    from chalicelib.errors import ValidationError

    if not isinstance(doc, dict):
        raise ValidationError("the body must be a JSON object")
    unknown = sorted(set(doc) - {"filter", "message", "message_id"})
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}", field=unknown[0])
    fields = parse_fields({"filter": doc.get("filter")})
    if ("message" in doc) == ("message_id" in doc):
        raise ValidationError("give exactly one of message and message_id", field="message")
    message_id = doc.get("message_id")
    if "message_id" in doc and (not isinstance(message_id, str) or not 0 < len(message_id) <= 200):
        raise ValidationError("message_id is a message's id", field="message_id")
    message = doc.get("message")
    if "message" in doc:
        _check_message(message)
    return TestFilter(
        event_types=() if fields.filter_event_types is UNSET else fields.filter_event_types,
        sources=() if fields.filter_sources is UNSET else fields.filter_sources,
        payload=None if fields.filter_payload is UNSET else fields.filter_payload,
        message=message,
        message_id=message_id,
    )


def _check_message(message: Any) -> None:
    from chalicelib.errors import ValidationError

    if not isinstance(message, dict) or set(message) - set(MESSAGE_FIELDS):
        raise ValidationError(f"message is an object of {', '.join(MESSAGE_FIELDS)}", field="message")
    for name in ("event_type", "source", "application"):
        if not isinstance(message.get(name), str | None):
            raise ValidationError(f"message.{name} is a string or null", field=f"message.{name}")
    headers = message.get("headers")
    if headers is not None and (
        not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values())
    ):
        raise ValidationError("message.headers is an object of strings", field="message.headers")
