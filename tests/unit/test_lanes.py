"""The slow lane's choice (pure) and the sender's use of it, on a virtual clock with in-memory queues."""

from __future__ import annotations

from typing import Any

from chalicelib.config import Settings
from chalicelib.models import Circuit
from chalicelib.outbound import egress
from chalicelib.outbound.lanes import (
    FAILING_AFTER,
    FAST_POST_SECONDS,
    SLOW_MEMORY_SECONDS,
    SLOW_POST_SECONDS,
    SlowEndpoints,
    lane_for,
    was_fast,
    was_slow,
)
from chalicelib.outbound.tasks import Task
from chalicelib.wiring import roots
from testkit.fakes import MemoryQueue
from tests.conftest import make_services
from tests.unit.test_breaker import _publish
from tests.unit.test_delivery import Receiver, World


def test_the_lane_is_slow_for_a_circuit_not_closed_n_failures_in_a_row_or_a_recent_slow_attempt() -> None:
    now = 1000.0
    assert lane_for(Circuit(), None, now) == "main"
    assert lane_for(Circuit(failures=FAILING_AFTER - 1), None, now) == "main"
    assert lane_for(Circuit(failures=FAILING_AFTER), None, now) == "slow"
    assert lane_for(Circuit("open", 10, 900.0, 960.0, 1), None, now) == "slow"
    assert lane_for(Circuit("half_open", 10, 900.0, 1060.0, 1), None, now) == "slow"
    assert lane_for(Circuit(), now - 10, now) == "slow"
    assert lane_for(Circuit(), now - SLOW_MEMORY_SECONDS, now) == "main"  # slow long ago: back to main
    # an attempt is slow when it timed out, its connect timed out, or it took SLOW_POST_SECONDS (or 80 % of
    # a shorter timeout)
    assert was_slow(100, 15.0, "timeout") and was_slow(12_000, 15.0, None)
    assert was_slow(int(SLOW_POST_SECONDS * 1000), 15.0, None) and was_slow(800, 1.0, None)
    assert was_slow(3000, 15.0, "connect_error", slow_error=True)
    assert not was_slow(int(SLOW_POST_SECONDS * 1000) - 1, 15.0, None) and not was_slow(799, 1.0, None)
    assert not was_slow(50, 15.0, "connect_error")  # refused at once: failing maybe, not slow
    # and an attempt clears a mark only when it was quicker than a straggler's grace (in between: nothing)
    assert was_fast(int(FAST_POST_SECONDS * 1000) - 1) and not was_fast(int(FAST_POST_SECONDS * 1000))


class _LaneWorld(World):
    """The delivery world with a slow lane queue."""

    def __init__(self, receiver: Receiver) -> None:
        super().__init__(make_services(), receiver)
        self.slow = MemoryQueue()
        self.api, self.worker = roots(
            Settings(stage="test", admin_key="k", endpoint_cache_seconds=0, router_first_attempt=False),
            self.clock,
            store=self.s.store,
            ingest_queue=self.s.queue,
            deliveries_queue=self.deliveries,
            slow_deliveries_queue=self.slow,
            blobs=self.s.blobs,
            transport=egress.FunctionTransport(receiver),
            rand=lambda: 0.5,
            resolver=lambda host, port: ["93.184.215.14"],
        )
        self.publisher, self.router, self.sender = self.api.publisher, self.worker.router, self.worker.sender
        self.endpoints = self.api.endpoints


def test_a_failing_endpoints_retries_take_the_slow_lane_and_a_healthy_ones_stay_on_the_main_queue() -> None:
    # GIVEN a failing endpoint and a healthy one, both subscribed, and a slow lane
    class Split(Receiver):
        def __call__(self, request: Any) -> Any:
            self.script = [503] if "/down" in request.url else [200]
            return super().__call__(request)

    world = _LaneWorld(Split())
    down, _ = world.endpoint(url="https://hooks.example.com/down", retry_schedule=[0, *[1] * 19])
    up, _ = world.endpoint(url="https://hooks.example.com/up")
    # WHEN messages are published and every task is handled from the queue it is on
    _publish(world, 3)
    world.route_all()
    lanes: dict[str, list[str]] = {"main": [], "slow": []}
    outcomes: list[str] = []
    seen: list[tuple[str, str, str]] = []
    for _ in range(200):
        world.route_all()
        lane, queue = ("main", world.deliveries) if world.deliveries.sent else ("slow", world.slow)
        if not queue.sent:
            break
        body = queue.sent.pop(0)
        queue.delays.pop(0)
        task = Task.decode(body)
        world.clock.now = max(world.clock.now, task.not_before)
        lanes[lane].append(task.endpoint_id)
        outcomes.append(world.sender.handle(body, lane=lane))  # type: ignore[arg-type]
        seen.append((lane, task.endpoint_id, outcomes[-1]))
        if len([o for o in outcomes if o == "retrying"]) >= 12:
            break
    # THEN the healthy endpoint's deliveries were all on the main queue and delivered
    assert up.id not in lanes["slow"]
    assert lanes["main"].count(up.id) == 3 and outcomes.count("succeeded") == 3
    # AND once the failing endpoint failed FAILING_AFTER times in a row its retries went to the slow lane
    assert lanes["slow"].count(down.id) >= 6
    attempted_on_main = [o for lane, ep, o in seen if lane == "main" and ep == down.id and o != "slow_lane"]
    # its three first attempts, and the retries queued before its third failure in a row
    assert len(attempted_on_main) <= 2 * FAILING_AFTER - 1, seen
    # AND after its first task on the slow lane, none of its attempts ran on the main queue's sender
    first = next(i for i, (lane, ep, _) in enumerate(seen) if lane == "slow" and ep == down.id)
    assert all(o == "slow_lane" for lane, ep, o in seen[first:] if lane == "main" and ep == down.id), [
        x for x in seen[first:] if x[0] == "main"
    ]


def test_a_failing_endpoints_task_met_on_the_main_queue_is_forwarded_to_the_slow_lane_unattempted() -> None:
    # GIVEN an endpoint that already failed FAILING_AFTER times in a row (its circuit's count)
    world = _LaneWorld(Receiver([200] * 10))
    endpoint, _ = world.endpoint()
    stored = world.s.store.get_endpoint(endpoint.id)
    world.s.store.put_endpoint(stored.with_changes(circuit=Circuit(failures=FAILING_AFTER)))
    # WHEN a first delivery's task for it arrives on the main queue
    _publish(world, 1)
    world.route_all()
    [body] = world.deliveries.sent
    world.deliveries.sent.clear()
    outcome = world.sender.handle(body, lane="main")
    # THEN it is sent to the slow lane as it is, and no attempt is made on the main queue's sender
    assert outcome == "slow_lane" and world.slow.sent == [body] and world.receiver.requests == []
    # AND on the slow lane it is attempted
    assert world.sender.handle(world.slow.sent.pop(), lane="slow") == "succeeded"
    # AND a slow lane of none (a stage without it) keeps everything on the main queue
    plain = World(make_services(), Receiver([200]))
    assert plain.sender._slow_queue is None


def test_slow_marks_are_bounded_and_drop_the_oldest_first() -> None:
    # GIVEN a memory of three marks
    marks = SlowEndpoints(remembered=3)
    for n, endpoint_id in enumerate(["ep_a", "ep_b", "ep_c"]):
        marks.note(endpoint_id, True, 100.0 + n)
    # WHEN a fourth endpoint is marked and the first is marked again (it moves to the newest)
    marks.note("ep_a", True, 110.0)
    marks.note("ep_d", True, 111.0)
    # THEN the oldest mark (ep_b) went, the memory holds three, and a fast attempt forgets its endpoint
    assert len(marks) == 3 and marks.since("ep_b") is None
    assert marks.is_slow("ep_a", 111.0) and marks.is_slow("ep_c", 111.0) and marks.is_slow("ep_d", 111.0)
    marks.note("ep_c", False, 112.0)
    assert not marks.is_slow("ep_c", 112.0)
    # AND a mark ends SLOW_MEMORY_SECONDS after it was made
    assert not marks.is_slow("ep_d", 111.0 + SLOW_MEMORY_SECONDS)


def test_a_connect_timeout_marks_the_endpoint_slow_and_its_next_task_takes_the_slow_lane_at_once() -> None:
    # GIVEN an endpoint whose first attempt's TCP connect times out (a blackholed address), and a slow lane
    world = _LaneWorld(Receiver([egress.ConnectTimedOutError("connect timed out"), 200]))
    endpoint, _ = world.endpoint()
    _publish(world, 2)
    world.route_all()
    first, second = world.deliveries.sent
    world.deliveries.sent.clear()
    world.deliveries.delays.clear()
    # WHEN the first task is attempted on the main lane
    assert world.sender.handle(first, lane="main") == "retrying"
    # THEN the endpoint is marked slow after one failure (not FAILING_AFTER), and the retry and the next
    # delivery's task go to the slow lane: the retry when it is queued, the task when the main lane meets it
    assert world.sender.slow_endpoints.is_slow(endpoint.id, world.clock.now)
    assert [Task.decode(b).attempt for b in world.slow.sent] == [2]
    assert world.sender.handle(second, lane="main") == "slow_lane"
    assert len(world.receiver.requests) == 1
    # AND on the slow lane it answers fast: the mark is forgotten and its next tasks stay on the main queue
    world.clock.now += 1
    assert world.sender.handle(world.slow.sent[-1], lane="slow") == "succeeded"
    assert not world.sender.slow_endpoints.is_slow(endpoint.id, world.clock.now)


def test_a_deadline_passed_marks_slow_and_a_refused_connect_does_not() -> None:
    # GIVEN two endpoints: one whose receiver never answers in time, one that refuses at once
    class Split(Receiver):
        def __call__(self, request: Any) -> Any:
            if "/late" in request.url:
                self.script = [egress.DeadlineExceededError("late")]
            else:
                self.script = [egress.ConnectError("refused")]
            return super().__call__(request)

    world = _LaneWorld(Split())
    late, _ = world.endpoint(url="https://hooks.example.com/late")
    refused, _ = world.endpoint(url="https://hooks.example.com/refused")
    _publish(world, 1)
    world.route_all()
    # WHEN each first attempt is made
    for body in list(world.deliveries.sent):
        world.deliveries.sent.remove(body)
        assert world.sender.handle(body, lane="main") == "retrying"
    # THEN only the one that took its timeout is marked slow (the refused one is failing, not slow: the
    # breaker's count moves it after FAILING_AFTER failures)
    assert world.sender.slow_endpoints.is_slow(late.id, world.clock.now)
    assert not world.sender.slow_endpoints.is_slow(refused.id, world.clock.now)
