"""Hourly counters of the pipeline (received, delivered, failed, rejected), added up per Lambda batch.

The router and the sender handle SQS batches of up to ten: counting each message with its own DynamoDB
write would add a write per webhook at every stage. A ``Tally`` adds up in memory instead and ``flush()``
writes one ``UpdateItem`` per hour touched at the end of the batch (usually one), so a batch of ten costs
a tenth of a write per webhook per stage. Counting is best effort by design: a counter write that fails is
dropped, never retried nor raised, so it cannot fail, slow or retry a delivery (``chalicelib.besteffort``:
the store it is given has a one-attempt client of its own; a failure is logged at most once a minute). The same holds the other way:
a message stored twice by an SQS redelivery may be counted twice (the counts are a dashboard, the
attempts are the record).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from chalicelib.besteffort import Dropped

if TYPE_CHECKING:
    from chalicelib.ports import CounterStore

log = logging.getLogger("hookway.tally")

Counter = Literal["received", "delivered", "failed", "rejected"]


def hour_of(at: float) -> int:
    """The start of the UTC hour a time falls in (unix seconds)."""
    return int(at // 3600) * 3600


class Tally:
    """Counts in memory, by hour; ``flush()`` writes them (one write per hour), thread-safe."""

    def __init__(self, store: CounterStore, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._hours: dict[int, dict[str, int]] = {}
        self._dropped = Dropped(clock, log)

    def add(self, counter: Counter, at: float | None = None, n: int = 1) -> None:
        """Count ``n`` of ``counter`` in the hour of ``at`` (default: now)."""
        hour = hour_of(self._clock() if at is None else at)
        with self._lock:
            counts = self._hours.setdefault(hour, {})
            counts[counter] = counts.get(counter, 0) + n

    def flush(self) -> None:
        """Write what was counted since the last flush; a failed write is logged, never raised."""
        with self._lock:
            hours, self._hours = self._hours, {}
        for hour, counts in sorted(hours.items()):
            try:
                self._store.add_counts(hour, counts)
            except Exception as exc:
                self._dropped("the hourly counters write", exc, hour=hour)
