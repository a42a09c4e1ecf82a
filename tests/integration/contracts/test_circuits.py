"""The contracts of CircuitStore (the circuit breaker's conditional writes on the endpoint item),
ThrottleStore and ParkStore: one behavioural suite, run against the in-memory fakes and DynamoDB on moto."""

from __future__ import annotations

from typing import Any

from chalicelib.aws.dynamodb.endpoints import EndpointTable
from chalicelib.aws.dynamodb.flow import FlowTable, ParkTable, ThrottleTable
from chalicelib.models import BreakerPolicy, Circuit
from testkit.memory.endpoints import MemoryEndpoints
from testkit.memory.flow import MemoryFlow, MemoryParking, MemoryThrottle
from tests.integration.contracts.builders import _endpoint, contract_store

store = contract_store(
    (MemoryEndpoints, MemoryFlow, MemoryThrottle, MemoryParking),
    (EndpointTable, FlowTable, ThrottleTable, ParkTable),
)

POLICY = BreakerPolicy(failures=3, probe_seconds=10)


def test_failures_count_open_once_probe_once_and_a_success_closes(store: Any, clock: Any) -> None:
    # GIVEN a stored endpoint WHEN two failures are counted THEN closed, two failures
    endpoint = _endpoint(clock)
    store.put_endpoint(endpoint)
    assert store.circuit_failed(endpoint.id, POLICY, 100.0, probe=False).failures == 1
    assert store.circuit_failed(endpoint.id, POLICY, 101.0, probe=False) == Circuit("closed", 2)
    # WHEN the third is counted THEN it opens, its cycle 1
    assert store.circuit_failed(endpoint.id, POLICY, 102.0, probe=False) == Circuit(
        "open", 3, 102.0, 112.0, 1
    )
    # AND a straggler's failure while open changes nothing
    assert store.circuit_failed(endpoint.id, POLICY, 103.0, probe=False).state == "open"
    # THEN the endpoint as read carries the circuit, and a put of it (a PATCH) keeps it
    read = store.get_endpoint(endpoint.id)
    assert read.circuit == Circuit("open", 3, 102.0, 112.0, 1)
    store.put_endpoint(read.with_changes(description="changed"))
    assert store.get_endpoint(endpoint.id).circuit == read.circuit
    # WHEN a probe is asked for before its time THEN refused, with the circuit as it stands
    assert store.circuit_probe(endpoint.id, POLICY, 111.0).state == "open"
    # WHEN at its time THEN one taker wins and the next is told a probe is in flight
    assert store.circuit_probe(endpoint.id, POLICY, 112.0) is None
    assert store.circuit_probe(endpoint.id, POLICY, 112.5).state == "half_open"
    # WHEN the probe fails THEN open again for a period
    assert store.circuit_failed(endpoint.id, POLICY, 113.0, probe=True) == Circuit("open", 3, 102.0, 123.0, 1)
    # WHEN a success comes THEN closed; it returns the circuit it closed; a second success writes nothing
    assert store.circuit_succeeded(endpoint.id) == Circuit("open", 3, 102.0, 123.0, 1)
    assert store.get_endpoint(endpoint.id).circuit == Circuit("closed", 0, None, None, 1)
    assert store.circuit_succeeded(endpoint.id) is None
    # AND the next opening is cycle 2
    for t in (200.0, 201.0, 202.0):
        after = store.circuit_failed(endpoint.id, POLICY, t, probe=False)
    assert after == Circuit("open", 3, 202.0, 212.0, 2)


def test_many_failures_each_count_and_open_the_circuit_once(store: Any, clock: Any) -> None:
    # GIVEN a stored endpoint WHEN 12 failures are counted (conditional writes: atomic in DynamoDB)
    endpoint = _endpoint(clock)
    store.put_endpoint(endpoint)
    results = [store.circuit_failed(endpoint.id, POLICY, 100.0 + i, probe=False) for i in range(12)]
    # THEN it is open in cycle 1, whichever opened it (the one opening is the one cycle)
    circuit = store.get_endpoint(endpoint.id).circuit
    assert circuit.state == "open" and circuit.cycle == 1
    assert {r.cycle for r in results if r is not None and r.state == "open"} == {1}


def test_circuit_writes_on_a_deleted_endpoint_create_nothing(store: Any) -> None:
    # GIVEN no such endpoint WHEN the breaker writes THEN nothing is created
    assert store.circuit_failed("ep_gone", POLICY, 1.0, probe=False) is None
    assert store.circuit_succeeded("ep_gone") is None


def test_flow_settings_round_trip(store: Any, clock: Any) -> None:
    # GIVEN an endpoint with a throttle and its own breaker WHEN stored and read THEN the same
    endpoint = _endpoint(clock).with_changes(throttle_rate=7, circuit_breaker=BreakerPolicy(4, 30))
    store.put_endpoint(endpoint)
    read = store.get_endpoint(endpoint.id)
    assert (read.throttle_rate, read.ordering, read.circuit_breaker) == (7, "none", BreakerPolicy(4, 30))
    assert store.get_endpoints([endpoint.id])[0].circuit_breaker == BreakerPolicy(4, 30)


def test_throttle_slots_are_taken_in_order_one_interval_apart_across_concurrent_takers(store: Any) -> None:
    # GIVEN an idle bucket WHEN one task asks THEN it goes now; an idle gap saves no burst
    assert store.take_slot("ep_t1", 0.5, 100.0) == 100.0
    assert store.take_slot("ep_t1", 0.5, 100.0) == 100.5
    assert store.take_slot("ep_t1", 0.5, 500.0) == 500.0
    # WHEN 12 tasks ask at the same moment THEN 12 distinct slots, consecutive, one interval apart (each a
    # conditional write on what the bucket held; DynamoDB makes concurrent ones atomic, which moto's
    # server does not promise, so they ask one after another here)
    slots = [store.take_slot("ep_t2", 0.25, 1000.0) for _ in range(12)]
    assert slots == [1000.0 + 0.25 * i for i in range(12)]


def test_parked_tasks_read_in_due_order_per_bucket_shard_and_go_when_unparked(store: Any) -> None:
    # GIVEN three tasks parked in one bucket's shard out of order, one in another shard
    store.park(1800000000, 3, "0000001800000200.000000#msg_b", "B")
    store.park(1800000000, 3, "0000001800000100.000000#msg_a", "A")
    store.park(1800000000, 3, "0000001800000250.000000#msg_c", "C")
    store.park(1800000000, 4, "0000001800000100.000000#msg_d", "D")
    # WHEN read THEN in due order, limited, that shard only
    assert [body for _, body in store.parked(1800000000, 3, limit=2)] == ["A", "B"]
    assert [body for _, body in store.parked(1800000000, 4, limit=10)] == ["D"]
    # WHEN two are unparked THEN the third is what is left; another bucket is empty
    keys = [key for key, _ in store.parked(1800000000, 3, limit=2)]
    store.unpark(1800000000, 3, keys)
    assert [body for _, body in store.parked(1800000000, 3, limit=10)] == ["C"]
    assert store.parked(1800000300, 3, limit=10) == []
