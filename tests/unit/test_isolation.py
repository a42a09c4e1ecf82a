"""Isolation: a batch does not wait for its slowest receiver once the others are done (GIVEN / WHEN / THEN).

Real threads (the sender's pool) and real waiting, short: the grace is 0.2 s here.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from chalicelib.outbound import egress
from chalicelib.outbound.tasks import Task
from tests.conftest import Services
from tests.unit.test_breaker import _publish
from tests.unit.test_delivery import Receiver, World


class Hanging(Receiver):
    """Answers at once, except requests to ``/hang``, which wait until released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def __call__(self, request: egress.OutboundRequest) -> egress.OutboundResponse:
        if request.url.endswith("/hang"):
            self.release.wait(10)
        return super().__call__(request)


def test_a_hanging_receiver_is_handed_off_and_the_batch_returns_when_the_others_are_done(
    services: Services,
) -> None:
    # GIVEN a healthy endpoint and one whose receiver hangs, one message each in one batch
    receiver = Hanging()
    world = World(services, receiver)
    world.sender._straggler_seconds = 0.2
    healthy, _ = world.endpoint(url="https://hooks.example.com/ok", filter={"event_types": ["a.ok"]})
    hanging, _ = world.endpoint(url="https://hooks.example.com/hang", filter={"event_types": ["a.hang"]})
    from chalicelib.api.messages import parse_publish
    from chalicelib.scope import OPERATOR

    for event_type in ("a.hang", "a.ok"):
        world.publisher.publish(parse_publish({"event_type": event_type, "payload": {}}), OPERATOR)
    world.route_all()
    bodies = list(world.deliveries.sent)
    world.deliveries.sent.clear()
    world.deliveries.delays.clear()
    try:
        # WHEN the batch is handled
        started = time.monotonic()
        errors = world.sender.handle_many(bodies)
        took = time.monotonic() - started
        # THEN it returns soon after the healthy one finished, not when the hanging one does
        assert took < 3.0, took
        assert errors == [None, None]
        # AND a check of the hanging attempt is queued for after its claim's lease
        [check] = [Task.decode(b) for b in world.deliveries.sent]
        assert check.endpoint_id == hanging.id
        assert check.not_before >= world.clock.now + 150
        assert [r.url for r in receiver.requests if r.url.endswith("/ok")]
    finally:
        receiver.release.set()
    # WHEN the hanging receiver answers at last THEN the attempt is recorded by its thread
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        attempts = world.s.store.list_attempts(check.message_id)
        if attempts and attempts[0].status == "succeeded":
            break
        time.sleep(0.02)
    assert attempts[0].status == "succeeded"
    # AND the check, when it comes, finds it done: no second POST
    posts = len(receiver.requests)
    world.clock.now = check.not_before
    assert world.sender.handle(check.encode()) == "duplicate"
    assert len(receiver.requests) == posts
    assert healthy.id != hanging.id


def test_a_batch_of_one_slow_task_waits_for_it(services: Services) -> None:
    # GIVEN one slow but answering receiver alone in its batch WHEN handled THEN no hand-off (no others)
    class Slow(Receiver):
        def __call__(self, request: Any) -> Any:
            time.sleep(0.5)
            return super().__call__(request)

    world = World(services, Slow())
    world.sender._straggler_seconds = 0.1
    world.endpoint()
    _publish(world, 1)
    world.route_all()
    bodies = list(world.deliveries.sent)
    world.deliveries.sent.clear()
    world.deliveries.delays.clear()
    assert world.sender.handle_many(bodies) == [None]
    assert world.deliveries.sent == []  # no check queued: it finished in the batch


def test_a_healthy_batch_gets_threads_at_once_after_more_stragglers_than_the_pool_were_handed_off(
    services: Services,
) -> None:
    # GIVEN a sender whose earlier batches handed off 36 stragglers (more than its pool's 30 threads), all
    # still waiting on a receiver that hangs
    from chalicelib.api.messages import parse_publish
    from chalicelib.scope import OPERATOR

    receiver = Hanging()
    world = World(services, receiver)
    world.sender._straggler_seconds = 0.1
    healthy, _ = world.endpoint(url="https://hooks.example.com/ok", filter={"event_types": ["a.ok"]})
    hanging, _ = world.endpoint(url="https://hooks.example.com/hang", filter={"event_types": ["a.hang"]})
    for event_type in ["a.hang"] * 36 + ["a.ok"] * 14:
        world.publisher.publish(parse_publish({"event_type": event_type, "payload": {}}), OPERATOR)
    world.route_all()
    by_endpoint: dict[str, list[str]] = {healthy.id: [], hanging.id: []}
    for body in world.deliveries.sent:
        by_endpoint[Task.decode(body).endpoint_id].append(body)
    world.deliveries.sent.clear()
    hang, ok = by_endpoint[hanging.id], by_endpoint[healthy.id]
    try:
        for i in range(4):  # 9 hanging + 1 healthy per batch: the 9 are handed off, each batch at once
            started = time.monotonic()
            assert world.sender.handle_many([*hang[9 * i : 9 * i + 9], ok[i]]) == [None] * 10
            assert time.monotonic() - started < 2.0, i
        assert sum(1 for r in receiver.requests if r.url.endswith("/ok")) == 4
        # WHEN a batch of ten healthy tasks comes next
        started = time.monotonic()
        errors = world.sender.handle_many(ok[4:])
        took = time.monotonic() - started
        # THEN each got a thread at once: the batch is done long before any straggler's receiver answers
        assert errors == [None] * 10
        assert took < 2.0, took
        assert not receiver.release.is_set()
        assert sum(1 for r in receiver.requests if r.url.endswith("/ok")) == 14
    finally:
        receiver.release.set()


def test_a_straggler_handed_off_marks_its_endpoint_slow_and_its_next_task_takes_the_slow_lane() -> None:
    # GIVEN a healthy endpoint, one whose receiver hangs then times out, one whose receiver is only late,
    # a slow lane, and one message each in a batch
    from chalicelib.api.messages import parse_publish
    from chalicelib.scope import OPERATOR
    from tests.unit.test_lanes import _LaneWorld

    class Stragglers(Hanging):
        def __call__(self, request: egress.OutboundRequest) -> egress.OutboundResponse:
            if request.url.endswith("/timeout/hang"):
                self.release.wait(10)
                self.requests.append(request)
                raise egress.DeadlineExceededError("the request deadline passed")
            return super().__call__(request)

    receiver = Stragglers()
    world = _LaneWorld(receiver)
    world.sender._straggler_seconds = 0.1
    healthy, _ = world.endpoint(url="https://hooks.example.com/ok", filter={"event_types": ["a.ok"]})
    hanging, _ = world.endpoint(url="https://hooks.example.com/timeout/hang", filter={"event_types": ["a.t"]})
    late, _ = world.endpoint(url="https://hooks.example.com/late/hang", filter={"event_types": ["a.late"]})
    for event_type in ("a.t", "a.late", "a.ok", "a.t"):
        world.publisher.publish(parse_publish({"event_type": event_type, "payload": {}}), OPERATOR)
    world.route_all()
    first_hang, first_late, ok, next_hang = world.deliveries.sent
    world.deliveries.sent.clear()
    world.deliveries.delays.clear()
    marks = world.sender.slow_endpoints
    try:
        # WHEN a batch with the two stragglers is handled on the main lane
        assert world.sender.handle_many([first_hang, first_late, ok]) == [None, None, None]
        # THEN both were handed off and their endpoints are marked slow at once (not after a timeout)
        assert marks.is_slow(hanging.id, world.clock.now) and marks.is_slow(late.id, world.clock.now)
        assert not marks.is_slow(healthy.id, world.clock.now)
        # AND the hanging endpoint's next task met on the main lane goes to the slow lane, unattempted
        posts = len(receiver.requests)
        assert world.sender.handle_many([next_hang]) == [None]
        assert world.slow.sent == [next_hang] and len(receiver.requests) == posts
    finally:
        receiver.release.set()
    # WHEN the stragglers end: one in its timeout, the other answering (within SLOW_POST_SECONDS)
    deadline = time.monotonic() + 5
    ids = [Task.decode(b).message_id for b in (first_hang, first_late)]
    while time.monotonic() < deadline:
        ended = [world.s.store.list_attempts(m) for m in ids]
        if all(a and a[0].status != "in_flight" for a in ended):
            break
        time.sleep(0.02)
    assert [a[0].status for a in ended] == ["failed", "succeeded"]
    # THEN the one that timed out stays marked, and the late one's mark is withdrawn (late, not hanging)
    assert marks.is_slow(hanging.id, world.clock.now)
    assert not marks.is_slow(late.id, world.clock.now)
