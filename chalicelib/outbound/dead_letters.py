"""The dead-letter handler: a delivery task that reached the deliveries DLQ ends its delivery ``failed``.

A task lands there after ``maxReceiveCount`` (80) receives that all raised: the store was down for longer
than the retries, or the message's payload object vanished. Without this handler its delivery would stay
``pending`` forever, against the invariant that every delivery ends in a visible state. The handler
records the task's attempt as failed with ``error_class = "dead_lettered"`` through the same claim as every
attempt: a conditional write that succeeds only if the attempt does not exist or its holder's lease ran
out, so it never overwrites an attempt that did finish, and a live holder is waited for (the handler
raises; the DLQ message comes back after its visibility timeout). Counted as ``DeadLettered`` (alarmed).

Attempt 1 of a delivery the router claimed with its message (``Message.first_claim``, stage setting
``router_first_attempt``) has no attempt item until it fails: the handler reads it as the sender does
(``AttemptStore.first_attempts``: the claim, with the success its router batch recorded), so it never
overwrites a delivered first attempt and waits while the router's lease lives.

A task that cannot even be read is no delivery: it is raised again so it moves on to the parked queue,
kept 14 days and alarmed, for a person to look at.

A delivery to a fifo endpoint that ends here hands the endpoint's turn to the next one in its list
(``chalicelib.outbound.fifo``), as the sender does when a delivery ends: its later deliveries never wait
on a dead letter.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from chalicelib.errors import NotFoundError
from chalicelib.models import Attempt, Message, generation_of
from chalicelib.outbound.fifo import Fifo, entry_key
from chalicelib.outbound.tasks import Task, ending
from chalicelib.ports import MAX_DELAY_SECONDS, AttemptLedger, Queue
from chalicelib.tally import Tally

log = logging.getLogger("hookway.dead_letters")

REASON = "dead_lettered"


class StillLeasedError(Exception):
    """The attempt is held by a worker whose lease has not run out yet: look again later."""


class DeadLetters:
    """Ends the deliveries of dead-lettered tasks; see the module docstring."""

    def __init__(
        self,
        *,
        store: AttemptLedger,
        clock: Callable[[], float],
        retention_seconds: int,
        count: Callable[..., None] | None = None,
        tally: Tally | None = None,
        fifo: Fifo | None = None,
        queue: Queue | None = None,
    ) -> None:
        self._fifo = fifo
        self._queue = queue
        self._store = store
        self._tally = tally
        self._clock = clock
        self._retention = retention_seconds
        self._count = count or (lambda *a, **k: None)

    def handle_many(self, bodies: list[str]) -> list[BaseException | None]:
        """Handle a batch; the error of each body, or None."""
        errors: list[BaseException | None] = []
        for body in bodies:
            try:
                self.handle(body)
            except Exception as exc:
                errors.append(exc)
            else:
                errors.append(None)
        if self._tally is not None:
            self._tally.flush()  # the deliveries this batch ended failed: one counter write
        return errors

    def handle(self, body: str) -> str:
        """End one dead-lettered task's delivery; returns what happened."""
        task = Task.decode(body)  # PoisonTaskError: on to the parked queue
        now = self._clock()
        context = {"message_id": task.message_id, "endpoint_id": task.endpoint_id, "attempt": task.attempt}
        try:
            message = self._store.get_message(task.message_id)
        except NotFoundError:
            log.warning("dead-lettered task of a message past its retention", extra=context)
            return "gone"
        generation = generation_of(message)
        if task.generation and task.generation != generation:
            return "superseded"  # the id was stored again since; that storing has its own deliveries
        current = self._store.get_attempt(
            message.id, task.endpoint_id, generation, task.attempt, shards=message.attempt_shards
        )
        if current is None and task.attempt == 1 and message.holds_first(task.endpoint_id) is not None:
            current = self._first_claimed(message, task.endpoint_id)
        if current is not None and current.status != "in_flight":
            if current.count_due:  # its ending's count failed before (a retry of ours): count it now
                self._store.count_delivery_ending(current)
            if current.delivery_status != "pending":
                self._hand_on(task, message, now)  # its sender may have died before handing the turn on
            return "already_recorded"  # this attempt finished; a retry it scheduled carries the delivery
        if current is not None and current.lease_until >= now:
            raise StillLeasedError(f"attempt {task.attempt} of {message.id} is still leased")
        record = ending(
            task,
            generation,
            now,
            outcome="failed",
            error_class=REASON,
            error="the delivery task failed on every receive and reached the dead-letter queue",
            expires_at=message.expires_at or now + self._retention,
            shards=message.attempt_shards,
        )
        if not self._store.claim_attempt(record, now):
            return "already_recorded"  # a holder finished it between our read and our write
        self._hand_on(task, message, now)
        if record.count_due:
            # Claimed with its mark: if this count fails, the record is retried and counts it above.
            self._store.count_delivery_ending(record)
        self._count("DeadLettered")
        if self._tally is not None:
            self._tally.add("failed", now)
        log.error("delivery dead-lettered", extra={**context, "reason": REASON})
        return "failed"

    def _first_claimed(self, message: Message, endpoint_id: str) -> Attempt | None:
        """Attempt 1 as the router claimed it with the message (no attempt item): its outcome from the
        router batch's result item, else the claim itself (in flight until its lease ends)."""
        for attempt in self._store.first_attempts(message, ()):
            if attempt.endpoint_id == endpoint_id and attempt.number == 1:
                return attempt
        return None

    def _hand_on(self, task: Task, message: Message, now: float) -> None:
        """If the delivery was in a fifo endpoint's list, hand the turn to the next (a no-op write and a
        read for any other endpoint: dead letters are rare)."""
        if self._fifo is None or self._queue is None:
            return
        handoff = self._fifo.ended(task.endpoint_id, task.fifo or entry_key(message), now)
        if handoff is not None:
            self._queue.send(handoff.body, delay_seconds=math.ceil(min(handoff.delay, MAX_DELAY_SECONDS)))
