"""Parking: a delivery task that must wait longer than one SQS delay waits in DynamoDB, not on the queue.

A retry due in 10 hours used to be a chain of forty 15-minute SQS hops. Parked, it is one write under a
due-time key (``ParkStore.park``) and one SendMessage when it comes due: the release step
(``Release.run``, scheduled) reads the buckets of due times that are about to come due, sends each task
with the delay that is left (at most ``AHEAD_SECONDS``, within SQS's 15 minutes), and only then deletes
it, so a crash in between sends a task twice (the claim stops the duplicate), never loses one.

Due times are bucketed by ``BUCKET_SECONDS`` and each bucket is spread over ``PARK_SHARDS`` partitions
(by the task's delivery), so a burst of parked tasks writes no partition more than 1/16 of the traffic.
The release step remembers the last bucket it emptied (a checkpoint) and carries on from there, so a
late or failed run releases late, never skips; each run does bounded work.

Parking is on when the sender is given a ``Parking`` (``park_after_seconds`` > 0) and the release step is
scheduled where parked tasks live; with it off every wait goes through SQS as before.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib.jobs import StepResult
from chalicelib.models import Endpoint, JobKind, JobPlan
from chalicelib.outbound.tasks import PoisonTaskError, Task
from chalicelib.ports import MAX_DELAY_SECONDS, ParkStore, Queue, ReleaseStore

log = logging.getLogger("hookway.parking")

PARK_SHARDS = 16  # partitions a bucket is spread over (by delivery)
BUCKET_SECONDS = 300
AHEAD_SECONDS = 600  # a bucket is released once all of it is due within this (a run every 5 minutes)
CHECKPOINT = "release"
FIRST_LOOKBACK = 86400  # where a first run (no checkpoint) starts: a day back
MAX_ITEMS = 5000
MAX_SECONDS = 200.0
PAGE = 200


def bucket_of(due: float) -> int:
    """The start of the due-time bucket a task due at ``due`` is parked in."""
    return int(due // BUCKET_SECONDS) * BUCKET_SECONDS


def park_shard(task: Task) -> int:
    """The shard of its bucket a task is parked in: a stable hash of its delivery."""
    return zlib.crc32(f"{task.message_id}#{task.endpoint_id}".encode()) % PARK_SHARDS


def parked_key(task: Task) -> str:
    """What identifies a parked task within its bucket (its due time first, so a bucket reads in order)."""
    return f"{task.not_before:017.6f}#{task.message_id}#{task.endpoint_id}#{task.generation}#{task.attempt}"


class Parking:
    """The sender's side: park a task due later than ``after`` seconds from now, else say no."""

    def __init__(self, store: ParkStore, *, after: float = MAX_DELAY_SECONDS) -> None:
        self._store = store
        self._after = after

    def park(self, task: Task, now: float) -> bool:
        """Write the task under its due time if it is due too far ahead for one SQS delay; True if parked."""
        if task.not_before - now <= self._after:
            return False
        self._store.park(
            bucket_of(task.not_before),
            park_shard(task),
            parked_key(task),
            task.encode(),
        )
        return True


@dataclass
class ReleaseReport:
    """What one run of the release step did."""

    released: int = 0
    buckets: int = 0
    caught_up: bool = True
    sends: int = 0  # SendMessageBatch calls

    def public(self) -> dict[str, object]:
        """The report as logged."""
        return {
            "released": self.released,
            "buckets": self.buckets,
            "caught_up": self.caught_up,
            "sends": self.sends,
        }


@dataclass
class Release:
    """The scheduled release step (see the module docstring)."""

    store: ReleaseStore
    queue: Queue
    clock: Callable[[], float]
    max_items: int = MAX_ITEMS
    max_seconds: float = MAX_SECONDS
    monotonic: Callable[[], float] = field(default=time.monotonic)

    def run(self) -> ReleaseReport:
        """Release every parked task of the buckets now wholly due within ``AHEAD_SECONDS``."""
        report = ReleaseReport()
        now = self.clock()
        started = self.monotonic()
        saved = self.store.get_checkpoint(CHECKPOINT)
        bucket = int(saved) if saved else bucket_of(now - FIRST_LOOKBACK)
        while bucket + BUCKET_SECONDS <= now + AHEAD_SECONDS:
            if report.released >= self.max_items or self.monotonic() - started >= self.max_seconds:
                report.caught_up = False
                break
            if not self._release_bucket(bucket, now, report):
                report.caught_up = False
                break
            bucket += BUCKET_SECONDS
            report.buckets += 1
            self.store.put_checkpoint(CHECKPOINT, str(bucket))
        return report

    def _release_bucket(self, bucket: int, now: float, report: ReleaseReport) -> bool:
        """Send and delete every task of one bucket; False if the budget ran out inside it (it is done again
        next run: what was sent and deleted is gone, what was sent and not deleted goes once more)."""
        for shard in range(PARK_SHARDS):
            while True:
                items = self.store.parked(bucket, shard, limit=PAGE)
                if not items:
                    break
                by_delay: dict[int, list[str]] = defaultdict(list)
                for _, body in items:
                    try:
                        due = Task.decode(body).not_before
                    except PoisonTaskError:
                        due = now  # sent at once: the sender refuses it and the queue dead-letters it
                    by_delay[math.ceil(min(max(due - now, 0.0), MAX_DELAY_SECONDS))].append(body)
                for delay, bodies in by_delay.items():
                    self.queue.send_batch(bodies, delay_seconds=delay)
                    report.sends += math.ceil(len(bodies) / 10)
                self.store.unpark(bucket, shard, [key for key, _ in items])
                report.released += len(items)
                if report.released >= self.max_items:
                    return False
        return True


# ------------------------------------------------------------------------------ tasks an open circuit holds

HOLD_SHARDS = PARK_SHARDS  # partitions an endpoint's held tasks are spread over (by delivery)
RELEASE_STEP_ITEMS = 250  # held tasks one release step sends and deletes at most (one shard's partition)
SECOND_PASS_SECONDS = 60.0  # a release job looks again this long after its shard is empty (late parkers)
PACED_SPAN_SECONDS = 60.0  # a throttled endpoint's release step spreads its tasks over at most this
CARRIERS_REMEMBERED = 10_000  # endpoints whose probe carrier a container remembers sending
RELEASE_JOB: JobKind = "endpoint.release"


def held_body(task: Task) -> str:
    """A held task as it is kept: without the message a first attempt carries (a read when it is sent
    costs less than keeping up to 4 KB per task) and without a throttle slot (it takes a new one)."""
    return replace(task, slot=0.0, carried="", carried_deflated=False, carried_receipt="").encode()


def start_release(start_job: Callable[[JobPlan], object], endpoint: Endpoint) -> None:
    """Start the endpoint's release jobs, one per shard of its held tasks (``HeldRelease``)."""
    for shard in range(HOLD_SHARDS):
        start_job(
            JobPlan(
                RELEASE_JOB,
                {"endpoint_id": endpoint.id, "shard": shard, "rate": endpoint.throttle_rate},
                endpoint.application_id,
            )
        )


def may_hold(endpoint: Endpoint) -> bool:
    """Whether tasks of the endpoint may be held: its circuit is not closed. An endpoint disabled (by an
    operator, the sender or the sweep) or deleted (alone or with its application) while so must have its
    held tasks released, or they would wait for a probe that never comes: sent back, each ends ``skipped``,
    or is attempted if the endpoint was enabled again (which resets its circuit) before they came back."""
    return endpoint.circuit.state != "closed"


class Holding:
    """The sender's side of parking the tasks an endpoint's open circuit holds.

    A task that meets an open circuit is kept under the endpoint's ``HOLD#`` partitions (one PutItem) until
    the circuit closes, instead of coming back every few minutes on SQS. Some task must still be there
    for each probe: in each container the first task held for a given probe time goes back on the queue
    due at it (the *carrier*; one per container and probe, a few a minute whatever the volume), and the
    sender of a probe that failed takes one held task out to carry the next probe, so probes go on when
    no new task arrives. When the probe succeeds, ``release_all`` starts the endpoint's release jobs.
    """

    def __init__(
        self,
        store: ParkStore,
        queue: Queue,
        start_job: Callable[[JobPlan], object] | None,
        *,
        carriers: Queue | None = None,
    ) -> None:
        self._store = store
        self._queue = carriers or queue  # a probe's carrier goes to the slow lane where there is one
        self._start_job = start_job
        self._carried: dict[str, float] = {}
        self._lock = threading.Lock()

    def wants_carrier(self, endpoint_id: str, probe_due: float) -> bool:
        """True once per container and probe time: this task carries the probe, the rest are held."""
        with self._lock:
            if self._carried.get(endpoint_id) == probe_due:
                return False
            if len(self._carried) >= CARRIERS_REMEMBERED:
                self._carried.clear()  # bounded memory: at worst one more carrier per endpoint
            self._carried[endpoint_id] = probe_due
            return True

    def hold(self, task: Task, now: float) -> None:
        """Keep the task until the endpoint's circuit closes (one PutItem)."""
        self._store.hold(task.endpoint_id, park_shard(task), parked_key(task), held_body(task), now)

    def carry_next_probe(self, endpoint_id: str, probe_due: float, now: float) -> bool:
        """After a failed probe: send one held task due at the next probe (it is deleted once sent)."""
        if not self.wants_carrier(endpoint_id, probe_due):
            return False
        for shard in range(HOLD_SHARDS):
            items = self._store.held(endpoint_id, shard, limit=1)
            if not items:
                continue
            key, body = items[0]
            try:
                task = replace(Task.decode(body), not_before=probe_due)
                delay = math.ceil(min(max(probe_due - now, 0.0), MAX_DELAY_SECONDS))
                self._queue.send(task.encode(), delay_seconds=delay)
            except PoisonTaskError:
                pass  # never sendable: dropped with its key (it was never a delivery)
            self._store.unhold(endpoint_id, shard, [key])
            return True
        return False

    def release_all(self, endpoint: Endpoint) -> None:
        """Start the endpoint's release jobs, one per shard of its held tasks (``HeldRelease``)."""
        if self._start_job is not None:
            start_release(self._start_job, endpoint)


@dataclass
class HeldRelease:
    """One step of an endpoint's release job (``chalicelib.jobs``): send and delete at most
    ``RELEASE_STEP_ITEMS`` held tasks of one shard, at the endpoint's ``throttle_rate`` if it has one.

    One job per shard, so the shards release in parallel (8.64 M held tasks in about half an hour) and no
    partition is written faster than one step's deletes (at most 250 a step, each step a few round trips).
    A throttled endpoint's tasks go out spread over the step (``rate`` / shards a second per job, their
    SQS delays one interval apart) and the next step waits for them, so the release never bunches into a
    burst the throttle would bounce. When the shard is empty the job looks once more
    ``SECOND_PASS_SECONDS`` later, for tasks a sender held on a cached copy of the open circuit.
    Sent before deleted: a crash in between sends a task twice (the claim stops the duplicate).
    """

    store: ParkStore
    queue: Queue

    def __call__(self, params: Mapping[str, Any], cursor: str | None, limit: int) -> StepResult:
        endpoint_id, shard = str(params["endpoint_id"]), int(params["shard"])
        rate = params.get("rate")
        count = min(limit, RELEASE_STEP_ITEMS)
        spacing = 0.0
        if rate:
            spacing = HOLD_SHARDS / float(rate)  # this job's share of the rate
            count = max(1, min(count, int(PACED_SPAN_SECONDS / spacing)))
        items = self.store.held(endpoint_id, shard, limit=count)
        if not items:
            if cursor == "again":
                return StepResult(0, None)
            return StepResult(0, "again", wait=SECOND_PASS_SECONDS)
        by_delay: dict[int, list[str]] = defaultdict(list)
        for i, (_, body) in enumerate(items):
            by_delay[math.ceil(min(i * spacing, MAX_DELAY_SECONDS))].append(body)
        for delay, bodies in by_delay.items():
            self.queue.send_batch(bodies, delay_seconds=delay)
        self.store.unhold(endpoint_id, shard, [key for key, _ in items])
        return StepResult(len(items), "more", wait=len(items) * spacing)
