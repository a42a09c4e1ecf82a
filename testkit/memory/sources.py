"""The in-memory fake of SourceStore and RejectionStore (see ``testkit.fakes``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.aws.dynamodb import keys
from chalicelib.errors import NotFoundError
from chalicelib.models import (
    Rejection,
    Source,
)
from chalicelib.ports import Page
from testkit.memory.base import MemoryTable


class MemorySources(MemoryTable):
    """SourceStore and RejectionStore, in dicts, keyed and paged like the DynamoDB layout."""

    def __init__(self, clock: Any, **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        self.sources: dict[str, Source] = {}
        self.rejections: dict[tuple[str, int], tuple[Rejection, int]] = {}
        self.counts: dict[str, dict[str, int]] = {}
        self.rejection_writes = 0  # record_rejections calls: a test counts the writes of a burst

    def put_source(self, source: Source) -> None:
        self._maybe_fail()
        self.sources[source.id] = source

    def get_source(self, source_id: str) -> Source:
        self._maybe_fail()
        try:
            return self.sources[source_id]
        except KeyError:
            raise NotFoundError(f"no source {source_id!r}", code="source_not_found") from None

    def list_sources(self, *, limit: int, cursor: str | None) -> Page[Source]:
        self._maybe_fail()
        entries = [
            (f"{keys.time_key(s.created_at)}#{s.id}", f"SRC#{s.id}", "META", s) for s in self.sources.values()
        ]
        return self._page(entries, limit, cursor, forward=True)

    def delete_source(self, source_id: str) -> None:
        if self.sources.pop(source_id, None) is None:
            raise NotFoundError(f"no source {source_id!r}", code="source_not_found")

    def record_rejections(
        self, sample: Rejection, counts: Mapping[str, int], *, slot: int, until: int
    ) -> None:
        self._maybe_fail()
        self.rejection_writes += 1
        self.rejections[(sample.source_id, slot)] = (sample, until)
        kept = self.counts.setdefault(sample.source_id, {})
        for code, value in counts.items():
            if value > 0:
                kept["total"] = kept.get("total", 0) + value
                kept[code] = kept.get(code, 0) + value

    def list_rejections(self, source_id: str) -> list[Rejection]:
        now = self._clock()
        kept = [r for (sid, _), (r, ttl) in self.rejections.items() if sid == source_id and ttl > now]
        return sorted(kept, key=lambda r: r.at, reverse=True)

    def rejection_counts(self, source_id: str) -> dict[str, int]:
        return dict(self.counts.get(source_id, {}))
