"""FIFO delivery per endpoint on a virtual clock: the real sender and router on the in-memory fakes
(GIVEN / WHEN / THEN). ``_run_until`` handles due tasks one at a time, so an attempt is "in flight" from
its claim to its recorded outcome; order is read from the POSTs the receiver got."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from chalicelib.api.messages import parse_publish
from chalicelib.outbound import egress
from chalicelib.outbound.fifo import SETTLE_SECONDS, ordered
from chalicelib.outbound.tasks import Task
from chalicelib.scope import OPERATOR
from tests.conftest import Services
from tests.unit.test_breaker import _run_until
from tests.unit.test_delivery import Receiver, World


class Scripted(Receiver):
    """Answers each delivery's first try with ``first(n)`` (n: the payload's number), later tries 200."""

    def __init__(self, first: Any = lambda n: 200, later: Any = lambda n: 200) -> None:
        super().__init__()
        self.first = first
        self.later = later
        self.posts: list[int] = []
        self.ok: list[int] = []  # the deliveries whose POST succeeded, in the order they did

    def __call__(self, request: egress.OutboundRequest) -> egress.OutboundResponse:
        n = json.loads(request.body)["data"]["n"]
        status = self.first(n) if n not in self.posts else self.later(n)
        self.posts.append(n)
        if status < 300:
            self.ok.append(n)
        self.script = [status]
        return super().__call__(request)


def _publish(world: World, count: int, start: int = 0) -> list[str]:
    ids = []
    for n in range(start, start + count):
        ids.append(
            world.publisher.publish(
                parse_publish({"event_type": "order.step", "payload": {"n": n}}), OPERATOR
            )
        )
        world.clock.now += 0.01  # the api's accepted times: one after the other
    return ids


def _statuses(world: World, ids: list[str]) -> list[str]:
    out = []
    for message_id in ids:
        attempts = world.s.store.list_attempts(message_id)
        out.append(max(attempts, key=lambda a: a.number).delivery_status if attempts else "none")
    return out


def _in_order_one_at_a_time(posts: list[int]) -> None:
    """Every POST of delivery n comes before any POST of a later one: a failing delivery blocked the rest."""
    assert posts == sorted(posts), posts


def test_the_router_predicate_names_fifo_endpoints(services: Services) -> None:
    # GIVEN a fifo endpoint and a plain one WHEN asked THEN only the fifo one is ordered (the router must
    # queue its deliveries, never attempt them itself)
    world = World(services, Receiver())
    fifo, _ = world.endpoint(ordering="fifo")
    plain, _ = world.endpoint()
    assert ordered(fifo) and not ordered(plain) and not ordered(None)


def test_deliveries_go_in_accepted_order_one_at_a_time_and_a_failure_blocks_the_later_ones(
    services: Services,
) -> None:
    # GIVEN a fifo endpoint whose receiver fails a third of first tries, and 12 messages
    receiver = Scripted(first=lambda n: 503 if n % 3 == 1 else 200)
    world = World(services, receiver)
    endpoint, _ = world.endpoint(ordering="fifo", retry_schedule=[0, 5, 5, 5])
    ids = _publish(world, 12)
    # WHEN the sender works through them on the virtual clock
    outcomes = _run_until(world, world.clock.now + 3600)
    # THEN every delivery succeeded, the first successes in publish order
    assert _statuses(world, ids) == ["succeeded"] * 12
    assert receiver.ok == list(range(12))
    # AND no later delivery was POSTed while an earlier one was pending (its retry blocked the rest)
    _in_order_one_at_a_time(receiver.posts)
    assert receiver.posts.count(1) == 2 and receiver.posts.count(4) == 2
    # AND the later tasks waited in the list, not on the queue; the list is empty, the turn free
    assert "fifo_queued" in outcomes
    assert world.s.store.fifo_head(endpoint.id, limit=10) == []
    assert world.s.store.fifo_turn(endpoint.id).holder is None


def test_the_turn_is_handed_to_the_next_in_order_when_a_delivery_ends(services: Services) -> None:
    # GIVEN a fifo endpoint and three messages, each routed
    receiver = Scripted()
    world = World(services, receiver)
    endpoint, _ = world.endpoint(ordering="fifo")
    ids = _publish(world, 3)
    world.route_all()
    tasks = [world.deliveries.sent.pop() for _ in range(3)][::-1]
    world.deliveries.delays.clear()
    # WHEN the tasks arrive in reverse order, within their settle time THEN each waits for it
    assert [world.sender.handle(t) for t in tasks[::-1]] == ["fifo_wait"] * 3
    waited = list(world.deliveries.sent)
    world.deliveries.sent.clear()
    world.deliveries.delays.clear()
    # WHEN they come back, still in reverse order, once settled THEN the later two wait in the list and
    # the head goes when its own task comes, then hands the turn to the second
    world.clock.now += SETTLE_SECONDS + 1
    assert world.sender.handle(waited[0]) == "fifo_queued"
    assert world.sender.handle(waited[1]) == "fifo_queued"
    assert world.sender.handle(waited[2]) == "succeeded"
    [handed] = world.deliveries.sent
    assert Task.decode(handed).message_id == ids[1]
    assert world.s.store.fifo_turn(endpoint.id).holder is not None
    # WHEN the rest run THEN in order, every one delivered, nothing left waiting
    _run_until(world, world.clock.now + 600)
    assert receiver.posts == [0, 1, 2]
    assert world.s.store.fifo_head(endpoint.id, limit=10) == []


def test_a_delivery_that_ends_failed_or_skipped_passes_the_turn(services: Services) -> None:
    # GIVEN a fifo endpoint with one attempt per delivery, whose receiver always fails message 0
    receiver = Scripted(first=lambda n: 500 if n == 0 else 200, later=lambda n: 500 if n == 0 else 200)
    world = World(services, receiver)
    endpoint, _ = world.endpoint(ordering="fifo", retry_schedule=[0])
    ids = _publish(world, 3)
    # WHEN they run THEN the first ends failed and the others go after it, in order
    _run_until(world, world.clock.now + 600)
    assert _statuses(world, ids) == ["failed", "succeeded", "succeeded"]
    assert receiver.posts == [0, 1, 2]
    # GIVEN three more WHEN the endpoint is disabled before they go THEN each ends skipped, the turn
    # passing through them (none left waiting)
    more = _publish(world, 3, start=3)
    world.route_all()
    world.s.store.put_endpoint(world.s.store.get_endpoint(endpoint.id).with_changes(enabled=False))
    _run_until(world, world.clock.now + 600)
    assert _statuses(world, more) == ["skipped"] * 3
    assert world.s.store.fifo_head(endpoint.id, limit=10) == []


def test_a_410_disables_the_endpoint_and_the_waiting_deliveries_end_skipped(services: Services) -> None:
    # GIVEN a fifo endpoint whose receiver answers 410 to the first message
    receiver = Scripted(first=lambda n: 410 if n == 0 else 200)
    world = World(services, receiver)
    endpoint, _ = world.endpoint(ordering="fifo")
    ids = _publish(world, 4)
    # WHEN they run THEN one POST, the endpoint disabled, every delivery ended skipped
    _run_until(world, world.clock.now + 600)
    assert receiver.posts == [0]
    assert _statuses(world, ids) == ["skipped"] * 4
    assert world.s.store.fifo_head(endpoint.id, limit=10) == []


def test_a_dead_holders_turn_is_taken_over_after_its_lease_and_nothing_overlaps(services: Services) -> None:
    # GIVEN a fifo endpoint and two messages, the first's worker dying mid-POST (its task lost for good)
    class Dies(Exception):
        pass

    starts: list[tuple[int, float]] = []

    class Killer(Scripted):
        def __call__(self, request: egress.OutboundRequest) -> egress.OutboundResponse:
            n = json.loads(request.body)["data"]["n"]
            starts.append((n, world.clock.now))
            if n == 0 and len(starts) == 1:
                raise Dies()
            return super().__call__(request)

    world = World(services, Killer())
    endpoint, _ = world.endpoint(ordering="fifo")
    ids = _publish(world, 2)
    world.route_all()
    first, second = world.deliveries.sent[:2]
    world.deliveries.sent.clear()
    world.deliveries.delays.clear()
    world.clock.now += SETTLE_SECONDS + 1
    with contextlib.suppress(Dies):
        world.sender.handle(first)
    died_at = world.clock.now
    lease = world.s.store.fifo_turn(endpoint.id).lease_until
    # WHEN the second's task comes while the dead holder's lease lasts THEN it waits (nothing sent)
    assert world.sender.handle(second) == "fifo_queued"
    assert world.deliveries.sent == []
    # WHEN a third message comes after the lease ran out
    world.clock.now = lease + 1
    ids += _publish(world, 1, start=2)
    _run_until(world, world.clock.now + 600)
    # THEN the turn went back to the head (the dead holder's delivery), which was sent again, and then
    # the others, in order; no POST started before the dead holder's lease ran out
    assert [n for n, _ in starts] == [0, 0, 1, 2]
    assert all(t > lease - 1 for n, t in starts[1:]) and starts[0][1] == died_at
    assert _statuses(world, ids) == ["succeeded"] * 3


def test_a_holder_whose_worker_died_comes_back_with_its_own_task_and_keeps_its_turn(
    services: Services,
) -> None:
    # GIVEN a fifo endpoint whose first delivery's worker dies after the POST, before recording it
    class Dies(Exception):
        pass

    receiver = Scripted()
    world = World(services, receiver)
    _endpoint, _ = world.endpoint(ordering="fifo")
    ids = _publish(world, 3)
    world.route_all()
    first = world.deliveries.sent[0]
    original = world.s.store.finish_attempt
    calls = {"n": 0}

    def dying(attempt: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise Dies()
        return original(attempt)

    world.s.store.finish_attempt = dying  # type: ignore[method-assign]
    world.s.store.finish_batch = lambda *a, **k: (_ for _ in ()).throw(Dies())  # type: ignore[method-assign]
    world.clock.now += SETTLE_SECONDS + 1
    rest = world.deliveries.sent[1:]
    world.deliveries.sent[:] = []
    world.deliveries.delays[:] = []
    with contextlib.suppress(Dies):
        world.sender.handle(first)
    for body in rest:
        assert world.sender.handle(body) == "fifo_queued"
    # WHEN its SQS message comes back (the visibility timeout) after the claim's lease
    world.clock.now += 200
    world.deliveries.sent.append(first)
    world.deliveries.delays.append(0)
    _run_until(world, world.clock.now + 600)
    # THEN it is sent again (at least once) and the others follow, in order
    assert receiver.posts == [0, 0, 1, 2]
    assert _statuses(world, ids) == ["succeeded"] * 3


def test_a_sender_that_dies_between_the_ending_and_the_hand_off_hands_on_when_its_task_comes_back(
    services: Services,
) -> None:
    # GIVEN a fifo endpoint whose first delivery's hand-off fails once (the worker died)
    receiver = Scripted()
    world = World(services, receiver)
    _endpoint, _ = world.endpoint(ordering="fifo")
    ids = _publish(world, 2)
    world.route_all()
    first, second = world.deliveries.sent[:2]
    world.deliveries.sent.clear()
    world.deliveries.delays.clear()
    world.clock.now += SETTLE_SECONDS + 1
    original = world.s.store.fifo_leave

    def broken(*a: Any) -> None:
        raise RuntimeError("killed")

    world.s.store.fifo_leave = broken  # type: ignore[method-assign]
    with contextlib.suppress(RuntimeError):
        world.sender.handle(first)
    world.s.store.fifo_leave = original  # type: ignore[method-assign]
    assert world.sender.handle(second) == "fifo_queued"
    assert _statuses(world, ids) == ["succeeded", "none"] and world.deliveries.sent == []
    # WHEN its task comes back THEN it finds its delivery ended and hands the turn on
    world.deliveries.sent.append(first)
    world.deliveries.delays.append(0)
    _run_until(world, world.clock.now + 600)
    assert receiver.posts == [0, 1] and _statuses(world, ids) == ["succeeded", "succeeded"]


def test_fifo_composes_with_the_throttle(services: Services) -> None:
    # GIVEN a fifo endpoint throttled to 1 a second and 6 messages, some failing their first try
    times: list[float] = []

    class Timed(Scripted):
        def __call__(self, request: egress.OutboundRequest) -> egress.OutboundResponse:
            times.append(world.clock.now)
            return super().__call__(request)

    world = World(services, Timed(first=lambda n: 503 if n == 2 else 200))
    world.endpoint(ordering="fifo", throttle_rate=1, retry_schedule=[0, 2, 2])
    ids = _publish(world, 6)
    # WHEN they run THEN in order, at most one POST a second, all delivered
    _run_until(world, world.clock.now + 600)
    assert _statuses(world, ids) == ["succeeded"] * 6
    _in_order_one_at_a_time(world.receiver.posts)  # type: ignore[attr-defined]
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + 1.0 - 1e-9) <= 1, times


def test_an_open_circuit_holds_the_head_and_the_later_ones_wait_in_the_list(services: Services) -> None:
    # GIVEN a fifo endpoint with failures 2, a probe every 10 s, its receiver down, 10 messages
    down = {"on": True}
    receiver = Scripted(
        first=lambda n: 503 if down["on"] else 200, later=lambda n: 503 if down["on"] else 200
    )
    world = World(services, receiver)
    endpoint, _ = world.endpoint(
        ordering="fifo",
        circuit_breaker={"failures": 2, "probe_seconds": 10},
        retry_schedule=[0, 1, 1, 1, 1, 60],
    )
    start = world.clock.now
    ids = _publish(world, 10)
    # WHEN a minute passes
    outcomes = _run_until(world, start + 60)
    # THEN only the head was tried: 2 failures, then a probe every 10 s; the circuit is open
    assert set(receiver.posts) == {0} and len(receiver.posts) <= 2 + 7
    assert "circuit_open" in outcomes
    assert world.s.store.get_endpoint(endpoint.id).circuit.state in ("open", "half_open")
    # AND the later deliveries wait in the list, not on the queue
    assert len(world.s.store.fifo_head(endpoint.id, limit=20)) == 10
    assert len(world.deliveries.sent) <= 1
    # WHEN the receiver recovers THEN everything goes, in order
    down["on"] = False
    _run_until(world, world.clock.now + 600)
    assert _statuses(world, ids) == ["succeeded"] * 10
    _in_order_one_at_a_time(receiver.posts)


def test_a_delivery_accepted_earlier_that_arrives_late_goes_next(services: Services) -> None:
    # GIVEN a fifo endpoint busy with message 1 and message 2 waiting, when message 0 (accepted first)
    # reaches the sender only now (its router crashed and SQS gave it back)
    receiver = Scripted(first=lambda n: 503 if n == 1 else 200)
    world = World(services, receiver)
    _endpoint, _ = world.endpoint(ordering="fifo", retry_schedule=[0, 30])
    ids = _publish(world, 3)
    world.route_all()
    zero, one, two = world.deliveries.sent[:3]
    world.deliveries.sent.clear()
    world.deliveries.delays.clear()
    world.clock.now += SETTLE_SECONDS + 1
    assert world.sender.handle(one) == "retrying"
    assert world.sender.handle(two) == "fifo_queued"
    # WHEN message 0's task comes THEN it waits (message 1 holds the turn through its retry)
    assert world.sender.handle(zero) == "fifo_queued"
    # WHEN the rest run THEN message 1 keeps the turn through its retry (never two at once), then message
    # 0 goes (accepted first), then 2
    _run_until(world, world.clock.now + 600)
    assert receiver.posts == [1, 1, 0, 2]
    assert _statuses(world, ids) == ["succeeded"] * 3


def test_what_a_fifo_delivery_costs_four_writes_and_one_more_send(services: Services) -> None:
    # GIVEN a fifo endpoint and a burst of 20 messages (the first goes at once, the rest wait their turn)
    world = World(services, Scripted())
    world.endpoint(ordering="fifo")
    _publish(world, 20)
    world.route_all()  # the router's 20 sends, as for any endpoint
    calls: dict[str, int] = {}
    store = world.s.store
    for name in (
        "fifo_enter",
        "fifo_update",
        "fifo_give",
        "fifo_hold",
        "fifo_leave",
        "fifo_pass",
        "fifo_head",
        "fifo_turn",
        "fifo_has",
    ):
        original = getattr(store, name)

        def spy(*a: Any, _original: Any = original, _name: str = name, **k: Any) -> Any:
            calls[_name] = calls.get(_name, 0) + 1
            return _original(*a, **k)

        setattr(store, name, spy)
    sends = {"n": 0}
    original_send = world.deliveries.send

    def counted(*a: Any, **k: Any) -> Any:
        sends["n"] += 1
        return original_send(*a, **k)

    world.deliveries.send = counted  # type: ignore[method-assign]
    # WHEN they are delivered
    outcomes = _run_until(world, world.clock.now + 600)
    assert outcomes.count("succeeded") == 20
    # THEN each delivery made 4 writes on its endpoint's list (enter, take the turn, leave, hand on)
    writes = sum(
        calls.get(n, 0)
        for n in ("fifo_enter", "fifo_update", "fifo_give", "fifo_hold", "fifo_leave", "fifo_pass")
    )
    assert writes == 4 * 20, calls
    # AND about five consistent reads (the head and the turn at each gate, the head at the hand-off)
    reads = sum(calls.get(n, 0) for n in ("fifo_head", "fifo_turn", "fifo_has"))
    assert reads <= 5 * 20 + 2, calls
    # AND one SendMessage more than a plain delivery: the hand-off (plus the first one's settle wait)
    assert sends["n"] == 19 + 1, sends


def test_a_dead_lettered_holder_hands_the_turn_on(services: Services) -> None:
    # GIVEN a fifo endpoint whose first delivery holds the turn and whose task then fails on every receive
    # (it reaches the deliveries DLQ), the second waiting in the list
    receiver = Scripted(first=lambda n: 503 if n == 0 else 200)
    world = World(services, receiver)
    endpoint, _ = world.endpoint(ordering="fifo", retry_schedule=[0, 60])
    ids = _publish(world, 2)
    world.route_all()
    first, second = world.deliveries.sent[:2]
    world.deliveries.sent.clear()
    world.deliveries.delays.clear()
    world.clock.now += SETTLE_SECONDS + 1
    assert world.sender.handle(first) == "retrying"
    assert world.sender.handle(second) == "fifo_queued"
    [retry] = world.deliveries.sent
    world.deliveries.sent.clear()
    world.deliveries.delays.clear()
    # WHEN the retry's task is dead-lettered
    world.clock.now += 120
    assert world.worker.dead_letters.handle(retry) == "failed"
    # THEN the first ends failed and the turn went to the second, which is delivered
    _run_until(world, world.clock.now + 600)
    assert _statuses(world, ids) == ["failed", "succeeded"]
    assert receiver.posts == [0, 1]
    assert world.s.store.fifo_head(endpoint.id, limit=10) == []


def test_tasks_that_come_while_a_delivery_is_in_flight_never_start_a_second(services: Services) -> None:
    # GIVEN a fifo endpoint with message 1 in flight, when message 0's task (accepted earlier, arriving
    # late) and a duplicate of message 1's task come during its POST
    outcomes: list[str] = []
    depth = {"now": 0, "max": 0}

    class Nested(Scripted):
        def __call__(self, request: egress.OutboundRequest) -> egress.OutboundResponse:
            depth["now"] += 1
            depth["max"] = max(depth["max"], depth["now"])
            try:
                if not self.posts:
                    outcomes.append(world.sender.handle(zero))
                    outcomes.append(world.sender.handle(one))
                return super().__call__(request)
            finally:
                depth["now"] -= 1

    world = World(services, Nested())
    world.endpoint(ordering="fifo")
    ids = _publish(world, 2)
    world.route_all()
    zero, one = world.deliveries.sent[:2]
    world.deliveries.sent.clear()
    world.deliveries.delays.clear()
    world.clock.now += SETTLE_SECONDS + 1
    # WHEN message 1's task comes first and is sent
    assert world.sender.handle(one) == "succeeded"
    # THEN during its POST, message 0 waited in the list and the duplicate met the claim: nothing nested
    assert outcomes == ["fifo_queued", "deferred"]
    assert depth["max"] == 1
    # AND then message 0 went
    _run_until(world, world.clock.now + 600)
    assert world.receiver.posts == [1, 0]  # type: ignore[attr-defined]
    assert _statuses(world, ids) == ["succeeded", "succeeded"]


def test_a_deleted_fifo_endpoints_waiting_deliveries_all_end_skipped(services: Services) -> None:
    # GIVEN a fifo endpoint whose first delivery is retrying and three more wait in its list
    receiver = Scripted(first=lambda n: 503 if n == 0 else 200)
    world = World(services, receiver)
    endpoint, _ = world.endpoint(ordering="fifo", retry_schedule=[0, 30])
    ids = _publish(world, 4)
    world.clock.now += SETTLE_SECONDS + 1
    assert _run_until(world, world.clock.now + 5).count("fifo_queued") == 3
    # WHEN the endpoint is deleted
    world.endpoints.delete(endpoint.id, OPERATOR)
    _run_until(world, world.clock.now + 600)
    # THEN every delivery ends skipped, the turn passing through them; nothing is left waiting
    assert _statuses(world, ids) == ["skipped"] * 4
    assert receiver.posts == [0]
    assert world.s.store.fifo_head(endpoint.id, limit=10) == []
