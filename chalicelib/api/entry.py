"""The API function's Lambda handler: ``/in/{source_id}`` served without Chalice, the rest by the Chalice app.

A provider's webhook is the API function's one latency-critical request, and often a cold start's first.
Chalice's dispatch adds nothing to it (the route is public, has no middleware work, and answers what the
ingest service decides), but importing the app imports Chalice, registers every resource's routes and
loads their modules. So the function's handler is ``handler`` here (``infra/package.py`` and
``infra/deploy.py`` set it on the API function, whatever front door invokes it: the REST API, the HTTP
API's payload 1.0 and the function URL's payload 2.0): an event for ``POST``/``GET /in/{source_id}`` goes
straight to the ingest service and is answered in exactly the shape the Chalice view gives (status,
headers, body, errors in ``{"error": {"code", "message"}}``, a 500 ``internal_error`` for a bug); any other
event (the management API, the console and portal, the publish route, the function URL's other paths;
queue and schedule events go to other functions) goes to ``app.app``, imported on the first such event.

Imports at module level: the standard library only. Serving a webhook imports the ingest service, its
adapters and botocore, never Chalice, boto3 nor the management API's modules (``tests/unit/test_entry.py``).
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

INGEST_ROUTE = "/in/{source_id}"
_METHODS = ("POST", "GET")
_LOG = logging.getLogger("hookway")  # the Chalice app's logger (its app_name), as the view logs there

Handler = Callable[[Any, Any], Any]

_first = True


def handler(event: Any, context: Any) -> Any:
    """The API function's entry point (the Lambda handler ``chalicelib.api.entry.handler``).

    The first event of a container imports and builds what it needs (botocore, its clients, the services):
    hundreds of thousands of objects, none of them garbage, which the cyclic garbage collector would scan
    again and again on the way (about a tenth of the cold start). So it is off until the first answer,
    then those objects are moved out of its sight for good (``gc.freeze``: they live as long as the
    container) and it runs as usual for everything made later.
    """
    global _first  # noqa: PLW0603 - once per Lambda container
    if not _first:
        return serve(event, context, _chalice_app)
    _first = False
    gc.disable()
    try:
        return serve(event, context, _chalice_app)
    finally:
        gc.freeze()
        gc.enable()


def _chalice_app(event: Any, context: Any) -> Any:
    from app import app

    return app(event, context)


def serve(event: Any, context: Any, fallback: Handler) -> Any:
    """Answer an ingest request here, anything else through ``fallback`` (the Chalice app)."""
    if isinstance(event, dict):
        if event.get("version") == "2.0":
            from chalicelib.api import function_url

            if function_url.is_function_url_event(event):
                rest = function_url.to_rest_event(event)
                if rest is not None and rest["resource"] == INGEST_ROUTE:
                    return function_url.url_reply(receive(rest))
        elif is_ingest_event(event):
            return receive(event)
    return fallback(event, context)


def is_ingest_event(event: Mapping[str, Any]) -> bool:
    """Whether an API Gateway proxy event (REST API, or HTTP API payload 1.0) is for a method Chalice's
    ``/in/{source_id}`` route serves: its dispatch reads the same two fields of ``requestContext``."""
    context = event.get("requestContext")
    return (
        isinstance(context, dict)
        and context.get("resourcePath") == INGEST_ROUTE
        and context.get("httpMethod") in _METHODS
        and isinstance(event.get("pathParameters"), dict)
        and isinstance(event["pathParameters"].get("source_id"), str)
    )


def receive(event: Mapping[str, Any]) -> dict[str, Any]:
    """The ingest route's answer to a REST-shaped event, as the Chalice view and app would give it."""
    from chalicelib.errors import HookwayError

    try:
        from chalicelib.inbound.request import from_event
        from chalicelib.wiring import api_root

        c = api_root()
        inbound = from_event(event["pathParameters"]["source_id"], event, c.settings.public_url)
        reply = c.ingest.receive(inbound)
        return _answer(
            reply.status, {"Content-Type": reply.content_type, **reply.headers}, reply.body.decode()
        )
    except HookwayError as exc:
        return _error(exc)
    except Exception:
        # As the Chalice view does: the traceback to the log, a JSON error in Hookway's shape to the caller.
        _LOG.exception("unhandled error in %s", "receive")
        return _error(HookwayError("an internal error occurred"))
    finally:
        from chalicelib.wiring import flush_metrics

        flush_metrics()


def _error(exc: Any) -> dict[str, Any]:
    body = json.dumps(exc.to_body(), separators=(",", ":"))
    return _answer(exc.status, {"Content-Type": "application/json", **exc.headers}, body)


def _answer(status: int, headers: dict[str, str], body: str) -> dict[str, Any]:
    # Chalice's Response.to_dict for a text body: these content types (JSON, text/plain) are not binary
    # types of the app, so no base64 and no Accept check; every header has one value.
    return {"headers": headers, "multiValueHeaders": {}, "statusCode": status, "body": body}
