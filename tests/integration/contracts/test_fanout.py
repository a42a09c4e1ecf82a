"""The contract of FanoutStore: one behavioural suite, run against the in-memory fake and DynamoDB on moto.

Counting a fan-out page updates its message: the suite runs on the fan-out pages' fake and adapter with
the messages' beside them (not the whole Store).
"""

from __future__ import annotations

from typing import Any

from chalicelib.aws.dynamodb.fanout import FanoutTable
from chalicelib.aws.dynamodb.messages import MessageTable
from chalicelib.ids import new_id
from testkit.fakes import FakeClock
from testkit.memory.fanout import MemoryFanout
from testkit.memory.messages import MemoryMessages
from tests.integration.contracts.builders import _message, contract_store

store = contract_store((MemoryFanout, MemoryMessages), (FanoutTable, MessageTable))


class TestFanout:
    def test_fanout_pages_are_counted_once_per_storing(self, store: Any, clock: FakeClock) -> None:
        from chalicelib.models import FanoutPage

        message = _message(clock, fanout_pages=2)
        assert store.store_message(message, clock())
        ids = tuple(new_id("ep") for _ in range(500))
        page = FanoutPage(message.id, 1, "g1", ids, message.expires_at)
        store.put_fanout_page(page)
        assert store.get_fanout_page(message.id, 1) == page
        assert store.get_fanout_page(message.id, 0) is None
        for _ in range(2):
            store.count_fanout_page(message.id, message.receipt_id, 1, 500)
        store.count_fanout_page(message.id, "another_receipt", 0, 7)
        got = store.get_message(message.id)
        assert (got.endpoint_count, got.fanned_pages, got.fanout_pages, got.endpoints) == (500, 1, 2, ())
