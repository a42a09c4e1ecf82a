"""The throttle: its token bucket on a virtual clock, and the sender with it on fakes (GIVEN / WHEN / THEN)."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.outbound.flow import HOLD_SECONDS, Throttle, next_slot
from chalicelib.outbound.tasks import Task
from testkit.fakes import FakeClock, MemoryStore
from tests.conftest import Services
from tests.unit.test_breaker import _publish, _run_until
from tests.unit.test_delivery import Receiver, World


def test_slots_are_handed_out_in_order_one_interval_apart_and_an_idle_bucket_starts_now() -> None:
    # GIVEN an idle bucket at rate 4 WHEN three tasks ask at once THEN slots now, +0.25, +0.5
    tat, slots = None, []
    for _ in range(3):
        slot, tat = next_slot(tat, 100.0, 0.25)
        slots.append(slot)
    assert slots == [100.0, 100.25, 100.5]
    # WHEN the bucket has been idle past its next free time THEN the next task goes at once (no burst saved)
    assert next_slot(tat, 200.0, 0.25) == (200.0, 200.25)


@given(
    rate=st.integers(1, 50),
    arrivals=st.lists(st.floats(0, 5, allow_nan=False), min_size=1, max_size=200),
)
def test_no_window_of_one_second_holds_more_than_rate_slots(rate: int, arrivals: list[float]) -> None:
    # GIVEN any arrivals of tasks over time WHEN each takes a slot THEN any 1 s window holds at most rate
    tat: float | None = None
    slots = []
    for now in itertools.accumulate(arrivals):
        slot, tat = next_slot(tat, now, 1.0 / rate)
        assert slot >= now
        slots.append(slot)
    for i, start in enumerate(slots):
        assert sum(1 for s in slots[i:] if s < start + 1.0 - 1e-9) <= rate


def test_a_close_slot_is_waited_for_in_the_sender_and_a_later_one_through_the_queue() -> None:
    # GIVEN a throttle at rate 1 on a virtual clock, its bucket busy for the next 0.5 s then 1.5 s
    clock = FakeClock(1000.0)
    store = MemoryStore(clock)
    throttle = Throttle(store, clock, clock.advance)
    from chalicelib.models import Endpoint

    endpoint = Endpoint(id="ep_1", url="https://x", created_at=0, updated_at=0, throttle_rate=1)
    store.slots["ep_1"] = 1000.5
    # WHEN a task asks THEN it waits the half second here and is sent (0)
    assert throttle.admit(endpoint, 0.0, clock()) == 0.0
    assert clock() == 1000.5
    # WHEN the next asks at once THEN its slot is 1 s away... within HOLD_SECONDS: waited here too
    assert throttle.admit(endpoint, 0.0, clock()) == 0.0 and clock() == 1001.5
    store.slots["ep_1"] = clock() + HOLD_SECONDS + 2
    # WHEN a slot is further THEN the task waits on the queue for it, holding it
    slot = throttle.admit(endpoint, 0.0, clock())
    assert slot == 1001.5 + HOLD_SECONDS + 2
    # AND when it comes back at its slot it is sent without taking another
    writes = store.writes
    clock.now = slot
    assert throttle.admit(endpoint, slot, clock()) == 0.0 and store.writes == writes
    # AND one that comes back long after its slot (a worker died holding it) takes a new one
    clock.now = slot + 30
    assert throttle.admit(endpoint, slot, clock()) == 0.0 and store.writes == writes + 1


@given(
    rate=st.integers(1, 50),
    lateness=st.lists(st.floats(0, 2, allow_nan=False), min_size=1, max_size=120),
)
def test_tasks_back_late_from_many_senders_never_put_more_than_rate_plus_one_in_a_second(
    rate: int, lateness: list[float]
) -> None:
    # GIVEN a throttled endpoint whose queued tasks each hold a slot and come back late by any amount
    # (busy senders working at once, as on Lambda)
    from chalicelib.models import Endpoint

    clock = FakeClock(1000.0)
    store = MemoryStore(clock)
    endpoint = Endpoint(id="ep_1", url="https://x", created_at=0, updated_at=0, throttle_rate=rate)
    held = [store.take_slot("ep_1", 1.0 / rate, 1000.0) for _ in lateness]

    def post_time(slot: float, now: float) -> float:
        waited: list[float] = []
        throttle = Throttle(store, clock, waited.append)
        again = throttle.admit(endpoint, slot, now)
        while again:  # a new slot past HOLD_SECONDS: back from the queue a second early, it waits there
            now, waited = again - 1.0, []
            throttle = Throttle(store, clock, waited.append)
            again = throttle.admit(endpoint, again, now)
        return now + sum(waited)

    # WHEN each is admitted as it comes back (in the order they come back)
    returns = sorted((slot + late, slot) for slot, late in zip(held, lateness, strict=True))
    sent = sorted(post_time(slot, now) for now, slot in returns)
    # THEN no window of one second holds more than rate + 1 POSTs
    for i, start in enumerate(sent):
        assert sum(1 for t in sent[i:] if t < start + 1.0 - 1e-9) <= rate + 1, (start, sent)


def test_a_throttled_endpoint_gets_every_event_in_order_at_most_rate_a_second(services: Services) -> None:
    # GIVEN an endpoint throttled to 2 a second and a burst of 20 messages
    times: list[float] = []

    class Timed(Receiver):
        def __call__(self, request: Any) -> Any:
            times.append(world.clock.now)
            return super().__call__(request)

    world = World(services, Timed())
    world.endpoint(throttle_rate=2)
    _publish(world, 20)
    slots_taken: list[str] = []
    original = world.s.store.take_slot

    def counted(endpoint_id: str, interval: float, now: float) -> float:
        slots_taken.append(endpoint_id)
        return original(endpoint_id, interval, now)

    world.s.store.take_slot = counted  # type: ignore[method-assign]
    # WHEN the sender works through it on the virtual clock
    outcomes = _run_until(world, world.clock.now + 600)
    # THEN every message is delivered, in publish order
    assert outcomes.count("succeeded") == 20
    received = [json.loads(r.body)["data"]["n"] for r in world.receiver.requests]
    assert received == list(range(20))
    # AND no 1 s window holds more than 2 POSTs; the burst took about 10 s
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + 1.0 - 1e-9) <= 2, times
    assert 9.0 <= times[-1] - times[0] <= 11.0
    # AND one slot write per delivery, one queue hop at most per waiting task
    assert len(slots_taken) == 20
    assert outcomes.count("throttled") <= 20  # each a task that waited once, on the queue


def test_an_unthrottled_endpoint_takes_no_slot_and_no_hop(services: Services) -> None:
    world = World(services, Receiver())
    world.endpoint()
    _publish(world, 5)

    def refuse(*a: Any, **k: Any) -> float:
        raise AssertionError("an unthrottled endpoint took a slot")

    world.s.store.take_slot = refuse  # type: ignore[method-assign]
    assert _run_until(world, world.clock.now + 60) == ["succeeded"] * 5


def test_a_task_held_by_an_open_circuit_gives_up_its_slot(services: Services) -> None:
    # GIVEN a throttled task that holds a slot WHEN the circuit sends it back THEN it carries no slot
    from chalicelib.models import Circuit

    world = World(services, Receiver())
    endpoint, _ = world.endpoint(throttle_rate=1)
    _publish(world, 1)
    world.route_all()
    stored = world.s.store.get_endpoint(endpoint.id)
    world.s.store.put_endpoint(
        stored.with_changes(circuit=Circuit("open", 10, world.clock.now, world.clock.now + 60, 1))
    )
    body = world.deliveries.sent.pop(0)
    world.deliveries.delays.pop(0)
    held = Task.decode(body)
    from dataclasses import replace

    assert world.sender.handle(replace(held, slot=world.clock.now).encode()) == "circuit_open"
    assert Task.decode(world.deliveries.sent[-1]).slot == 0.0
