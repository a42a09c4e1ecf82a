"""Hourly counters of the pipeline (received, delivered, failed, rejected), added up per Lambda batch.

The router and the sender handle SQS batches of up to ten: counting each message with its own DynamoDB
write would add a write per webhook at every stage. A ``Tally`` adds up in memory instead and ``flush()``
(called at the end of each batch) writes one ``UpdateItem`` per hour touched, at most once a second per
container (``FLUSH_INTERVAL``; what a batch counts sooner waits for a timer), so a container busy at
100 webhooks/s pays one write a second instead of ten: about nothing per webhook at volume. Counting is best effort by design: a counter write that fails is
dropped, never retried nor raised, so it cannot fail, slow or retry a delivery (``chalicelib.besteffort``:
the store it is given has a one-attempt client of its own; a failure is logged at most once a minute). The same holds the other way:
a message stored twice by an SQS redelivery may be counted twice (the counts are a dashboard, the
attempts are the record).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from chalicelib.besteffort import Dropped

if TYPE_CHECKING:
    from chalicelib.ports import CounterStore

log = logging.getLogger("hookway.tally")

Counter = Literal["received", "delivered", "failed", "rejected"]


def hour_of(at: float) -> int:
    """The start of the UTC hour a time falls in (unix seconds)."""
    return int(at // 3600) * 3600


FLUSH_INTERVAL = 1.0  # seconds between two counter writes of one container, at least


class Tally:
    """Counts in memory, by hour; ``flush()`` writes them (one write per hour touched), at most once per
    ``interval`` per container: a batch that ends sooner after the last write leaves its counts pending,
    and a timer thread writes them ``interval`` after that write (under Lambda it runs when the container
    next thaws; a container ended meanwhile loses them: best effort). So the counters cost about one
    write a second per busy container, not one per batch: ~0 write units per webhook at volume. Thread-safe.
    """

    def __init__(
        self,
        store: CounterStore,
        clock: Callable[[], float],
        *,
        interval: float = FLUSH_INTERVAL,
        timer: Callable[[float, Callable[[], None]], Any] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._hours: dict[int, dict[str, int]] = {}
        self._dropped = Dropped(clock, log)
        self._interval = interval
        self._last: float | None = None  # when the last write started
        self._scheduled = False
        self._timer = timer or _daemon_timer

    def add(self, counter: Counter, at: float | None = None, n: int = 1) -> None:
        """Count ``n`` of ``counter`` in the hour of ``at`` (default: now)."""
        hour = hour_of(self._clock() if at is None else at)
        with self._lock:
            counts = self._hours.setdefault(hour, {})
            counts[counter] = counts.get(counter, 0) + n

    def flush(self, *, force: bool = False) -> None:
        """Write what was counted since the last write, unless that write started less than ``interval``
        ago (then a timer writes it once the interval is over). ``force``: a caller that already writes
        at most once a second (the rejection log). A failed write is logged, never raised."""
        with self._lock:
            if not self._hours:
                return
            now = self._clock()
            if not force and self._last is not None and now - self._last < self._interval:
                if not self._scheduled:
                    self._scheduled = True
                    self._timer(self._last + self._interval - now, self._flush_due)
                return
            self._last = now
            hours, self._hours = self._hours, {}
        self._write(hours)

    def _flush_due(self) -> None:
        with self._lock:
            self._scheduled = False
            self._last = None  # the interval is over: write now
        self.flush()

    def _write(self, hours: dict[int, dict[str, int]]) -> None:
        for hour, counts in sorted(hours.items()):
            try:
                self._store.add_counts(hour, counts)
            except Exception as exc:
                self._dropped("the hourly counters write", exc, hour=hour)


def _daemon_timer(delay: float, action: Callable[[], None]) -> threading.Timer:
    """Run ``action`` on a daemon thread after ``delay`` seconds (never holds a process at exit)."""
    timer = threading.Timer(max(delay, 0.0), action)
    timer.daemon = True
    timer.start()
    return timer
