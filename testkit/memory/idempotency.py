"""The in-memory fake of IdempotencyStore (see ``testkit.fakes``)."""

from __future__ import annotations

from typing import Any

from testkit.memory.base import MemoryTable


class MemoryIdempotency(MemoryTable):
    """IdempotencyStore, in dicts, keyed and paged like the DynamoDB layout."""

    def __init__(self, clock: Any, **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        self.idempotency: dict[str, tuple[str, str, float]] = {}

    def remember_idempotency_key(
        self, key: str, body_sha256: str, message_id: str, now: float, ttl: int
    ) -> tuple[str, str]:
        self._maybe_fail()
        with self._lock:
            old = self.idempotency.get(key)
            if old is not None and old[2] >= now:
                return old[0], old[1]
            self.idempotency[key] = (message_id, body_sha256, now + ttl)
            self.writes += 1
            return message_id, body_sha256
