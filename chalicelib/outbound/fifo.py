"""FIFO delivery per endpoint (``"ordering": "fifo"``): in accepted order, one delivery in flight at a time.

**Accepted order** is the order of the messages' ``received_at``: the api's clock when it stored the
message durably and answered ``202`` (for an inbound webhook, when the provider got its ``2xx``), ties
broken by message id. A producer that waits for each ``202`` before the next publish gets its order.

**The pending list.** Every delivery to a fifo endpoint first enters the endpoint's ordered list in
DynamoDB (``FifoStore``): one item under ``EP#{id}#FIFO``, sort key ``{received_at}#{message_id}``, with its
task. One item ``EP#{id}#FIFO`` / ``TURN`` says whose turn it is (``holder``, an entry's key) and until
when the holder's claim on it lasts (``lease_until``). Only the head of the list (its smallest key) may
take the turn, and only the turn's holder may be attempted. A task that is not the head, or whose head
cannot have the turn now, is dropped from SQS: its entry waits in DynamoDB, costing nothing while it waits.

**The hand-off.** The sender that ends a delivery (``succeeded``, ``failed`` after its retries, ``skipped``:
the endpoint disabled or gone, a ``410``, a transformation's cancel) records the ending, then deletes its
entry, reads the new head and gives it the turn (one conditional write), then sends the head's task to the
deliveries queue. A failed attempt keeps the turn: its retry (parked or delayed) comes back as the holder,
so a failing delivery blocks the later ones until it ends. An open circuit or a throttle slot holds the
holder's task the same way, with the turn's lease stretched to cover the wait.

**What can reorder, and what is done about it.**

- Several router invocations, a router batch redelivered, SQS's own order: a delivery reaches the sender
  some time after it was accepted, and not in order. The head waits until ``settle_seconds`` after it
  was accepted before it takes the turn, so a delivery accepted earlier and still in the pipeline enters
  the list ahead of it. One that arrives later than that (a router that crashed holding it) enters the
  list in its place and goes as soon as the delivery holding the turn ends, ahead of the deliveries still
  waiting; it cannot overtake the ones already sent (counted as ``FifoLate``).
- A retry: keeps the turn (above); the holder goes on wherever it stands in the list. A resend or
  recover of an ended delivery enters the list again in its accepted place, so it goes next.
- A duplicate task (an SQS redelivery): the claim of its attempt stops it; if its delivery had ended, it
  hands the turn on again (the conditional write makes that a no-op when it was already handed on).

**Never two in flight, nothing lost.** The turn moves only from an ended delivery to the head, or to the
head when the holder's lease ran out (the holder died and left no task behind: the next task of the
endpoint to come finds the lease out and hands the turn to the head), and the lease always outlasts the
holder's attempt claim. A holder SIGKILLed mid-attempt comes back with its own SQS message and keeps its
turn. A sender that dies between the ending and the hand-off leaves its task on the queue: it comes back,
finds the attempt ended and hands the turn on. A task that finds the head's turn held by an entry no
longer in the list (a hand-off under way) looks again in ``RECHECK_SECONDS`` rather than drop itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from chalicelib.models import Endpoint, Message
from chalicelib.outbound.tasks import Task
from chalicelib.ports import FifoStore, Turn

__all__ = ["Fifo", "FifoAdmission", "Handoff", "entry_key", "ordered"]

SETTLE_SECONDS = 3.0  # how long after its acceptance a delivery waits before it may take the turn
RECHECK_SECONDS = 2.0  # a head that finds a hand-off under way looks again after this
LEASE_MARGIN_SECONDS = 30.0  # the turn's lease outlasts the attempt's claim by this


def ordered(endpoint: Endpoint | None) -> bool:
    """Whether deliveries to this endpoint go in accepted order, one at a time. The router must never
    attempt such a delivery itself: it queues its task for the sender, which puts it in the list."""
    return endpoint is not None and endpoint.ordering == "fifo" and endpoint.kind != "listen"


def entry_key(message: Message) -> str:
    """A delivery's place in its endpoint's list: accepted time, then message id (sorts as text)."""
    return f"{message.received_at:017.6f}#{message.id}"


def accepted_at(key: str) -> float:
    """The accepted time an entry key holds."""
    return float(key.split("#", 1)[0])


@dataclass(frozen=True)
class Handoff:
    """A task the sender sends to the queue for the turn's new holder."""

    body: str
    delay: float


@dataclass(frozen=True)
class FifoAdmission:
    """What a task does at the gate: ``go`` (it holds the turn), ``wait`` until (put back, its lease
    stretched if it holds the turn), or ``drop`` (its entry waits in the list). ``handoff``: a task to
    send for the head (the turn handed to it)."""

    action: Literal["go", "wait", "drop"]
    until: float = 0.0
    handoff: Handoff | None = None
    late: bool = False


class Fifo:
    """The sender's side of FIFO ordering (see the module docstring)."""

    def __init__(
        self,
        store: FifoStore,
        *,
        lease_seconds: float,
        settle_seconds: float = SETTLE_SECONDS,
    ) -> None:
        self._store = store
        self._lease = lease_seconds + LEASE_MARGIN_SECONDS
        self._settle = settle_seconds

    def lease_until(self, now: float) -> float:
        """How long a holder's turn lasts from ``now`` when it is about to attempt."""
        return now + self._lease

    def admit(self, endpoint_id: str, task: Task, key: str, now: float) -> FifoAdmission:
        """Enter the list (a task's first arrival), then go if this delivery is the head and may hold the
        turn; else wait or drop (see ``FifoAdmission``)."""
        late = False
        entered = not task.fifo
        if entered:
            stored = replace(task, carried="", carried_deflated=False, carried_receipt="", fifo=key, slot=0.0)
            self._store.fifo_enter(endpoint_id, key, stored.encode())
            late = now > accepted_at(key) + self._settle + 1.0
            task = replace(task, fifo=key)
        turn = self._store.fifo_turn(endpoint_id)
        if turn.holder == key:
            # The holder goes on, wherever it stands in the list (its retry, its task back after a wait,
            # a crash or a hand-off): its attempt's claim stops a second copy, and the turn moves only
            # when its delivery ends.
            if self._store.fifo_give(endpoint_id, turn, key, self.lease_until(now)):
                return FifoAdmission("go", late=late)
            turn = self._store.fifo_turn(endpoint_id)  # taken over meanwhile (its lease had run out)
        head = self._store.fifo_head(endpoint_id, limit=1)
        if not head:
            # Not in the list: its delivery ended and its entry is gone (a duplicate of a task).
            return FifoAdmission("drop", late=late)
        head_key, head_body = head[0]
        if head_key != key:
            return self._not_head(endpoint_id, task, key, head_key, head_body, turn, now, late, entered)
        settled = accepted_at(key) + self._settle
        if now < settled:
            return FifoAdmission("wait", settled, late=late)
        if turn.holder is None or turn.lease_until < now:
            if self._store.fifo_give(endpoint_id, turn, key, self.lease_until(now)):
                return FifoAdmission("go", late=late)
            turn = self._store.fifo_turn(endpoint_id)
            if turn.holder == key:
                return FifoAdmission("go", late=late)
        # The turn is another's. If its holder is still in the list it will hand the turn on when it
        # ends: drop. If it is not, a hand-off is under way: look again.
        assert turn.holder is not None
        if self._store.fifo_has(endpoint_id, turn.holder):
            if not entered:
                self._store.fifo_update(endpoint_id, key, task.encode())  # its latest attempt
            return FifoAdmission("drop", late=late)
        return FifoAdmission("wait", now + RECHECK_SECONDS, late=late)

    def _not_head(
        self,
        endpoint_id: str,
        task: Task,
        key: str,
        head_key: str,
        head_body: str,
        turn: Turn,
        now: float,
        late: bool,
        entered: bool,
    ) -> FifoAdmission:
        """A task whose delivery is not the head (nor the holder): its entry waits. If the turn's holder
        died (its lease ran out), the turn goes to the head now."""
        if not entered:
            self._store.fifo_update(endpoint_id, key, task.encode())  # its latest attempt, for its turn
        # A free turn needs no help: a head only drops its task while another holds the turn, and that
        # holder hands it on when it ends.
        dead = turn.holder is not None and turn.lease_until < now
        if dead and self._store.fifo_give(endpoint_id, turn, head_key, self.lease_until(now)):
            return FifoAdmission("drop", handoff=self._handoff(head_key, head_body, now), late=late)
        return FifoAdmission("drop", late=late)

    def _handoff(self, key: str, body: str, now: float) -> Handoff:
        return Handoff(body, max(0.0, accepted_at(key) + self._settle - now))

    def hold(self, endpoint_id: str, key: str, until: float) -> None:
        """Stretch the holder's turn over a wait (a retry, an open circuit, a throttle slot)."""
        self._store.fifo_hold(endpoint_id, key, until + self._lease)

    def ended(self, endpoint_id: str, key: str, now: float) -> Handoff | None:
        """The delivery ``key`` ended: leave the list and hand the turn to the new head (if this delivery
        held it, or already handed it to that head: idempotent). The task to send for the head, if any."""
        self._store.fifo_leave(endpoint_id, key)
        head = self._store.fifo_head(endpoint_id, limit=1)
        following = head[0] if head else None
        if not self._store.fifo_pass(
            endpoint_id, key, following[0] if following else None, self.lease_until(now)
        ):
            return None
        if following is None:
            return None
        return self._handoff(following[0], following[1], now)
