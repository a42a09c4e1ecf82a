"""The contract of ListenStore: one behavioural suite, run against the in-memory fake and DynamoDB on moto."""

from __future__ import annotations

from typing import Any

from chalicelib.aws.dynamodb.listen import ListenTable
from chalicelib.models import (
    Pulled,
)
from testkit.fakes import FakeClock
from testkit.memory.listen import MemoryListen
from tests.integration.contracts.builders import contract_store

store = contract_store(MemoryListen, ListenTable)


class TestListen:
    def test_waiting_deliveries_page_by_cursor_oldest_first_per_session(
        self, store: Any, clock: FakeClock
    ) -> None:
        # GIVEN three deliveries waiting in one session and one in another
        def pulled(endpoint_id: str, n: int) -> Pulled:
            now = clock()
            clock.advance(1)
            return Pulled(
                endpoint_id, f"{now:017.6f}-clm_{n}", f"msg_{n}", 1, "g1", f"clm_{n}", now, now + 600
            )

        mine = [pulled("ep_a", n) for n in range(3)]
        other = pulled("ep_b", 9)
        for item in [*reversed(mine), other]:
            store.put_pulled(item)
        # WHEN listed from the start, then after a cursor
        first = store.list_pulled("ep_a", after=None, limit=2)
        rest = store.list_pulled("ep_a", after=first[-1].seq, limit=2)
        # THEN each page is the session's own, oldest first, and the cursor continues where it stopped
        assert first == mine[:2] and rest == mine[2:]
        assert store.list_pulled("ep_a", after=mine[-1].seq, limit=2) == []
        assert store.get_pulled("ep_b", other.seq) == other
        # AND a reported one is gone, and deleting it twice is no error
        store.delete_pulled("ep_a", mine[0].seq)
        store.delete_pulled("ep_a", mine[0].seq)
        assert store.get_pulled("ep_a", mine[0].seq) is None
        assert store.list_pulled("ep_a", after=None, limit=10) == mine[1:]
