"""What every resource module of the API shares: the Blueprint that records access, request and reply helpers.

A resource module declares its operations with ``Resource.operation(path, methods, access=...)``; that one
line registers the Chalice route, the operation's access (``chalicelib.api.access``) and the error handling
(Hookway's errors become ``{"error": {...}}`` answers with their status code). Nothing here imports a
service: a view imports what it calls, so the Lambda's cold start pays only for the route it serves.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from chalice.app import Blueprint, Response

from chalicelib.api.access import Access, Key, Operation

if TYPE_CHECKING:
    from chalicelib.errors import HookwayError
    from chalicelib.ports import Page, PageRequest
    from chalicelib.scope import Scope
    from chalicelib.wiring.api import ApiRoot

ANY_CONTENT = ["*/*"]
SCOPE_KEY = "hookway.scope"
View = TypeVar("View", bound=Callable[..., Response])


def container() -> ApiRoot:
    """The API's composition root (``chalicelib.wiring.api_root``; tests put one on fakes in its place)."""
    from chalicelib.wiring import api_root

    return api_root()


def error_response(exc: HookwayError) -> Response:
    """A Hookway error as its answer."""
    return Response(
        body=exc.to_body(),
        status_code=exc.status,
        headers={"Content-Type": "application/json", **exc.headers},
    )


class Resource(Blueprint):
    """A Chalice Blueprint whose routes declare who may call them."""

    def __init__(self, import_name: str) -> None:
        super().__init__(import_name)
        self.operations: dict[Key, Operation] = {}

    def operation(
        self, path: str, methods: Iterable[str], *, access: Access, limit: str | None = None
    ) -> Callable[[View], View]:
        """Register ``path`` for ``methods`` with its access; the view's errors become error answers."""
        methods = list(methods)

        def register(view: View) -> View:
            for method in methods:
                key = (method, path)
                self.operations[key] = Operation(method, path, access, limit)
            self.route(path, methods=methods, content_types=ANY_CONTENT)(self._answering(view))
            return view

        return register

    def page(self, path: str) -> Callable[[View], View]:
        """A public GET outside ``/v1`` (pages, assets) whose view makes its own answers."""

        def register(view: View) -> View:
            self.operations[("GET", path)] = Operation("GET", path, "public")
            self.route(path, methods=["GET"], content_types=ANY_CONTENT)(view)
            return view

        return register

    def _answering(self, view: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            from chalicelib.errors import HookwayError

            try:
                return view(*args, **kwargs)
            except HookwayError as exc:
                return error_response(exc)
            except Exception:
                # Still a JSON error in Hookway's shape; the traceback goes to the log, never to the caller.
                self.log.exception("unhandled error in %s", view.__name__)
                return error_response(HookwayError("an internal error occurred"))
            finally:
                from chalicelib.wiring import flush_metrics

                flush_metrics()

        return wrapper

    # ------------------------------------------------------------------------------------------ request

    def scope(self) -> Scope:
        """The caller's scope, set by the authentication middleware."""
        scope: Scope = self.current_request.context[SCOPE_KEY]
        return scope

    def json_body(self) -> Any:
        """The request body as JSON (``{}`` when empty); 400 ``invalid_json`` otherwise."""
        from chalicelib.errors import BadRequestError

        raw = self.current_request.raw_body or b""
        try:
            doc = json.loads(raw) if raw.strip() else {}
            # JSON's \ud800-style escapes can smuggle in lone surrogates, which no store or signature can
            # encode ... and NaN/Infinity, which Python reads but no receiver's JSON parser accepts.
            json.dumps(doc, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (ValueError, UnicodeError, RecursionError):
            raise BadRequestError("the body is not valid JSON", code="invalid_json") from None
        return doc

    def query(self) -> dict[str, str]:
        """The query string's parameters (the last of a repeated name)."""
        return dict(self.current_request.query_params or {})

    def page_request(self) -> PageRequest:
        """``limit`` and ``cursor`` of a listing."""
        return parse_page(self.current_request.query_params)

    def header(self, name: str) -> str | None:
        """One request header (case-insensitive)."""
        value: str | None = self.current_request.headers.get(name)
        return value

    def base_url(self) -> str:
        """The public base URL of this API: configured, or what the caller addressed (stage included)."""
        from chalicelib.inbound.request import public_base_url

        request = self.current_request
        return public_base_url(
            container().settings.public_url,
            request.headers,
            request.context.get("path", request.path),
            request.path,
        )


# ---------------------------------------------------------------------------------------------- replies


def json_reply(doc: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer."""
    return Response(
        body=doc, status_code=status, headers={"Content-Type": "application/json", **(headers or {})}
    )


def no_content(headers: Mapping[str, str] | None = None) -> Response:
    """204."""
    return Response(body="", status_code=204, headers=dict(headers or {}))


T = TypeVar("T")


def listing(page: Page[T], shape: Callable[[T], object]) -> Response:
    """One page of a listing: ``{"data": [...], "next_cursor"}``."""
    return json_reply({"data": [shape(item) for item in page.items], "next_cursor": page.cursor})


def parse_page(params: Mapping[str, str] | None, *, default: int = 50) -> PageRequest:
    """``limit`` (1 to 200) and ``cursor`` of a listing from query parameters; 400 ``invalid_limit`` otherwise."""
    import re

    from chalicelib.errors import BadRequestError
    from chalicelib.ports import MAX_PAGE, PageRequest

    params = params or {}
    raw = params.get("limit", str(default))
    if not re.fullmatch(r"[0-9]{1,4}", raw) or not 1 <= int(raw) <= MAX_PAGE:
        raise BadRequestError(f"limit must be 1 to {MAX_PAGE}", code="invalid_limit")
    return PageRequest(int(raw), params.get("cursor") or None)
