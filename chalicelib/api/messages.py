"""Messages: publishing, search, one message with its deliveries, its attempts, its body, resending."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Response

from chalicelib.api.resource import Resource, container, json_reply, listing

if TYPE_CHECKING:
    from collections.abc import Mapping

    from chalicelib.commands import Publish, Resend, SearchMessages
    from chalicelib.messages import DeliveryState, ListedMessage, MessageDetail
    from chalicelib.models import Attempt, Message

routes = Resource(__name__)


@routes.operation("/v1/messages", ["GET"], access="read")
def list_messages() -> Response:
    """Search messages, newest first, each with its delivery summary (filters: see the OpenAPI document)."""
    page = container().messages.listing(parse_search(routes.query()), routes.scope(), routes.page_request())
    return listing(page, listed)


@routes.operation("/v1/messages", ["POST"], access="operator")
def publish_message() -> Response:
    """Publish ``{"event_type", "payload", "application"?}``; ``Idempotency-Key`` for 24 h."""
    command = parse_publish(routes.json_body(), routes.header("idempotency-key"))
    message_id = container().publisher.publish(command, routes.scope())
    return json_reply({"id": message_id}, 202)


@routes.operation("/v1/messages/{message_id}", ["GET"], access="read")
def get_message(message_id: str) -> Response:
    """One message, with the state of its delivery to each endpoint."""
    return json_reply(detail(container().messages.get(message_id, routes.scope(), routes.page_request())))


@routes.operation("/v1/messages/{message_id}/resend", ["POST"], access="write", limit="resending")
def resend_message(message_id: str) -> Response:
    """Send a message again to its endpoints (or ``{"endpoint_ids": [...]}``): one more attempt each."""
    sent = container().recovery.resend(message_id, parse_resend(routes.json_body()), routes.scope())
    return json_reply({"id": message_id, "endpoint_ids": sent}, 202)


@routes.operation("/v1/messages/{message_id}/attempts", ["GET"], access="read")
def list_message_attempts(message_id: str) -> Response:
    """Every attempt to deliver a message, newest first."""
    page = container().messages.attempts(message_id, routes.scope(), routes.page_request())
    return listing(page, public_attempt)


@routes.operation("/v1/messages/{message_id}/body", ["GET"], access="read")
def get_message_body(message_id: str) -> Response:
    """The stored body, byte for byte (``Hookway-Content-Type`` gives the type it arrived with)."""
    message, body = container().messages.body(message_id, routes.scope())
    # No Content-Type here: app.py's framework_answers sets application/octet-stream after Chalice's
    # Accept check, so clients that send no Accept (urllib) or Accept: application/json get the bytes too.
    return Response(
        body=body,
        status_code=200,
        headers={
            "Hookway-Content-Type": message.content_type,
            "Hookway-Body-Sha256": message.body_sha256,
        },
    )


# ------------------------------------------------------------------------------------------------ shape


def public_message(message: Message) -> dict[str, Any]:
    """The message as the API shows it (no body; ``/body`` serves the bytes)."""
    return {
        "id": message.id,
        "application_id": message.application_id,
        "source_id": message.source_id,
        "event_type": message.event_type,
        "event_type_verified": message.event_type_verified,
        "event_type_invalid": message.event_type_invalid,
        "status": message.status,
        "received_at": message.received_at,
        "size": message.size,
        "body_sha256": message.body_sha256,
        "content_type": message.content_type,
        "method": message.method,
        "query": message.query,
        "headers": message.headers,
        "source_ip": message.source_ip,
        "delivery_id": message.delivery_id,
        "dedupe_key": message.dedupe_key,
        "signed_timestamp": message.signed_timestamp,
        "stored_in": "s3" if message.body_ref else "inline",
        "expires_at": message.expires_at,
    }


def public_attempt(attempt: Attempt) -> dict[str, Any]:
    """The attempt as the API shows it."""
    return {
        "message_id": attempt.message_id,
        "generation": attempt.generation,
        "endpoint_id": attempt.endpoint_id,
        "attempt": attempt.number,
        "status": attempt.status,
        "delivery_status": attempt.delivery_status,
        "started_at": attempt.started_at,
        "duration_ms": attempt.duration_ms,
        "response_status": attempt.response_status,
        "error_class": attempt.error_class,
        "error": attempt.error,
        "response_body": attempt.response_body,
        "next_attempt_at": attempt.next_attempt_at,
    }


def listed(found: ListedMessage) -> dict[str, Any]:
    """A message of a search page: the message and its ``delivery_summary``."""
    return {**public_message(found.message), "delivery_summary": found.summary}


def detail(found: MessageDetail) -> dict[str, Any]:
    """One message with ``delivery_summary``, ``deliveries`` (a page of them for a fanned-out message,
    ``deliveries_cursor`` leading on) and ``deliveries_total``; a fanned-out one adds ``fanout``."""
    shown = {
        **public_message(found.message),
        "delivery_summary": found.summary,
        "deliveries": [delivery(state) for state in found.deliveries],
        "deliveries_total": found.total,
        "deliveries_cursor": found.cursor,
    }
    if found.fanout is not None:
        shown["fanout"] = {"pages": found.fanout.pages, "written": found.fanout.written}
    return shown


def delivery(state: DeliveryState) -> dict[str, Any]:
    """One delivery's state: its status, attempts so far, and the latest attempt's outcome."""
    return {
        "endpoint_id": state.endpoint_id,
        "status": state.status,
        "attempts": state.attempts,
        "last_attempt_at": state.last_attempt_at,
        "last_response_status": state.last_response_status,
        "last_error_class": state.last_error_class,
        "next_attempt_at": state.next_attempt_at,
    }


# ------------------------------------------------------------------------------------------------ parse

_FILTERS = frozenset(
    {"application", "source", "endpoint", "event_type", "status", "after", "before", "provider_id"}
)


def parse_search(params: Mapping[str, str]) -> SearchMessages:
    """The filters of ``GET /v1/messages`` (``limit`` and ``cursor`` aside); 400 ``invalid_filter`` for an
    unknown name or a malformed value, naming the field."""
    import re

    from chalicelib.commands import SearchMessages
    from chalicelib.errors import ValidationError
    from chalicelib.models import DELIVERY_STATUSES

    ident = re.compile(r"[A-Za-z0-9_.:@-]{1,200}")  # ids, and application uids
    event_type_filter = re.compile(r"[A-Za-z0-9_.:/-]{1,200}(\.\*)?")

    def ident_of(name: str) -> str | None:
        raw = params.get(name)
        if raw is not None and not ident.fullmatch(raw):
            raise ValidationError(f"{name} is not a valid id", field=name, code="invalid_filter")
        return raw

    def time_of(name: str) -> float | None:
        raw = params.get(name)
        if raw is None:
            return None
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not 0 <= value < 1e11:
            raise ValidationError(f"{name} must be a Unix time in seconds", field=name, code="invalid_filter")
        return value

    unknown = set(params) - _FILTERS - {"limit", "cursor"}
    if unknown:
        name = sorted(unknown)[0]
        raise ValidationError(f"unknown filter {name!r}", field=name, code="invalid_filter")
    application = ident_of("application")
    endpoint_id = ident_of("endpoint")
    event_type = params.get("event_type")
    if event_type is not None and not event_type_filter.fullmatch(event_type):
        raise ValidationError(
            "event_type is an exact type or a prefix ending in .* (order.*)",
            field="event_type",
            code="invalid_filter",
        )
    provider_id = params.get("provider_id")
    if provider_id is not None and not 0 < len(provider_id) <= 500:
        raise ValidationError(
            "provider_id is 1 to 500 characters", field="provider_id", code="invalid_filter"
        )
    status = params.get("status")
    if status is not None and status not in DELIVERY_STATUSES:
        raise ValidationError(
            f"status is one of {', '.join(DELIVERY_STATUSES)}", field="status", code="invalid_filter"
        )
    return SearchMessages(
        application=application or None,
        source_id=ident_of("source"),
        endpoint_id=endpoint_id,
        event_type=event_type,
        provider_id=provider_id,
        after=time_of("after"),
        before=time_of("before"),
        status=status,
    )


def parse_publish(doc: Any, idempotency_key: str | None = None) -> Publish:
    """``{"event_type", "payload", "application"?}`` and the ``Idempotency-Key`` header."""
    from chalicelib.commands import Publish
    from chalicelib.errors import ValidationError
    from chalicelib.publish import IDEMPOTENCY_KEY

    if not isinstance(doc, dict):
        raise ValidationError("the body must be a JSON object")
    event_type = parse_event_type(doc.get("event_type"))
    if "payload" not in doc:
        raise ValidationError("payload is required (any JSON value)", field="payload")
    application = doc.get("application")
    if application is not None and not isinstance(application, str):
        raise ValidationError("application is an application id or uid", field="application")
    if idempotency_key is not None and not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise ValidationError(
            "Idempotency-Key must be 1 to 255 visible ASCII characters", field="Idempotency-Key"
        )
    return Publish(event_type, doc["payload"], application, idempotency_key)


def parse_event_type(value: Any) -> str:
    """A published event type: 400 unless 1 to 200 characters of A-Z a-z 0-9 _ . : / -."""
    from chalicelib.errors import ValidationError
    from chalicelib.publish import EVENT_TYPE

    if not isinstance(value, str) or not EVENT_TYPE.fullmatch(value):
        raise ValidationError(
            "event_type must be 1 to 200 characters of A-Z a-z 0-9 _ . : / -", field="event_type"
        )
    return value


def parse_resend(doc: Any) -> Resend:
    """``{"endpoint_ids"?: [...at most 100]}`` (none, empty or no object: all of the message's endpoints)."""
    from chalicelib.commands import Resend
    from chalicelib.errors import ValidationError

    ids = doc.get("endpoint_ids") if isinstance(doc, dict) else None
    if ids is not None and not (
        isinstance(ids, list) and all(isinstance(i, str) for i in ids) and len(ids) <= 100
    ):
        raise ValidationError("endpoint_ids must be a list of at most 100 endpoint ids", field="endpoint_ids")
    return Resend(tuple(ids or ()))
