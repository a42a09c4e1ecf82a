"""Receiving webhooks: ``/in/{source_id}`` (public: each source verifies its senders itself)."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.api.resource import Resource, container

routes = Resource(__name__)


@routes.operation("/in/{source_id}", ["POST", "GET"], access="public")
def receive(source_id: str) -> Response:
    """Receive a webhook: verify, store durably, answer 202 with the message id."""
    from chalicelib.inbound.request import from_event

    c = container()
    inbound = from_event(source_id, routes.current_request.to_original_event(), c.settings.public_url)
    reply = c.ingest.receive(inbound)
    return Response(
        body=reply.body.decode("utf-8"),
        status_code=reply.status,
        headers={"Content-Type": reply.content_type, **reply.headers},
    )
