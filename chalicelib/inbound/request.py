"""The inbound request type, and how one is built from an API Gateway proxy event.

Shared by the ingest service and the views: the views hand over the event; nothing else in Hookway knows
API Gateway's event shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode


@dataclass(frozen=True)
class InboundRequest:
    """An HTTP request to ``/in/{source_id}`` as API Gateway handed it over."""

    source_id: str
    method: str
    url: str
    path: str
    query: Mapping[str, str]
    query_string: str
    headers: Mapping[str, Sequence[str]]  # lower-case name -> every value received
    body: bytes
    source_ip: str | None = None
    client_cert: Mapping[str, Any] | None = None

    def header(self, name: str) -> str:
        """The first value of a header, or ''."""
        values = self.headers.get(name.lower())
        return values[0] if values else ""


@dataclass(frozen=True)
class Reply:
    """What the route answers."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def public_base_url(configured: str, headers: Mapping[str, str], full_path: str, path: str) -> str:
    """The public base URL of this API: configured, or what the caller addressed (stage prefix included).

    ``full_path`` is the path as the client sent it (``/api/v1/sources`` on an execute-api host),
    ``path`` the route's own (``/v1/sources``).
    """
    if configured:
        return configured
    proto = headers.get("x-forwarded-proto", "https").split(",")[0].strip()
    host = headers.get("host", "localhost")
    prefix = full_path[: len(full_path) - len(path)] if full_path.endswith(path) else ""
    return f"{proto}://{host}{prefix}"


def from_event(source_id: str, event: Mapping[str, Any], configured_base: str) -> InboundRequest:
    """An InboundRequest from an API Gateway proxy event (multi-value headers and query kept whole)."""
    multi = event.get("multiValueHeaders") or {k: [v] for k, v in (event.get("headers") or {}).items()}
    headers: dict[str, list[str]] = {}
    for name, values in multi.items():
        lower = name.lower()
        if lower in headers:  # the same name in two spellings: keep every value
            headers[lower] = headers[lower] + list(values or [])
        else:
            headers[lower] = list(values or [])
    single_query = event.get("queryStringParameters") or {}
    multi_query = event.get("multiValueQueryStringParameters") or {k: [v] for k, v in single_query.items()}
    # Senders escape only what they must; quote() with RFC 3986's sub-delimiters kept comes closest to
    # the URL they signed (sources can pin it exactly with the signed_url option).
    query_string = urlencode(
        [(k, v) for k, vs in multi_query.items() for v in vs], quote_via=quote, safe="/:@!$'()*,;~"
    )
    context = event.get("requestContext") or {}
    method = event.get("httpMethod") or context.get("httpMethod") or "POST"
    path = f"/in/{source_id}"
    first = {k: v[0] for k, v in headers.items() if v}
    base = public_base_url(configured_base, first, str(context.get("path") or path), path)
    identity = context.get("identity") or {}
    body = event.get("body")
    return InboundRequest(
        source_id=source_id,
        method=str(method).upper(),
        url=f"{base}{path}" + (f"?{query_string}" if query_string else ""),
        path=path,
        query={k: vs[-1] for k, vs in multi_query.items() if vs},
        query_string=query_string,
        headers=headers,
        body=_raw_body(body, bool(event.get("isBase64Encoded"))),
        source_ip=identity.get("sourceIp"),
        client_cert=identity.get("clientCert"),
    )


def _raw_body(body: Any, encoded: bool) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if encoded:
        import base64

        return base64.b64decode(body)
    return str(body).encode("utf-8")
