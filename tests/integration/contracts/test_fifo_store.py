"""The contract of FifoStore (a fifo endpoint's ordered list and its turn, ``EP#{id}#FIFO``): one
behavioural suite, run against the in-memory fake and DynamoDB on moto."""

from __future__ import annotations

from typing import Any

from chalicelib.aws.dynamodb.flow import FifoTable
from chalicelib.ports import Turn
from testkit.memory.flow import MemoryFifo
from tests.integration.contracts.builders import contract_store

store = contract_store(MemoryFifo, FifoTable)

A = "0000001800000100.000000#msg_a"
B = "0000001800000100.500000#msg_b"
C = "0000001800000200.000000#msg_c"


def test_entries_read_in_accepted_order_enter_once_and_update_only_what_is_there(store: Any) -> None:
    # GIVEN three entries put out of order, one of them twice
    store.fifo_enter("ep_f1", C, "task-c")
    store.fifo_enter("ep_f1", A, "task-a")
    store.fifo_enter("ep_f1", B, "task-b")
    store.fifo_enter("ep_f1", A, "task-a-again")
    # WHEN read THEN in key order, the first put kept, limited; the turn item is not an entry
    store.fifo_give("ep_f1", Turn(), A, 500.0)
    assert store.fifo_head("ep_f1", limit=2) == [(A, "task-a"), (B, "task-b")]
    assert [k for k, _ in store.fifo_head("ep_f1", limit=10)] == [A, B, C]
    # WHEN an entry's task is updated THEN it reads back; an update of a missing entry creates nothing
    store.fifo_update("ep_f1", B, "task-b2")
    store.fifo_update("ep_f1", "0000001800000000.000000#msg_z", "ghost")
    assert store.fifo_head("ep_f1", limit=10) == [(A, "task-a"), (B, "task-b2"), (C, "task-c")]
    assert store.fifo_has("ep_f1", B) and not store.fifo_has("ep_f1", "0000001800000000.000000#msg_z")
    # WHEN one leaves THEN it is gone (twice: no error); another endpoint's list is its own
    store.fifo_leave("ep_f1", A)
    store.fifo_leave("ep_f1", A)
    assert [k for k, _ in store.fifo_head("ep_f1", limit=10)] == [B, C]
    assert store.fifo_head("ep_f2", limit=10) == []


def test_the_turn_is_given_only_as_seen_stretched_by_its_holder_and_handed_on_once(store: Any) -> None:
    # GIVEN no turn yet WHEN read THEN nobody holds it
    assert store.fifo_turn("ep_t") == Turn()
    # WHEN A takes it as seen (free) THEN A holds it; a second take of the free turn is refused
    assert store.fifo_give("ep_t", Turn(), A, 500.0)
    assert store.fifo_turn("ep_t") == Turn(A, 500.0)
    assert not store.fifo_give("ep_t", Turn(), B, 500.0)
    # AND A may take it again (its own), B may take it only as it stands (holder and lease)
    assert store.fifo_give("ep_t", Turn(A, 1.0), A, 600.0)
    assert not store.fifo_give("ep_t", Turn(A, 500.0), B, 700.0)
    assert store.fifo_turn("ep_t") == Turn(A, 600.0)
    # WHEN the holder stretches it THEN its lease moves; another's stretch changes nothing
    store.fifo_hold("ep_t", A, 900.0)
    store.fifo_hold("ep_t", B, 5000.0)
    assert store.fifo_turn("ep_t") == Turn(A, 900.0)
    # WHEN A hands it to B THEN B holds it; handing it again (a retried hand-off) still says B's
    assert store.fifo_pass("ep_t", A, B, 1000.0) is True
    assert store.fifo_turn("ep_t") == Turn(B, 1000.0)
    assert store.fifo_pass("ep_t", A, B, 2000.0) is True
    assert store.fifo_turn("ep_t") == Turn(B, 1000.0)
    # AND a hand-off by a non-holder to someone else is refused
    assert store.fifo_pass("ep_t", A, C, 2000.0) is False
    # WHEN B ends with nobody after it THEN the turn is free, and a free turn can be taken
    assert store.fifo_pass("ep_t", B, None, 2000.0) is False
    assert store.fifo_turn("ep_t").holder is None
    assert store.fifo_give("ep_t", store.fifo_turn("ep_t"), C, 3000.0)
    assert store.fifo_turn("ep_t") == Turn(C, 3000.0)
