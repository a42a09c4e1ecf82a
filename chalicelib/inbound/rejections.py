"""Rejected requests, aggregated in memory per container and written at most once a second per source.

A rejected request (bad signature, wrong IP, body too large...) costs no storage call on its own: the
ingest path hands it to :class:`RejectionLog`, which adds it to the container's pending counts (per
source and reason code) and keeps the latest one of each source as a *sample*. A flush writes, per source
with something pending, **one** ``UpdateItem`` (the sample into a slot of the source's ring, the counts
added to that slot's counters) and, for the whole container, one write of the hourly ``rejected``
counter. So a provider sending 5,000 bad requests a second into one source costs that source about one
write a second per API container (tens, not thousands), and the reply never waits for any of them.

**When flushes run.** Flushes are started by requests, never by a timer: ``record()`` and ``tick()`` (the
start of every ``/in/`` request) start one when the last one started at least ``interval`` (1 s) ago. The
first rejection a container sees is written at once (the console shows a failing provider right away).
A flush runs on one background thread of the container (one at a time: a store that hangs holds that
thread, never a request; what arrives meanwhile keeps adding up in memory, bounded by ``max_sources``).
We chose this over a flush inline at the start of a later request (that request would then wait for
storage) and over a timer thread (it adds nothing under Lambda, which freezes a container between
invocations: a timer would only fire when the next invocation thaws it anyway).

**What a container shutdown loses** (best effort by design, like every counter here): Lambda freezes a
container when its invocation returns and may end it without notice. Lost then are the rejections
counted since its last flush started (at most ``interval`` of them per source, plus those of a last
burst no later request came to flush) and a flush frozen mid-write whose connection did not survive
the freeze. A write that fails is logged (one line, no traceback) and not retried: retrying would
double-count when the failure was only the answer's. The ``Rejected`` metric (counted per request, in
memory, flushed with the invocation's metrics) is not affected.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.besteffort import Dropped
from chalicelib.inbound_models import Rejection
from chalicelib.tally import Tally

if TYPE_CHECKING:
    from chalicelib.ports import RejectionStore

log = logging.getLogger("hookway.rejections")

SHOWN_SECONDS = 7 * 86400  # how long a sampled rejection is shown by GET /v1/sources/{id}/rejections
MAX_SOURCES = 1000  # sources with pending rejections one container keeps apart; more are only counted


@dataclass
class _Pending:
    """What one source's rejections added up to since the last flush."""

    sample: Rejection
    counts: dict[str, int] = field(default_factory=dict)


class RejectionLog:
    """See the module docstring. Thread-safe."""

    def __init__(
        self,
        store: RejectionStore,
        clock: Callable[[], float],
        *,
        ring_size: int,
        interval: float = 1.0,
        tally: Tally | None = None,
        run: Callable[[Callable[[], None]], Any] | None = None,
        max_sources: int = MAX_SOURCES,
    ) -> None:
        self._store = store
        self._clock = clock
        self._ring = ring_size
        self._interval = interval
        self._tally = tally
        self._dropped = Dropped(clock, log)
        self._run = run  # runs a flush off the request's thread; built on first use if None
        self._max_sources = max_sources
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._overflow = 0  # rejections of sources beyond max_sources: in the hourly counter only
        self._next_at = float("-inf")
        self._flushing = False
        self._idle = threading.Condition(self._lock)

    def record(self, rejection: Rejection) -> None:
        """Count a rejection in memory (no I/O); start a background flush if one is due."""
        with self._lock:
            pending = self._pending.get(rejection.source_id)
            if pending is None and len(self._pending) >= self._max_sources:
                self._overflow += 1
            else:
                if pending is None:
                    pending = self._pending[rejection.source_id] = _Pending(rejection)
                pending.sample = rejection  # the latest one: what a person debugging wants to see
                pending.counts[rejection.code] = pending.counts.get(rejection.code, 0) + 1
            start = self._take_turn()
        if start:
            self._start()

    def tick(self) -> None:
        """Start a background flush if one is due and something waits (cheap: a clock read and a compare)."""
        if not self._pending and not self._overflow:
            return
        with self._lock:
            start = self._take_turn()
        if start:
            self._start()

    def settle(self, timeout: float = 5.0) -> None:
        """Wait for a running flush, then write what is pending now, on this thread.

        For the operator's read of a source's rejections: on a container that also took the requests (the
        local stack, a warm API container) the read then sees them all. Never called on the ingest path.
        """
        with self._lock:
            self._idle.wait_for(lambda: not self._flushing, timeout=timeout)
            self._flushing = True
            self._next_at = self._clock() + self._interval
        self._flush_guarded()

    # --------------------------------------------------------------------------------------------

    def _take_turn(self) -> bool:
        """Under the lock: True (and the turn taken) if a flush should start now."""
        if self._flushing or (not self._pending and not self._overflow):
            return False
        now = self._clock()
        if now < self._next_at:
            return False
        self._flushing = True
        self._next_at = now + self._interval
        return True

    def _start(self) -> None:
        if self._run is None:
            self._run = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hookway-rejections").submit
        try:
            self._run(self._flush_guarded)
        except RuntimeError:  # the interpreter is shutting down: nothing can be written any more
            self._done()

    def _done(self) -> None:
        with self._lock:
            self._flushing = False
            self._idle.notify_all()

    def _flush_guarded(self) -> None:
        try:
            self._flush()
        finally:
            self._done()

    def _flush(self) -> None:
        """Write what is pending: one write per source, one hourly counter write. Never raises."""
        with self._lock:
            pending, self._pending = self._pending, {}
            overflow, self._overflow = self._overflow, 0
        now = self._clock()
        for source_id, entry in pending.items():
            total = sum(entry.counts.values())
            # One line per source and flush (not per request): ids stay in the logs, out of the metrics.
            log.warning(
                "rejected",
                extra={
                    "source_id": source_id,
                    "reason": entry.sample.code,
                    "rejected": total,
                    "reasons": entry.counts,
                },
            )
            try:
                self._store.record_rejections(
                    entry.sample,
                    entry.counts,
                    slot=int(now * 1000) % self._ring,
                    until=int(now) + SHOWN_SECONDS,
                )
            except Exception as exc:  # best effort: a lost flush never reaches a request
                self._dropped("recording rejections", exc, source_id=source_id, rejected=total)
        if self._tally is not None:
            total = sum(sum(e.counts.values()) for e in pending.values()) + overflow
            if total:
                self._tally.add("rejected", now, total)
                self._tally.flush(force=True)  # at most once a second already; never raises
