"""Listen sessions: a temporary endpoint whose deliveries the CLI pulls (no inbound connection needed)."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.api.resource import Resource, container, json_reply

routes = Resource(__name__)


@routes.operation("/v1/listen-sessions", ["POST"], access="write")
def open_listen_session() -> Response:
    """Open a listen session (a temporary endpoint whose deliveries the CLI pulls); 201 with its secret."""
    from chalicelib.endpoints import public_endpoint

    endpoint, secret = container().endpoints.open_session(routes.json_body(), routes.scope())
    return json_reply({**public_endpoint(endpoint), "secret": secret}, 201)


@routes.operation("/v1/listen-sessions/{endpoint_id}/deliveries", ["GET"], access="read")
def pull_listen_deliveries(endpoint_id: str) -> Response:
    """Long-poll a session's waiting deliveries after ``cursor`` (``wait`` up to 20 s), signed now."""
    return json_reply(container().listen.pull(endpoint_id, routes.query(), routes.scope()))


@routes.operation(
    "/v1/listen-sessions/{endpoint_id}/deliveries/{delivery_id}/result", ["POST"], access="write"
)
def report_listen_delivery(endpoint_id: str, delivery_id: str) -> Response:
    """Record what the local receiver answered to a pulled delivery (the attempt's outcome)."""
    doc = routes.json_body()
    return json_reply(container().listen.report(endpoint_id, delivery_id, doc, routes.scope()))
