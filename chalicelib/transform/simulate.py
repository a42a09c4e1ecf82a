"""``POST /v1/endpoints/{id}/transformation/simulate``: what a transformation makes of a message.

The request is shown as the sender would build it before signing: no ``webhook-*`` signature (a
simulation never signs, so it is no signing oracle), no receiver credentials, and the endpoint's own header
values masked as the endpoint's reply masks them. Nothing is sent and nothing is stored.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Protocol

from chalicelib.errors import PayloadTooLargeError, ValidationError
from chalicelib.transform.convention import Cancelled, Failed, Outcome, Request
from chalicelib.transform.engine import CompileError, Engine

if TYPE_CHECKING:
    from chalicelib.commands import Simulate
    from chalicelib.models import Endpoint, Message
    from chalicelib.scope import Scope


MAX_PAYLOAD_BYTES = 256 * 1024  # a payload given to try a transformation on (a publish's bound)


class ScopedEndpoints(Protocol):
    """The endpoints a caller may see."""

    def get(self, endpoint_id: str, scope: Scope) -> Endpoint:
        """One endpoint, or NotFoundError for another application's."""


class ScopedBodies(Protocol):
    """The stored messages a caller may see."""

    def body(self, message_id: str, scope: Scope) -> tuple[Message, bytes]:
        """A message and its stored body, or NotFoundError for another application's."""


class Simulator:
    """Runs a transformation (the endpoint's, or code given) on a message or a payload."""

    def __init__(
        self, endpoints: ScopedEndpoints, messages: ScopedBodies, engine: Engine | None = None
    ) -> None:
        self._endpoints = endpoints
        self._messages = messages
        self._engine = engine or Engine()

    def simulate(self, endpoint_id: str, command: Simulate, scope: Scope) -> tuple[Endpoint, Outcome]:
        """The endpoint, and the request it would get, its cancel, or the transformation's failure."""
        from chalicelib.outbound.delivery import unsigned_request

        endpoint = self._endpoints.get(endpoint_id, scope)
        code = command.code
        if code is None:
            if endpoint.transformation is None:
                raise ValidationError(
                    "the endpoint has no transformation: give code to try one",
                    field="code",
                    code="no_transformation",
                )
            code = endpoint.transformation.code
        if command.message_id is not None:
            message, body = self._messages.body(command.message_id, scope)
            request = unsigned_request(message, endpoint, body)
        else:
            body = json.dumps(command.payload, separators=(",", ":"), ensure_ascii=False).encode()
            if len(body) > MAX_PAYLOAD_BYTES:
                raise PayloadTooLargeError(f"the payload is {len(body)} bytes; at most {MAX_PAYLOAD_BYTES}")
            headers = {"Content-Type": "application/json", **endpoint.headers}
            request = Request("POST", endpoint.url, headers, body)
        try:
            self._engine.check(code)
        except CompileError as exc:
            return endpoint, Failed(str(exc))
        # A key of its own: a simulation never replaces the compiled code deliveries use.
        return endpoint, self._engine.run(f"simulate:{endpoint.id}", code, request)


def shown_outcome(outcome: Outcome, endpoint: Endpoint) -> dict[str, object]:
    """A simulation as the API answers it."""
    if isinstance(outcome, Cancelled):
        return {"outcome": "cancelled", "reason": "cancelled_by_transformation"}
    if isinstance(outcome, Failed):
        return {"outcome": "failed", "error_class": "transformation_error", "error": outcome.reason}
    return {"outcome": "request", "request": shown_request(outcome, endpoint)}


def shown_request(request: Request, endpoint: Endpoint) -> dict[str, object]:
    """A request with its body as text (and parsed, when JSON) and the endpoint's header values masked."""
    own = {k.lower(): v for k, v in endpoint.headers.items()}
    headers = {k: ("***" if own.get(k.lower()) == v else v) for k, v in request.headers.items()}
    text = request.body.decode("utf-8", "replace")
    shown: dict[str, object] = {
        "method": request.method,
        "url": request.url,
        "headers": headers,
        "body": text,
    }
    with contextlib.suppress(ValueError):
        shown["payload"] = json.loads(text)
    return shown
