"""The contract of SourceStore and RejectionStore: one behavioural suite, run against the in-memory fake and DynamoDB on moto."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.aws.dynamodb.sources import SourceTable
from chalicelib.errors import NotFoundError
from chalicelib.ids import new_id
from chalicelib.models import (
    Rejection,
    Verification,
)
from testkit.fakes import FakeClock
from testkit.memory.sources import MemorySources
from tests.integration.contracts.builders import _source, contract_store

store = contract_store(MemorySources, SourceTable)


class TestSources:
    def test_source_round_trip(self, store: Any, clock: FakeClock) -> None:
        source = _source(clock)
        store.put_source(source)
        assert store.get_source(source.id) == source
        minimal = _source(
            clock,
            mtls=None,
            dedupe=None,
            max_body_bytes=None,
            verification=Verification("github", (), None, {}),
        )
        store.put_source(minimal)
        assert store.get_source(minimal.id) == minimal

    def test_missing_source_and_delete(self, store: Any, clock: FakeClock) -> None:
        with pytest.raises(NotFoundError):
            store.get_source("src_missing")
        source = _source(clock)
        store.put_source(source)
        store.delete_source(source.id)
        with pytest.raises(NotFoundError):
            store.get_source(source.id)
        with pytest.raises(NotFoundError):
            store.delete_source(source.id)

    def test_sources_page_oldest_first(self, store: Any, clock: FakeClock) -> None:
        made = []
        for _ in range(5):
            made.append(_source(clock))
            store.put_source(made[-1])
            clock.advance(1)
        seen: list[str] = []
        cursor = None
        while True:
            page = store.list_sources(limit=2, cursor=cursor)
            seen.extend(s.id for s in page.items)
            cursor = page.cursor
            if cursor is None:
                break
        assert seen == [s.id for s in made]

    def test_rejections_ring_and_counts(self, store: Any, clock: FakeClock) -> None:
        sid = new_id("src")
        for i in range(4):
            # each write is one flush: a sample and the counts it stands for
            store.record_rejections(
                Rejection(
                    sid,
                    clock() + i,
                    "signature_mismatch" if i else "ip_not_allowed",
                    "m",
                    "1.2.3.4",
                    "POST",
                    "a/b",
                    3,
                    "ua",
                    ("content-type", "x-hub-signature-256"),
                ),
                {"signature_mismatch": 10 * i, "ip_not_allowed": 0 if i else 1},
                slot=i % 3,
                until=int(clock()) + 100,
            )
        kept = store.list_rejections(sid)
        assert len(kept) == 3  # bounded by the ring
        assert kept[0].header_names == ("content-type", "x-hub-signature-256")
        assert [r.at for r in kept] == sorted((r.at for r in kept), reverse=True)
        # every count stays, also those of a slot whose sample was replaced
        assert store.rejection_counts(sid) == {"total": 61, "signature_mismatch": 60, "ip_not_allowed": 1}
        clock.advance(101)
        assert store.list_rejections(sid) == []
        assert store.rejection_counts(sid)["total"] == 61  # the counts outlive what is shown
