"""The in-memory fake of CounterStore and CheckpointStore (see ``testkit.fakes``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.aws.dynamodb import counters
from testkit.memory.base import MemoryTable


class MemoryCounters(MemoryTable):
    """CounterStore and CheckpointStore, in dicts, keyed and paged like the DynamoDB layout."""

    def __init__(self, clock: Any, **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        self.hours: dict[int, dict[str, int]] = {}
        self.checkpoints: dict[str, str] = {}

    def get_checkpoint(self, name: str) -> str | None:
        self._maybe_fail()
        return self.checkpoints.get(name)

    def put_checkpoint(self, name: str, value: str) -> None:
        self._maybe_fail()
        self.checkpoints[name] = value
        self.writes += 1

    def add_counts(self, hour: int, counts: Mapping[str, int]) -> None:
        self._maybe_fail()
        wanted = {name: value for name, value in counts.items() if value}
        if not wanted:
            return
        with self._lock:
            stored = self.hours.setdefault(hour, dict.fromkeys(counters.STATS_FIELDS, 0))
            for name, value in wanted.items():
                stored[name] = stored.get(name, 0) + value
            self.writes += 1

    def get_counts(self, hours: Sequence[int]) -> dict[int, dict[str, int]]:
        self._maybe_fail()
        return {hour: dict(self.hours[hour]) for hour in hours if hour in self.hours}
