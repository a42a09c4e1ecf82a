"""The HTTP client: one method per call the CLI makes, over a transport that is just a function.

    Transport = Callable[[Request], Response]

``urllib_transport`` is the real one (standard library, no proxy tricks); tests pass a function that
answers from a dict. Errors, drawn as a tree::

    CliError                 exit code 1 unless said otherwise
      ApiError               the API answered 4xx/5xx: .status, .code and .message from its error body
      ConnectionFailed       the API could not be reached (refused, DNS, timeout)
      UsageError             exit code 2: the command line or a file it names is unusable
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode


class CliError(Exception):
    """An error the CLI reports as one sentence; ``exit_code`` says how it ends."""

    exit_code = 1


class ApiError(CliError):
    """The API said no."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ConnectionFailed(CliError):
    """The API could not be reached."""


class UsageError(CliError):
    """The command line, or a file it names, is unusable."""

    exit_code = 2


@dataclass(frozen=True)
class Request:
    """One HTTP request."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass(frozen=True)
class Response:
    """One HTTP response (headers with lower-case names)."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON (``None`` when empty)."""
        return json.loads(self.body) if self.body.strip() else None


Transport = Callable[[Request], Response]


def urllib_transport(timeout: float = 30.0) -> Transport:
    """The real transport: ``urllib``, proxy variables ignored, redirects never followed."""

    def send(request: Request) -> Response:
        import http.client
        import urllib.error
        import urllib.request

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect())
        req = urllib.request.Request(  # noqa: S310 - the URL is the API the user configured
            request.url, data=request.body, headers=request.headers, method=request.method
        )
        try:
            with opener.open(req, timeout=timeout) as resp:
                return Response(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
        except urllib.error.HTTPError as exc:
            return Response(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read())
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
            # refused, reset, timed out, DNS, or an answer cut short (IncompleteRead, BadStatusLine)
            reason = getattr(exc, "reason", exc)
            raise ConnectionFailed(f"cannot reach {request.url.split('?')[0]}: {reason}") from None

    return send


def path(template: str, *ids: str) -> str:
    """A path with each id percent-encoded, so an id can never change which route is called."""
    return template.format(*(quote(i, safe="") for i in ids))


class Client:
    """Hookway's API, as the CLI calls it."""

    def __init__(self, base_url: str, key: str | None, transport: Transport) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = key
        self._transport = transport

    def call(
        self,
        method: str,
        route: str,
        *,
        body: Any = None,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        raw: bool = False,
    ) -> Any:
        """Call one route; the JSON answer (or the Response when ``raw``); ApiError for a 4xx/5xx."""
        url = self.base_url + route
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
        resp = self._transport(Request(method, url, sent, data))
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
        self, route: str, query: Mapping[str, Any] | None = None, limit: int | None = None
    ) -> list[Any]:
        """Every item of a paginated listing (up to ``limit`` items)."""
        items: list[Any] = []
        cursor = None
        while True:
            page = self.call("GET", route, query={**(query or {}), "cursor": cursor})
            items.extend(page.get("data", []))
            cursor = page.get("next_cursor")
            if not cursor or (limit is not None and len(items) >= limit):
                return items[:limit] if limit is not None else items

    def post_raw(self, url: str, headers: Mapping[str, str], body: bytes) -> Response:
        """POST bytes to any URL (a source's ingest URL), without the admin key."""
        return self._transport(Request("POST", url, dict(headers), body))


def _api_error(resp: Response) -> ApiError:
    try:
        doc = resp.json()
        error = doc["error"]
        return ApiError(resp.status, str(error.get("code", "error")), str(error.get("message", "")).strip())
    except (ValueError, KeyError, TypeError, AttributeError):
        return ApiError(resp.status, "http_error", f"the API answered HTTP {resp.status}")
