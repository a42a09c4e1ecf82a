"""Listen sessions: deliveries to a laptop that has no inbound connection and no relay host.

A session is an endpoint of kind ``listen`` (``open``: added through the endpoint rules, ``NewEndpoints``), with
a Standard Webhooks secret for the local receiver to verify. The sender hands each of
its attempts over instead of POSTing it (``Sender._hand_over``): a ``Pulled`` record in the store, under
the attempt's claim, which holds until the session ends. The CLI long-polls ``pull`` with a cursor, gets
each request signed now (Standard Webhooks headers, original body), forwards it to its local URL and
reports the answer; ``report`` records it through the sender's own decision, so the attempt log,
retries, auto-disable and resend work as for any endpoint. While the CLI is away deliveries wait (a
fresh CLI without a cursor gets every delivery not yet reported, so none is lost); when the session ends,
attempts not reported end ``failed`` with ``cli_disconnected``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.commands import OpenSession, Pull
from chalicelib.errors import ConflictError, GoneError, NotFoundError
from chalicelib.ids import new_id
from chalicelib.models import Endpoint, PulledOutcome, Secret
from chalicelib.outbound.signing.standard import STANDARD
from chalicelib.ports import ListenDeliveries, NewEndpoints, PulledDeliveries
from chalicelib.scope import Scope

DEFAULT_SESSION_SECONDS = 3600
MAX_WAIT_SECONDS = 20.0  # well inside API Gateway's 29 s
POLL_SECONDS = 0.25
MAX_PULL = 10


@dataclass(frozen=True)
class PulledDelivery:
    """One delivery handed to the CLI, signed now."""

    id: str
    message_id: str
    event_type: str | None
    attempt: int
    headers: dict[str, str]
    body: bytes
    queued_at: float


@dataclass(frozen=True)
class PullResult:
    """What a pull found: deliveries, the cursor after them, when the session ends."""

    deliveries: list[PulledDelivery]
    next_cursor: str | None
    expires_at: float | None


@dataclass(frozen=True)
class ReportResult:
    """The outcome recorded for one pulled delivery."""

    id: str
    message_id: str
    attempt: int
    outcome: str


class ListenService:
    """Open, pull and report for listen sessions; see the module docstring."""

    def __init__(
        self,
        *,
        store: ListenDeliveries,
        endpoints: NewEndpoints,
        sender: PulledDeliveries,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self._store = store
        self._endpoints = endpoints
        self._sender = sender
        self._clock = clock
        self._sleep = sleep

    def open(self, command: OpenSession, scope: Scope) -> tuple[Endpoint, str]:
        """A new session ending ``expires_in`` seconds from now: its endpoint, and its secret."""
        now = self._clock()
        value, _ = STANDARD.new_key()
        endpoint_id = new_id("ep")
        endpoint = Endpoint(
            id=endpoint_id,
            url=f"listen:{endpoint_id}",
            created_at=now,
            updated_at=now,
            secrets=(Secret(new_id("sec"), value, now),),
            kind="listen",
            expires_at=now + command.expires_in,
        )
        return self._endpoints.add(endpoint, command.application, command.fields, scope), value

    def _session(self, endpoint_id: str, scope: Scope) -> Endpoint:
        endpoint = self._endpoints.get(endpoint_id, scope)
        if endpoint.kind != "listen":
            raise NotFoundError(f"no listen session {endpoint_id!r}", code="session_not_found")
        if endpoint.session_over(self._clock()):
            raise GoneError("the listen session has ended; open a new one", code="session_expired")
        return endpoint

    def pull(self, endpoint_id: str, query: Pull, scope: Scope) -> PullResult:
        """Deliveries queued after ``cursor``, waiting up to ``wait`` seconds (0 to 20) for the first."""
        endpoint = self._session(endpoint_id, scope)
        cursor = query.cursor
        deadline = self._clock() + min(max(query.wait, 0.0), MAX_WAIT_SECONDS)
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
                PulledDelivery(
                    id=pulled.seq,
                    message_id=message.id,
                    event_type=message.event_type,
                    attempt=pulled.number,
                    headers=dict(request.headers),
                    body=request.body,
                    queued_at=pulled.queued_at,
                )
            )
        next_cursor = waiting[-1].seq if waiting else cursor
        return PullResult(data, next_cursor, endpoint.expires_at)

    def report(
        self, endpoint_id: str, delivery_id: str, outcome: PulledOutcome, scope: Scope
    ) -> ReportResult:
        """Record the local receiver's answer to one pulled delivery."""
        endpoint = self._session(endpoint_id, scope)
        pulled = self._store.get_pulled(endpoint.id, delivery_id)
        if pulled is None:
            raise NotFoundError(f"no waiting delivery {delivery_id!r}", code="delivery_not_found")
        result = self._sender.complete_pulled(pulled, outcome)
        if result == "stale":
            raise ConflictError(
                "this delivery was already reported or has ended", code="delivery_not_pending"
            )
        self._store.delete_pulled(endpoint.id, delivery_id)
        return ReportResult(delivery_id, pulled.message_id, pulled.number, result)
