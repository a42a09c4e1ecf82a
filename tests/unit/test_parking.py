"""Parking and the release step on a virtual clock (GIVEN / WHEN / THEN): a long wait is one write and one
SendMessage, not a chain of 15-minute hops; the release never loses a task."""

from __future__ import annotations

import heapq
from typing import Any

import pytest

from chalicelib.outbound.parking import (
    AHEAD_SECONDS,
    BUCKET_SECONDS,
    PARK_SHARDS,
    Parking,
    Release,
    bucket_of,
)
from chalicelib.outbound.tasks import Task
from testkit.fakes import FakeClock, MemoryQueue, MemoryStore
from tests.conftest import Services, make_services
from tests.unit.test_breaker import _publish
from tests.unit.test_delivery import Receiver, World


def test_a_task_due_within_one_sqs_delay_is_not_parked_and_a_later_one_is() -> None:
    clock = FakeClock(10_000.0)
    store = MemoryStore(clock)
    parking = Parking(store, after=900)
    assert not parking.park(Task("msg_1", "ep_1", 2, not_before=10_900.0), clock())
    assert parking.park(Task("msg_1", "ep_1", 4, not_before=12_000.0), clock())
    [(bucket, _shard)] = store.parked_tasks
    assert bucket == bucket_of(12_000.0) and bucket % BUCKET_SECONDS == 0


def test_the_release_sends_each_task_once_with_the_delay_left_and_only_when_due_within_the_window() -> None:
    # GIVEN 40 tasks parked, due over the next two hours
    clock = FakeClock(1_800_000_000.0)
    store, queue = MemoryStore(clock), MemoryQueue()
    parking = Parking(store)
    start = clock.now
    tasks = [Task(f"msg_{i}", "ep_1", 4, not_before=start + 1000 + 180 * i) for i in range(40)]
    for task in tasks:
        assert parking.park(task, clock())
    release = Release(store=store, queue=queue, clock=clock)
    sent_at: dict[str, float] = {}
    # WHEN the release runs every 5 minutes for three hours
    for _ in range(36):
        release.run()
        for body, delay in zip(queue.sent, queue.delays, strict=True):
            task = Task.decode(body)
            assert task.message_id not in sent_at  # never twice
            sent_at[task.message_id] = clock.now + delay
            # THEN each is sent at most AHEAD_SECONDS early, with a delay SQS takes
            assert 0 <= delay <= 900 and task.not_before - clock.now <= AHEAD_SECONDS + BUCKET_SECONDS
        queue.sent.clear()
        queue.delays.clear()
        clock.advance(300)
    # THEN every task went out, each due at its own time (to the second), and none is left parked
    assert set(sent_at) == {t.message_id for t in tasks}
    for task in tasks:
        assert abs(sent_at[task.message_id] - task.not_before) <= 1
    assert all(not shard for shard in store.parked_tasks.values())


def test_a_release_that_dies_between_send_and_delete_sends_again_never_loses() -> None:
    # GIVEN a parked task due soon, and a store whose delete fails once
    clock = FakeClock(1_800_000_000.0)
    store, queue = MemoryStore(clock), MemoryQueue()
    Parking(store).park(Task("msg_1", "ep_1", 4, not_before=clock.now + 1000), clock())
    clock.advance(600)
    original = store.unpark
    store.unpark = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("crash"))  # type: ignore[method-assign]
    release = Release(store=store, queue=queue, clock=clock)
    with pytest.raises(RuntimeError):
        release.run()
    assert len(queue.sent) == 1
    # WHEN the next run comes THEN it is sent again (the claim stops the duplicate) and then deleted
    store.unpark = original  # type: ignore[method-assign]
    release.run()
    assert [Task.decode(b).message_id for b in queue.sent] == ["msg_1", "msg_1"]
    assert all(not shard for shard in store.parked_tasks.values())


def test_a_late_release_run_releases_late_never_skips() -> None:
    # GIVEN tasks parked across many buckets WHEN the release does not run for five hours, then runs
    clock = FakeClock(1_800_000_000.0)
    store, queue = MemoryStore(clock), MemoryQueue()
    release = Release(store=store, queue=queue, clock=clock)
    release.run()  # its checkpoint
    for i in range(30):
        Parking(store).park(Task(f"msg_{i}", "ep_1", 5, not_before=clock.now + 1000 + 600 * i), clock())
    clock.advance(5 * 3600 + 1200)
    report = release.run()
    # THEN all of them are sent at once (delay 0 for the past ones)
    assert report.released == 30 and report.caught_up
    assert sorted(queue.delays)[0] == 0


def _run_parked(world: World, release: Release, until: float) -> list[str]:
    """Due-order handling of the deliveries queue on the virtual clock, the release every 5 minutes."""
    outcomes: list[str] = []
    due: list[tuple[float, int, str]] = []
    seq = 0
    next_release = world.clock.now
    while True:
        world.route_all()
        for body, delay in zip(world.deliveries.sent, world.deliveries.delays, strict=True):
            seq += 1
            heapq.heappush(due, (world.clock.now + delay, seq, body))
        world.deliveries.sent.clear()
        world.deliveries.delays.clear()
        if due and due[0][0] <= next_release:
            at, _, body = heapq.heappop(due)
            world.clock.now = max(world.clock.now, at)
            outcomes.append(world.sender.handle(body))
            continue
        if next_release > until:
            return outcomes
        world.clock.now = max(world.clock.now, next_release)
        release.run()
        next_release += 300


def test_a_delivery_failing_through_the_whole_default_schedule_costs_at_most_ten_sqs_requests() -> None:
    # GIVEN the default settings (parking on: tasks due more than 900 s ahead), a receiver that always
    # fails, the default schedule (8 attempts over ~27.6 h)
    services: Services = make_services()
    world = World(services, Receiver([503] * 100))
    assert world.sender._parking is not None  # on by default, from the stage's settings
    release = Release(store=world.s.store, queue=world.deliveries, clock=world.clock)
    world.endpoint(circuit_breaker={"failures": 1000, "probe_seconds": 60})
    sends: list[Any] = []
    original = world.deliveries.send

    def counted(body: str, *, delay_seconds: int = 0) -> str:
        sends.append(delay_seconds)
        return original(body, delay_seconds=delay_seconds)

    world.deliveries.send = counted  # type: ignore[method-assign]

    def counted_batch(bodies: Any, *, delay_seconds: int = 0) -> None:
        sends.extend([delay_seconds] * max(1, (len(bodies) + 9) // 10))
        for body in bodies:
            original(body, delay_seconds=delay_seconds)

    world.deliveries.send_batch = counted_batch  # type: ignore[method-assign]
    _publish(world, 1)
    # WHEN it runs its course over two days
    outcomes = _run_parked(world, release, world.clock.now + 2 * 86400)
    # THEN 8 attempts, the delivery failed, and at most 10 SQS sends in all (the router's, the retries'
    # direct delays and the releases), not the 112 hops of a 15-minute chain
    assert outcomes.count("retrying") == 7 and outcomes.count("failed") == 1
    assert len(world.receiver.requests) == 8
    assert len(sends) <= 10, sends
    # AND each task is received once (no early hop): at most 10 receives as well
    assert "deferred" not in outcomes and len(outcomes) <= 10
    assert PARK_SHARDS == 16


def test_without_parking_the_same_delivery_hops_every_fifteen_minutes(services: Services) -> None:
    # GIVEN parking off (HOOKWAY_PARK_AFTER_SECONDS=0) WHEN the same delivery runs its course THEN the
    # hops are many: the figure the test above improves on
    world = World(services, Receiver([503] * 100))
    world.sender._parking = None
    world.endpoint(circuit_breaker={"failures": 1000, "probe_seconds": 60})
    _publish(world, 1)
    release = Release(store=world.s.store, queue=world.deliveries, clock=world.clock)
    outcomes = _run_parked(world, release, world.clock.now + 2 * 86400)
    assert outcomes.count("deferred") > 80


# ------------------------------------------------------------------------ tasks an open circuit holds


def _held(world: World, endpoint_id: str) -> int:
    return sum(len(tasks) for (ep, _), tasks in world.s.store.held_tasks.items() if ep == endpoint_id)


def test_an_open_circuit_holds_its_tasks_in_the_table_and_releases_them_all_when_it_closes() -> None:
    from tests.unit.test_breaker import _run_until

    # GIVEN an endpoint whose circuit opens after 3 failures (a probe a minute) and a receiver that is down
    down = {"on": True}

    class Switch(Receiver):
        def __call__(self, request: Any) -> Any:
            self.script = [503] if down["on"] else [200]
            return super().__call__(request)

    world = World(make_services(), Switch())
    endpoint, _ = world.endpoint(
        # (a long schedule: the hour's ~60 probes are real deliveries' attempts, and none should run out)
        circuit_breaker={"failures": 3, "probe_seconds": 60},
        retry_schedule=[0, *[5] * 19],
    )
    start = world.clock.now
    ids = _publish(world, 3)
    _run_until(world, start + 30)
    assert world.s.store.get_endpoint(endpoint.id).circuit.state == "open"
    # WHEN 200 more deliveries come while it is open, and an hour passes
    sends_before = len(world.deliveries.sent)
    ids += _publish(world, 200)
    outcomes = _run_until(world, start + 3600)
    # THEN they wait in the table (HOLD#), not on SQS: one carrier task per probe, not four sends an hour each
    held = _held(world, endpoint.id)
    assert held >= 190, held
    assert outcomes.count("held") >= 190
    assert len(world.deliveries.sent) - sends_before <= 5
    attempts = len(world.receiver.requests)
    assert attempts <= 3 + 3 * 60 + 5  # the first failures, then about one probe a minute
    # WHEN the receiver recovers THEN the next probe closes the circuit, the endpoint's release jobs send
    # every held task, and every delivery succeeds within minutes
    down["on"] = False
    recovered = world.clock.now
    _run_until(world, recovered + 900)
    assert world.s.store.get_endpoint(endpoint.id).circuit.state == "closed"
    assert _held(world, endpoint.id) == 0
    jobs = [j for j in world.s.store.jobs.values() if j.kind == "endpoint.release"]
    assert len(jobs) == 16 and all(j.state == "succeeded" for j in jobs)
    assert sum(j.done for j in jobs) >= 190
    delivered = {a.message_id for m in ids for a in world.s.store.list_attempts(m) if a.status == "succeeded"}
    assert delivered == set(ids)
    assert max(a.started_at for m in ids for a in world.s.store.list_attempts(m)) <= recovered + 180


def test_a_failed_probe_takes_a_held_task_to_carry_the_next_one_when_nothing_new_arrives() -> None:
    from chalicelib.outbound.parking import Holding

    # GIVEN held tasks and no carrier for the next probe
    clock = FakeClock(10_000.0)
    store, queue = MemoryStore(clock), MemoryQueue()
    holding = Holding(store, queue, None)
    for i in range(5):
        holding.hold(Task(f"msg_{i}", "ep_1", 1, not_before=9_000.0 + i), clock())
    # WHEN a probe fails and the circuit's next probe is at 10,060
    assert holding.carry_next_probe("ep_1", 10_060.0, clock())
    # THEN one held task goes back on the queue due at that probe, and is no longer held
    [body] = queue.sent
    assert Task.decode(body).not_before == 10_060.0 and queue.delays == [60]
    assert sum(len(t) for t in store.held_tasks.values()) == 4
    # AND the same container sends no second carrier for that probe
    assert not holding.carry_next_probe("ep_1", 10_060.0, clock())
    assert holding.wants_carrier("ep_1", 10_120.0) and not holding.wants_carrier("ep_1", 10_120.0)


def test_a_throttled_endpoints_release_is_paced_at_its_rate_and_bounded_per_step() -> None:
    from chalicelib.outbound.parking import HOLD_SHARDS, RELEASE_STEP_ITEMS, HeldRelease, Holding

    clock = FakeClock(10_000.0)
    store, queue = MemoryStore(clock), MemoryQueue()
    holding = Holding(store, queue, None)
    for i in range(2000):
        holding.hold(Task(f"msg_{i}", "ep_1", 1, not_before=9_000.0), clock())
    shard = next(s for (_, s), tasks in store.held_tasks.items() if tasks)
    in_shard = len(store.held_tasks[("ep_1", shard)])
    step = HeldRelease(store, queue)
    # WHEN the release of a throttle_rate 8 endpoint runs a step of one shard's job
    result = step({"endpoint_id": "ep_1", "shard": shard, "rate": 8}, None, 500)
    # THEN this job's share of the rate (8 / 16 shards = one task every 2 s) spaces the SQS delays, the
    # step covers at most a minute of them, and the next step waits until they are out
    assert result.done == 30 and queue.delays == [2 * i for i in range(30)]
    assert result.wait == 60 and result.cursor == "more"
    # AND unthrottled, a step sends at most RELEASE_STEP_ITEMS at once (the deletes of one partition per
    # step: 8.64 M held tasks are 16 jobs of steps of 250, never 1,000 writes a second on one key)
    queue.sent.clear()
    queue.delays.clear()
    result = step({"endpoint_id": "ep_1", "shard": shard, "rate": None}, "more", 500)
    assert result.done == min(RELEASE_STEP_ITEMS, in_shard - 30) and set(queue.delays) == {0}
    assert HOLD_SHARDS == 16 and RELEASE_STEP_ITEMS <= 250
    # AND an empty shard is looked at once more a minute later, then the job ends
    while result.cursor == "more":
        result = step({"endpoint_id": "ep_1", "shard": shard, "rate": None}, "more", 500)
    assert result.cursor == "again" and result.wait == 60
    assert step({"endpoint_id": "ep_1", "shard": shard, "rate": None}, "again", 500).cursor is None


@pytest.mark.parametrize("change", ["disabled", "deleted", "enabled again", "gone on the probe"])
def test_an_endpoint_changed_while_its_circuit_holds_tasks_gets_them_back_and_none_waits_forever(
    change: str,
) -> None:
    from chalicelib.scope import OPERATOR
    from tests.unit.test_breaker import _run_until

    # GIVEN an endpoint whose receiver is down, its circuit open, and 30 deliveries held in the table
    world = World(make_services(), Receiver([503] * 10_000))
    endpoint, _ = world.endpoint(
        circuit_breaker={"failures": 3, "probe_seconds": 600}, retry_schedule=[0, *[5] * 19]
    )
    start = world.clock.now
    ids = _publish(world, 3)
    _run_until(world, start + 30)
    ids += _publish(world, 30)
    _run_until(world, start + 60)
    assert world.s.store.get_endpoint(endpoint.id).circuit.state == "open"
    assert _held(world, endpoint.id) >= 30
    # WHEN an operator disables it, deletes it, or disables and enables it again (which resets its circuit:
    # no probe will ever close it), or its next probe is answered 410 Gone (the sender disables it)
    if change == "deleted":
        world.endpoints.delete(endpoint.id, OPERATOR)
    elif change == "gone on the probe":  # the sender disables it (410 Gone)
        world.receiver.script = [410] * 10_000
    else:
        world.endpoints.set_enabled(endpoint.id, False, OPERATOR)
        if change == "enabled again":
            world.receiver.script = [200] * 10_000
            world.endpoints.set_enabled(endpoint.id, True, OPERATOR)
    _run_until(world, start + 900)
    # THEN its release jobs send every held task back: nothing is left waiting for a probe, and each
    # delivery ends where it can be seen (skipped for a disabled or deleted endpoint, delivered otherwise)
    assert _held(world, endpoint.id) == 0
    jobs = [j for j in world.s.store.jobs.values() if j.kind == "endpoint.release"]
    assert len(jobs) == 16 and all(j.state == "succeeded" for j in jobs)
    ending = "succeeded" if change == "enabled again" else "skipped"
    for message_id in ids:
        last = max(world.s.store.list_attempts(message_id), key=lambda a: a.number)
        assert last.delivery_status == ending, (message_id, last)
