"""HTTP for the CLI: a transport is just a function ``Request -> Response``.

``urllib_transport`` is the real one (standard library, no proxy tricks); tests pass a function that
answers from a table (``tests/unit/cli/fakeapi.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hookway_cli.errors import ConnectionFailed


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
