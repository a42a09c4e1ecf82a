"""The Lambda function URL front door (the stage option ``function_url``): two routes, nothing else.

A function URL hands the API's function every request to its host, as an event of payload format 2.0,
and costs nothing per request (API Gateway's REST API costs $3.50 per million, the HTTP API $1.00). This
module serves only ``POST``/``GET /in/{source_id}`` and ``POST /v1/messages`` from it: it turns such an
event into the REST API's event shape, which the Chalice app (and its middlewares: the publish route's
bearer credential) then serves as it would from API Gateway. Any other method or path answers 404
``not_found`` before the app sees it, so the management API, the console and the portal stay behind the
REST API. What the door gives up: no WAF (unless CloudFront is put in front), no mutual TLS (a source
with an ``mtls`` rule rejects every request that came this way: no client certificate), and cookies are
dropped (the console's session never reaches the app through it).

Standard library only, imported on a function URL's first request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

# A source id as Hookway makes them (``src_...``); anything else (a slash, an escape, a dot) is not a route.
_INGEST = re.compile(r"/in/([A-Za-z0-9_-]{1,128})")
PUBLISH = "/v1/messages"


def is_function_url_event(event: Any) -> bool:
    """Whether a Lambda event came from a function URL (payload 2.0: ``requestContext.http``; the stage's
    HTTP API option sends payload 1.0, the REST API's shape)."""
    if not isinstance(event, dict) or event.get("version") != "2.0":
        return False
    context = event.get("requestContext")
    return isinstance(context, dict) and isinstance(context.get("http"), dict)


def _route(method: str, path: str) -> tuple[str, dict[str, str] | None] | None:
    """(resource path, path parameters) of a route this door serves, else None."""
    found = _INGEST.fullmatch(path)
    if found and method in ("POST", "GET"):
        return "/in/{source_id}", {"source_id": found.group(1)}
    if path == PUBLISH and method == "POST":
        return PUBLISH, None
    return None


def to_rest_event(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The REST API's event for a function URL request on a route this door serves; None otherwise."""
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    method = str(http.get("method") or "").upper()
    path = str(event.get("rawPath") or "")
    route = _route(method, path)
    if route is None:
        return None
    resource, parameters = route
    # A function URL joins a repeated header's values with commas, as HTTP allows: one value each here.
    # Cookies come apart from the headers and are dropped: no console session comes in this way.
    headers = {
        str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items() if k.lower() != "cookie"
    }
    pairs = parse_qsl(str(event.get("rawQueryString") or ""), keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for name, value in pairs:
        multi_query.setdefault(name, []).append(value)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": path,
            "stage": "$default",
            "domainName": context.get("domainName", ""),
            "requestId": context.get("requestId", ""),
            # The TCP peer as Lambda saw it (never X-Forwarded-For, which the caller writes): the
            # address a source's IP allowlist checks. No clientCert: a function URL has no mutual TLS.
            "identity": {"sourceIp": http.get("sourceIp")},
        },
        "body": event.get("body"),
        "isBase64Encoded": bool(event.get("isBase64Encoded")),
    }


def not_served(method: str, path: str) -> dict[str, Any]:
    """The answer to anything this door does not serve: 404 in Hookway's error shape."""
    body = {
        "error": {
            "code": "not_found",
            "message": "the function URL serves only POST /in/{source_id} and POST /v1/messages",
        }
    }
    return {"statusCode": 404, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def serve(
    app: Callable[[dict[str, Any], Any], dict[str, Any]], event: Mapping[str, Any], context: Any
) -> Any:
    """Answer a function URL event through the app (REST shape in, function URL response out)."""
    rest = to_rest_event(event)
    if rest is None:
        http = (event.get("requestContext") or {}).get("http") or {}
        return not_served(str(http.get("method")), str(event.get("rawPath")))
    return url_reply(app(rest, context))


def url_reply(reply: Mapping[str, Any]) -> dict[str, Any]:
    """A REST API proxy response as a function URL's (which reads statusCode, headers, body and
    isBase64Encoded, no multiValueHeaders)."""
    headers = dict(reply.get("headers") or {})
    for name, values in (reply.get("multiValueHeaders") or {}).items():
        headers[name] = ", ".join(str(v) for v in values)
    return {
        "statusCode": reply.get("statusCode", 200),
        "headers": headers,
        "body": reply.get("body", ""),
        "isBase64Encoded": bool(reply.get("isBase64Encoded")),
    }
