"""Hookway's Chalice app: routes and event handlers only.

Each view unpacks the request, makes one call into ``chalicelib`` and shapes the reply. Nothing from
``chalicelib`` is imported at module level but ``chalicelib.names`` (pure, a few names): the Lambda's
cold start pays only for what a route touches.

Queue names derive from the stage. Chalice loads this module with the stage's environment in place (for
``chalice deploy --stage prod`` that is ``HOOKWAY_STAGE=prod`` from .chalice/config.json), so the
decorators below name that stage's own queues; in the Lambda the same variable gives the same names.
"""

from __future__ import annotations

import functools
import hmac
import json
import os
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from chalice import Chalice, Rate, Response

from chalicelib.names import names

app = Chalice(app_name="hookway")
STAGE = names(os.environ.get("HOOKWAY_STAGE", "local"))
# The sender's event source mapping may cap how many deliver functions run at once (a stage option).
SENDER_MAX_CONCURRENCY = int(os.environ.get("HOOKWAY_SENDER_MAX_CONCURRENCY") or 0) or None
# The deployed API takes every request body as binary (infra/template.yaml sets the API's binary media
# types to */*), so raw_body is exactly what the sender signed. app.api.binary_types stays as it is:
# Chalice uses it for responses, which are JSON or text, except /v1/messages/{id}/body (octet-stream).
app.api.binary_types.extend(["application/x-www-form-urlencoded", "multipart/form-data"])

ANY_CONTENT = ["*/*"]


def _container() -> Any:
    from chalicelib.wiring import container

    return container()


def _error_response(exc: Any) -> Response:
    return Response(
        body=exc.to_body(),
        status_code=exc.status,
        headers={"Content-Type": "application/json", **exc.headers},
    )


def api(view: Callable[..., Any]) -> Callable[..., Any]:
    """Turn Hookway's errors into ``{"error": {...}}`` answers with their status code."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from chalicelib.errors import HookwayError

        try:
            return view(*args, **kwargs)
        except HookwayError as exc:
            return _error_response(exc)
        except Exception:
            # Still a JSON error in Hookway's shape; the traceback goes to the log, never to the caller.
            app.log.exception("unhandled error in %s", view.__name__)
            return _error_response(HookwayError("an internal error occurred"))
        finally:
            from chalicelib.wiring import flush_metrics

            flush_metrics()

    return wrapper


@app.middleware("http")
def admin_auth(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """The management API needs ``Authorization: Bearer <admin key>``, compared in constant time."""
    path = event.context.get("resourcePath", "")
    if path.startswith("/v1/") and path != "/v1/health":
        from chalicelib.errors import HookwayError, UnauthorizedError

        try:
            expected = _container().admin_key.encode()
        except HookwayError as exc:
            return _error_response(exc)
        scheme, _, token = event.headers.get("authorization", "").partition(" ")
        ok = (
            bool(expected)
            and scheme.lower() == "bearer"
            and hmac.compare_digest(token.strip().encode("utf-8", "surrogateescape"), expected)
        )
        if not ok:
            return _error_response(
                UnauthorizedError(
                    "send Authorization: Bearer <admin key>",
                    headers={"WWW-Authenticate": 'Bearer realm="hookway"'},
                )
            )
    return get_response(event)


def _json_body() -> Any:
    from chalicelib.errors import BadRequestError

    raw = app.current_request.raw_body or b""
    try:
        doc = json.loads(raw) if raw.strip() else {}
        # JSON's \ud800-style escapes can smuggle in lone surrogates, which no store or signature can encode.
        # ... and NaN/Infinity, which Python reads but no receiver's JSON parser accepts.
        json.dumps(doc, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (ValueError, UnicodeError, RecursionError):
        raise BadRequestError("the body is not valid JSON", code="invalid_json") from None
    return doc


def _limit() -> int:
    from chalicelib.errors import BadRequestError

    raw = (app.current_request.query_params or {}).get("limit", "50")
    if not re.fullmatch(r"[0-9]{1,4}", raw) or not 1 <= int(raw) <= 200:
        raise BadRequestError("limit must be 1 to 200", code="invalid_limit")
    return int(raw)


def _cursor() -> str | None:
    return (app.current_request.query_params or {}).get("cursor")


def _base_url(headers: Any = None) -> str:
    """The public base URL of this API: configured, or what the caller addressed (stage included)."""
    configured = _container().settings.public_url
    if configured:
        return str(configured)
    request = app.current_request
    headers = headers if headers is not None else request.headers
    proto = headers.get("x-forwarded-proto", "https").split(",")[0].strip()
    host = headers.get("host", "localhost")
    full_path = request.context.get("path", request.path)  # includes the stage on execute-api hosts
    prefix = full_path[: len(full_path) - len(request.path)] if full_path.endswith(request.path) else ""
    return f"{proto}://{host}{prefix}"


def _json(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=doc, status_code=status, headers={"Content-Type": "application/json", **(headers or {})}
    )


# ---------------------------------------------------------------------------------------------- ingest


@app.route("/in/{source_id}", methods=["POST", "GET"], content_types=ANY_CONTENT)
@api
def receive(source_id: str) -> Response:
    """Receive a webhook: verify, store durably, answer 202 with the message id."""
    from chalicelib.ingest import InboundRequest

    request = app.current_request
    event = request.to_original_event()
    multi = event.get("multiValueHeaders") or {k: [v] for k, v in (event.get("headers") or {}).items()}
    headers: dict[str, list[str]] = {}
    for name, values in multi.items():
        lower = name.lower()
        if lower in headers:  # the same name in two spellings: keep every value
            headers[lower] = headers[lower] + list(values or [])
        else:
            headers[lower] = values or []
    multi_query = event.get("multiValueQueryStringParameters") or {}
    # Senders escape only what they must; quote() with RFC 3986's sub-delimiters kept comes closest to
    # the URL they signed (sources can pin it exactly with the signed_url option).
    query_string = urlencode(
        [(k, v) for k, vs in multi_query.items() for v in vs], quote_via=quote, safe="/:@!$'()*,;~"
    )
    base = _base_url({k: v[0] for k, v in headers.items() if v})
    url = f"{base}/in/{source_id}" + (f"?{query_string}" if query_string else "")
    identity = request.context.get("identity") or {}
    inbound = InboundRequest(
        source_id=source_id,
        method=request.method,
        url=url,
        path=f"/in/{source_id}",
        query=dict(request.query_params or {}),
        query_string=query_string,
        headers=headers,
        body=request.raw_body or b"",
        source_ip=identity.get("sourceIp"),
        client_cert=identity.get("clientCert"),
    )
    reply = _container().ingest.receive(inbound)
    return Response(
        body=reply.body.decode("utf-8"),
        status_code=reply.status,
        headers={"Content-Type": reply.content_type, **reply.headers},
    )


# --------------------------------------------------------------------------------------------- health


@app.route("/v1/health", methods=["GET"], content_types=ANY_CONTENT)
@api
def health() -> Response:
    """200 when the state table answers; 503 otherwise."""
    c = _container()
    c.store.ping()
    return _json({"status": "ok", "stage": c.settings.stage})


# -------------------------------------------------------------------------------------------- sources


@app.route("/v1/sources", methods=["POST"], content_types=ANY_CONTENT)
@api
def create_source() -> Response:
    """Create a source; answers 201 with its id and ingest URL."""
    from chalicelib.sources import public_source

    source = _container().sources.create(_json_body())
    return _json(public_source(source, _base_url()), 201)


@app.route("/v1/sources", methods=["GET"], content_types=ANY_CONTENT)
@api
def list_sources() -> Response:
    """List sources (secret values never included)."""
    from chalicelib.sources import public_source

    page = _container().sources.list(limit=_limit(), cursor=_cursor())
    base = _base_url()
    return _json({"data": [public_source(s, base) for s in page.items], "next_cursor": page.cursor})


@app.route("/v1/sources/{source_id}", methods=["GET"], content_types=ANY_CONTENT)
@api
def get_source(source_id: str) -> Response:
    """One source."""
    from chalicelib.sources import public_source

    return _json(public_source(_container().sources.get(source_id), _base_url()))


@app.route("/v1/sources/{source_id}", methods=["PATCH", "PUT"], content_types=ANY_CONTENT)
@api
def update_source(source_id: str) -> Response:
    """Change a source's fields."""
    from chalicelib.sources import public_source

    return _json(public_source(_container().sources.update(source_id, _json_body()), _base_url()))


@app.route("/v1/sources/{source_id}", methods=["DELETE"], content_types=ANY_CONTENT)
@api
def delete_source(source_id: str) -> Response:
    """Delete a source."""
    _container().sources.delete(source_id)
    return Response(body="", status_code=204)


@app.route("/v1/sources/{source_id}/secrets", methods=["POST"], content_types=ANY_CONTENT)
@api
def add_source_secret(source_id: str) -> Response:
    """Add a verification secret (rotation), optionally retiring the others after a grace period."""
    source, secret = _container().sources.add_secret(source_id, _json_body())
    return _json(
        {
            "source_id": source.id,
            "secret": secret.public(),
            "secrets": [s.public() for s in source.verification.secrets],
        },
        201,
    )


@app.route("/v1/sources/{source_id}/secrets/{secret_id}", methods=["DELETE"], content_types=ANY_CONTENT)
@api
def retire_source_secret(source_id: str, secret_id: str) -> Response:
    """Retire a verification secret now."""
    _container().sources.retire_secret(source_id, secret_id)
    return Response(body="", status_code=204)


@app.route("/v1/sources/{source_id}/rejections", methods=["GET"], content_types=ANY_CONTENT)
@api
def list_rejections(source_id: str) -> Response:
    """The source's recent rejected requests and its rejection counts."""
    c = _container()
    c.sources.get(source_id)
    return _json(
        {
            "data": [r.public() for r in c.store.list_rejections(source_id)],
            "counts": c.store.rejection_counts(source_id),
        }
    )


# ------------------------------------------------------------------------------------------- messages


@app.route("/v1/messages", methods=["GET"], content_types=ANY_CONTENT)
@api
def list_messages() -> Response:
    """Messages of one source (``?source=``), newest first."""
    from chalicelib.errors import BadRequestError

    source_id = (app.current_request.query_params or {}).get("source")
    if not source_id:
        raise BadRequestError("give ?source=<source id>", code="missing_source")
    page = _container().store.list_messages(source_id=source_id, limit=_limit(), cursor=_cursor())
    return _json({"data": [m.public() for m in page.items], "next_cursor": page.cursor})


@app.route("/v1/messages", methods=["POST"], content_types=ANY_CONTENT)
@api
def publish_message() -> Response:
    """Publish ``{"event_type", "payload"}`` to every subscribed endpoint; ``Idempotency-Key`` for 24 h."""
    key = app.current_request.headers.get("idempotency-key")
    message_id = _container().publisher.publish(_json_body(), key)
    return _json({"id": message_id}, 202)


@app.route("/v1/messages/{message_id}", methods=["GET"], content_types=ANY_CONTENT)
@api
def get_message(message_id: str) -> Response:
    """One message, with the state of its delivery to each endpoint."""
    from chalicelib.delivery import delivery_states

    c = _container()
    message = c.store.get_message(message_id)
    return _json(
        {**message.public(), "deliveries": delivery_states(message, c.store.list_attempts(message_id))}
    )


@app.route("/v1/messages/{message_id}/resend", methods=["POST"], content_types=ANY_CONTENT)
@api
def resend_message(message_id: str) -> Response:
    """Send a message again to its endpoints (or ``{"endpoint_ids": [...]}``): one more attempt each."""
    from chalicelib.errors import ValidationError

    doc = _json_body()
    ids = doc.get("endpoint_ids") if isinstance(doc, dict) else None
    if ids is not None and not (
        isinstance(ids, list) and all(isinstance(i, str) for i in ids) and len(ids) <= 100
    ):
        raise ValidationError("endpoint_ids must be a list of at most 100 endpoint ids", field="endpoint_ids")
    sent = _container().recovery.resend(message_id, ids)
    return _json({"id": message_id, "endpoint_ids": sent}, 202)


@app.route("/v1/messages/{message_id}/attempts", methods=["GET"], content_types=ANY_CONTENT)
@api
def list_message_attempts(message_id: str) -> Response:
    """Every attempt to deliver a message, newest first."""
    c = _container()
    c.store.get_message(message_id)
    attempts = c.store.list_attempts(message_id)
    start = _offset_cursor()
    page = attempts[start : start + _limit()]
    more = start + len(page) < len(attempts)
    return _json(
        {"data": [a.public() for a in page], "next_cursor": str(start + len(page)) if more else None}
    )


def _offset_cursor() -> int:
    from chalicelib.errors import BadRequestError

    raw = _cursor() or "0"
    if not re.fullmatch(r"[0-9]{1,6}", raw):
        raise BadRequestError("the cursor is not valid", code="invalid_cursor")
    return int(raw)


@app.route("/v1/messages/{message_id}/body", methods=["GET"], content_types=ANY_CONTENT)
@api
def get_message_body(message_id: str) -> Response:
    """The stored body, byte for byte (``Hookway-Content-Type`` gives the type it arrived with)."""
    c = _container()
    message = c.store.get_message(message_id)
    body = message.body if message.body_ref is None else c.blobs.get(message.body_ref.key)
    return Response(
        body=body or b"",
        status_code=200,
        headers={
            "Content-Type": "application/octet-stream",
            "Hookway-Content-Type": message.content_type,
            "Hookway-Body-Sha256": message.body_sha256,
        },
    )


# ------------------------------------------------------------------------------------------ endpoints


@app.route("/v1/endpoints", methods=["POST"], content_types=ANY_CONTENT)
@api
def create_endpoint() -> Response:
    """Create an endpoint; its signing secret (or ed25519 public key) is shown here and on /secret only."""
    from chalicelib.endpoints import public_endpoint

    endpoint, secret, public_key = _container().endpoints.create(_json_body())
    shown = {"public_key": public_key} if public_key else {"secret": secret}
    return _json({**public_endpoint(endpoint), **shown}, 201)


@app.route("/v1/endpoints", methods=["GET"], content_types=ANY_CONTENT)
@api
def list_endpoints() -> Response:
    """List endpoints."""
    from chalicelib.endpoints import public_endpoint

    page = _container().endpoints.list(limit=_limit(), cursor=_cursor())
    return _json({"data": [public_endpoint(e) for e in page.items], "next_cursor": page.cursor})


@app.route("/v1/endpoints/{endpoint_id}", methods=["GET"], content_types=ANY_CONTENT)
@api
def get_endpoint(endpoint_id: str) -> Response:
    """One endpoint."""
    from chalicelib.endpoints import public_endpoint

    return _json(public_endpoint(_container().endpoints.get(endpoint_id)))


@app.route("/v1/endpoints/{endpoint_id}", methods=["PATCH", "PUT"], content_types=ANY_CONTENT)
@api
def update_endpoint(endpoint_id: str) -> Response:
    """Change an endpoint's fields."""
    from chalicelib.endpoints import public_endpoint

    return _json(public_endpoint(_container().endpoints.update(endpoint_id, _json_body())))


@app.route("/v1/endpoints/{endpoint_id}", methods=["DELETE"], content_types=ANY_CONTENT)
@api
def delete_endpoint(endpoint_id: str) -> Response:
    """Delete an endpoint."""
    _container().endpoints.delete(endpoint_id)
    return Response(body="", status_code=204)


@app.route("/v1/endpoints/{endpoint_id}/enable", methods=["POST"], content_types=ANY_CONTENT)
@api
def enable_endpoint(endpoint_id: str) -> Response:
    """Enable an endpoint (clears its failure clock)."""
    from chalicelib.endpoints import public_endpoint

    return _json(public_endpoint(_container().endpoints.update(endpoint_id, {"enabled": True})))


@app.route("/v1/endpoints/{endpoint_id}/disable", methods=["POST"], content_types=ANY_CONTENT)
@api
def disable_endpoint(endpoint_id: str) -> Response:
    """Disable an endpoint: its deliveries end as skipped until it is enabled again."""
    from chalicelib.endpoints import public_endpoint

    return _json(public_endpoint(_container().endpoints.update(endpoint_id, {"enabled": False})))


@app.route("/v1/endpoints/{endpoint_id}/secret", methods=["GET"], content_types=ANY_CONTENT)
@api
def get_endpoint_secret(endpoint_id: str) -> Response:
    """The endpoint's current signing secret (or ed25519 public key)."""
    return _json(_container().endpoints.secret(endpoint_id))


@app.route("/v1/endpoints/{endpoint_id}/secret/rotate", methods=["POST"], content_types=ANY_CONTENT)
@api
def rotate_endpoint_secret(endpoint_id: str) -> Response:
    """Add a new signing secret; the old one keeps signing alongside for ``retire_old_after`` seconds."""
    _, shown = _container().endpoints.rotate_secret(endpoint_id, _json_body())
    return _json(shown, 201)


@app.route("/v1/endpoints/{endpoint_id}/recover", methods=["POST"], content_types=ANY_CONTENT)
@api
def recover_endpoint(endpoint_id: str) -> Response:
    """Send again every delivery to this endpoint that ended failed or skipped since ``{"since": unix time}``."""
    from chalicelib.errors import ValidationError

    c = _container()
    doc = _json_body()
    since = doc.get("since") if isinstance(doc, dict) else None
    if isinstance(since, bool) or not isinstance(since, int | float) or since < 0:
        raise ValidationError("since (Unix time in seconds) is required", field="since")
    recovered = c.recovery.recover(endpoint_id, float(since))
    return _json({"endpoint_id": endpoint_id, "message_ids": recovered, "count": len(recovered)}, 202)


@app.route("/v1/endpoints/{endpoint_id}/attempts", methods=["GET"], content_types=ANY_CONTENT)
@api
def list_endpoint_attempts(endpoint_id: str) -> Response:
    """Attempts to an endpoint, newest first."""
    c = _container()
    c.endpoints.get(endpoint_id)
    page = c.store.list_endpoint_attempts(endpoint_id, limit=_limit(), cursor=_cursor())
    return _json({"data": [a.public() for a in page.items], "next_cursor": page.cursor})


# ------------------------------------------------------------------------------------- queue handlers


@app.on_sqs_message(queue=STAGE.ingest_queue, batch_size=10)
def route_ingest(event: Any) -> None:
    """Store and fan out each accepted webhook (see chalicelib.sqs for the batch semantics)."""
    from chalicelib.sqs import process_batch_with

    c = _container()
    try:
        process_batch_with(event, c.router.route_many, c.ingest_queue)
    finally:
        c.metrics.flush()


@app.on_sqs_message(queue=STAGE.deliveries_queue, batch_size=10, maximum_concurrency=SENDER_MAX_CONCURRENCY)
def deliver(event: Any) -> None:
    """Send each delivery task, concurrently (see chalicelib.delivery and chalicelib.sqs)."""
    from chalicelib.sqs import process_batch_with

    c = _container()
    try:
        process_batch_with(event, c.sender.handle_many, c.deliveries_queue)
    finally:
        c.metrics.flush()


@app.on_sqs_message(queue=STAGE.deliveries_dlq, batch_size=10)
def dead_letters(event: Any) -> None:
    """End the delivery of each task that reached the dead-letter queue: ``failed`` (``dead_lettered``)."""
    from chalicelib.sqs import process_batch_with
    from chalicelib.wiring import flush_metrics

    c = _container()
    try:
        process_batch_with(event, c.dead_letters.handle_many, c.deliveries_dlq)
    finally:
        flush_metrics()


@app.schedule(Rate(1, unit=Rate.HOURS))
def sweep(event: Any) -> dict[str, Any]:
    """Disable endpoints that kept failing without new traffic, end expired claims; returns the report."""
    from chalicelib.wiring import flush_metrics

    try:
        return _container().sweep.run().public()
    finally:
        flush_metrics()


# ------------------------------------------------------------------------------------------- egress


@app.route("/v1/egress", methods=["GET"], content_types=ANY_CONTENT)
@api
def egress_addresses() -> Response:
    """The addresses deliveries come from, for receivers' allowlists (static only with static egress IPs)."""
    ips = list(_container().settings.egress_ips)
    return _json({"static": bool(ips), "ips": ips})
