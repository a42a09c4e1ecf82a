"""The slow lane: failing or slow endpoints' tasks go to a queue of their own, so they cannot take the
sender concurrency of healthy endpoints.

The slow lane is a second deliveries queue whose event source mapping has its own ``MaximumConcurrency``
(the stage option ``slow_lane_max_concurrency``, default 5). A task is sent there when its endpoint is:

- **failing**: its circuit is not closed, or its last ``FAILING_AFTER`` attempts in a row failed (the
  breaker's count, read with the endpoint and from this container's own circuit writes);
- **slow**: an attempt of it in the last ``SLOW_MEMORY_SECONDS`` ran out its timeout or took at least
  ``SLOW_SHARE`` of it (this container's own observations).

The choice is made by the sender when it queues a task again (a retry, a wait for a probe) and when it
meets a task of such an endpoint on the main queue (it forwards the task instead of attempting it there:
one SendMessage, no attempt consumed). The slow lane's sender handles tasks exactly as the main one; a
task of an endpoint that became healthy is attempted where it is, and its next task goes to the main queue.
Listen sessions never take the slow lane (their attempts are handed over, not POSTed).
"""

from __future__ import annotations

import threading
from typing import Literal

from chalicelib.models import Circuit

Lane = Literal["main", "slow"]

FAILING_AFTER = 3  # consecutive failed attempts that move an endpoint's tasks to the slow lane
SLOW_SHARE = 0.8  # an attempt that took this share of its timeout marks the endpoint slow
SLOW_MEMORY_SECONDS = 300.0  # how long a slow attempt keeps its endpoint in the slow lane
REMEMBERED = 10_000  # endpoints a container remembers as slow (bounded memory)


def lane_for(circuit: Circuit, slow_since: float | None, now: float) -> Lane:
    """The lane of an endpoint's tasks (pure): slow if it is failing or was slow recently."""
    if circuit.state != "closed" or circuit.failures >= FAILING_AFTER:
        return "slow"
    if slow_since is not None and now - slow_since < SLOW_MEMORY_SECONDS:
        return "slow"
    return "main"


def was_slow(duration_ms: int, timeout_seconds: float, error_class: str | None) -> bool:
    """Whether one attempt marks its endpoint slow: it timed out, or took ``SLOW_SHARE`` of its timeout."""
    return error_class == "timeout" or duration_ms >= SLOW_SHARE * timeout_seconds * 1000


class SlowEndpoints:
    """A container's memory of the endpoints whose attempts were slow lately."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def note(self, endpoint_id: str, slow: bool, now: float) -> None:
        """Record an attempt: a slow one marks the endpoint; a fast one forgets it."""
        with self._lock:
            if not slow:
                self._seen.pop(endpoint_id, None)
                return
            if len(self._seen) >= REMEMBERED:
                self._seen.clear()
            self._seen[endpoint_id] = now

    def since(self, endpoint_id: str) -> float | None:
        """When the endpoint was last seen slow (None: not lately, as far as this container knows)."""
        with self._lock:
            return self._seen.get(endpoint_id)
