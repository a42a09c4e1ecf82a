"""The router's own first attempts: a few plain deliveries sent in-process, the deliveries queue for the rest.

A message whose inline deliveries include plain ones (at most ``MAX_HELD`` per message: an enabled HTTP
endpoint with no throttle, not FIFO, its circuit closed, not seen slow or failing lately by the router's
own sender: ``Sender.is_unhealthy``) is stored with the router's claim on their first
attempts (``Message.first_claim``) in the message's own conditional PutItem: the dedupe, the durable
store and the claims are one write. The router then makes those attempts with the sender's own code
(``Sender.send_held``: SSRF guard, signing, transformations, client certificates, egress, the straggler
hand-off), and only what is left goes on the deliveries queue: the other endpoints' first attempts,
retries of failures, and a check of a straggler still running ``STRAGGLER_SECONDS`` after the others.

At most one attempt in flight per delivery: until the claim's lease ends no sender claims attempt 1 of
those endpoints (``Sender.handle`` looks at the stored claim and waits); a redelivered router batch finds
the claim kept in the stored item (``models.kept_first_claim``) and queues tasks instead of POSTing, which
wait for the lease in the same way. After the lease (longer than the router can run) the recorded
outcome decides: a success in the router batch's ``RES#`` item or an outcome on the attempt item ends
it; else it is claimed by the attempt item's conditional write, as any other.

Recording: the claim's id names the router batch (``{batch}.{n}``, ``FirstClaim.batch``). The sender
records the batch's successes as a sender batch's (``finish_batch``: one ``RES#{batch}`` item and one
packed ``LIST#EP#`` item per endpoint); a failure, a straggler, or a success whose batch write failed is
written on its own attempt item (with its gsi1 ``EP#`` entry). Readers take attempt 1 of a claimed
delivery that has no attempt item from the claim and that ``RES#`` item (``AttemptStore.first_attempts``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from chalicelib.errors import HookwayError
from chalicelib.ids import new_id
from chalicelib.models import Attempt, Endpoint, FirstClaim, Message, first_attempt, first_tag
from chalicelib.ports import EndpointSource

if TYPE_CHECKING:
    from chalicelib.outbound.delivery import Sender
    from chalicelib.tally import Tally

MAX_HELD = 10  # first attempts a router makes itself per message (a fan-out beyond that is queued)
# ... and per router batch: as many as a sender batch, for which the sender's pool is sized (a batch
# and the stragglers earlier ones left running); more would wait in its queue behind a hanging receiver.
MAX_HELD_PER_BATCH = 10


def plain(endpoint: Endpoint) -> bool:
    """Whether the router may make this endpoint's first attempt itself: nothing to wait for first."""
    return (
        endpoint.enabled
        and endpoint.kind == "http"
        and not endpoint.throttle_rate
        and endpoint.ordering == "none"
        and endpoint.circuit.state == "closed"
    )


class FirstAttempts:
    """Claims a message's plain first attempts with its storing, then sends them through the sender."""

    def __init__(
        self,
        *,
        sender: Sender,
        endpoints: EndpointSource,
        clock: Callable[[], float],
        lease_seconds: float,
        max_held: int = MAX_HELD,
        max_per_batch: int = MAX_HELD_PER_BATCH,
    ) -> None:
        self._sender = sender
        self._endpoints = endpoints
        self._clock = clock
        self._lease = lease_seconds
        self._max_held = max_held
        self.max_per_batch = max_per_batch

    @property
    def tally(self) -> Tally | None:
        """The hourly counters its sender writes at the end of each batch (the router shares them)."""
        return self._sender.tally

    def claim(self, endpoint_ids: Sequence[str], now: float, room: int, batch: str = "") -> FirstClaim | None:
        """The claim to store with a message on the first attempts of its plain endpoints, or None
        (too many deliveries, none plain, more than ``room`` left in the router batch, or their endpoints
        cannot be read now: then all are queued). ``batch``: the router batch's id, which the claim's id
        carries (``{batch}.{n}``, n its place in the batch) so its successes go to ``RES#{batch}``."""
        if not endpoint_ids or len(endpoint_ids) > min(self._max_held, room):
            return None
        try:
            found: Mapping[str, Endpoint] = self._endpoints.get_many(list(endpoint_ids))
        except HookwayError:
            return None
        # Each attempt's claim id carries its endpoint's tag (``first_attempt``): one tag per claim.
        # An endpoint the router's sender saw slow or failing lately (a straggler it handed off, a
        # timeout, a failed attempt) is queued instead: only the first router batch after it turned slow
        # waits the grace, and a failing one's attempts go where its circuit is known (the sender's).
        chosen: dict[str, str] = {}
        for e in endpoint_ids:
            if e in found and plain(found[e]) and not self._sender.is_unhealthy(found[e], now):
                chosen.setdefault(first_tag(e), e)
        held = tuple(chosen.values())
        if not held:
            return None
        claim_id = f"{batch}.{self.max_per_batch - room}" if batch else new_id("clm")
        return FirstClaim(claim_id, now, now + self._lease, held)

    def send(self, messages: Sequence[Message]) -> list[BaseException | None]:
        """Make the first attempts each message's claim holds, all in one sender batch; the first error
        of each message's attempts, or None (a message with an error is retried by its queue: its
        redelivery finds the claim and queues those attempts, which wait for its lease)."""
        # One sender batch per router batch named by the claims (one, unless a caller mixes batches).
        groups: dict[str, tuple[list[tuple[Message, Attempt]], list[int]]] = {}
        for index, message in enumerate(messages):
            claim = message.first_claim
            if claim is None:
                continue
            held, owner = groups.setdefault(claim.batch, ([], []))
            for endpoint_id in claim.endpoint_ids:
                held.append((message, attempt_of(message, claim, endpoint_id)))
                owner.append(index)
        errors: list[BaseException | None] = [None] * len(messages)
        for batch, (held, owner) in groups.items():
            for index, error in zip(owner, self._sender.send_held(held, batch=batch), strict=True):
                if error is not None and errors[index] is None:
                    errors[index] = error
        return errors


def attempt_of(message: Message, claim: FirstClaim, endpoint_id: str) -> Attempt:
    """The attempt a router's first claim stands for (attempt 1 of one of its endpoints).

    It names the router batch (``claim.batch``: the claim id is ``{batch}.{n}``), so the sender records
    its success with the batch's others in one ``RES#{batch}`` item and the packed endpoint listing
    (``finish_batch``), as a queued first attempt's; no attempt item is written for it. Readers take
    attempt 1 from the message's ``first_claim`` with that item (``AttemptStore.first_attempts``). A
    failure, a straggler or a batch whose write failed writes its own attempt item (indexed by endpoint)."""
    return first_attempt(message, claim, endpoint_id)


def unclaimed(message: Message) -> Message:
    """The message as its queued tasks see it: without the endpoints the router sends to itself."""
    claim = message.first_claim
    if claim is None:
        return message
    rest = tuple(e for e in message.endpoints if e not in claim.endpoint_ids)
    return replace(message, endpoints=rest, first_claim=None)
