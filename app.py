"""Hookway's Chalice app: middlewares, one Blueprint per resource, queue and schedule handlers.

The routes live in ``chalicelib.api`` (one module per resource, each route with its access). At module
level this imports only ``chalicelib.names`` and the Blueprints, which import no service: the Lambda's
cold start pays only for what a route or handler touches.

Queue names derive from the stage. Chalice loads this module with the stage's environment in place (for
``chalice deploy --stage prod`` that is ``HOOKWAY_STAGE=prod`` from .chalice/config.json), so the
decorators below name that stage's own queues; in the Lambda the same variable gives the same names.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice.app import Chalice, Rate, Response

from chalicelib.api import resources
from chalicelib.api.resource import SCOPE_KEY, container, error_response
from chalicelib.names import names

if TYPE_CHECKING:
    from chalicelib.scope import Scope
    from chalicelib.wiring.api import ApiRoot
    from chalicelib.wiring.worker import WorkerRoot


class _Hookway(Chalice):
    """Chalice, also answering the function URL front door's events (``chalicelib.api.function_url``)."""

    def __call__(self, event: Any, context: Any) -> Any:
        if isinstance(event, dict) and event.get("version") == "2.0":
            from chalicelib.api import function_url

            if function_url.is_function_url_event(event):
                return function_url.serve(super().__call__, event, context)
        return super().__call__(event, context)


app = _Hookway(app_name="hookway")
STAGE = names(os.environ.get("HOOKWAY_STAGE", "local"))
# The sender's event source mapping may cap how many deliver functions run at once (a stage option).
SENDER_MAX_CONCURRENCY = int(os.environ.get("HOOKWAY_SENDER_MAX_CONCURRENCY") or 0) or None
# The slow lane's mapping always has a cap (the stage option slow_lane_max_concurrency, default 5): failing or
# slow endpoints never take more senders than that from the healthy ones (chalicelib.outbound.lanes).
SLOW_LANE_MAX_CONCURRENCY = int(os.environ.get("HOOKWAY_SLOW_LANE_MAX_CONCURRENCY") or 5)
# The deployed API takes every request body as binary (infra/api_gateway.py sets the API's binary media
# types to */*), so raw_body is exactly what the sender signed. app.api.binary_types stays as it is:
# Chalice uses it for responses, which are JSON or text, except /v1/messages/{id}/body (octet-stream).
app.api.binary_types.extend(["application/x-www-form-urlencoded", "multipart/form-data"])

for resource in resources():
    app.register_blueprint(resource)


def _container() -> ApiRoot:
    """The API's composition root (``chalicelib.wiring.api``)."""
    return container()


def _worker() -> WorkerRoot:
    """The queue consumers' and the sweep's composition root (``chalicelib.wiring.worker``)."""
    from chalicelib.wiring import worker_root

    return worker_root()


@app.middleware("http")
def authenticate(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """``/v1`` needs ``Authorization: Bearer <admin key | portal token>``; tokens reach only their routes
    (each route declares its access: ``chalicelib.api.access``)."""
    route = event.context.get("resourcePath", "")
    if route.startswith("/v1/"):
        from chalicelib.api import access
        from chalicelib.errors import HookwayError

        if route not in access.public_routes():
            try:
                scope = _authenticate(event.headers)
                access.check(scope, event.method, route, lambda: _container().token_limiter)
            except HookwayError as exc:
                return error_response(exc)
            event.context[SCOPE_KEY] = scope
    return get_response(event)


def _authenticate(headers: Any) -> Scope:
    """A bearer credential (admin key, portal token), else the console's session cookie and CSRF token."""
    c = _container()
    if "authorization" not in headers and "hookway_session=" in headers.get("cookie", ""):
        return c.sessions.authenticate(headers)
    return c.tokens.authenticate(headers.get("authorization", ""))


@app.middleware("http")
def framework_answers(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Chalice's own answers (405, 415, its Accept rule) in Hookway's error shape; raw bytes to any client.

    A view that returns ``bytes`` and no Content-Type gets ``application/octet-stream`` here, after
    Chalice's check that a binary response matches the request's Accept header: the deployed API's
    binary media types are ``*/*``, so API Gateway hands the bytes to every client whatever it accepts.
    """
    response: Response = get_response(event)
    if isinstance(response.body, bytes):
        if not any(name.lower() == "content-type" for name in response.headers):
            response.headers["Content-Type"] = "application/octet-stream"
        return response
    if not isinstance(response.body, dict) or "Code" not in response.body:
        return response  # the usual case, decided without importing anything
    from chalicelib.replies import chalice_error, is_chalice_error

    if not is_chalice_error(response.body):
        return response
    allowed = response.headers.get("Allow")
    allow = ", ".join(allowed) if isinstance(allowed, list) else allowed
    headers: dict[str, str | list[str]] = {
        "Content-Type": "application/json",
        **({"Allow": allow} if allow else {}),
    }
    body = chalice_error(response.body, event.method, allow)
    return Response(body=body, status_code=response.status_code, headers=headers)


# ------------------------------------------------------------------------------------- queue handlers


@app.on_sqs_message(queue=STAGE.ingest_queue, batch_size=10)
def route_ingest(event: Any) -> None:
    """Store and fan out each accepted webhook (see chalicelib.aws.batch for the batch semantics)."""
    from chalicelib.aws.batch import process_batch_with

    c = _worker()
    try:
        # Job steps (chalicelib.jobs) share the ingest queue; the router gets the rest of the batch.
        process_batch_with(event, c.job_runner.around(c.router.route_many), c.ingest_queue)
    finally:
        c.metrics.flush()


@app.on_sqs_message(queue=STAGE.deliveries_queue, batch_size=10, maximum_concurrency=SENDER_MAX_CONCURRENCY)
def deliver(event: Any) -> None:
    """Send each delivery task, concurrently (see chalicelib.outbound.delivery and chalicelib.aws.batch)."""
    from chalicelib.aws.batch import process_batch_with

    c = _worker()
    try:
        process_batch_with(event, c.sender.handle_many, c.deliveries_queue)
    finally:
        c.metrics.flush()


@app.on_sqs_message(
    queue=STAGE.slow_deliveries_queue, batch_size=10, maximum_concurrency=SLOW_LANE_MAX_CONCURRENCY
)
def deliver_slow(event: Any) -> None:
    """The slow lane: the same sender, for the tasks of endpoints that are failing or slow."""
    from chalicelib.aws.batch import process_batch_with

    c = _worker()
    try:
        # (A stage without the slow lane has no such queue, so this handler is never invoked there.)
        process_batch_with(event, c.sender.handle_many_slow, c.slow_deliveries_queue or c.deliveries_queue)
    finally:
        c.metrics.flush()


@app.on_sqs_message(queue=STAGE.deliveries_dlq, batch_size=10)
def dead_letters(event: Any) -> None:
    """End the delivery of each task that reached the dead-letter queue: ``failed`` (``dead_lettered``)."""
    from chalicelib.aws.batch import process_batch_with
    from chalicelib.wiring import flush_metrics

    c = _worker()
    try:
        process_batch_with(event, c.dead_letters.handle_many, c.deliveries_dlq)
    finally:
        flush_metrics()


@app.schedule(Rate(5, unit=Rate.MINUTES))
def sweep(event: Any) -> dict[str, Any]:
    """Release the parked delivery tasks coming due (chalicelib.outbound.parking), then disable endpoints
    that kept failing without new traffic; returns both reports. Every 5 minutes: the release needs it, and
    the sweep reads only what came due since its last run, so running it more often costs next to nothing."""
    from chalicelib.wiring import flush_metrics

    c = _worker()
    try:
        return {**c.sweep.run().public(), "release": c.release.run().public()}
    finally:
        flush_metrics()
