"""Listen sessions: deliveries to a laptop that has no inbound connection and no relay host.

A session is an endpoint of kind ``listen`` (``EndpointService.open_session``). The sender hands each of
its attempts over instead of POSTing it (``Sender._hand_over``): a ``Pulled`` record in the store, under
the attempt's claim, which holds until the session ends. The CLI long-polls ``pull`` with a cursor, gets
each request signed now (Standard Webhooks headers, original body), forwards it to its local URL and
reports the answer; ``report`` records it through the sender's own decision, so the attempt log,
retries, auto-disable and resend work as for any endpoint. While the CLI is away deliveries wait (a
fresh CLI without a cursor gets every delivery not yet reported, so none is lost); when the session ends,
attempts not reported end ``failed`` with ``cli_disconnected``.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.errors import ConflictError, GoneError, NotFoundError, ValidationError
from chalicelib.models import Endpoint, PulledOutcome
from chalicelib.ports import EndpointLookup, ListenDeliveries, PulledDeliveries
from chalicelib.scope import Scope

MAX_WAIT_SECONDS = 20.0  # well inside API Gateway's 29 s
POLL_SECONDS = 0.25
MAX_PULL = 10


def _wait(text: str) -> float:
    """``wait`` in seconds, clamped to 0 to 20; only a finite number (``nan`` would never time out)."""
    try:
        wait = float(text)
    except ValueError:
        wait = math.nan
    if not math.isfinite(wait):
        raise ValidationError("wait is a finite number of seconds (0 to 20)", field="wait")
    return min(max(wait, 0.0), MAX_WAIT_SECONDS)


class ListenService:
    """Pull and report for listen sessions; see the module docstring."""

    def __init__(
        self,
        *,
        store: ListenDeliveries,
        endpoints: EndpointLookup,
        sender: PulledDeliveries,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self._store = store
        self._endpoints = endpoints
        self._sender = sender
        self._clock = clock
        self._sleep = sleep

    def _session(self, endpoint_id: str, scope: Scope) -> Endpoint:
        endpoint = self._endpoints.get(endpoint_id, scope)
        if endpoint.kind != "listen":
            raise NotFoundError(f"no listen session {endpoint_id!r}", code="session_not_found")
        if endpoint.session_over(self._clock()):
            raise GoneError("the listen session has ended; open a new one", code="session_expired")
        return endpoint

    def pull(self, endpoint_id: str, params: Mapping[str, str], scope: Scope) -> dict[str, Any]:
        """Deliveries queued after ``cursor``, waiting up to ``wait`` seconds (0 to 20) for the first."""
        endpoint = self._session(endpoint_id, scope)
        wait = _wait(params.get("wait", "0"))
        cursor = params.get("cursor") or None
        deadline = self._clock() + wait
        while True:
            waiting = self._store.list_pulled(endpoint.id, after=cursor, limit=MAX_PULL)
            if waiting or self._clock() >= deadline or endpoint.session_over(self._clock()):
                break
            self._sleep(POLL_SECONDS)
        sender = self._sender
        now = self._clock()
        data = []
        for pulled in waiting:
            try:
                message = self._store.get_message(pulled.message_id)
            except NotFoundError:
                continue  # retention ended; the expiry check closes its attempt
            request = sender.request_for(message, endpoint, now)
            data.append(
                {
                    "id": pulled.seq,
                    "message_id": message.id,
                    "event_type": message.event_type,
                    "attempt": pulled.number,
                    "headers": dict(request.headers),
                    "body_base64": base64.b64encode(request.body).decode(),
                    "queued_at": pulled.queued_at,
                }
            )
        next_cursor = waiting[-1].seq if waiting else cursor
        return {"data": data, "next_cursor": next_cursor, "expires_at": endpoint.expires_at}

    def report(self, endpoint_id: str, delivery_id: str, doc: Any, scope: Scope) -> dict[str, Any]:
        """Record the local receiver's answer to one pulled delivery."""
        scope.require_write()
        endpoint = self._session(endpoint_id, scope)
        pulled = self._store.get_pulled(endpoint.id, delivery_id)
        if pulled is None:
            raise NotFoundError(f"no waiting delivery {delivery_id!r}", code="delivery_not_found")
        outcome = _outcome(doc)
        result = self._sender.complete_pulled(pulled, outcome)
        if result == "stale":
            raise ConflictError(
                "this delivery was already reported or has ended", code="delivery_not_pending"
            )
        self._store.delete_pulled(endpoint.id, delivery_id)
        return {
            "id": delivery_id,
            "message_id": pulled.message_id,
            "attempt": pulled.number,
            "outcome": result,
        }


def _outcome(doc: Any) -> PulledOutcome:
    if not isinstance(doc, dict):
        raise ValidationError("the body must be a JSON object")
    status = doc.get("status")
    if status is not None and (
        isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599
    ):
        raise ValidationError(
            "status is the local receiver's HTTP status (100 to 599) or null", field="status"
        )
    duration = doc.get("duration_ms", 0)
    if isinstance(duration, bool) or not isinstance(duration, int) or duration < 0:
        raise ValidationError("duration_ms is a whole number of milliseconds", field="duration_ms")
    body = b""
    if doc.get("body_base64") is not None:
        try:
            body = base64.b64decode(str(doc["body_base64"]), validate=True)[:4096]
        except (binascii.Error, ValueError):
            raise ValidationError("body_base64 is not base64", field="body_base64") from None
    error_class = doc.get("error_class")
    error = doc.get("error")
    retry_after = doc.get("retry_after")
    for name, value in (("error_class", error_class), ("error", error), ("retry_after", retry_after)):
        if value is not None and (not isinstance(value, str) or len(value) > 300):
            raise ValidationError(f"{name} is a short string", field=name)
    if status is None and error_class is None:
        error_class = "connect_error"
    return PulledOutcome(status, duration, body, retry_after, error_class, error)
