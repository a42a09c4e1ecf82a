"""The in-memory fake of ListenStore (see ``testkit.fakes``)."""

from __future__ import annotations

from typing import Any

from chalicelib.models import (
    Pulled,
)
from testkit.memory.base import MemoryTable


class MemoryListen(MemoryTable):
    """ListenStore, in dicts, keyed and paged like the DynamoDB layout."""

    def __init__(self, clock: Any, **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        self.pulled: dict[tuple[str, str], Pulled] = {}

    def put_pulled(self, pulled: Pulled) -> None:
        self._maybe_fail()
        self.pulled[(pulled.endpoint_id, pulled.seq)] = pulled
        self.writes += 1

    def list_pulled(self, endpoint_id: str, *, after: str | None, limit: int) -> list[Pulled]:
        self._maybe_fail()
        now = self._clock()
        waiting = sorted(
            (
                p
                for (ep, seq), p in self.pulled.items()
                if ep == endpoint_id and (after is None or seq > after)
            ),
            key=lambda p: p.seq,
        )
        return [p for p in waiting if p.expires_at + 86400 > now][:limit]

    def get_pulled(self, endpoint_id: str, seq: str) -> Pulled | None:
        self._maybe_fail()
        return self.pulled.get((endpoint_id, seq))

    def delete_pulled(self, endpoint_id: str, seq: str) -> None:
        self._maybe_fail()
        self.pulled.pop((endpoint_id, seq), None)
