"""The slow lane: failing or slow endpoints' tasks go to a queue of their own, so they cannot take the
sender concurrency of healthy endpoints.

The slow lane is a second deliveries queue whose event source mapping has its own ``MaximumConcurrency``
(the stage option ``slow_lane_max_concurrency``, default 5). A task is sent there when its endpoint is:

- **failing**: its circuit is not closed, or its last ``FAILING_AFTER`` attempts in a row failed (the
  breaker's count, read with the endpoint and from this container's own circuit writes);
- **slow**: in the last ``SLOW_MEMORY_SECONDS`` one of its attempts ran out its timeout, had its TCP
  connect time out, or took ``SLOW_POST_SECONDS`` (or ``SLOW_SHARE`` of its timeout, if less), and no
  attempt since answered fast (within ``FAST_POST_SECONDS``; one in between neither marks nor clears);
  or one of its attempts is a straggler handed off (its batch's others were done and it was still
  waiting on its receiver) that has not ended yet: marked at the hand-off, so its next tasks take the
  slow lane at once, not after a timeout; if the straggler then answers within ``SLOW_POST_SECONDS`` it
  was late, not hanging, and the mark is withdrawn.

The choice is made by the sender when it queues a task again (a retry, a wait for a probe) and when it
meets a task of such an endpoint on the main queue (it forwards the task instead of attempting it there:
one SendMessage, no attempt consumed). The slow lane's sender handles tasks exactly as the main one; a
task of an endpoint that became healthy is attempted where it is, and its next task goes to the main queue.
Listen sessions never take the slow lane (their attempts are handed over, not POSTed).

The slow marks (``SlowEndpoints``) are a container's own memory, bounded (``REMEMBERED`` endpoints, the
oldest mark dropped first) and never written anywhere: no write per delivery, nor per mark. Each
container learns an endpoint's slowness from its own attempts, so a container that has not met it yet
pays one straggler's grace (``delivery.STRAGGLER_SECONDS``) on one batch, then forwards; a mark lives
``SLOW_MEMORY_SECONDS`` on the main lane (which no longer attempts the endpoint), so each main-lane
container tries a slow endpoint again at most once per that time. The router's own first attempts
(``Sender.send_held``) use the same marks of their container.
"""

from __future__ import annotations

import threading
from typing import Literal

from chalicelib.models import Circuit

Lane = Literal["main", "slow"]

FAILING_AFTER = 3  # consecutive failed attempts that move an endpoint's tasks to the slow lane
SLOW_SHARE = 0.8  # an attempt that took this share of its timeout marks the endpoint slow
SLOW_POST_SECONDS = 2.0  # ... and so does one that took this long, whatever its timeout
FAST_POST_SECONDS = 0.25  # an attempt this quick clears the mark (the sender's straggler grace)
SLOW_MEMORY_SECONDS = 300.0  # how long a slow attempt keeps its endpoint in the slow lane
REMEMBERED = 10_000  # endpoints a container remembers as slow (bounded memory)


def lane_for(circuit: Circuit, slow_since: float | None, now: float) -> Lane:
    """The lane of an endpoint's tasks (pure): slow if it is failing or was slow recently."""
    if circuit.state != "closed" or circuit.failures >= FAILING_AFTER:
        return "slow"
    if slow_since is not None and now - slow_since < SLOW_MEMORY_SECONDS:
        return "slow"
    return "main"


def was_fast(duration_ms: int) -> bool:
    """Whether one attempt (not handed off) clears its endpoint's slow mark: it took under
    ``FAST_POST_SECONDS``, as no straggler does."""
    return duration_ms < FAST_POST_SECONDS * 1000


def was_slow(
    duration_ms: int, timeout_seconds: float, error_class: str | None, *, slow_error: bool = False
) -> bool:
    """Whether one attempt marks its endpoint slow: it timed out, failed slowly (``slow_error``: the
    transport's error says so, a connect that timed out), or took ``SLOW_POST_SECONDS`` or ``SLOW_SHARE``
    of its timeout, whichever is less."""
    threshold = min(SLOW_SHARE * timeout_seconds, SLOW_POST_SECONDS)
    return slow_error or error_class == "timeout" or duration_ms >= threshold * 1000


class SlowEndpoints:
    """A container's memory of the endpoints whose attempts were slow lately (bounded: see the module)."""

    def __init__(self, remembered: int = REMEMBERED) -> None:
        self._seen: dict[str, float] = {}  # in the order marked: the first is the oldest mark
        self._remembered = remembered
        self._lock = threading.Lock()

    def note(self, endpoint_id: str, slow: bool, now: float) -> None:
        """Record an attempt: a slow one marks the endpoint (a straggler handed off is one); a fast one
        forgets it."""
        with self._lock:
            self._seen.pop(endpoint_id, None)
            if not slow:
                return
            if len(self._seen) >= self._remembered:
                del self._seen[next(iter(self._seen))]  # bounded memory: the oldest mark goes first
            self._seen[endpoint_id] = now

    def since(self, endpoint_id: str) -> float | None:
        """When the endpoint was last seen slow (None: not lately, as far as this container knows)."""
        with self._lock:
            return self._seen.get(endpoint_id)

    def is_slow(self, endpoint_id: str, now: float) -> bool:
        """Whether the endpoint was seen slow in the last ``SLOW_MEMORY_SECONDS`` (by this container)."""
        since = self.since(endpoint_id)
        return since is not None and now - since < SLOW_MEMORY_SECONDS

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)
