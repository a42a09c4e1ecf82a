"""The console's own routes: its sign-in session (cookie and CSRF token) and its overview."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chalice.app import Response

from chalicelib.api.resource import Resource, container, json_reply

if TYPE_CHECKING:
    from chalicelib.commands import Overview
    from chalicelib.models import Endpoint
    from chalicelib.stats import OverviewResult

routes = Resource(__name__)

# Sign-in authenticates itself: POST checks the admin key, GET and DELETE the session cookie.


@routes.operation("/v1/console/session", ["POST"], access="public")
def sign_in() -> Response:
    """Exchange the admin key for a console session (cookie) and its CSRF token."""
    sessions = container().sessions
    session = sessions.sign_in(parse_sign_in(routes.json_body()))
    return json_reply(
        {"csrf_token": session.csrf_token, "expires_at": session.expires_at},
        201,
        {"Set-Cookie": sessions.set_cookie(session), "Cache-Control": "no-store"},
    )


def parse_sign_in(doc: Any) -> str:
    """``{"admin_key": ...}``: the key, a non-empty string."""
    from chalicelib.errors import ValidationError

    given = doc.get("admin_key") if isinstance(doc, dict) else None
    if not isinstance(given, str) or not given:
        raise ValidationError("admin_key is required", field="admin_key")
    return given


@routes.operation("/v1/console/session", ["GET"], access="public")
def current_session() -> Response:
    """The signed-in console's CSRF token (same origin only: the API sends no CORS headers)."""
    session = container().sessions.current(routes.header("cookie") or "")
    return json_reply(
        {"csrf_token": session.csrf_token, "expires_at": session.expires_at},
        headers={"Cache-Control": "no-store"},
    )


@routes.operation("/v1/console/session", ["DELETE"], access="public")
def sign_out() -> Response:
    """End the console session."""
    sessions = container().sessions
    sessions.sign_out(routes.current_request.headers)
    return Response(body="", status_code=204, headers={"Set-Cookie": sessions.set_cookie(None)})


@routes.operation("/v1/console/sessions", ["DELETE"], access="operator")
def end_all_sessions() -> Response:
    """End every console session (the admin key or a console session); the caller's too."""
    sessions = container().sessions
    ended = sessions.end_all()
    return json_reply(
        {"ended": ended}, headers={"Set-Cookie": sessions.set_cookie(None), "Cache-Control": "no-store"}
    )


@routes.operation("/v1/stats", ["GET"], access="operator")
def stats() -> Response:
    """Received, delivered, failed and rejected per hour (``hours``, default 24), and what needs attention."""
    return json_reply(overview_of(container().stats.overview(parse_overview(routes.query()), routes.scope())))


def overview_of(found: OverviewResult) -> dict[str, Any]:
    """``{"hours": [{"start", "received", ...}], "totals", "attention": [endpoints]}``."""
    return {
        "hours": [{"start": hour.start, **hour.counts} for hour in found.hours],
        "totals": found.totals,
        "attention": [attention_entry(endpoint) for endpoint in found.attention],
    }


def attention_entry(endpoint: Endpoint) -> dict[str, Any]:
    """An endpoint that needs attention, as the overview lists it."""
    return {
        "id": endpoint.id,
        "application_id": endpoint.application_id,
        "url": endpoint.url,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": endpoint.failing_since,
        "updated_at": endpoint.updated_at,
        "kind": endpoint.kind,
    }


def parse_overview(params: Mapping[str, str]) -> Overview:
    """``?hours=`` (1 to 168, default 24)."""
    from chalicelib.commands import Overview
    from chalicelib.errors import BadRequestError
    from chalicelib.stats import DEFAULT_HOURS, MAX_HOURS

    raw = params.get("hours", str(DEFAULT_HOURS))
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= MAX_HOURS:
        raise BadRequestError(f"hours must be 1 to {MAX_HOURS}", code="invalid_hours")
    return Overview(int(raw))
