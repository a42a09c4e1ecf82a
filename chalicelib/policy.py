"""Which routes a portal token may call: the table every request through the API is checked against.

The admin key may call every route. A token may call only the routes below, ``read`` ones with any
token and ``write`` ones with a token that is not read-only; anything else is ``403 forbidden`` before
the view runs. Which *items* a token reaches (its own application's) is then the services' concern.

The routes in ``TOKEN_LIMITED`` make Hookway send (a test event, a resend, a recovery): a token may call
them a few times a minute (``HOOKWAY_TOKEN_ACTIONS_PER_MINUTE``, counted per token), then ``429
rate_limited`` with ``Retry-After``. The operator is not limited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from chalicelib.errors import ForbiddenError
from chalicelib.scope import Scope

if TYPE_CHECKING:
    from chalicelib.limits import RateLimiter

Access = Literal["public", "read", "write"]

# Console sign-in authenticates itself: POST checks the admin key, GET and DELETE the session cookie.
# The scheme metadata holds no secret and no tenant's data: every front (console, CLI) reads it.
PUBLIC_ROUTES = frozenset(
    {"/v1/health", "/v1/openapi.json", "/v1/openapi.yaml", "/v1/schemes", "/v1/console/session"}
)

TOKEN_ROUTES: dict[tuple[str, str], Access] = {
    ("GET", "/v1/endpoints"): "read",
    ("POST", "/v1/endpoints"): "write",
    ("GET", "/v1/endpoints/{endpoint_id}"): "read",
    ("PATCH", "/v1/endpoints/{endpoint_id}"): "write",
    ("PUT", "/v1/endpoints/{endpoint_id}"): "write",
    ("DELETE", "/v1/endpoints/{endpoint_id}"): "write",
    ("POST", "/v1/endpoints/{endpoint_id}/enable"): "write",
    ("POST", "/v1/endpoints/{endpoint_id}/disable"): "write",
    ("GET", "/v1/endpoints/{endpoint_id}/secret"): "read",
    ("POST", "/v1/endpoints/{endpoint_id}/secret/rotate"): "write",
    ("POST", "/v1/endpoints/{endpoint_id}/recover"): "write",
    ("POST", "/v1/endpoints/{endpoint_id}/replay"): "write",
    ("GET", "/v1/endpoints/{endpoint_id}/attempts"): "read",
    ("GET", "/v1/endpoints/{endpoint_id}/health"): "read",
    ("POST", "/v1/endpoints/{endpoint_id}/test"): "write",
    ("GET", "/v1/messages"): "read",
    ("GET", "/v1/messages/{message_id}"): "read",
    ("GET", "/v1/messages/{message_id}/body"): "read",
    ("GET", "/v1/messages/{message_id}/attempts"): "read",
    ("POST", "/v1/messages/{message_id}/resend"): "write",
    ("GET", "/v1/event-types"): "read",
    ("GET", "/v1/event-types/{name}"): "read",
    ("GET", "/v1/applications/{application_id}"): "read",
    ("GET", "/v1/branding"): "read",  # the portal dresses itself in its application's branding
    ("GET", "/v1/egress"): "read",  # a customer's receiver allowlists the sender's addresses too
    ("GET", "/v1/jobs/{job_id}"): "read",  # its application's jobs only (chalicelib.jobs.Jobs.get)
    ("POST", "/v1/listen-sessions"): "write",
    ("GET", "/v1/listen-sessions/{endpoint_id}/deliveries"): "read",
    ("POST", "/v1/listen-sessions/{endpoint_id}/deliveries/{delivery_id}/result"): "write",
}


TOKEN_LIMITED: dict[tuple[str, str], str] = {
    ("POST", "/v1/endpoints/{endpoint_id}/test"): "sending a test event",
    ("POST", "/v1/messages/{message_id}/resend"): "resending",
    ("POST", "/v1/endpoints/{endpoint_id}/recover"): "recovering",
    ("POST", "/v1/endpoints/{endpoint_id}/replay"): "replaying",
}


def check(scope: Scope, method: str, route: str, limiter: Callable[[], RateLimiter] | None = None) -> None:
    """Refuse (403) a route the caller's scope may not call (``route`` as the app declares it), and
    (429) a token's call of a ``TOKEN_LIMITED`` route beyond its rate."""
    if scope.is_operator:
        return
    key = (method.upper(), route)
    access = TOKEN_ROUTES.get(key)
    if access is None:
        raise ForbiddenError("an application token cannot call this route")
    if access == "write":
        scope.require_write()
    what = TOKEN_LIMITED.get(key)
    if what is not None and limiter is not None:
        limiter().take(scope.token_id or scope.application_id or "", what)
