"""The circuit breaker: its state machine on a virtual clock, and the sender with it on fakes.

GIVEN / WHEN / THEN; the receiver is the scripted function transport of test_delivery.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.api.messages import parse_publish
from chalicelib.models import BreakerPolicy, Circuit
from chalicelib.outbound.breaker import admit, after_failure, after_probe_taken, after_success
from chalicelib.outbound.disabling import failed_too_long
from chalicelib.scope import OPERATOR
from tests.conftest import Services
from tests.unit.test_delivery import Receiver, World

POLICY = BreakerPolicy(failures=3, probe_seconds=10)


# ------------------------------------------------------------------------------------------ the machine


def test_n_consecutive_failures_open_the_circuit_and_nothing_goes_out_until_the_probe() -> None:
    # GIVEN a closed circuit WHEN two attempts fail THEN it stays closed and admits attempts
    circuit = Circuit()
    for t in (100.0, 101.0):
        circuit = after_failure(circuit, POLICY, t, probe=False)
    assert circuit.state == "closed" and circuit.failures == 2
    assert admit(circuit, 102.0).action == "send"
    # WHEN the third fails THEN it opens, with its probe due probe_seconds later
    circuit = after_failure(circuit, POLICY, 102.0, probe=False)
    assert (circuit.state, circuit.opened_at, circuit.next_probe_at, circuit.cycle) == (
        "open",
        102.0,
        112.0,
        1,
    )
    # THEN until then every task waits for the probe time, and at it one probe may go
    assert admit(circuit, 105.0).action == "wait" and admit(circuit, 105.0).until == 112.0
    assert admit(circuit, 112.0).action == "probe"


def test_a_success_resets_the_count_so_only_consecutive_failures_count() -> None:
    circuit = Circuit()
    for t in range(10):
        circuit = after_failure(circuit, POLICY, float(t), probe=False)
        if t % 2:
            circuit = after_success(circuit)
    assert circuit.state == "closed"


def test_a_failed_probe_reopens_for_another_period_and_a_successful_one_closes() -> None:
    # GIVEN an open circuit whose probe was taken at 112
    opened = Circuit("open", 3, 102.0, 112.0, 1)
    probing = after_probe_taken(opened, POLICY, 112.0)
    assert probing.state == "half_open" and admit(probing, 115.0).action == "wait"
    # WHEN the probe fails THEN open again, next probe a full period later, the opening time kept
    again = after_failure(probing, POLICY, 113.0, probe=True)
    assert (again.state, again.opened_at, again.next_probe_at, again.cycle) == ("open", 102.0, 123.0, 1)
    # WHEN the next probe succeeds THEN closed, count reset, the cycle kept (it names the events)
    closed = after_success(after_probe_taken(again, POLICY, 123.0))
    assert closed == Circuit("closed", 0, None, None, 1)


def test_a_straggler_failure_while_open_moves_nothing_and_a_lost_probe_is_retaken() -> None:
    # GIVEN an open circuit WHEN an attempt that started before it opened fails THEN nothing changes
    opened = Circuit("open", 3, 102.0, 112.0, 1)
    assert after_failure(opened, POLICY, 104.0, probe=False) == opened
    # GIVEN a probe that never reported (its worker died) WHEN its period passes THEN another may go
    probing = after_probe_taken(opened, POLICY, 112.0)
    assert admit(probing, 121.9).action == "wait" and admit(probing, 122.0).action == "probe"


@given(
    outcomes=st.lists(st.tuples(st.booleans(), st.floats(0, 30)), max_size=60),
    failures=st.integers(1, 6),
    probe=st.integers(1, 20),
)
def test_at_most_one_attempt_goes_out_per_probe_period_while_not_closed(
    outcomes: list[tuple[bool, float]], failures: int, probe: int
) -> None:
    # GIVEN any sequence of tasks (each failing or not) arriving over time, handled as the sender does
    policy = BreakerPolicy(failures, probe)
    circuit, now, sent_while_open = Circuit(), 0.0, []
    for ok, gap in outcomes:
        now += gap
        decision = admit(circuit, now)
        if decision.action == "wait":
            continue
        is_probe = decision.action == "probe"
        if is_probe:
            circuit = after_probe_taken(circuit, policy, now)
            sent_while_open.append(now)
        circuit = after_success(circuit) if ok else after_failure(circuit, policy, now, probe=is_probe)
        # THEN the count never reaches the threshold while closed, and an open circuit has a probe time
        assert circuit.state != "closed" or circuit.failures < failures
        assert circuit.state == "closed" or circuit.next_probe_at is not None
    # THEN attempts made while not closed are at least probe_seconds apart
    assert all(b - a >= probe for a, b in itertools.pairwise(sent_while_open))


def test_the_auto_disable_clock_reads_an_open_circuit_when_the_failure_clock_was_never_written(
    services: Services,
) -> None:
    # GIVEN an endpoint whose circuit opened 5 days ago, whose failure clock write was dropped
    world = World(services, Receiver())
    endpoint, _ = world.endpoint()
    opened = endpoint.with_changes(circuit=Circuit("open", 10, 1000.0, 1060.0, 1))
    assert opened.failing_since is None
    # THEN it has failed too long once disable_after has passed since the opening, not before
    assert not failed_too_long(opened, 1000.0 + 5 * 86400 - 1, 5 * 86400)
    assert failed_too_long(opened, 1000.0 + 5 * 86400, 5 * 86400)
    # AND a closed circuit adds nothing to a healthy endpoint
    assert not failed_too_long(endpoint, 10**10, 5 * 86400)


# --------------------------------------------------------------------------------------- with the sender


def _publish(world: World, n: int) -> list[str]:
    return [
        world.publisher.publish(parse_publish({"event_type": "invoice.paid", "payload": {"n": i}}), OPERATOR)
        for i in range(n)
    ]


def _ops(world: World, event_type: str) -> list[dict[str, Any]]:
    return [
        json.loads(m.body or b"{}")["data"]
        for m in world.s.store.messages.values()
        if m.source_id == "hookway" and m.event_type == event_type
    ]


def _run_until(world: World, until: float, max_steps: int = 5000) -> list[str]:
    """Handle due tasks in due order on the virtual clock until ``until`` (or nothing is left)."""
    from chalicelib.outbound.tasks import Task

    outcomes: list[str] = []
    for _ in range(max_steps):
        world.route_all()
        if not world.deliveries.sent:
            return outcomes
        due = sorted(
            range(len(world.deliveries.sent)), key=lambda i: Task.decode(world.deliveries.sent[i]).not_before
        )
        index = due[0]
        task = Task.decode(world.deliveries.sent[index])
        if task.not_before > until:
            world.clock.now = until
            return outcomes
        body = world.deliveries.sent.pop(index)
        world.deliveries.delays.pop(index)
        world.clock.now = max(world.clock.now, task.not_before)
        outcomes.append(world.sender.handle(body))
    raise AssertionError("did not settle")


def test_a_receiver_down_for_a_minute_gets_a_handful_of_attempts_then_everything_after_it_recovers(
    services: Services,
) -> None:
    # GIVEN an endpoint with failures 3, probe_seconds 10, whose receiver is down, and 20 messages
    down = {"on": True}
    seen: list[float] = []

    class Switch(Receiver):
        def __call__(self, request: Any) -> Any:
            seen.append(world.clock.now)
            self.script = [503] if down["on"] else [200]
            return super().__call__(request)

    world = World(services, Switch())
    endpoint, _ = world.endpoint(
        circuit_breaker={"failures": 3, "probe_seconds": 10}, retry_schedule=[0, 5, 5, 5, 5, 5, 5, 5, 5, 5]
    )
    start = world.clock.now
    message_ids = _publish(world, 20)
    # WHEN a minute passes with the receiver down
    outcomes = _run_until(world, start + 60)
    # THEN 3 failures opened the circuit, then only a probe every 10 s went out: a handful in all
    assert len(seen) <= 3 + 7, seen
    assert "circuit_open" in outcomes
    stored = world.s.store.get_endpoint(endpoint.id).circuit
    assert stored.state in ("open", "half_open") and stored.opened_at is not None
    [opened] = _ops(world, "endpoint.circuit_opened")
    assert opened["endpoint_id"] == endpoint.id and opened["failures"] >= 3
    # WHEN the receiver recovers
    down["on"] = False
    recovered_at = world.clock.now
    _run_until(world, recovered_at + 600)
    # THEN every message is delivered, within a minute of recovery, and the circuit closed once
    delivered = {
        a.message_id for m in message_ids for a in world.s.store.list_attempts(m) if a.status == "succeeded"
    }
    assert delivered == set(message_ids)
    assert max(a.started_at for m in message_ids for a in world.s.store.list_attempts(m)) <= recovered_at + 60
    assert world.s.store.get_endpoint(endpoint.id).circuit.state == "closed"
    assert len(_ops(world, "endpoint.circuit_closed")) == 1
    assert len(_ops(world, "endpoint.circuit_opened")) == 1


def test_a_healthy_endpoints_successes_write_nothing_for_the_breaker(services: Services) -> None:
    # GIVEN a healthy endpoint WHEN 20 messages are delivered THEN the store took no circuit write
    world = World(services, Receiver())
    world.endpoint()
    _publish(world, 20)
    writes: list[str] = []
    store = world.s.store
    for name in ("circuit_failed", "circuit_probe", "circuit_succeeded"):
        original = getattr(store, name)

        def spy(*a: Any, _original: Any = original, _name: str = name, **k: Any) -> Any:
            writes.append(_name)
            return _original(*a, **k)

        setattr(store, name, spy)
    assert set(_run_until(world, world.clock.now + 60)) == {"succeeded"}
    assert writes == []


def test_a_circuit_write_that_fails_never_fails_the_delivery(services: Services) -> None:
    # GIVEN a store whose circuit writes fail (throttled)
    from chalicelib.errors import StorageError

    world = World(services, Receiver([500, 200]))
    world.endpoint()

    def broken(*a: Any, **k: Any) -> Any:
        raise StorageError("DynamoDB update_item failed: ProvisionedThroughputExceededException")

    world.s.store.circuit_failed = broken  # type: ignore[method-assign]
    world.s.store.circuit_succeeded = broken  # type: ignore[method-assign]
    _publish(world, 1)
    # WHEN it fails once then succeeds THEN it is retried and delivered as without a breaker
    assert _run_until(world, world.clock.now + 60) == ["retrying", "succeeded"]


@pytest.mark.parametrize("state", ["open", "half_open"])
def test_a_disabled_endpoint_with_an_open_circuit_still_skips(services: Services, state: str) -> None:
    # GIVEN a disabled endpoint whose circuit is not closed WHEN a task comes THEN skipped, as before
    world = World(services, Receiver())
    endpoint, _ = world.endpoint()
    _publish(world, 1)
    world.route_all()  # its task is queued while it is enabled
    stored = world.s.store.get_endpoint(endpoint.id)
    world.s.store.put_endpoint(stored.with_changes(enabled=False, circuit=Circuit(state, 3, 1.0, 10**10, 1)))
    assert _run_until(world, world.clock.now + 60) == ["skipped"]


def test_a_held_task_comes_back_soon_in_a_short_outage_and_rarely_in_a_long_one() -> None:
    from chalicelib.outbound.breaker import MAX_WAIT_SECONDS, come_back_at

    # GIVEN a circuit open for 40 s, its next probe in 5 s WHEN tasks are held THEN back within 15 s
    short = Circuit("open", 3, 1000.0, 1045.0, 1)
    backs = [come_back_at(short, 1040.0, 1045.0, s / 10) for s in range(10)]
    assert min(backs) == 1045.0 and max(backs) <= 1040.0 + 15
    # GIVEN a circuit open for a day WHEN tasks are held THEN a few come back early (to meet the probes),
    # most after nearly 15 minutes
    day = Circuit("open", 3, 0.0, 86400.0 + 30, 1)
    backs = [come_back_at(day, 86400.0, 86430.0, s / 100) for s in range(100)]
    assert min(backs) == 86430.0 and max(backs) <= 86400.0 + MAX_WAIT_SECONDS
    assert sorted(backs) == backs
    assert sum(1 for b in backs if b - 86400.0 < 800) <= 15


def test_a_day_long_outage_costs_a_waiting_delivery_about_four_sends_an_hour_not_sixty() -> None:
    import random

    from chalicelib.outbound.breaker import come_back_at

    # GIVEN a delivery held by a circuit that stays open for a day (probe every 60 s)
    rng = random.Random(7)
    now, probe_due, sends = 0.0, 60.0, []
    circuit = Circuit("open", 10, 0.0, probe_due, 1)
    while now < 86400:
        while probe_due <= now:
            probe_due += 60
        now = come_back_at(circuit, now, probe_due, rng.random())
        sends.append(now)
    # THEN after the first hour it comes back under five times an hour (a retry's hops were four), not
    # once per probe period (sixty)
    late = [t for t in sends if t >= 3600]
    assert len(late) <= 23 * 5, len(late)


def test_a_busy_endpoints_successes_after_a_failure_reset_the_count_once_not_per_success(
    services: Services,
) -> None:
    # GIVEN an endpoint behind a 10 s cache that failed once (its count 1, its failure clock running)
    world = World(services, Receiver([500] + [200] * 100), endpoint_cache_seconds=10)
    world.endpoint(retry_schedule=[0, 3600])
    _publish(world, 1)
    _run_until(world, world.clock.now + 1)
    world.worker.shared.endpoint_caches.endpoints_changed()  # the copy now says failing, count 1
    writes: list[str] = []
    original = world.s.store.circuit_succeeded

    def spy(endpoint_id: str) -> Any:
        writes.append(endpoint_id)
        return original(endpoint_id)

    world.s.store.circuit_succeeded = spy  # type: ignore[method-assign]
    # WHEN 50 messages succeed within the cache's lifetime
    _publish(world, 50)
    assert _run_until(world, world.clock.now + 5).count("succeeded") == 50
    # THEN the count was reset by one write, not one per success
    assert len(writes) == 1
