"""One TTL cache: values read through a loader, kept for a time, bounded by least-recent use.

Pure (no I/O, no AWS): the read-through caches over the Store (``chalicelib.caches``), the event-type catalog,
client certificates and the admin key parameter all keep their values here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")
MAX_ENTRIES = 10_000  # entries one cache keeps at most


class Lru(Generic[K, V]):
    """A dictionary that forgets its least recently used entries beyond ``limit`` (thread-safe)."""

    def __init__(self, limit: int = MAX_ENTRIES) -> None:
        self._limit = max(limit, 1)
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The entry, now the most recently used; None if absent."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        """Keep an entry, forgetting the oldest beyond the limit."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._limit:
                self._items.popitem(last=False)

    def pop(self, key: K) -> None:
        """Forget one entry."""
        with self._lock:
            self._items.pop(key, None)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class TtlCache(Generic[K, V]):
    """Values loaded on a miss and kept ``ttl`` seconds on ``clock`` (``ttl`` 0: never kept).

    A value may be None (an absence is cached like a value). A loader that raises caches nothing, so the
    next read tries again. The loader runs outside any lock: one slow read holds no other key.
    """

    def __init__(self, clock: Callable[[], float], ttl: float, limit: int = MAX_ENTRIES) -> None:
        self._clock = clock
        self._ttl = ttl
        self._entries: Lru[K, tuple[float, V]] = Lru(limit)

    def get(self, key: K, load: Callable[[K], V]) -> V:
        """The value kept for ``key`` if younger than ``ttl``, else ``load(key)`` (kept from now)."""
        now = self._clock()
        hit = self._entries.get(key)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        value = load(key)
        if self._ttl > 0:
            self._entries.put(key, (now, value))
        return value

    def fresh(self, key: K) -> bool:
        """Whether a value younger than ``ttl`` is kept for ``key`` (``get`` would not load it)."""
        hit = self._entries.get(key)
        return hit is not None and self._clock() - hit[0] < self._ttl

    def put(self, key: K, value: V) -> None:
        """Keep a value from now (one this process made itself, so it needs no load)."""
        if self._ttl > 0:
            self._entries.put(key, (self._clock(), value))

    def pop(self, key: K) -> None:
        """Forget one key (after a change made in this process)."""
        self._entries.pop(key)

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
