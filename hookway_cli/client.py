"""Hookway's API as the CLI calls it: one method per operation, over an injectable transport.

Each method carries its operation, ``@operation(METHOD, "/v1/...")``, written as the OpenAPI document
writes it (``docs/openapi.yaml``); ``tests/unit/cli/test_client.py`` checks every one against the
document, and that no other module of the CLI spells a route. Ids are percent-encoded into the path, so
an id can never change which route is called. Errors are those of ``hookway_cli.errors``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import quote, urlencode

from hookway_cli.errors import ApiError
from hookway_cli.transport import Request, Response, Transport

Json = Any  # an answer as the API documents it
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Route:
    """One operation: its method and its path template, as the OpenAPI document spells them."""

    method: str
    template: str

    def path(self, **ids: str) -> str:
        """The path with each id percent-encoded (``KeyError`` if the template names an id not given)."""
        return self.template.format_map({name: quote(value, safe="") for name, value in ids.items()})


def operation(
    method: str, template: str
) -> Callable[[Callable[Concatenate[Client, Route, P], R]], Callable[Concatenate[Client, P], R]]:
    """Bind a client method to its operation: the method gets the ``Route`` as its first argument, and
    keeps it as ``.route`` for the test that checks it against the OpenAPI document."""
    route = Route(method, template)

    def bind(method_: Callable[Concatenate[Client, Route, P], R]) -> Callable[Concatenate[Client, P], R]:
        def call(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> R:
            return method_(self, route, *args, **kwargs)

        functools.update_wrapper(call, method_)
        call.route = route  # type: ignore[attr-defined]
        return call

    return bind


class Client:
    """Hookway's API, as the CLI calls it."""

    def __init__(self, base_url: str, key: str | None, transport: Transport) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = key
        self._transport = transport

    def call(
        self,
        route: Route,
        *,
        body: Any = None,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        raw: bool = False,
        **ids: str,
    ) -> Any:
        """Call one operation; the JSON answer (or the Response when ``raw``); ApiError for a 4xx/5xx."""
        url = self.base_url + route.path(**ids)
        params = {k: v for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urlencode(params)
        sent = {"Accept": "application/json", **(headers or {})}
        if self._key:
            sent["Authorization"] = f"Bearer {self._key}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        resp = self._transport(Request(route.method, url, sent, data))
        if resp.status >= 400:
            raise _api_error(resp)
        if raw:
            return resp
        try:
            return resp.json()
        except ValueError:
            raise ApiError(
                resp.status, "invalid_response", "the API answered with a body that is not JSON"
            ) from None

    def pages(
        self, listing: Callable[..., Json], query: Mapping[str, Any] | None = None, limit: int | None = None
    ) -> list[Any]:
        """Every item of a paginated listing (a method of this client), up to ``limit`` items."""
        items: list[Any] = []
        cursor = None
        while True:
            page = listing({**(query or {}), "cursor": cursor})
            items.extend(page.get("data", []))
            cursor = page.get("next_cursor")
            if not cursor or (limit is not None and len(items) >= limit):
                return items[:limit] if limit is not None else items

    def post_raw(self, url: str, headers: Mapping[str, str], body: bytes) -> Response:
        """POST bytes to any URL (a source's ingest URL, a local forward URL), without the key."""
        return self._transport(Request("POST", url, dict(headers), body))

    # ------------------------------------------------------------------------------------ sources

    @operation("GET", "/v1/sources")
    def list_sources(self, route: Route, query: Mapping[str, Any] | None = None) -> Json:
        """One page of sources."""
        return self.call(route, query=query)

    @operation("POST", "/v1/sources")
    def create_source(self, route: Route, doc: Json) -> Json:
        """Create a source."""
        return self.call(route, body=doc)

    @operation("GET", "/v1/sources/{source_id}")
    def get_source(self, route: Route, source_id: str) -> Json:
        """One source."""
        return self.call(route, source_id=source_id)

    @operation("POST", "/v1/sources/{source_id}/secrets")
    def add_source_secret(self, route: Route, source_id: str, doc: Json) -> Json:
        """Add a verification secret."""
        return self.call(route, body=doc, source_id=source_id)

    @operation("DELETE", "/v1/sources/{source_id}/secrets/{secret_id}")
    def retire_source_secret(self, route: Route, source_id: str, secret_id: str) -> Json:
        """Retire a verification secret now."""
        return self.call(route, source_id=source_id, secret_id=secret_id)

    @operation("GET", "/v1/sources/{source_id}/rejections")
    def source_rejections(self, route: Route, source_id: str) -> Json:
        """Recent rejected requests and counts per reason."""
        return self.call(route, source_id=source_id)

    # ---------------------------------------------------------------------------------- endpoints

    @operation("GET", "/v1/endpoints")
    def list_endpoints(self, route: Route, query: Mapping[str, Any] | None = None) -> Json:
        """One page of one owner's endpoints."""
        return self.call(route, query=query)

    @operation("POST", "/v1/endpoints")
    def create_endpoint(self, route: Route, doc: Json) -> Json:
        """Create an endpoint."""
        return self.call(route, body=doc)

    @operation("GET", "/v1/endpoints/{endpoint_id}")
    def get_endpoint(self, route: Route, endpoint_id: str) -> Json:
        """One endpoint (or listen session)."""
        return self.call(route, endpoint_id=endpoint_id)

    @operation("POST", "/v1/endpoints/{endpoint_id}/enable")
    def enable_endpoint(self, route: Route, endpoint_id: str) -> Json:
        """Enable an endpoint."""
        return self.call(route, endpoint_id=endpoint_id)

    @operation("POST", "/v1/endpoints/{endpoint_id}/disable")
    def disable_endpoint(self, route: Route, endpoint_id: str) -> Json:
        """Disable an endpoint."""
        return self.call(route, endpoint_id=endpoint_id)

    @operation("GET", "/v1/endpoints/{endpoint_id}/secret")
    def get_endpoint_secret(self, route: Route, endpoint_id: str) -> Json:
        """An endpoint's signing secret."""
        return self.call(route, endpoint_id=endpoint_id)

    @operation("POST", "/v1/endpoints/{endpoint_id}/secret/rotate")
    def rotate_endpoint_secret(self, route: Route, endpoint_id: str, doc: Json) -> Json:
        """Rotate an endpoint's signing secret."""
        return self.call(route, body=doc, endpoint_id=endpoint_id)

    @operation("PATCH", "/v1/endpoints/{endpoint_id}")
    def update_endpoint(self, route: Route, endpoint_id: str, doc: Json) -> Json:
        """Change an endpoint's fields."""
        return self.call(route, body=doc, endpoint_id=endpoint_id)

    @operation("POST", "/v1/endpoints/{endpoint_id}/transformation/simulate")
    def simulate_transformation(self, route: Route, endpoint_id: str, doc: Json) -> Json:
        """Run a transformation on a message or payload; nothing is sent."""
        return self.call(route, body=doc, endpoint_id=endpoint_id)

    @operation("POST", "/v1/endpoints/{endpoint_id}/test")
    def send_test_event(self, route: Route, endpoint_id: str, doc: Json) -> Json:
        """Send a test event to this endpoint only."""
        return self.call(route, body=doc, endpoint_id=endpoint_id)

    @operation("POST", "/v1/filters/test")
    def test_filter(self, route: Route, doc: Json) -> Json:
        """Match a filter against a message (a document or a stored one)."""
        return self.call(route, body=doc)

    @operation("POST", "/v1/endpoints/{endpoint_id}/recover")
    def recover_endpoint(self, route: Route, endpoint_id: str, doc: Json) -> Json:
        """Start a job that sends again what an endpoint missed."""
        return self.call(route, body=doc, endpoint_id=endpoint_id)

    @operation("POST", "/v1/endpoints/{endpoint_id}/replay")
    def replay_to_endpoint(self, route: Route, endpoint_id: str, doc: Json) -> Json:
        """Start a job that sends a source's messages of a time range to an endpoint again."""
        return self.call(route, body=doc, endpoint_id=endpoint_id)

    # ----------------------------------------------------------------------------------- messages

    @operation("GET", "/v1/messages")
    def list_messages(self, route: Route, query: Mapping[str, Any] | None = None) -> Json:
        """One page of a message search, newest first."""
        return self.call(route, query=query)

    @operation("POST", "/v1/messages")
    def publish(self, route: Route, doc: Json, idempotency_key: str | None = None) -> Json:
        """Publish an event."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self.call(route, body=doc, headers=headers)

    @operation("GET", "/v1/messages/{message_id}")
    def get_message(self, route: Route, message_id: str) -> Json:
        """One message with its deliveries."""
        return self.call(route, message_id=message_id)

    @operation("GET", "/v1/messages/{message_id}/body")
    def message_body(self, route: Route, message_id: str) -> Response:
        """The stored body, byte for byte (the whole response: its headers describe the body)."""
        resp: Response = self.call(route, raw=True, message_id=message_id)
        return resp

    @operation("GET", "/v1/messages/{message_id}/attempts")
    def list_attempts(self, route: Route, message_id: str, query: Mapping[str, Any] | None = None) -> Json:
        """One page of a message's attempts."""
        return self.call(route, query=query, message_id=message_id)

    @operation("POST", "/v1/messages/{message_id}/resend")
    def resend_message(self, route: Route, message_id: str, doc: Json) -> Json:
        """One more attempt of a message to its endpoints."""
        return self.call(route, body=doc, message_id=message_id)

    # ------------------------------------------------------------------------------- applications

    @operation("GET", "/v1/applications")
    def list_applications(self, route: Route, query: Mapping[str, Any] | None = None) -> Json:
        """One page of applications."""
        return self.call(route, query=query)

    @operation("POST", "/v1/applications")
    def create_application(self, route: Route, doc: Json) -> Json:
        """Create an application."""
        return self.call(route, body=doc)

    @operation("DELETE", "/v1/applications/{application_id}")
    def delete_application(self, route: Route, application_id: str) -> Json:
        """Delete an application (its endpoints by a job, which this returns)."""
        return self.call(route, application_id=application_id)

    @operation("POST", "/v1/applications/{application_id}/portal-access")
    def portal_access(self, route: Route, application_id: str, doc: Json) -> Json:
        """Mint a portal token for one application."""
        return self.call(route, body=doc, application_id=application_id)

    # -------------------------------------------------------------------------------- event types

    @operation("GET", "/v1/event-types")
    def list_event_types(self, route: Route, query: Mapping[str, Any] | None = None) -> Json:
        """One page of the event-type catalog."""
        return self.call(route, query=query)

    @operation("POST", "/v1/event-types")
    def create_event_type(self, route: Route, doc: Json) -> Json:
        """Add an event type."""
        return self.call(route, body=doc)

    @operation("GET", "/v1/event-types/{name}")
    def get_event_type(self, route: Route, name: str) -> Json:
        """One event type."""
        return self.call(route, name=name)

    # ---------------------------------------------------------------------------- jobs and listen

    @operation("GET", "/v1/jobs/{job_id}")
    def get_job(self, route: Route, job_id: str) -> Json:
        """A background job's state and progress."""
        return self.call(route, job_id=job_id)

    @operation("POST", "/v1/listen-sessions")
    def open_listen_session(self, route: Route, doc: Json) -> Json:
        """Open a listen session (its secret is in this answer)."""
        return self.call(route, body=doc)

    @operation("GET", "/v1/listen-sessions/{endpoint_id}/deliveries")
    def listen_deliveries(self, route: Route, endpoint_id: str, query: Mapping[str, Any]) -> Json:
        """The session's due deliveries (a long poll of up to ``wait`` seconds)."""
        return self.call(route, query=query, endpoint_id=endpoint_id)

    @operation("POST", "/v1/listen-sessions/{endpoint_id}/deliveries/{delivery_id}/result")
    def report_listen_result(self, route: Route, endpoint_id: str, delivery_id: str, doc: Json) -> Json:
        """Report what the local URL answered, as the attempt's outcome."""
        return self.call(route, body=doc, endpoint_id=endpoint_id, delivery_id=delivery_id)


def _api_error(resp: Response) -> ApiError:
    try:
        doc = resp.json()
        error = doc["error"]
        return ApiError(resp.status, str(error.get("code", "error")), str(error.get("message", "")).strip())
    except (ValueError, KeyError, TypeError, AttributeError):
        return ApiError(resp.status, "http_error", f"the API answered HTTP {resp.status}")
