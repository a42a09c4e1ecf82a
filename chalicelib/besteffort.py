"""Best-effort writes (hourly counters, rejection logs): never retried, never raised, logged at most once.

They go through their own client (``CLIENT_PROFILES["best_effort"]`` in ``chalicelib.wiring.base``: one attempt,
1 s timeouts), so they never retry inside a batch or a request, and never draw on the retry budget that
botocore keeps per client for the writes that matter (messages, attempts). A failure is dropped; ``Dropped``
logs the first of each kind and then at most one line a minute per container, so a throttling storm costs
one log line a minute, not a traceback per request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any


class Dropped:
    """Where best-effort failures go: one WARNING line per kind per ``every`` seconds, the rest counted."""

    def __init__(self, clock: Callable[[], float], log: logging.Logger, every: float = 60.0) -> None:
        self._clock = clock
        self._log = log
        self._every = every
        self._lock = threading.Lock()
        self._last: dict[str, tuple[float, int]] = {}  # kind -> (when last logged, dropped since)

    def __call__(self, what: str, exc: BaseException, **extra: Any) -> None:
        """Record that a best-effort ``what`` failed with ``exc`` (never raises)."""
        now = self._clock()
        with self._lock:
            last, since = self._last.get(what, (float("-inf"), 0))
            if now - last < self._every:
                self._last[what] = (last, since + 1)
                return
            self._last[what] = (now, 0)
        self._log.warning(
            "%s failed (best effort, dropped): %s",
            what,
            type(exc).__name__,
            extra={**extra, "error": str(exc)[:200], "dropped_since_last_line": since},
        )
