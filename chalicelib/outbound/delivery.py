"""The sender: deliveries queue -> claim -> signed POST through the egress guard -> record -> retry.

One task on the deliveries queue is one attempt of one (message, endpoint) delivery. The attempt item in
DynamoDB is also its claim: a conditional write creates attempt N only if it does not exist or its holder's
lease ran out, so two workers never send the same attempt at once, and a duplicate task (an SQS redelivery,
a router that fanned out twice) finds the attempt taken and stops. The next attempt's task is enqueued
*before* the current attempt is recorded, so a crash between the two can cause one extra POST with the same
``webhook-id`` (at least once), never a lost delivery.

Retries wait with SQS ``DelaySeconds`` (at most 15 minutes per hop): a task that arrives before its
``not_before`` is put back with the time that remains, so a 10-hour wait costs 40 hops of one SendMessage,
one ReceiveMessage and one DeleteMessage each.

An endpoint of kind ``listen`` (a listen session) is not POSTed to: the attempt is handed over to the
session (``chalicelib.outbound.listen``) under a claim that holds until the session ends, and the CLI's
report of its local answer goes through the same decision (``_record``) as a POST of ours.

Deliveries that end ``succeeded`` or ``failed`` are counted in the hourly counters (``chalicelib.tally``):
added up over a batch and written once at its end, never failing a delivery.
"""

from __future__ import annotations

import base64
import functools
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Literal

from chalicelib.errors import HookwayError, NotFoundError, StorageError
from chalicelib.ids import new_id
from chalicelib.models import (
    OPS_SOURCE,
    Attempt,
    Endpoint,
    Message,
    Pulled,
    PulledOutcome,
    generation_of,
)
from chalicelib.outbound import egress
from chalicelib.outbound.breaker import Breaker
from chalicelib.outbound.client_certs import UNREADABLE, owns
from chalicelib.outbound.disabling import disable, failed_too_long, failing_reason
from chalicelib.outbound.fifo import Fifo, Handoff, entry_key, ordered
from chalicelib.outbound.flow import Throttle, wake_at
from chalicelib.outbound.lanes import SLOW_MEMORY_SECONDS, Lane, SlowEndpoints, lane_for, was_fast, was_slow
from chalicelib.outbound.parking import Holding, Parking
from chalicelib.outbound.retry import DEFAULT_SCHEDULE, classify, next_delay, parse_retry_after
from chalicelib.outbound.routing import owned_alike
from chalicelib.outbound.signing import SIGNERS
from chalicelib.outbound.tasks import PoisonTaskError, Task, count_due, ending
from chalicelib.ports import MAX_DELAY_SECONDS, BlobStore, EndpointSource, EventPublisher, Queue, SenderStore
from chalicelib.tally import Tally
from chalicelib.transform import convention
from chalicelib.transform.engine import Engine
from chalicelib.ttlcache import Lru

log = logging.getLogger("hookway.delivery")

FAILING_AFTER_ATTEMPTS = 4
RESPONSE_KEPT_BYTES = 4096
# How long a claim holds: longer than the deliver function can run (120 s), so a live holder is never
# overtaken, whatever the S3 read, DNS or the next task's enqueue take around the POST itself.
DEFAULT_LEASE_SECONDS = 150.0
RECHECK_SECONDS = 10.0
CACHED_MESSAGES = 256  # small messages a sender container keeps (immutable once stored)
CACHED_BODY_BYTES = 64 * 1024  # so the cache holds at most ~16 MB of bodies
NOTED_FAILURES_KEPT = 10_000
EARLY_TOLERANCE = 0.5  # SQS delays are whole seconds; a task this close to due is sent now
STRAGGLER_SECONDS = 0.25  # a batch waits this long for its last tasks once the others are done
# At most this many threads a container keeps busy beyond its pool's (handed-off stragglers): see _Threads.
MAX_RETIRED_THREADS = 300


class Sender:
    """Sends delivery tasks; see the module docstring."""

    def __init__(
        self,
        *,
        store: SenderStore,
        blobs: BlobStore,
        queue: Queue,
        transport: egress.OutboundTransport,
        endpoints: EndpointSource,
        publisher: EventPublisher | None,
        clock: Callable[[], float],
        rand: Callable[[], float] = random.random,
        disable_after: float = 5 * 86400,
        retention_seconds: int = 30 * 86400,
        max_workers: int = 10,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        count: Callable[..., None] | None = None,
        observe: Callable[[str, float], None] | None = None,
        tally: Tally | None = None,
        certificate_prefixes: Mapping[str, str] | None = None,
        health_memory_seconds: float = 0.0,
        breaker: Breaker | None = None,
        throttle: Throttle | None = None,
        straggler_seconds: float = STRAGGLER_SECONDS,
        parking: Parking | None = None,
        holding: Holding | None = None,
        transformer: Engine | None = None,
        fifo: Fifo | None = None,
        slow_queue: Queue | None = None,
    ) -> None:
        self._fifo = fifo
        self._slow_queue = slow_queue  # the slow lane (chalicelib.outbound.lanes); None: no slow lane
        self._slow_endpoints = SlowEndpoints()
        # Endpoints with a straggler handed off lately, kept even when that straggler then answered (late,
        # not hanging, so not a slow-lane mark): the router queues their first attempts rather than pay
        # the straggler grace in every batch (is_unhealthy); a fast attempt clears it (_note_speed).
        self._late_endpoints = SlowEndpoints()
        # Task bodies handed off as stragglers whose thread has not recorded them yet: their ending, however
        # quick, does not clear the slow mark the hand-off set (bounded: see _hand_off).
        self._handed_off: set[str] = set()
        self._parking = parking
        self._holding = holding
        self._release_held = holding.release_all if holding is not None else None
        self._straggler_seconds = straggler_seconds
        self._local = threading.local()  # the task body a pool thread is handling
        self._posting: set[str] = set()  # task bodies whose POST is waiting on the receiver
        self._store = store
        self._breaker = breaker
        self._throttle = throttle
        # Endpoints' JavaScript transformations; the engine itself loads on the first one met.
        self._transformer = transformer or Engine()
        # Failure-clock writes this container made, per endpoint: (failing?, when); see _write_health.
        self._health_written: dict[str, tuple[bool, float]] = {}
        self._health_memory = health_memory_seconds
        self._certificate_prefixes = certificate_prefixes
        self._blobs = blobs
        self._tally = tally
        self._observe = observe or (lambda name, value: None)
        self._queue = queue
        self._transport = transport
        self._endpoints = endpoints
        self._publisher = publisher
        self._clock = clock
        self._rand = rand
        self._disable_after = disable_after
        self._retention = retention_seconds
        self._lease = lease_seconds
        # Endpoints this container saw fail since their last success here (see _may_be_failing).
        self._noted_failures: dict[str, float] = {}
        self._failures_lock = threading.Lock()
        # A batch's tasks never wait for a thread behind the stragglers earlier batches handed off.
        self._pool = _Threads(max_workers * 3, MAX_RETIRED_THREADS)
        self._messages: Lru[str, Message] = Lru(CACHED_MESSAGES)
        self._count = count or (lambda *a, **k: None)

    @property
    def slow_endpoints(self) -> SlowEndpoints:
        """This container's slow marks (``chalicelib.outbound.lanes``): what the slow lane is chosen by."""
        return self._slow_endpoints

    @property
    def tally(self) -> Tally | None:
        """The hourly counters it adds deliveries to and writes at the end of each batch."""
        return self._tally

    def is_unhealthy(self, endpoint: Endpoint, now: float) -> bool:
        """Whether the endpoint is failing or slow as far as this container knows now: its failure clock
        or circuit (the copy in hand, up to ``endpoint_cache_seconds`` old), a failed attempt this
        container made in the last ``SLOW_MEMORY_SECONDS`` with no success here since (fresher than the
        copy: another container may have opened its circuit meanwhile), a straggler handed off lately
        (even one that then answered: each router batch would pay the grace again), or the slow lane's
        marks (``lanes.lane_for``: a straggler still running, a timeout)."""
        with self._failures_lock:
            failed_at = self._noted_failures.get(endpoint.id)
        if endpoint.failing_since is not None or (
            failed_at is not None and now - failed_at < SLOW_MEMORY_SECONDS
        ):
            return True
        if self._late_endpoints.is_slow(endpoint.id, now):
            return True
        return lane_for(endpoint.circuit, self._slow_endpoints.since(endpoint.id), now) == "slow"

    def handle_many_slow(self, bodies: Sequence[str]) -> list[BaseException | None]:
        """``handle_many`` for a batch of the slow lane (chalicelib.outbound.lanes)."""
        return self.handle_many(bodies, lane="slow")

    def handle_many(self, bodies: Sequence[str], lane: Lane = "main") -> list[BaseException | None]:
        """Handle a batch concurrently; the error of each, or None. ``lane``: the queue it came from.

        The batch does not wait for its slowest receiver: once the others are done, a task still running
        ``straggler_seconds`` after the last of them finished is handed off (``_hand_off``) and the batch
        returns, so one hanging receiver holds neither this invocation nor the tasks behind it.
        The successes of the tasks done by then are recorded together, in one result item
        (``_record_batch``), before the batch returns (and so before SQS deletes its tasks); a straggler
        handed off records its own.
        """
        return self._run_batch(bodies, (), lane=lane)

    def send_held(
        self, held: Sequence[tuple[Message, Attempt]], *, batch: str = ""
    ) -> list[BaseException | None]:
        """Make first attempts whose claims the caller holds already (the router's, written with their
        message: ``Message.first_claim``), exactly as queued ones are made, in one batch with the same
        straggler hand-off; the error of each, or None. ``batch``: the id the claims name (``Attempt
        .batch``): their successes are recorded together under it (``finish_batch``), as a sender batch's;
        every other outcome on its attempt's own item (``finish_attempt`` creates it)."""
        bodies = [
            Task(message.id, claim.endpoint_id, 1, generation=claim.generation).carrying(message).encode()
            for message, claim in held
        ]
        return self._run_batch(bodies, held, batch)

    def _run_batch(
        self,
        bodies: Sequence[str],
        held: Sequence[tuple[Message, Attempt]],
        batch_id: str = "",
        lane: Lane = "main",
    ) -> list[BaseException | None]:
        batch = _Batch(batch_id or new_id("rb"))
        known = self._endpoints_of(bodies)

        def run(numbered: tuple[int, str]) -> BaseException | None:
            batch.local.index = numbered[0]
            self._local.body = numbered[1]
            try:
                self.handle(
                    numbered[1],
                    known,
                    batch=batch,
                    held=held[numbered[0]] if held else None,
                    lane=lane,
                )
            except Exception as exc:
                return exc
            finally:
                self._local.body = None
                with self._failures_lock:
                    self._handed_off.discard(numbered[1])
            return None

        futures = self._pool.submit_all(run, list(enumerate(bodies)))
        try:
            pending = set(futures)
            finished_any = False
            while pending:
                done, pending = wait(
                    pending,
                    timeout=self._straggler_seconds if finished_any else None,
                    return_when=FIRST_COMPLETED,
                )
                if not done:
                    # Nothing finished within the grace. Only a task waiting on its receiver is a
                    # straggler; one still before its request (a throttle slot, a claim) goes on soon.
                    with self._failures_lock:
                        posting = all(bodies[futures.index(f)] in self._posting for f in pending)
                    if posting:
                        break
                    continue
                finished_any = True
            for future in pending:
                self._hand_off(bodies[futures.index(future)])
            errors = [None if f in pending else f.result() for f in futures]
            self._record_batch(batch, errors)
            return errors
        finally:
            self._flush()

    def _post(self, request: egress.OutboundRequest) -> egress.OutboundResponse:
        """The POST, marked as waiting on the receiver while it is (see handle_many's stragglers)."""
        body = getattr(self._local, "body", None)
        if body is not None:
            with self._failures_lock:
                self._posting.add(body)
        try:
            return self._transport.send(request)
        finally:
            if body is not None:
                with self._failures_lock:
                    self._posting.discard(body)

    def _hand_off(self, body: str) -> None:
        """Let a straggler run on in its thread, and queue a check of its attempt for after the claim's
        lease: if the thread finished (or its container went on and finished it), the check finds the
        attempt done and stops; if the container was frozen for good, the check re-claims the attempt once
        its lease ran out and sends it again. Nothing is lost and no second POST overlaps the first."""
        try:
            task = Task.decode(body)
        except PoisonTaskError:
            return
        now = self._clock()
        due = now + self._lease + 1.0
        check = replace(task, not_before=due, slot=0.0)
        self._queue.send(check.encode(), delay_seconds=math.ceil(min(self._lease + 1.0, MAX_DELAY_SECONDS)))
        self._count("StragglerHandedOff")
        # Its endpoint is slow from now on: its next tasks take the slow lane at once (lanes.py), until
        # the straggler ends: slow (a timeout) keeps the mark, an answer within SLOW_POST_SECONDS
        # withdraws it (``_note_speed``).
        self._slow_endpoints.note(task.endpoint_id, True, now)
        self._late_endpoints.note(task.endpoint_id, True, now)
        with self._failures_lock:
            if len(self._handed_off) >= MAX_RETIRED_THREADS:
                self._handed_off.clear()  # bounded (a body whose thread ended first is never taken out)
            self._handed_off.add(body)

    def _record_batch(self, batch: _Batch, errors: list[BaseException | None]) -> None:
        """One write for the batch's recorded successes; if it fails, each on its own item, and a task
        whose outcome could not be written at all fails (SQS gives it back: at least once)."""
        done = batch.close()
        if not done:
            return
        try:
            self._store.finish_batch(batch.id, [attempt for attempt, _ in done])
        except StorageError:
            log.warning("could not write a batch's results: each on its own", extra={"batch": batch.id})
            for attempt, index in done:
                try:
                    self._store.finish_attempt(attempt)
                except StorageError as exc:
                    errors[index] = exc
                    continue
                self._ended("delivered")
            return
        for _ in done:
            self._ended("delivered")

    def _endpoints_of(self, bodies: Sequence[str]) -> Mapping[str, Endpoint]:
        """The endpoints of a batch's due tasks in one batched read (a fan-out's batch names ten distinct
        endpoints: one request instead of ten GetItems). Best effort: a task whose endpoint is not here
        (absent, deleted, or the read failed) looks it up alone, as before."""
        now = self._clock()
        ids: list[str] = []
        for body in bodies:
            try:
                task = Task.decode(body)
            except Exception:  # noqa: S112 - handle() reports a bad task itself
                continue
            if task.not_before <= now + EARLY_TOLERANCE:
                ids.append(task.endpoint_id)
        if len(set(ids)) < 2:
            return {}
        try:
            return self._endpoints.get_many(ids)
        except HookwayError:  # a throttle, a key that will not open: each task reads its own
            return {}

    def _ended(self, outcome: Literal["delivered", "failed"]) -> None:
        if self._tally is not None:
            self._tally.add(outcome)

    def _flush(self) -> None:
        if self._tally is not None:
            self._tally.flush()

    def handle(
        self,
        body: str,
        known: Mapping[str, Endpoint] | None = None,
        *,
        batch: _Batch | None = None,
        held: tuple[Message, Attempt] | None = None,
        lane: Lane = "main",
    ) -> str:
        """Process one task; returns what happened. Raises only to have SQS retry the task.

        ``known``: endpoints already read for this task's batch (``_endpoints_of``). ``batch``: the sender
        batch it is part of (``handle_many``), which records its success if it is one that needs no more
        than its outcome written. ``held``: the task's message and the claim its caller holds on the
        attempt (the router's first attempts, ``send_held``): no claim is written."""
        task = Task.decode(body)
        now = self._clock()
        if task.not_before > now + EARLY_TOLERANCE:
            self._later(task, now, body)
            return "deferred"
        try:
            message = held[0] if held is not None else self._message(task, now)
        except NotFoundError:
            log.warning("message gone", extra={"message_id": task.message_id})
            self._fifo_ended(task.endpoint_id, task.fifo, now)
            return "gone"
        generation = generation_of(message)
        if task.generation and task.generation != generation:
            # The message id was stored again after its replay window: that storing has its own tasks.
            self._fifo_ended(task.endpoint_id, task.fifo, now)
            return "superseded"
        first = message.holds_first(task.endpoint_id) if held is None and task.attempt == 1 else None
        if first is not None and first.lease_until >= now:
            # The router claimed this first attempt with the message and may be sending it: look again
            # once it has most likely finished, at the latest when its lease ends (then the attempt item
            # decides: recorded, or claimed here by its conditional write).
            wait = min(first.lease_until - now, RECHECK_SECONDS) + 1.0
            self._queue.send(body, delay_seconds=math.ceil(min(wait, MAX_DELAY_SECONDS)))
            self._count("FirstAttemptLeased")
            return "deferred"
        if first is not None and first.batch:
            # Its lease ran out: a success its router batch recorded (``RES#``, no attempt item) ends it.
            recorded = self._store.first_attempts(message, ())
            if any(a.endpoint_id == task.endpoint_id and a.status != "in_flight" for a in recorded):
                self._count("DuplicateTask")
                return "duplicate"
        endpoint: Endpoint | None = (known or {}).get(task.endpoint_id)
        if endpoint is None:
            try:
                endpoint = self._endpoints.get(task.endpoint_id)
            except NotFoundError:
                endpoint = None
        if endpoint is None or not endpoint.enabled:
            self._skip(task, message, generation, now)
            if endpoint is None or ordered(endpoint) or task.fifo:
                # A fifo endpoint's turn goes on through its skipped deliveries (a deleted endpoint's
                # ordering is unknown: its list, if any, is handed on all the same).
                self._fifo_ended(task.endpoint_id, task.fifo or entry_key(message), now)
            return "skipped"
        if not owned_alike(endpoint, message):
            # No delivery of this message was ever meant for this endpoint (a forged or stale task, an
            # operator's resend around the API's check): nothing is sent and no attempt is written.
            log.warning(
                "task refused: endpoint of another application",
                extra={"message_id": message.id, "endpoint_id": endpoint.id},
            )
            self._count("ForeignEndpoint")
            return "refused"
        if endpoint.session_over(now):
            return self._disconnected(task, message, generation, now)
        listen = endpoint.kind == "listen"
        key = ""
        if self._fifo is not None and ordered(endpoint):
            # In accepted order, one at a time: only the head of the endpoint's list, holding its turn,
            # goes on to the breaker, the throttle and the claim (chalicelib.outbound.fifo).
            key = entry_key(message)
            gate = self._fifo.admit(endpoint.id, task, key, now)
            if gate.late:
                self._count("FifoLate")
            if gate.handoff is not None:
                self._send_handoff(gate.handoff)
            if gate.action == "drop":
                self._count("FifoQueued")
                return "fifo_queued"
            task = replace(task, fifo=key)
            if gate.action == "wait":
                return self._wait(body, replace(task, slot=0.0), gate.until, now, "fifo_wait")
        probe = False
        if not listen and self._breaker is not None:
            admission = self._breaker.admit(endpoint, now)
            if admission.action == "wait":
                if self._holding is not None and not key:
                    # (a fifo endpoint's turn holder waits on the queue, keeping its turn, as before)
                    return self._hold(replace(task, slot=0.0), endpoint.id, admission.until, now)
                back = self._breaker.come_back_at(endpoint, admission.until, now, self._rand())
                self._fifo_hold(endpoint.id, key, back)
                return self._wait(body, replace(task, slot=0.0), back, now, "circuit_open")
            probe = admission.action == "probe"
        if lane == "main" and not listen and not probe and not key and self._lane(endpoint, now) == "slow":
            # A failing or slow endpoint's task leaves the main queue before it takes a sender for its
            # attempt: one SendMessage, no attempt consumed (a probe is attempted where it won the probe).
            assert self._slow_queue is not None
            self._slow_queue.send(body)
            self._count("SlowLane")
            return "slow_lane"
        if not listen and endpoint.throttle_rate and self._throttle is not None:
            slot = self._throttle.admit(endpoint, task.slot, now)
            if slot:
                self._fifo_hold(endpoint.id, key, wake_at(slot))
                return self._wait(body, replace(task, slot=slot), wake_at(slot), now, "throttled")
            now = self._clock()  # after a short wait for a slot within the second
        claim = Attempt(
            message_id=message.id,
            endpoint_id=endpoint.id,
            number=task.attempt,
            claim_id=new_id("clm"),
            started_at=now,
            status="in_flight",
            delivery_status="pending",
            # A listen session's CLI holds the claim until the session ends, however long it is away.
            lease_until=(endpoint.expires_at or now) + 1 if listen else now + self._lease,
            expires_at=message.expires_at,
            generation=generation,
            shards=message.attempt_shards,
            reopens=task.reopens,
            # A fifo delivery's ending is written on its own: the turn is handed on right after it.
            batch=batch.id if batch is not None and not listen and not key else "",
        )
        if held is not None:
            claim = held[1]
        elif not self._store.claim_attempt(claim, now):
            return self._claimed_elsewhere(body, task, generation, now, message.attempt_shards)
        if listen:
            return self._hand_over(task, endpoint, claim, now)
        return self._attempt(task, message, endpoint, claim, batch, probe=probe)

    def _hold(self, task: Task, endpoint_id: str, probe_due: float, now: float) -> str:
        """A task an open circuit holds: kept in the table until the circuit closes (``parking.Holding``),
        unless it is this container's carrier of the next probe (then it is put back due at the probe)."""
        assert self._holding is not None
        if self._holding.wants_carrier(endpoint_id, probe_due):
            self._later(replace(task, not_before=probe_due), now, lane="slow")
            self._count("CircuitWaiting")
            return "circuit_open"
        self._holding.hold(task, now)
        self._count("CircuitHeld")
        return "held"

    def _wait(self, body: str, task: Task, until: float, now: float, why: str) -> str:
        """Put a task back until its endpoint may be sent to (an open circuit's next probe, its throttle
        slot, its fifo turn): no attempt is made or consumed; the delivery stays ``pending``. Sent before
        this task is deleted: never lost. A throttled task carries its slot, so it is not charged a second
        one."""
        self._later(replace(task, not_before=until), now)
        counters = {"circuit_open": "CircuitWaiting", "fifo_wait": "FifoWaiting"}
        self._count(counters.get(why, "ThrottleWaiting"))
        return why

    def _send_handoff(self, handoff: Handoff) -> None:
        """Send the task of a fifo endpoint's new turn holder (the next delivery in accepted order)."""
        self._queue.send(handoff.body, delay_seconds=math.ceil(min(handoff.delay, MAX_DELAY_SECONDS)))
        self._count("FifoHandedOn")

    def _fifo_ended(self, endpoint_id: str, key: str, now: float) -> None:
        """A delivery in a fifo endpoint's list ended: hand the turn to the next. A failure raises, so the
        task comes back, finds its delivery ended and hands the turn on then."""
        if self._fifo is None or not key:
            return
        handoff = self._fifo.ended(endpoint_id, key, now)
        if handoff is not None:
            self._send_handoff(handoff)

    def _fifo_hold(self, endpoint_id: str, key: str, until: float) -> None:
        """Keep a fifo holder's turn over its wait. Best effort: a lease that runs out early only lets the
        next task give the turn to the head again (this delivery, or an earlier one), never a second one
        in flight (nothing is in flight while it waits)."""
        if self._fifo is None or not key:
            return
        try:
            self._fifo.hold(endpoint_id, key, until)
        except StorageError as exc:
            log.warning(
                "could not keep the fifo turn",
                extra={"endpoint_id": endpoint_id, "reason": type(exc.__cause__ or exc).__name__},
            )

    def _later(self, task: Task, now: float, body: str | None = None, lane: Lane = "main") -> None:
        """Queue a task for its ``not_before``: parked in the store if that is further than one SQS delay
        (and parking is on), else sent with the delay (a longer wait without parking hops every 15 min),
        on the slow lane if ``lane`` says so and there is one."""
        if self._parking is not None and self._parking.park(task, now):
            self._count("Parked")
            return
        delay = math.ceil(min(max(task.not_before - now, 0.0), MAX_DELAY_SECONDS))
        queue = self._slow_queue if lane == "slow" and self._slow_queue is not None else self._queue
        queue.send(body if body is not None else task.encode(), delay_seconds=delay)

    def _lane(self, endpoint: Endpoint, now: float, *, failing: bool = False) -> Lane:
        """The lane of the endpoint's tasks now (``failing``: count one more failure, the attempt just
        made); always main without a slow lane, and for listen sessions."""
        if self._slow_queue is None or endpoint.kind == "listen":
            return "main"
        circuit = self._breaker.circuit(endpoint, now) if self._breaker is not None else endpoint.circuit
        if failing:
            circuit = replace(circuit, failures=circuit.failures + 1)
        return lane_for(circuit, self._slow_endpoints.since(endpoint.id), now)

    def _circuit_outcome(self, endpoint: Endpoint, *, ok: bool, probe: bool) -> None:
        """Tell the breaker an attempt's outcome, after the attempt is recorded. Best effort: a failed write
        costs at most one more failure before the circuit opens (or one more reset), never a delivery."""
        if self._breaker is None or endpoint.kind == "listen":
            return
        try:
            if ok:
                self._breaker.succeeded(endpoint)
            else:
                circuit = self._breaker.failed(endpoint, probe=probe)
                # Probes go on when no new task arrives: a held task carries the next one.
                if probe and self._holding is not None and circuit is not None and circuit.state == "open":
                    due = circuit.next_probe_at
                    if due is not None:
                        self._holding.carry_next_probe(endpoint.id, due, self._clock())
        except StorageError as exc:
            log.warning(
                "could not write the endpoint's circuit",
                extra={"endpoint_id": endpoint.id, "reason": type(exc.__cause__ or exc).__name__},
            )

    def _message(self, task: Task, now: float) -> Message:
        """The task's message: the one it carries, or from the LRU of small immutable messages, else one
        consistent GetItem.

        A stored message never changes but for a new storing of its id (another generation, which a
        task names) and its fan-out counters (the sender never reads them), so a hit is safe while it
        is live. A fan-out of 50,000 deliveries then reads its message once per sender container.
        """
        carried = task.message()
        if carried is not None and generation_of(carried) == task.generation:
            # The router put the message it had just stored in the task (a first attempt of a small
            # inline message): the same storing, so the same bytes a read would return.
            if carried.expires_at <= now:
                raise NotFoundError(f"no message {task.message_id!r}", code="message_not_found")
            return carried
        hit = self._messages.get(task.message_id)
        if hit is not None and hit.expires_at > now and generation_of(hit) == task.generation:
            return hit
        message = self._store.get_message(task.message_id)
        if message.body_ref is None and len(message.body or b"") <= CACHED_BODY_BYTES:
            self._messages.put(message.id, message)
        return message

    def _hand_over(self, task: Task, endpoint: Endpoint, claim: Attempt, now: float) -> str:
        """Queue the attempt for the listen session's CLI to pull, and check on it when the session ends.

        The check is this same task, due just after the claim's lease (the session's end): if the CLI has
        reported by then the attempt is finished and the check stops; else the attempt ends ``failed`` with
        ``cli_disconnected``.
        """
        expires = endpoint.expires_at or now
        self._store.put_pulled(
            Pulled(
                endpoint_id=endpoint.id,
                seq=f"{now:017.6f}-{claim.claim_id}",
                message_id=claim.message_id,
                number=claim.number,
                generation=claim.generation,
                claim_id=claim.claim_id,
                queued_at=now,
                expires_at=expires,
            )
        )
        due = expires + 2
        check = Task(
            claim.message_id,
            endpoint.id,
            task.attempt,
            not_before=due,
            generation=claim.generation,
            reopens=task.reopens,
        )
        self._queue.send(check.encode(), delay_seconds=math.ceil(min(max(due - now, 0.0), MAX_DELAY_SECONDS)))
        return "handed_over"

    def _disconnected(self, task: Task, message: Message, generation: str, now: float) -> str:
        """End an attempt to a listen session that is over: ``failed``, ``cli_disconnected``."""
        ended = ending(
            task,
            generation,
            now,
            outcome="failed",
            error_class="cli_disconnected",
            error="the listen session ended before its CLI reported this delivery",
            expires_at=now + self._retention,
            shards=message.attempt_shards,
        )
        if not self._store.claim_attempt(ended, now):
            # The CLI reported it in time (its count may still be due, after a failed count).
            self._count_left(task, generation, message.attempt_shards)
            return "duplicate"
        self._count_ending(ended)
        self._ended("failed")
        self._count("CliDisconnected")
        _log_attempt(ended, "failed, the listen session ended")
        return "cli_disconnected"

    def request_for(self, message: Message, endpoint: Endpoint, now: float) -> egress.OutboundRequest:
        """The signed request this endpoint gets for this message (a listen session's CLI forwards it)."""
        return self._request(message, endpoint, now)

    def complete_pulled(self, pulled: Pulled, outcome: PulledOutcome) -> str:
        """Record what a listen session's local receiver answered, exactly as for a POST of ours: retries,
        auto-disable and operational events follow. ``stale`` if the attempt is no longer this claim's."""
        try:
            message = self._store.get_message(pulled.message_id)
        except NotFoundError:
            return "stale"  # past its retention
        claim = self._store.get_attempt(
            pulled.message_id,
            pulled.endpoint_id,
            pulled.generation,
            pulled.number,
            shards=message.attempt_shards,
        )
        if claim is None or claim.claim_id != pulled.claim_id or claim.status != "in_flight":
            return "stale"
        endpoint = self._endpoints.get(pulled.endpoint_id)
        # The claim carries what a resend reopened: the delivery's counters take it off when it ends.
        task = Task(
            message.id, endpoint.id, pulled.number, generation=pulled.generation, reopens=claim.reopens
        )
        retry_after = parse_retry_after(outcome.retry_after, self._clock())
        try:
            return self._record(
                task,
                message,
                endpoint,
                claim,
                status=outcome.status,
                error_class=outcome.error_class,
                error=outcome.error,
                kept=_kept_body(outcome.body) if outcome.status is not None else None,
                retry_after=retry_after,
                duration_ms=outcome.duration_ms,
            )
        finally:
            self._flush()

    def _claimed_elsewhere(self, body: str, task: Task, generation: str, now: float, shards: int) -> str:
        """Another holder has this attempt: drop the task if the attempt is done, else look again later.

        Dropping while the attempt is still in flight would lose the delivery if its holder dies and its
        own task is the one we are looking at (a redelivery that came back before the lease ran out).
        """
        current = self._store.get_attempt(
            task.message_id, task.endpoint_id, generation, task.attempt, shards=shards
        )
        if current is not None and current.status == "in_flight":
            # Look again when the holder has most likely finished, and at the latest when its lease ends.
            wait = min(max(current.lease_until - now, 0.0), RECHECK_SECONDS) + 1.0
            self._queue.send(body, delay_seconds=math.ceil(min(wait, MAX_DELAY_SECONDS)))
            return "deferred"
        if current is not None and current.delivery_status != "pending":
            # Its delivery ended: if its turn was not handed on (the sender died after the ending), now.
            self._fifo_ended(task.endpoint_id, task.fifo, now)
        if current is not None and current.count_due:
            # Its ending was recorded but its count failed (the task was retried for it): count it now.
            self._count_ending(current)
            return "counted"
        self._count("DuplicateTask")
        return "duplicate"

    def _skip(self, task: Task, message: Message, generation: str, now: float) -> None:
        skipped = ending(
            task,
            generation,
            now,
            outcome="skipped",
            error_class="endpoint_disabled",
            expires_at=now + self._retention,
            shards=message.attempt_shards,
        )
        if self._store.claim_attempt(skipped, now):
            self._count_ending(skipped)
        else:
            self._count_left(task, generation, message.attempt_shards)

    def _count_left(self, task: Task, generation: str, shards: int) -> bool:
        """Count the task's attempt if it is finished and its count still due (a retried task)."""
        if not shards:
            return False
        current = self._store.get_attempt(
            task.message_id, task.endpoint_id, generation, task.attempt, shards=shards
        )
        if current is None or current.status == "in_flight" or not current.count_due:
            return False
        self._count_ending(current)
        return True

    def _count_ending(self, attempt: Attempt) -> None:
        """Count a recorded ending whose count is due (a message with attempt shards): one transaction
        that clears the attempt's mark. A StorageError fails the task; its retry meets the finished
        attempt, still marked, and counts it then (``_claimed_elsewhere``): never lost, never twice."""
        if attempt.count_due:
            self._store.count_delivery_ending(attempt)

    def _finish(self, attempt: Attempt, outcome: Literal["delivered", "failed"] | None = None) -> bool:
        """Record an attempt's outcome (and its count, when it moves its message's delivery counters);
        False if another holder re-claimed it. ``outcome``: the hourly counter it adds to once recorded.

        An ending that moves the counters is written with its count in one transaction. If that fails
        (the counter item throttled, or busy with another transaction), the outcome is recorded alone,
        marked ``count_due``, and the task fails: SQS gives it back after seconds and it counts then.
        """
        pending: StorageError | None = None
        if attempt.count_due:
            try:
                done = self._store.finish_counted(attempt)
            except StorageError as exc:
                done, pending = self._store.finish_attempt(attempt), exc
        else:
            done = self._store.finish_attempt(attempt)
        if done and outcome is not None:
            self._ended(outcome)
        if done and pending is not None:
            log.warning(
                "delivery count due: the task retries it",
                extra={"message_id": attempt.message_id, "endpoint_id": attempt.endpoint_id},
            )
            raise StorageError("the delivery's count is due; the task is retried for it") from pending
        return done

    @staticmethod
    def _ending(base: Attempt, status: Literal["succeeded", "failed", "skipped"]) -> Attempt:
        """The attempt that ends its delivery ``status``, marked if its message's counters move."""
        return replace(base, delivery_status=status, count_due=count_due(base.shards, status, base.reopens))

    def _attempt(
        self,
        task: Task,
        message: Message,
        endpoint: Endpoint,
        claim: Attempt,
        batch: _Batch | None,
        *,
        probe: bool = False,
    ) -> str:
        started = time.monotonic()
        try:
            request = self._request(message, endpoint, claim.started_at)
        except _Stopped as stop:
            return self._stopped(task, message, endpoint, claim, stop.outcome, started)
        started = time.monotonic()
        status: int | None = None
        error_class: str | None = None
        error: str | None = None
        kept: str | None = None
        retry_after: float | None = None
        slow_error = False
        try:
            if request.client_certificate is not None and not owns(
                request.client_certificate, self._certificate_prefixes, endpoint.application_id
            ):
                # Someone else's certificate: refused in the words of a missing one (see client_certs).
                raise egress.ClientCertificateError(UNREADABLE)
            response = self._post(request)
        except egress.EgressError as exc:
            error_class, error, slow_error = exc.error_class, str(exc)[:300], exc.slow
        else:
            status = response.status
            kept = _kept_body(response.body)
            retry_after = parse_retry_after(response.headers.get("retry-after"), self._clock())
        duration_ms = int((time.monotonic() - started) * 1000)
        return self._record(
            task,
            message,
            endpoint,
            claim,
            status=status,
            error_class=error_class,
            error=error,
            kept=kept,
            retry_after=retry_after,
            duration_ms=duration_ms,
            batch=batch,
            probe=probe,
            slow_error=slow_error,
        )

    def _stopped(
        self,
        task: Task,
        message: Message,
        endpoint: Endpoint,
        claim: Attempt,
        outcome: convention.Cancelled | convention.Failed,
        started: float,
    ) -> str:
        """The endpoint's transformation cancelled the request (the delivery ends ``skipped``, nothing
        sent) or failed on it (this attempt ``failed``, retried like any failure)."""
        duration_ms = int((time.monotonic() - started) * 1000)
        if isinstance(outcome, convention.Failed):
            return self._record(
                task,
                message,
                endpoint,
                claim,
                status=None,
                error_class=convention.ERROR_CLASS,
                error=outcome.reason,
                kept=None,
                retry_after=None,
                duration_ms=duration_ms,
            )
        base = replace(
            claim,
            status="skipped",
            duration_ms=duration_ms,
            error_class=convention.CANCELLED,
            error="the endpoint's transformation cancelled this delivery",
        )
        self._finish(self._ending(base, "skipped"))
        self._fifo_ended(endpoint.id, task.fifo, self._clock())
        self._count("CancelledByTransformation")
        _log_attempt(base, "cancelled by the endpoint's transformation")
        return "cancelled"

    def _record(
        self,
        task: Task,
        message: Message,
        endpoint: Endpoint,
        claim: Attempt,
        *,
        status: int | None,
        error_class: str | None,
        error: str | None,
        kept: str | None,
        retry_after: float | None,
        duration_ms: int,
        batch: _Batch | None = None,
        probe: bool = False,
        slow_error: bool = False,
    ) -> str:
        """Decide and record an attempt's outcome: succeeded, disable, retry later, or give up.

        A success that moves no delivery counters, in a sender batch whose claim names it, is recorded
        with the batch's other successes at its end (one result item); every other outcome on its own.
        """
        self._observe("AttemptLatency", duration_ms)
        if endpoint.kind != "listen":
            self._note_speed(endpoint, duration_ms, error_class, slow_error)
        schedule = endpoint.retry_schedule or DEFAULT_SCHEDULE
        decision = classify(status, error_class, retry_after, schedule)
        base = replace(
            claim,
            duration_ms=duration_ms,
            response_status=status,
            error_class=error_class,
            error=error,
            response_body=kept,
            status="succeeded" if decision.outcome == "succeeded" else "failed",
        )
        now = self._clock()
        if decision.outcome != "succeeded":
            # One line per failed attempt (successes are counted, not logged): never a body or a secret.
            log.warning(
                "attempt failed",
                extra={
                    "message_id": message.id,
                    "source_id": message.source_id,
                    "application_id": endpoint.application_id,
                    "endpoint_id": endpoint.id,
                    "attempt": task.attempt,
                    "reason": error_class or f"http_{status}",
                    "outcome": decision.outcome,
                },
            )
        # Operational events and the endpoint's state go out before the attempt is recorded: a failure in
        # between retries the task, which finds the attempt unrecorded and redoes them (their ids dedupe).
        if decision.outcome == "succeeded":
            if task.attempt > FAILING_AFTER_ATTEMPTS:
                self._ops("message.attempt.recovered", message, endpoint, claim)
            if self._may_be_failing(endpoint, task):
                self._write_health(endpoint.id, None)  # conditional on the stored item
            ended = self._ending(base, "succeeded")
            if not (
                batch is not None and claim.batch == batch.id and not ended.count_due and batch.add(ended)
            ):
                self._finish(ended, "delivered")
            self._circuit_outcome(endpoint, ok=True, probe=probe)
            self._fifo_ended(endpoint.id, task.fifo, now)
            self._count("Delivered")
            self._observe("EndToEndLatency", max(0.0, (now - message.received_at) * 1000))
            _log_attempt(base, "delivered")
            return "succeeded"
        if decision.outcome == "disable":
            disable(
                self._store,
                self._publisher,
                endpoint,
                "the endpoint answered 410 Gone",
                now,
                release=self._release_held,
            )
            self._finish(self._ending(base, "skipped"))
            self._fifo_ended(endpoint.id, task.fifo, now)
            _log_attempt(base, "disabled the endpoint", logging.WARNING)
            return "disabled"
        delay = next_delay(schedule, task.attempt, self._rand)
        if delay is None:
            self._ops("message.attempt.exhausted", message, endpoint, claim)
            self._note_failure(endpoint, now)
            self._finish(self._ending(base, "failed"), "failed")
            self._circuit_outcome(endpoint, ok=False, probe=probe)
            self._fifo_ended(endpoint.id, task.fifo, now)
            self._count("Exhausted")
            _log_attempt(base, "failed, retries exhausted", logging.WARNING)
            return "failed"
        delay = max(delay, decision.min_delay or 0.0)
        following = Task(
            message.id,
            endpoint.id,
            task.attempt + 1,
            not_before=now + delay,
            generation=claim.generation,
            reopens=task.reopens,
            fifo=task.fifo,  # a fifo delivery keeps its turn through its retries
        )
        self._fifo_hold(endpoint.id, task.fifo, following.not_before)
        self._later(following, now, lane=self._lane(endpoint, now, failing=True))
        if task.attempt == FAILING_AFTER_ATTEMPTS:
            self._ops("message.attempt.failing", message, endpoint, claim)
        self._note_failure(endpoint, now)
        self._store.finish_attempt(replace(base, delivery_status="pending", next_attempt_at=now + delay))
        self._circuit_outcome(endpoint, ok=False, probe=probe)
        # 429/502/504 are the receiver (or its proxy) asking for air, not a broken endpoint: counted apart.
        self._count("AttemptThrottled" if decision.throttled else "AttemptFailed")
        _log_attempt(base, f"failed, next attempt in {delay:.0f} s")
        return "retrying"

    def _note_speed(
        self, endpoint: Endpoint, duration_ms: int, error_class: str | None, slow_error: bool
    ) -> None:
        """Mark the endpoint slow after a slow attempt (lanes.was_slow), or forget its mark after a fast
        one (lanes.was_fast); an attempt in between changes nothing. A straggler handed off marked its
        endpoint when it was (``_hand_off``): if it ends without being slow, it was late, not hanging,
        and withdraws that mark (so a receiver's one late answer does not send it to the slow lane)."""
        slow = was_slow(duration_ms, endpoint.timeout, error_class, slow_error=slow_error)
        body = getattr(self._local, "body", None)
        with self._failures_lock:
            handed_off = body is not None and body in self._handed_off
        if slow or handed_off or was_fast(duration_ms):
            self._slow_endpoints.note(endpoint.id, slow, self._clock())
        if not handed_off and was_fast(duration_ms):
            self._late_endpoints.note(endpoint.id, False, self._clock())

    def _may_be_failing(self, endpoint: Endpoint, task: Task) -> bool:
        """Whether a success should clear the endpoint's failure clock (a conditional write on the stored
        item, a no-op when it holds none).

        The endpoint in hand is a cached copy (up to ``endpoint_cache_seconds`` old), so it may not show a
        failure recorded since it was read. Writing on every success would cost a write per delivered
        webhook; so the clear is tried only when there is a reason to think the stored item is failing:
        the copy says so; this success is a retry (attempt > 1), which happens only after a failure of this
        delivery, wherever it was recorded; or this container noted a failure of the endpoint that no
        success has cleared yet. A healthy endpoint costs nothing extra. What is left uncovered (a last
        attempt failing in one container, then within the cache's seconds a first attempt succeeding in
        another, then no traffic at all) clears at the next success after that container's copy expires.
        """
        with self._failures_lock:
            noted = self._noted_failures.pop(endpoint.id, None) is not None
        return endpoint.failing_since is not None or task.attempt > 1 or noted

    def _note_failure(self, endpoint: Endpoint, now: float) -> None:
        """Start the endpoint's failure clock, or disable it once it has failed for ``disable_after``."""
        with self._failures_lock:
            if len(self._noted_failures) >= NOTED_FAILURES_KEPT:
                self._noted_failures.clear()  # bounded memory; the copies' own failing_since still count
            self._noted_failures[endpoint.id] = now
        if endpoint.failing_since is None:
            self._write_health(endpoint.id, now)
        elif failed_too_long(endpoint, now, self._disable_after):
            disable(
                self._store,
                self._publisher,
                endpoint,
                failing_reason(self._disable_after),
                now,
                release=self._release_held,
            )

    def _write_health(self, endpoint_id: str, since: float | None) -> None:
        """Start (``since``) or clear (None) the endpoint's failure clock: once per change per container.

        The endpoint in hand is a cached copy up to ``endpoint_cache_seconds`` old, so until it is reloaded
        every outcome of a busy endpoint would repeat the same conditional UpdateItem on its one item
        (1,000 a second for an endpoint delivering 1,000 a second, past DynamoDB's per-item limit). So a
        container writes a change once and remembers it for ``health_memory_seconds`` (the cache's
        lifetime); a different change always goes through. The write comes after the POST: a failure of
        it (a throttle) is logged and dropped, never raised, so it cannot fail the task and POST again; the
        next outcome after the memory ends tries again.
        """
        failing = since is not None
        now = self._clock()
        with self._failures_lock:
            last = self._health_written.get(endpoint_id)
            if last is not None and last[0] == failing and now - last[1] < self._health_memory:
                return
            if len(self._health_written) >= NOTED_FAILURES_KEPT:
                self._health_written.clear()  # bounded memory: at worst one more write per endpoint
            self._health_written[endpoint_id] = (failing, now)
        try:
            self._store.set_endpoint_failing(endpoint_id, since)
        except StorageError as exc:
            log.warning(
                "could not write the endpoint's failure clock",
                extra={"endpoint_id": endpoint_id, "reason": type(exc.__cause__ or exc).__name__},
            )

    def _ops(self, event_type: str, message: Message, endpoint: Endpoint, claim: Attempt) -> None:
        if self._publisher is None or message.source_id == OPS_SOURCE:
            return  # never an operational event about an operational event: no loops
        data = {
            "message_id": message.id,
            "endpoint_id": endpoint.id,
            "application_id": endpoint.application_id,
            "event_type": message.event_type,
            "source_id": message.source_id,
            "attempts": claim.number,
        }
        dedupe = f"{event_type}:{message.id}:{claim.generation}:{endpoint.id}"
        self._publisher.operational(event_type, data, dedupe=dedupe, application_id=endpoint.application_id)

    def _request(self, message: Message, endpoint: Endpoint, now: float) -> egress.OutboundRequest:
        body = message.body if message.body_ref is None else self._blobs.get(message.body_ref.key)
        unsigned = unsigned_request(message, endpoint, body or b"")
        transformation = endpoint.transformation
        if transformation is not None and transformation.enabled:
            # Before signing: the signature covers the body the receiver gets.
            outcome = self._transformer.run(endpoint.id, transformation.code, unsigned)
            if not isinstance(outcome, convention.Request):
                raise _Stopped(outcome)
            unsigned = outcome
        url, body = unsigned.url, unsigned.body
        headers = {**SIGNERS[endpoint.signing](message, endpoint, body, now), **unsigned.headers}
        if endpoint.auth is not None:
            if endpoint.auth["type"] == "basic":
                raw = f"{endpoint.auth['username']}:{endpoint.auth['password']}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
            else:
                headers["Authorization"] = f"Bearer {endpoint.auth['token']}"
        return egress.OutboundRequest(
            "POST",
            url,
            headers,
            body,
            endpoint.timeout,
            client_certificate=endpoint.client_certificate,
        )


class _Threads:
    """The sender's threads, where a batch's tasks never wait for a thread held by a handed-off straggler.

    A straggler handed off (``Sender._hand_off``) keeps its thread until its receiver answers or its
    timeout ends (15 s by default): with one shared executor, about ``size`` of them left every later
    batch's healthy tasks queued behind them. So the threads still busy are counted, and when the room
    they leave is less than a new batch needs, the executor is retired (``shutdown(wait=False)``: its
    threads finish what they run, then end) and a fresh one takes the batch. On Lambda a container runs one
    batch at a time, so what is busy then is stragglers; locally, concurrent batches share one container.

    Bound: the retired executors' busy threads are handed-off POSTs, each ending within its endpoint's
    timeout (at most 30 s, plus the 3 s connect), and the breaker stops new attempts to an endpoint whose
    timeouts reach its ``failures``; a container hands off at most its batch size per batch. Past
    ``max_retired`` such threads a container stops opening executors and batches share the last one again
    (they may then wait for a thread, as before), so a container never holds more than
    ``size + max_retired`` threads (Lambda allows 1,024).
    """

    def __init__(self, size: int, max_retired: int) -> None:
        self._size = size
        self._max_retired = max_retired
        self._lock = threading.RLock()
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="sender")
        self._busy: dict[ThreadPoolExecutor, int] = {self._executor: 0}  # threads busy, per executor

    def submit_all(
        self, fn: Callable[[tuple[int, str]], BaseException | None], items: list[tuple[int, str]]
    ) -> list[Future[BaseException | None]]:
        """Submit a batch's tasks where each gets a thread at once (see the class docstring)."""
        # Under the lock: a concurrent batch (locally) must not retire the executor between the choice and
        # the submits. Reentrant: a task already done runs its callback (``_done``) in this thread.
        with self._lock:
            executor = self._executor
            if (
                self._size - self._busy[executor] < len(items)
                and self._retired_busy() + self._busy[executor] <= self._max_retired
            ):
                executor.shutdown(wait=False)
                executor = ThreadPoolExecutor(max_workers=self._size, thread_name_prefix="sender")
                self._executor = executor
                self._busy[executor] = 0
            self._busy[executor] += len(items)
            futures = []
            for item in items:
                future = executor.submit(fn, item)
                future.add_done_callback(functools.partial(self._done, executor))
                futures.append(future)
            return futures

    def _done(self, executor: ThreadPoolExecutor, _: Future[BaseException | None]) -> None:
        with self._lock:
            self._busy[executor] -= 1
            if not self._busy[executor] and executor is not self._executor:
                del self._busy[executor]  # a retired executor whose threads are all done

    def _retired_busy(self) -> int:
        return sum(busy for executor, busy in self._busy.items() if executor is not self._executor)


class _Batch:
    """The successes of one sender batch, recorded together at its end (``Sender._record_batch``)."""

    def __init__(self, batch_id: str) -> None:
        self.id = batch_id
        self.local = threading.local()  # the index of the task a pool thread handles
        self.done: list[tuple[Attempt, int]] = []
        self.closed = False
        self._lock = threading.Lock()

    def add(self, attempt: Attempt) -> bool:
        """Keep a success for the batch's result item; False once the batch was recorded (a straggler)."""
        with self._lock:
            if self.closed:
                return False
            self.done.append((attempt, getattr(self.local, "index", -1)))
            return True

    def close(self) -> list[tuple[Attempt, int]]:
        """What the batch records; a success added after this is written on its own."""
        with self._lock:
            self.closed = True
            return list(self.done)


def unsigned_request(message: Message, endpoint: Endpoint, body: bytes) -> convention.Request:
    """The request before its signature and the receiver's credentials: what a transformation gets."""
    headers = {
        "Content-Type": message.content_type or "application/json",
        "Hookway-Source": message.source_id,
    }
    if message.event_type:
        headers["Hookway-Event-Type"] = message.event_type
    if message.delivery_id:
        headers["Hookway-Provider-Event-Id"] = message.delivery_id
    headers.update(endpoint.headers)
    return convention.Request("POST", endpoint.url, headers, body)


class _Stopped(Exception):
    """A transformation's outcome that sends nothing: its cancel, or its failure."""

    def __init__(self, outcome: convention.Cancelled | convention.Failed) -> None:
        super().__init__(type(outcome).__name__)
        self.outcome = outcome


def _log_attempt(attempt: Attempt, outcome: str, level: int = logging.DEBUG) -> None:
    """One line per finished attempt: ids, outcome and the answer (never a body or a header). DEBUG for
    an attempt on its way (the attempt log in the table has it; a line per attempt is log bytes paid per
    webhook), WARNING for the outcomes that need a person: retries exhausted, the endpoint disabled."""
    log.log(
        level,
        "attempt",
        extra={
            "message_id": attempt.message_id,
            "endpoint_id": attempt.endpoint_id,
            "attempt": attempt.number,
            "outcome": outcome,
            "response_status": attempt.response_status,
            "error_class": attempt.error_class,
            "duration_ms": attempt.duration_ms,
        },
    )


def _kept_body(body: bytes) -> str:
    """The first 4 KiB of a response, as text (base64 with a marker when it is not UTF-8)."""
    head = body[:RESPONSE_KEPT_BYTES]
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(head).decode()
