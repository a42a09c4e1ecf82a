"""The contract of CounterStore and CheckpointStore: one behavioural suite, run against the in-memory fake and DynamoDB on moto."""

from __future__ import annotations

from typing import Any

from chalicelib.aws.dynamodb.counters import CounterTable
from testkit.memory.counters import MemoryCounters
from tests.integration.contracts.builders import contract_store

store = contract_store(MemoryCounters, CounterTable)


class TestCounters:
    def test_counters_add_up_per_hour_and_read_back_in_one_call(self, store: Any) -> None:
        hour = 1_800_000_000 // 3600 * 3600
        store.add_counts(hour, {"received": 3, "delivered": 2})
        store.add_counts(hour, {"received": 1, "failed": 1, "rejected": 0})
        store.add_counts(hour + 3600, {"rejected": 4})
        store.add_counts(hour + 7200, {"received": 0})  # nothing to add: no item
        assert store.get_counts([hour - 3600, hour, hour + 3600, hour + 7200]) == {
            hour: {"received": 4, "delivered": 2, "failed": 1, "rejected": 0},
            hour + 3600: {"received": 0, "delivered": 0, "failed": 0, "rejected": 4},
        }
        week = [hour - 3600 * i for i in range(168)]
        assert store.get_counts(week) == {hour: {"received": 4, "delivered": 2, "failed": 1, "rejected": 0}}

    def test_a_checkpoint_reads_back_what_was_saved(self, store: Any) -> None:
        assert store.get_checkpoint("sweep") is None
        store.put_checkpoint("sweep", '{"done": 1.5}')
        store.put_checkpoint("sweep", '{"done": 2.5}')
        assert store.get_checkpoint("sweep") == '{"done": 2.5}'

    def test_hours_are_summed_over_their_shares(self, store: Any) -> None:
        # GIVEN many flushes of one hour (each to a share picked at random)
        hour = 1_800_000_000 // 3600 * 3600
        for _ in range(40):
            store.add_counts(hour, {"received": 2, "rejected": 1})
        # THEN the hour reads back as their sum
        assert store.get_counts([hour]) == {
            hour: {"received": 80, "delivered": 0, "failed": 0, "rejected": 40}
        }
