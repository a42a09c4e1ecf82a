"""A small rate limiter for what a portal token may ask often: test events, resends and recoveries.

A token bucket per key (a token's id): ``rate`` actions per ``per`` seconds, refilled continuously, so a
burst of ``rate`` passes and then one every ``per / rate`` seconds. The buckets live in the API
function's container, at most ``max_keys`` of them (the least recently used go first, which only ever
forgets a debt), so the limit holds per container: with N warm containers a token gets at most N times
``rate``; the API function's concurrency bounds N. It needs no table and no write on the request path.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable

from chalicelib.errors import TooManyRequestsError


class RateLimiter:
    """Token buckets per key; ``take`` raises ``TooManyRequestsError`` with ``Retry-After`` when empty."""

    def __init__(self, rate: int, per: float, clock: Callable[[], float], max_keys: int = 10_000) -> None:
        if rate < 1 or per <= 0:
            raise ValueError("rate is at least 1 per a positive number of seconds")
        self._rate = float(rate)
        self._per = per
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def take(self, key: str, what: str = "this action") -> None:
        """Spend one action of ``key``, or refuse (429) saying when the next one is allowed."""
        now = self._clock()
        refill = self._rate / self._per
        with self._lock:
            tokens, at = self._buckets.pop(key, (self._rate, now))
            tokens = min(self._rate, tokens + max(0.0, now - at) * refill)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / refill
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise TooManyRequestsError(
                f"too many requests: {what} is limited to {self._rate:g} per {self._per:g} s per token; "
                f"try again in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )
