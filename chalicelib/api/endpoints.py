"""Endpoints: where messages are delivered, their secrets, health, tests, recovery and replay."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Response

from chalicelib.api.jobs import started
from chalicelib.api.messages import public_attempt
from chalicelib.api.resource import Resource, container, json_reply, listing, no_content
from chalicelib.api.sources import public_secret

if TYPE_CHECKING:
    from chalicelib.commands import (
        CreateEndpoint,
        EndpointFields,
        Recover,
        Replay,
        RotateSecret,
        SendTest,
        Simulate,
    )
    from chalicelib.endpoints import EndpointHealth, SecretShown
    from chalicelib.models import Endpoint, Transformation

routes = Resource(__name__)


@routes.operation("/v1/endpoints", ["POST"], access="write")
def create_endpoint() -> Response:
    """Create an endpoint; its signing secret (or ed25519 public key) is shown here and on /secret only."""
    command = parse_create(routes.json_body())
    endpoint, secret, public_key = container().endpoints.create(command, routes.scope())
    shown = {"public_key": public_key} if public_key else {"secret": secret}
    return json_reply({**public_endpoint(endpoint), **shown}, 201)


@routes.operation("/v1/endpoints", ["GET"], access="read")
def list_endpoints() -> Response:
    """List one owner's endpoints (``?application=``; a token: its own; else the operator's)."""
    application = routes.query().get("application")
    page = container().endpoints.list(application, routes.scope(), routes.page_request())
    return listing(page, public_endpoint)


@routes.operation("/v1/endpoints/{endpoint_id}", ["GET"], access="read")
def get_endpoint(endpoint_id: str) -> Response:
    """One endpoint."""
    return json_reply(public_endpoint(container().endpoints.get(endpoint_id, routes.scope())))


@routes.operation("/v1/endpoints/{endpoint_id}", ["PATCH", "PUT"], access="write")
def update_endpoint(endpoint_id: str) -> Response:
    """Change an endpoint's fields."""
    updated = container().endpoints.update(endpoint_id, parse_update(routes.json_body()), routes.scope())
    return json_reply(public_endpoint(updated))


@routes.operation("/v1/endpoints/{endpoint_id}", ["DELETE"], access="write")
def delete_endpoint(endpoint_id: str) -> Response:
    """Delete an endpoint."""
    container().endpoints.delete(endpoint_id, routes.scope())
    return no_content()


@routes.operation("/v1/endpoints/{endpoint_id}/enable", ["POST"], access="write")
def enable_endpoint(endpoint_id: str) -> Response:
    """Enable an endpoint (clears its failure clock)."""
    return json_reply(public_endpoint(container().endpoints.set_enabled(endpoint_id, True, routes.scope())))


@routes.operation("/v1/endpoints/{endpoint_id}/disable", ["POST"], access="write")
def disable_endpoint(endpoint_id: str) -> Response:
    """Disable an endpoint: its deliveries end as skipped until it is enabled again."""
    return json_reply(public_endpoint(container().endpoints.set_enabled(endpoint_id, False, routes.scope())))


@routes.operation("/v1/endpoints/{endpoint_id}/secret", ["GET"], access="read")
def get_endpoint_secret(endpoint_id: str) -> Response:
    """The endpoint's current signing secret (or ed25519 public key)."""
    return json_reply(shown_secret(container().endpoints.secret(endpoint_id, routes.scope())))


@routes.operation("/v1/endpoints/{endpoint_id}/secret/rotate", ["POST"], access="write")
def rotate_endpoint_secret(endpoint_id: str) -> Response:
    """Add a new signing secret; the old one keeps signing alongside for ``retire_old_after`` seconds."""
    command = parse_rotate(routes.json_body())
    _, secret = container().endpoints.rotate_secret(endpoint_id, command, routes.scope())
    return json_reply(shown_secret(secret), 201)


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
    return listing(page, public_attempt)


@routes.operation("/v1/endpoints/{endpoint_id}/health", ["GET"], access="read")
def endpoint_health(endpoint_id: str) -> Response:
    """How an endpoint is doing: success rate and last error of its most recent attempts."""
    return json_reply(health_of(container().endpoints.health(endpoint_id, routes.scope())))


@routes.operation("/v1/endpoints/{endpoint_id}/test", ["POST"], access="write", limit="sending a test event")
def send_test_event(endpoint_id: str) -> Response:
    """Send a test event to this endpoint only (``{"event_type"?, "payload"?}``); 202 with its message id."""
    command = parse_send_test(routes.json_body())
    message_id, endpoint = container().publisher.send_test(endpoint_id, command, routes.scope())
    return json_reply({"id": message_id, "endpoint_id": endpoint.id}, 202)


@routes.operation(
    "/v1/endpoints/{endpoint_id}/transformation/simulate",
    ["POST"],
    access="write",
    limit="simulating a transformation",
)
def simulate_transformation(endpoint_id: str) -> Response:
    """Run a transformation (``code``, else the endpoint's own) on a stored message (``message_id``) or a
    ``payload``: the request that would be sent (unsigned), its cancel, or its error. Nothing is sent."""
    from chalicelib.transform.simulate import shown_outcome

    command = parse_simulate(routes.json_body())
    endpoint, outcome = container().transformations.simulate(endpoint_id, command, routes.scope())
    return json_reply(shown_outcome(outcome, endpoint))


# ------------------------------------------------------------------------------------------------ shape


def public_endpoint(endpoint: Endpoint) -> dict[str, Any]:
    """An endpoint as the API shows it: never a secret value, never the receiver's credentials."""
    auth = None
    if endpoint.auth is not None:
        auth = {"type": endpoint.auth["type"]}
        if endpoint.auth["type"] == "basic":
            auth["username"] = endpoint.auth["username"]
    certificate = None
    if endpoint.client_certificate is not None:
        source, _, name = endpoint.client_certificate.partition(":")
        certificate = {"source": source, "name": name}
    return {
        "id": endpoint.id,
        "application_id": endpoint.application_id,
        "url": endpoint.url,
        "description": endpoint.description,
        "filter": {
            "sources": list(endpoint.filter_sources),
            "event_types": list(endpoint.filter_event_types),
            "payload": endpoint.filter_payload,
        },
        "signing": endpoint.signing,
        "headers": dict.fromkeys(endpoint.headers, "***"),  # values are often credentials
        "auth": auth,
        "timeout": endpoint.timeout,
        "retry_schedule": list(endpoint.retry_schedule) if endpoint.retry_schedule else None,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": endpoint.failing_since,
        "client_certificate": certificate,
        "secrets": [public_secret(s) | {"hint": "…"} for s in endpoint.secrets],
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
        "kind": endpoint.kind,
        "expires_at": endpoint.expires_at,
        "transformation": None
        if endpoint.transformation is None
        else {"code": endpoint.transformation.code, "enabled": endpoint.transformation.enabled},
        **_flow_shown(endpoint),
    }


def _flow_shown(endpoint: Endpoint) -> dict[str, Any]:
    """The flow settings (``circuit_breaker`` null: the deployment's) and the circuit's state."""
    policy, circuit = endpoint.circuit_breaker, endpoint.circuit
    return {
        "throttle_rate": endpoint.throttle_rate,
        "ordering": endpoint.ordering,
        "circuit_breaker": None
        if policy is None
        else {"failures": policy.failures, "probe_seconds": policy.probe_seconds},
        "circuit": {
            "state": circuit.state,
            "opened_at": circuit.opened_at,
            "next_probe_at": circuit.next_probe_at,
        },
    }


def shown_secret(secret: SecretShown) -> dict[str, Any]:
    """``{"id", "secret"}``, or ``{"id", "public_key"}`` for an ed25519 endpoint."""
    if secret.public_key:
        return {"id": secret.id, "public_key": secret.public_key}
    return {"id": secret.id, "secret": secret.secret}


def health_of(health: EndpointHealth) -> dict[str, Any]:
    """An endpoint's health as ``GET /v1/endpoints/{id}/health`` answers it."""
    failed = health.last_error
    endpoint = health.endpoint
    return {
        "endpoint_id": endpoint.id,
        "window": health.window,
        "attempts": health.attempts,
        "succeeded": health.succeeded,
        "success_rate": health.success_rate,
        "last_attempt_at": health.last_attempt_at,
        "last_success_at": health.last_success_at,
        "last_error": None
        if failed is None
        else {
            "at": failed.at,
            "status_code": failed.status_code,
            "error_class": failed.error_class,
            "error": failed.error,
            "response_excerpt": failed.response_excerpt,
        },
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": endpoint.failing_since,
    }


# ------------------------------------------------------------------------------------------------ parse


def _object(doc: Any) -> dict[str, Any]:
    from chalicelib.errors import ValidationError

    if not isinstance(doc, dict):
        raise ValidationError("the body must be a JSON object")
    return doc


def _application(doc: dict[str, Any]) -> str | None:
    from chalicelib.errors import ValidationError

    ref = doc.get("application")
    if ref is not None and not isinstance(ref, str):
        raise ValidationError("application is an application id or uid", field="application")
    return ref


def parse_create(doc: Any) -> CreateEndpoint:
    """``{"url", "application"?, "signing"?, "secret"?, ...the fields of parse_fields}``."""
    from chalicelib.commands import CreateEndpoint
    from chalicelib.errors import ValidationError
    from chalicelib.outbound.signing import MODES, signing_mode_named

    body = _object(doc)
    application = _application(body)
    if "url" not in body:
        raise ValidationError("url is required", field="url")
    signing = body.get("signing", "standard")
    mode = signing_mode_named(signing) if isinstance(signing, str) else None
    if mode is None:
        raise ValidationError(f"signing is one of {', '.join(m.name for m in MODES)}", field="signing")
    secret = body.get("secret")
    if secret is not None and mode.generated_only:
        raise ValidationError(str(mode.key_problem("")), field="secret")
    if secret is not None and not isinstance(secret, str):
        raise ValidationError("secret must be a string", field="secret")
    return CreateEndpoint(parse_fields(body), signing, secret, application)


def parse_update(doc: Any) -> EndpointFields:
    """The fields to change (``secret``, ``signing`` and ``application`` are fixed here)."""
    from chalicelib.errors import ValidationError

    body = _object(doc)
    if "secret" in body or "signing" in body:
        raise ValidationError(
            "rotate secrets with POST /v1/endpoints/{id}/secret/rotate; signing is fixed",
            field="secret" if "secret" in body else "signing",
        )
    if "application" in body:
        raise ValidationError("an endpoint's application is fixed when it is created", field="application")
    return parse_fields(body)


def parse_rotate(doc: Any) -> RotateSecret:
    """``{"retire_old_after"?: seconds (0 to 30 days, default 1 day), "secret"?}``."""
    from chalicelib.commands import RotateSecret
    from chalicelib.errors import ValidationError

    body = _object(doc)
    grace = body.get("retire_old_after", 86400)
    if isinstance(grace, bool) or not isinstance(grace, int) or not 0 <= grace <= 30 * 86400:
        raise ValidationError("retire_old_after must be 0 to 30 days in seconds", field="retire_old_after")
    secret = body.get("secret")
    if secret is not None and not isinstance(secret, str):
        raise ValidationError("secret must be a string", field="secret")
    return RotateSecret(grace, secret)


def parse_fields(doc: dict[str, Any]) -> EndpointFields:
    """The settable fields given, each checked for shape (see ``EndpointFields``)."""
    from chalicelib.commands import EndpointFields
    from chalicelib.endpoints import MAX_TIMEOUT
    from chalicelib.errors import ValidationError
    from chalicelib.outbound.retry import validate_schedule

    given: dict[str, Any] = {}
    if "url" in doc:
        url = doc["url"]
        if not isinstance(url, str) or not url:
            raise ValidationError("url is required", field="url")
        given["url"] = url
    if "description" in doc:
        description = doc["description"] or ""
        if not isinstance(description, str) or len(description) > 2000:
            raise ValidationError(
                "description must be a string of at most 2000 characters", field="description"
            )
        given["description"] = description
    if "filter" in doc:
        flt = doc["filter"] or {}
        if not isinstance(flt, dict) or set(flt) - {"sources", "event_types", "payload"}:
            raise ValidationError(
                'filter is {"sources": [...], "event_types": [...], "payload": PATTERN}', field="filter"
            )
        given["filter_sources"] = _strings(flt.get("sources"), "filter.sources")
        given["filter_event_types"] = _patterns(flt.get("event_types"))
        given["filter_payload"] = parse_pattern(flt.get("payload"))
    if "headers" in doc:
        given["headers"] = _headers(doc["headers"])
    if "auth" in doc:
        given["auth"] = _auth(doc["auth"])
    if "timeout" in doc:
        timeout = doc["timeout"]
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 1 <= timeout <= MAX_TIMEOUT
        ):
            raise ValidationError(f"timeout must be 1 to {MAX_TIMEOUT:g} seconds", field="timeout")
        given["timeout"] = float(timeout)
    if "retry_schedule" in doc:
        if doc["retry_schedule"] is None:
            given["retry_schedule"] = None
        else:
            try:
                given["retry_schedule"] = validate_schedule(doc["retry_schedule"])
            except ValueError as exc:
                raise ValidationError(str(exc), field="retry_schedule") from None
    if "client_certificate" in doc:
        given["client_certificate"] = parse_certificate(doc["client_certificate"])
    if "enabled" in doc:
        if not isinstance(doc["enabled"], bool):
            raise ValidationError("enabled must be true or false", field="enabled")
        given["enabled"] = doc["enabled"]
    if "transformation" in doc:
        given["transformation"] = parse_transformation(doc["transformation"])
    given.update(_flow_fields(doc))
    return EndpointFields(**given)


def parse_transformation(value: Any) -> Transformation | None:
    """``{"code": JavaScript defining handler(webhook), "enabled"?: bool}`` or null (none); the service
    compiles the code before it keeps it."""
    from chalicelib.errors import ValidationError
    from chalicelib.models import Transformation
    from chalicelib.transform.convention import MAX_CODE_CHARS

    if value is None:
        return None
    if not isinstance(value, dict) or not set(value) <= {"code", "enabled"}:
        raise ValidationError(
            'transformation is {"code": "function handler(webhook) {...}", "enabled": true} or null',
            field="transformation",
        )
    code, enabled = value.get("code"), value.get("enabled", True)
    if not isinstance(code, str) or not code.strip() or len(code) > MAX_CODE_CHARS:
        raise ValidationError(
            f"transformation.code must be JavaScript of 1 to {MAX_CODE_CHARS} characters",
            field="transformation.code",
        )
    if not isinstance(enabled, bool):
        raise ValidationError("transformation.enabled must be true or false", field="transformation.enabled")
    return Transformation(code, enabled)


def _flow_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """``throttle_rate`` (1 to MAX_THROTTLE_RATE or null), ``ordering`` ("none" | "fifo") and
    ``circuit_breaker`` ({"failures", "probe_seconds"} or null: the deployment's), checked for shape."""
    from chalicelib.errors import ValidationError
    from chalicelib.models import BreakerPolicy
    from chalicelib.outbound.breaker import MAX_FAILURES, MAX_PROBE_SECONDS
    from chalicelib.outbound.flow import MAX_THROTTLE_RATE, ORDERINGS

    def whole(value: Any, low: int, high: int) -> bool:
        return not isinstance(value, bool) and isinstance(value, int) and low <= value <= high

    given: dict[str, Any] = {}
    if "throttle_rate" in doc:
        rate = doc["throttle_rate"]
        if rate is not None and not whole(rate, 1, MAX_THROTTLE_RATE):
            raise ValidationError(
                f"throttle_rate is null or a whole number of attempts per second, 1 to {MAX_THROTTLE_RATE}",
                field="throttle_rate",
            )
        given["throttle_rate"] = rate
    if "ordering" in doc:
        if doc["ordering"] not in ORDERINGS:
            raise ValidationError(f"ordering is one of {', '.join(ORDERINGS)}", field="ordering")
        given["ordering"] = doc["ordering"]
    if "circuit_breaker" in doc:
        policy = doc["circuit_breaker"]
        if policy is None:
            given["circuit_breaker"] = None
        else:
            shape = (
                f'circuit_breaker is null or {{"failures": 1 to {MAX_FAILURES}, '
                f'"probe_seconds": 1 to {MAX_PROBE_SECONDS}}}'
            )
            if not isinstance(policy, dict) or set(policy) != {"failures", "probe_seconds"}:
                raise ValidationError(shape, field="circuit_breaker")
            if not whole(policy["failures"], 1, MAX_FAILURES):
                raise ValidationError(shape, field="circuit_breaker.failures")
            if not whole(policy["probe_seconds"], 1, MAX_PROBE_SECONDS):
                raise ValidationError(shape, field="circuit_breaker.probe_seconds")
            given["circuit_breaker"] = BreakerPolicy(policy["failures"], policy["probe_seconds"])
    return given


def parse_certificate(value: Any) -> str | None:
    """``{"source": "secretsmanager" or "ssm", "name"}`` as a reference ``source:name`` (null: None); the
    service checks the name against the caller's own (``client_certs.check_reference``)."""
    from chalicelib.errors import ValidationError
    from chalicelib.outbound.client_certs import NAME, SOURCES

    if value is None:
        return None
    problem = None
    if not isinstance(value, dict) or set(value) != {"source", "name"}:
        problem = 'client_certificate is {"source": "secretsmanager" or "ssm", "name": ...} or null'
    elif value["source"] not in SOURCES:
        problem = "client_certificate.source is secretsmanager or ssm"
    elif not isinstance(value["name"], str) or not NAME.fullmatch(value["name"]):
        problem = "client_certificate.name is 1 to 512 of A-Z a-z 0-9 / _ + = . @ -"
    if problem is not None:
        raise ValidationError(problem, field="client_certificate")
    return f"{value['source']}:{value['name']}"


def _strings(
    value: Any, field: str, *, limit: int | None = None, pattern: str | None = None
) -> tuple[str, ...]:
    import re

    from chalicelib.endpoints import MAX_FILTERS
    from chalicelib.errors import ValidationError

    limit = MAX_FILTERS if limit is None else limit
    if value is None:
        return ()
    valid = isinstance(value, list) and len(value) <= limit
    if not valid or not all(isinstance(v, str) and 0 < len(v) <= 200 for v in value):
        raise ValidationError(
            f"{field} must be a list of at most {limit} strings of 1 to 200 characters", field=field
        )
    if pattern is not None:
        for v in value:
            if not re.fullmatch(pattern, v):
                raise ValidationError(f"{field} has an invalid entry {v!r}", field=field)
    return tuple(value)


def parse_pattern(value: Any, field: str = "filter.payload") -> dict[str, Any] | None:
    """A payload filter (an EventBridge event pattern) as given, once it compiles; None: no filter."""
    from chalicelib.errors import ValidationError
    from chalicelib.filters.pattern import PatternError, compile_pattern

    if value is None:
        return None
    try:
        return compile_pattern(value, field=field).source
    except PatternError as exc:
        raise ValidationError(exc.message, field=exc.field, code=exc.code) from None


def _patterns(value: Any) -> tuple[str, ...]:
    """Event-type patterns, bounded so matching one message stays cheap (see ``routing.glob_match``)."""
    from chalicelib.endpoints import EVENT_TYPE_PATTERN, MAX_PATTERN_STARS
    from chalicelib.errors import ValidationError

    patterns = _strings(value, "filter.event_types", pattern=EVENT_TYPE_PATTERN)
    for p in patterns:
        if p.count("*") > MAX_PATTERN_STARS:
            raise ValidationError(
                f"filter.event_types: a pattern holds at most {MAX_PATTERN_STARS} '*' wildcards",
                field="filter.event_types",
                code="pattern_too_complex",
            )
    return patterns


def _headers(value: Any) -> dict[str, str]:
    import re

    from chalicelib.endpoints import HEADER_NAME, MAX_HEADERS, RESERVED_HEADERS
    from chalicelib.errors import ValidationError

    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_HEADERS:
        raise ValidationError(f"headers must be an object of at most {MAX_HEADERS} entries", field="headers")
    out: dict[str, str] = {}
    for name, text in value.items():
        if not isinstance(name, str) or not re.fullmatch(HEADER_NAME, name):
            raise ValidationError(f"header name {name!r} is not a valid HTTP token", field="headers")
        if name.lower() in RESERVED_HEADERS or name.lower().startswith("hookway-"):
            raise ValidationError(f"header {name!r} is reserved", field="headers", code="reserved_header")
        if not isinstance(text, str) or len(text) > 4096 or any(c in text for c in "\r\n\x00"):
            raise ValidationError(f"header {name!r} needs a single-line string value", field="headers")
        out[name] = text
    return out


def _auth(value: Any) -> dict[str, str] | None:
    from chalicelib.errors import ValidationError

    if value is None:
        return None
    if isinstance(value, dict) and value.get("type") == "basic":
        user, password = value.get("username"), value.get("password")
        if isinstance(user, str) and isinstance(password, str) and user and ":" not in user:
            return {"type": "basic", "username": user, "password": password}
    if isinstance(value, dict) and value.get("type") == "bearer":
        token = value.get("token")
        if isinstance(token, str) and token and not any(c in token for c in "\r\n "):
            return {"type": "bearer", "token": token}
    raise ValidationError(
        'auth is {"type": "basic", "username", "password"} or {"type": "bearer", "token"}', field="auth"
    )


def parse_simulate(doc: Any) -> Simulate:
    """``{"code"?, "message_id" | "payload"}``: exactly one of a stored message and a payload."""
    from chalicelib.commands import Simulate
    from chalicelib.errors import ValidationError
    from chalicelib.transform.convention import MAX_CODE_CHARS

    body = _object(doc)
    unknown = sorted(set(body) - {"code", "message_id", "payload"})
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}", field=unknown[0])
    code = body.get("code")
    if code is not None and (not isinstance(code, str) or not code.strip() or len(code) > MAX_CODE_CHARS):
        raise ValidationError(f"code must be JavaScript of 1 to {MAX_CODE_CHARS} characters", field="code")
    if ("message_id" in body) == ("payload" in body):
        raise ValidationError("give either message_id or payload", field="message_id")
    message_id = body.get("message_id")
    if "message_id" in body and (not isinstance(message_id, str) or not 0 < len(message_id) <= 200):
        raise ValidationError("message_id must be a message id", field="message_id")
    return Simulate(code=code, message_id=message_id, payload=body.get("payload"))


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
