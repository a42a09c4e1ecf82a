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
import time
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

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
