"""Who may call which operation: declared on each route (``Resource.operation(..., access=...)``).

    public     anyone; the operation authenticates itself if it must (health, the document, sign-in)
    read       the admin key, a console session, or any portal token of the application
    write      the admin key, a console session, or a portal token that is not read-only
    operator   the admin key or a console session; a portal token gets ``403 forbidden``

Every ``/v1`` request is checked here before its view runs. Which *items* a token reaches (its own
application's) is then the services' concern. An operation declared with ``limit`` makes Hookway send (a
test event, a resend, a recovery): a token may call it a few times a minute
(``HOOKWAY_TOKEN_ACTIONS_PER_MINUTE``, counted per token), then ``429 rate_limited`` with ``Retry-After``;
the operator is not limited.

The tables below (``token_routes()``, ``token_limited()``, ``public_routes()``) are derived from the
declarations: nothing here is written by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from chalicelib.limits import RateLimiter
    from chalicelib.scope import Scope

Access = Literal["public", "read", "write", "operator"]
Key = tuple[str, str]  # (METHOD, route as declared)


class Operation:
    """One (method, route) of the API and who may call it (a plain class: made at import, on cold start)."""

    __slots__ = ("access", "limit", "method", "route")

    def __init__(self, method: str, route: str, access: Access, limit: str | None = None) -> None:
        self.method = method
        self.route = route
        self.access: Access = access
        self.limit = limit  # what a token is doing, for its rate-limit message

    def __repr__(self) -> str:
        return f"Operation({self.method} {self.route}: {self.access})"


@cache
def operations() -> Mapping[Key, Operation]:
    """Every declared operation, by (METHOD, route)."""
    from chalicelib.api import resources

    found: dict[Key, Operation] = {}
    for resource in resources():
        found.update(resource.operations)
    return found


def token_routes() -> dict[Key, Literal["read", "write"]]:
    """The routes a portal token may call, and with which access."""
    found: dict[Key, Literal["read", "write"]] = {}
    for key, op in operations().items():
        if op.access in ("read", "write"):
            found[key] = "read" if op.access == "read" else "write"
    return found


def token_limited() -> dict[Key, str]:
    """The routes whose calls by a token are rate-limited, and what the caller is doing."""
    return {key: op.limit for key, op in operations().items() if op.limit is not None}


@cache
def public_routes() -> frozenset[str]:
    """The routes that need no credential: every operation on them is public (any other method on them
    then gets the framework's 405, not a 401)."""
    routes: dict[str, bool] = {}
    for (_, route), op in operations().items():
        routes[route] = routes.get(route, True) and op.access == "public"
    return frozenset(route for route, public in routes.items() if public)


def check(scope: Scope, method: str, route: str, limiter: Callable[[], RateLimiter] | None = None) -> None:
    """Refuse (403) a route the caller's scope may not call (``route`` as the app declares it), and
    (429) a token's call of a rate-limited route beyond its rate."""
    if scope.is_operator:
        return
    from chalicelib.errors import ForbiddenError

    op = operations().get((method.upper(), route))
    if op is None or op.access == "operator":
        raise ForbiddenError("an application token cannot call this route")
    if op.access == "write":
        scope.require_write()
    if op.limit is not None and limiter is not None:
        limiter().take(scope.token_id or scope.application_id or "", op.limit)
