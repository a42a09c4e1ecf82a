"""Messages: publishing, search, one message with its deliveries, its attempts, its body, resending."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.api.resource import Resource, container, json_reply, listing

routes = Resource(__name__)


@routes.operation("/v1/messages", ["GET"], access="read")
def list_messages() -> Response:
    """Search messages, newest first, each with its delivery summary (filters: see the OpenAPI document)."""
    page = container().messages.listing(routes.query(), routes.scope(), routes.page_request())
    return listing(page, lambda item: item)


@routes.operation("/v1/messages", ["POST"], access="operator")
def publish_message() -> Response:
    """Publish ``{"event_type", "payload", "application"?}``; ``Idempotency-Key`` for 24 h."""
    key = routes.header("idempotency-key")
    message_id = container().publisher.publish(routes.json_body(), key, routes.scope())
    return json_reply({"id": message_id}, 202)


@routes.operation("/v1/messages/{message_id}", ["GET"], access="read")
def get_message(message_id: str) -> Response:
    """One message, with the state of its delivery to each endpoint."""
    return json_reply(container().messages.get(message_id, routes.scope(), routes.page_request()))


@routes.operation("/v1/messages/{message_id}/resend", ["POST"], access="write", limit="resending")
def resend_message(message_id: str) -> Response:
    """Send a message again to its endpoints (or ``{"endpoint_ids": [...]}``): one more attempt each."""
    sent = container().recovery.resend(message_id, routes.json_body(), routes.scope())
    return json_reply({"id": message_id, "endpoint_ids": sent}, 202)


@routes.operation("/v1/messages/{message_id}/attempts", ["GET"], access="read")
def list_message_attempts(message_id: str) -> Response:
    """Every attempt to deliver a message, newest first."""
    page = container().messages.attempts(message_id, routes.scope(), routes.page_request())
    return listing(page, lambda attempt: attempt.public())


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
