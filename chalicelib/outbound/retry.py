"""The retry schedule as data, and the decisions taken on each attempt's outcome; pure.

``schedule[i]`` is the delay in seconds before attempt ``i + 1`` counted from the previous
attempt, so ``DEFAULT_SCHEDULE`` (the Svix / Standard Webhooks one) means: immediately, then after
5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h, eight attempts spanning about 27 h 35 min.

Status rules follow Standard Webhooks: 2xx succeeds; 3xx is a failure (redirects are never
followed); 410 disables the endpoint; 429, 502 and 504 are throttling; ``Retry-After`` is honoured
but capped at the schedule's longest step, so a receiver cannot park a message for a year;
anything else, and any transport error, is retried. Whether the schedule is spent is for
``next_delay`` to say, not ``classify``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Literal

__all__ = [
    "DEFAULT_SCHEDULE",
    "JITTER",
    "MAX_STEPS",
    "MAX_STEP_SECONDS",
    "THROTTLE_STATUSES",
    "Decision",
    "classify",
    "next_delay",
    "parse_retry_after",
    "validate_schedule",
]

DEFAULT_SCHEDULE: tuple[int, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
MAX_STEPS = 20
MAX_STEP_SECONDS = 7 * 24 * 3600
JITTER = 0.2
THROTTLE_STATUSES = frozenset({429, 502, 504})
GONE = 410

# RFC 9110 delta-seconds is 1*DIGIT; a leading '-' is tolerated only to clamp it to 0.
_DELTA_SECONDS = re.compile(r"-?[0-9]{1,16}")


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do after one attempt: stop (succeeded), try again (retry), or disable the endpoint."""

    outcome: Literal["succeeded", "retry", "disable"]
    throttled: bool = False
    # The receiver's Retry-After (capped), to be used as a floor under the scheduled delay.
    min_delay: float | None = None


def validate_schedule(seq: Iterable[object]) -> tuple[int, ...]:
    """Check a configured schedule (1..MAX_STEPS integer delays, each 0..7 days) and freeze it."""
    if not isinstance(seq, list | tuple):
        raise ValueError("retry schedule must be a list of integers")
    steps = tuple(seq)
    if not steps:
        raise ValueError("retry schedule must have at least one step")
    if len(steps) > MAX_STEPS:
        raise ValueError(f"retry schedule has {len(steps)} steps; at most {MAX_STEPS} are allowed")
    checked: list[int] = []
    for index, step in enumerate(steps):
        # bool is an int subclass; True as "1 second" is always a config mistake.
        if isinstance(step, bool) or not isinstance(step, int):
            raise ValueError(f"retry schedule step {index} must be an integer number of seconds")
        if step < 0:
            raise ValueError(f"retry schedule step {index} must not be negative")
        if step > MAX_STEP_SECONDS:
            raise ValueError(
                f"retry schedule step {index} is {step} s; at most {MAX_STEP_SECONDS} s (7 days)"
            )
        checked.append(step)
    return tuple(checked)


def next_delay(schedule: tuple[int, ...], attempts_made: int, rand: Callable[[], float]) -> float | None:
    """Seconds to wait before the next attempt, with +/-20 % jitter; None once the schedule is spent."""
    if isinstance(attempts_made, bool) or not isinstance(attempts_made, int) or attempts_made < 0:
        raise ValueError("attempts_made must be a non-negative integer")
    if attempts_made >= len(schedule):
        return None
    base = schedule[attempts_made]
    sample = rand()
    if not 0.0 <= sample < 1.0:
        raise ValueError("rand() must return a float in [0, 1)")
    # Jitter spreads a burst of failures (one receiver outage) so retries do not arrive together.
    return base * (1.0 - JITTER + 2.0 * JITTER * sample)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from ``now`` (Unix time) given by a Retry-After header; None for absent or junk."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA_SECONDS.fullmatch(text):
        return float(max(0, int(text)))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # HTTP-dates are always GMT; asctime and "-0000" forms come back naive.
        when = when.replace(tzinfo=UTC)
    try:
        delay = when.timestamp() - now
    except (OverflowError, ValueError, OSError):
        return None
    if not math.isfinite(delay):
        return None
    return max(0.0, delay)


def classify(
    status: int | None,
    error_class: str | None,
    retry_after: float | None,
    schedule: tuple[int, ...],
) -> Decision:
    """Decide on one attempt from its HTTP status, or its transport error class when no status."""
    if status is None and error_class is None:
        raise ValueError("classify needs a status or an error class")
    if status is not None:
        if 200 <= status <= 299:
            return Decision("succeeded")
        if status == GONE:
            return Decision("disable")
    throttled = status in THROTTLE_STATUSES
    min_delay: float | None = None
    if retry_after is not None and status is not None and math.isfinite(retry_after):
        longest = max(schedule) if schedule else 0
        min_delay = float(min(max(0.0, retry_after), longest))
    # Every other status (3xx included) and every transport error (timeout, tls_error,
    # connect_error, blocked_destination, ...) is a failure worth retrying on the schedule.
    return Decision("retry", throttled=throttled, min_delay=min_delay)
