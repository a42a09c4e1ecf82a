"""Endpoints: where messages are delivered, their secrets, health, tests, recovery and replay."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Response

from chalicelib.api.jobs import started
from chalicelib.api.resource import Resource, container, json_reply, listing, no_content

if TYPE_CHECKING:
    from chalicelib.commands import Recover, Replay, SendTest

routes = Resource(__name__)


@routes.operation("/v1/endpoints", ["POST"], access="write")
def create_endpoint() -> Response:
    """Create an endpoint; its signing secret (or ed25519 public key) is shown here and on /secret only."""
    from chalicelib.endpoints import public_endpoint

    endpoint, secret, public_key = container().endpoints.create(routes.json_body(), routes.scope())
    shown = {"public_key": public_key} if public_key else {"secret": secret}
    return json_reply({**public_endpoint(endpoint), **shown}, 201)


@routes.operation("/v1/endpoints", ["GET"], access="read")
def list_endpoints() -> Response:
    """List one owner's endpoints (``?application=``; a token: its own; else the operator's)."""
    from chalicelib.endpoints import public_endpoint

    page = container().endpoints.list(routes.query(), routes.scope(), routes.page_request())
    return listing(page, public_endpoint)


@routes.operation("/v1/endpoints/{endpoint_id}", ["GET"], access="read")
def get_endpoint(endpoint_id: str) -> Response:
    """One endpoint."""
    from chalicelib.endpoints import public_endpoint

    return json_reply(public_endpoint(container().endpoints.get(endpoint_id, routes.scope())))


@routes.operation("/v1/endpoints/{endpoint_id}", ["PATCH", "PUT"], access="write")
def update_endpoint(endpoint_id: str) -> Response:
    """Change an endpoint's fields."""
    from chalicelib.endpoints import public_endpoint

    updated = container().endpoints.update(endpoint_id, routes.json_body(), routes.scope())
    return json_reply(public_endpoint(updated))


@routes.operation("/v1/endpoints/{endpoint_id}", ["DELETE"], access="write")
def delete_endpoint(endpoint_id: str) -> Response:
    """Delete an endpoint."""
    container().endpoints.delete(endpoint_id, routes.scope())
    return no_content()


@routes.operation("/v1/endpoints/{endpoint_id}/enable", ["POST"], access="write")
def enable_endpoint(endpoint_id: str) -> Response:
    """Enable an endpoint (clears its failure clock)."""
    from chalicelib.endpoints import public_endpoint

    return json_reply(public_endpoint(container().endpoints.set_enabled(endpoint_id, True, routes.scope())))


@routes.operation("/v1/endpoints/{endpoint_id}/disable", ["POST"], access="write")
def disable_endpoint(endpoint_id: str) -> Response:
    """Disable an endpoint: its deliveries end as skipped until it is enabled again."""
    from chalicelib.endpoints import public_endpoint

    return json_reply(public_endpoint(container().endpoints.set_enabled(endpoint_id, False, routes.scope())))


@routes.operation("/v1/endpoints/{endpoint_id}/secret", ["GET"], access="read")
def get_endpoint_secret(endpoint_id: str) -> Response:
    """The endpoint's current signing secret (or ed25519 public key)."""
    return json_reply(container().endpoints.secret(endpoint_id, routes.scope()))


@routes.operation("/v1/endpoints/{endpoint_id}/secret/rotate", ["POST"], access="write")
def rotate_endpoint_secret(endpoint_id: str) -> Response:
    """Add a new signing secret; the old one keeps signing alongside for ``retire_old_after`` seconds."""
    _, shown = container().endpoints.rotate_secret(endpoint_id, routes.json_body(), routes.scope())
    return json_reply(shown, 201)


@routes.operation("/v1/endpoints/{endpoint_id}/recover", ["POST"], access="write", limit="recovering")
def recover_endpoint(endpoint_id: str) -> Response:
    """Send again every delivery to this endpoint that ended failed or skipped since ``{"since": unix time}``:
    202 with the background job that does it."""
    c = container()
    plan = c.recovery.plan_recover(endpoint_id, parse_recover(routes.json_body()), routes.scope())
    return started(c.jobs.start(plan))


@routes.operation("/v1/endpoints/{endpoint_id}/replay", ["POST"], access="write", limit="replaying")
def replay_to_endpoint(endpoint_id: str) -> Response:
    """Send its owner's messages of ``{"since", "until"?, "source"?}`` to this endpoint once more: 202 with
    the background job that does it."""
    c = container()
    plan = c.recovery.plan_replay(endpoint_id, parse_replay(routes.json_body()), routes.scope())
    return started(c.jobs.start(plan))


@routes.operation("/v1/endpoints/{endpoint_id}/attempts", ["GET"], access="read")
def list_endpoint_attempts(endpoint_id: str) -> Response:
    """Attempts to an endpoint, newest first."""
    page = container().endpoints.attempts(endpoint_id, routes.scope(), routes.page_request())
    return listing(page, lambda attempt: attempt.public())


@routes.operation("/v1/endpoints/{endpoint_id}/health", ["GET"], access="read")
def endpoint_health(endpoint_id: str) -> Response:
    """How an endpoint is doing: success rate and last error of its most recent attempts."""
    return json_reply(container().endpoints.health(endpoint_id, routes.scope()))


@routes.operation("/v1/endpoints/{endpoint_id}/test", ["POST"], access="write", limit="sending a test event")
def send_test_event(endpoint_id: str) -> Response:
    """Send a test event to this endpoint only (``{"event_type"?, "payload"?}``); 202 with its message id."""
    command = parse_send_test(routes.json_body())
    message_id, endpoint = container().publisher.send_test(endpoint_id, command, routes.scope())
    return json_reply({"id": message_id, "endpoint_id": endpoint.id}, 202)


# ------------------------------------------------------------------------------------------------ parse


def parse_send_test(doc: Any) -> SendTest:
    """``{"event_type"?, "payload"?}`` (null: Hookway's own test type, or the default payload)."""
    from chalicelib.api.messages import parse_event_type
    from chalicelib.commands import SendTest
    from chalicelib.errors import ValidationError

    if not isinstance(doc, dict):
        raise ValidationError("the body must be a JSON object")
    unknown = sorted(set(doc) - {"event_type", "payload"})
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}", field=unknown[0])
    event_type = doc.get("event_type")
    return SendTest(
        event_type=None if event_type is None else parse_event_type(event_type), payload=doc.get("payload")
    )


def parse_recover(doc: Any) -> Recover:
    """``{"since": unix time, "include_unmatched"?: bool}``."""
    from chalicelib.commands import Recover
    from chalicelib.errors import ValidationError

    since = doc.get("since") if isinstance(doc, dict) else None
    if isinstance(since, bool) or not isinstance(since, int | float) or since < 0:
        raise ValidationError("since (Unix time in seconds) is required", field="since")
    unmatched = doc.get("include_unmatched", False) if isinstance(doc, dict) else False
    if not isinstance(unmatched, bool):
        raise ValidationError("include_unmatched must be true or false", field="include_unmatched")
    return Recover(float(since), unmatched)


def parse_replay(doc: Any) -> Replay:
    """``{"since", "until"?, "source"?}``."""
    from chalicelib.commands import Replay
    from chalicelib.errors import ValidationError

    if not isinstance(doc, dict):
        raise ValidationError("the body must be a JSON object")
    since, until, source = doc.get("since"), doc.get("until"), doc.get("source")
    if isinstance(since, bool) or not isinstance(since, int | float) or since < 0:
        raise ValidationError("since (Unix time in seconds) is required", field="since")
    if until is not None and (
        isinstance(until, bool) or not isinstance(until, int | float) or until <= since
    ):
        raise ValidationError("until must be a Unix time later than since", field="until")
    if source is not None and (not isinstance(source, str) or not 0 < len(source) <= 200):
        raise ValidationError("source must be a source id", field="source")
    return Replay(float(since), float(until) if until is not None else None, source)
