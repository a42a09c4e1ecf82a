"""Listen sessions: a temporary endpoint whose deliveries the CLI pulls (no inbound connection needed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chalice.app import Response

from chalicelib.api.resource import Resource, container, json_reply

if TYPE_CHECKING:
    from chalicelib.commands import OpenSession, Pull
    from chalicelib.models import PulledOutcome
    from chalicelib.outbound.listen import PullResult, ReportResult

routes = Resource(__name__)


@routes.operation("/v1/listen-sessions", ["POST"], access="write")
def open_listen_session() -> Response:
    """Open a listen session (a temporary endpoint whose deliveries the CLI pulls); 201 with its secret."""
    from chalicelib.api.endpoints import public_endpoint

    command = parse_open_session(routes.json_body())
    endpoint, secret = container().listen.open(command, routes.scope())
    return json_reply({**public_endpoint(endpoint), "secret": secret}, 201)


@routes.operation("/v1/listen-sessions/{endpoint_id}/deliveries", ["GET"], access="read")
def pull_listen_deliveries(endpoint_id: str) -> Response:
    """Long-poll a session's waiting deliveries after ``cursor`` (``wait`` up to 20 s), signed now."""
    found = container().listen.pull(endpoint_id, parse_pull(routes.query()), routes.scope())
    return json_reply(pulled(found))


@routes.operation(
    "/v1/listen-sessions/{endpoint_id}/deliveries/{delivery_id}/result", ["POST"], access="write"
)
def report_listen_delivery(endpoint_id: str, delivery_id: str) -> Response:
    """Record what the local receiver answered to a pulled delivery (the attempt's outcome)."""
    outcome = parse_report(routes.json_body())
    return json_reply(reported(container().listen.report(endpoint_id, delivery_id, outcome, routes.scope())))


# ------------------------------------------------------------------------------------------------ shape


def pulled(found: PullResult) -> dict[str, Any]:
    """``{"data": [...], "next_cursor", "expires_at"}``: each delivery's body in base64."""
    import base64

    data = [
        {
            "id": d.id,
            "message_id": d.message_id,
            "event_type": d.event_type,
            "attempt": d.attempt,
            "headers": d.headers,
            "body_base64": base64.b64encode(d.body).decode(),
            "queued_at": d.queued_at,
        }
        for d in found.deliveries
    ]
    return {"data": data, "next_cursor": found.next_cursor, "expires_at": found.expires_at}


def reported(result: ReportResult) -> dict[str, Any]:
    """``{"id", "message_id", "attempt", "outcome"}``."""
    return {
        "id": result.id,
        "message_id": result.message_id,
        "attempt": result.attempt,
        "outcome": result.outcome,
    }


# ------------------------------------------------------------------------------------------------ parse


def parse_open_session(doc: Any) -> OpenSession:
    """``{"application"?, "filter"?, "description"?, "expires_in"?}`` (seconds, 60 to 86400)."""
    from chalicelib.api.endpoints import _application, _object, parse_fields
    from chalicelib.commands import OpenSession
    from chalicelib.errors import ValidationError
    from chalicelib.outbound.listen import DEFAULT_SESSION_SECONDS

    body = _object(doc)
    unknown = sorted(set(body) - {"application", "filter", "description", "expires_in"})
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}", field=unknown[0])
    expires_in = body.get("expires_in", DEFAULT_SESSION_SECONDS)
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or not 60 <= expires_in <= 86400:
        raise ValidationError("expires_in must be 60 to 86400 seconds", field="expires_in")
    application = _application(body)
    fields = parse_fields({k: v for k, v in body.items() if k in ("filter", "description")})
    return OpenSession(fields, expires_in, application)


def parse_pull(params: Mapping[str, str]) -> Pull:
    """``?wait=`` (seconds, clamped to 0 to 20; a finite number) and ``?cursor=``."""
    import math

    from chalicelib.commands import Pull
    from chalicelib.errors import ValidationError
    from chalicelib.outbound.listen import MAX_WAIT_SECONDS

    try:
        wait = float(params.get("wait", "0"))
    except ValueError:
        wait = math.nan
    if not math.isfinite(wait):  # nan would never time out
        raise ValidationError("wait is a finite number of seconds (0 to 20)", field="wait")
    return Pull(min(max(wait, 0.0), MAX_WAIT_SECONDS), params.get("cursor") or None)


def parse_report(doc: Any) -> PulledOutcome:
    """``{"status"?, "duration_ms"?, "body_base64"?, "error_class"?, "error"?, "retry_after"?}``."""
    import base64
    import binascii

    from chalicelib.errors import ValidationError
    from chalicelib.models import PulledOutcome

    if not isinstance(doc, dict):
        raise ValidationError("the body must be a JSON object")
    status = doc.get("status")
    if status is not None and (
        isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599
    ):
        raise ValidationError(
            "status is the local receiver's HTTP status (100 to 599) or null", field="status"
        )
    duration = doc.get("duration_ms", 0)
    if isinstance(duration, bool) or not isinstance(duration, int) or duration < 0:
        raise ValidationError("duration_ms is a whole number of milliseconds", field="duration_ms")
    body = b""
    if doc.get("body_base64") is not None:
        try:
            body = base64.b64decode(str(doc["body_base64"]), validate=True)[:4096]
        except (binascii.Error, ValueError):
            raise ValidationError("body_base64 is not base64", field="body_base64") from None
    error_class = doc.get("error_class")
    error = doc.get("error")
    retry_after = doc.get("retry_after")
    for name, value in (("error_class", error_class), ("error", error), ("retry_after", retry_after)):
        if value is not None and (not isinstance(value, str) or len(value) > 300):
            raise ValidationError(f"{name} is a short string", field=name)
    if status is None and error_class is None:
        error_class = "connect_error"
    return PulledOutcome(status, duration, body, retry_after, error_class, error)
