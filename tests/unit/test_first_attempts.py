"""The router's own first attempts (stage setting ``router_first_attempt``), on fakes (GIVEN / WHEN / THEN).

The claim is written with the message; the router POSTs through the sender's code; only retries, other
endpoints' first attempts and stragglers' checks ride the deliveries queue; never two attempts in flight.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from chalicelib.api.messages import parse_publish
from chalicelib.config import Settings
from chalicelib.messages import delivery_states
from chalicelib.models import Attempt, Endpoint
from chalicelib.outbound import egress
from chalicelib.outbound.tasks import Task
from chalicelib.ports import PageRequest
from chalicelib.scope import OPERATOR
from chalicelib.wiring import roots
from tests.conftest import Services, github_headers, inbound
from tests.unit.test_delivery import Receiver, World

LEASE = 150


class FirstWorld(World):
    """The outbound path on fakes with the router making first attempts itself."""

    def __init__(self, services: Services, receiver: Receiver) -> None:
        super().__init__(services, receiver)
        self.api, self.worker = roots(
            Settings(stage="test", admin_key="k", endpoint_cache_seconds=0, router_first_attempt=True),
            self.clock,
            store=services.store,
            ingest_queue=services.queue,
            deliveries_queue=self.deliveries,
            blobs=services.blobs,
            transport=egress.FunctionTransport(receiver),
            rand=lambda: 0.5,
            resolver=lambda host, port: ["93.184.215.14"],
        )
        self.endpoint_cache = self.api.endpoint_cache
        self.publisher = self.api.publisher
        self.router = self.worker.router
        self.sender = self.worker.sender
        self.endpoints = self.api.endpoints


@pytest.fixture
def world(services: Services) -> FirstWorld:
    return FirstWorld(services, Receiver())


def _publish(world: World, event_type: str = "invoice.paid") -> str:
    return world.publisher.publish(parse_publish({"event_type": event_type, "payload": {"n": 1}}), OPERATOR)


def _attempts(world: World, message_id: str) -> list[Attempt]:
    """A message's attempts as its readers see them: its attempt items, and attempt 1 of each delivery
    its router claimed and recorded in its batch's result item (no attempt item)."""
    store = world.s.store
    return store.first_attempts(store.get_message(message_id), store.list_attempts(message_id))


class Killed(BaseException):
    """The router's process dying mid-POST (not an Exception: nothing in the batch catches it)."""


def test_a_first_try_success_is_delivered_once_by_the_router_with_no_deliveries_queue_message(
    world: FirstWorld,
) -> None:
    # GIVEN one plain endpoint and a published message
    endpoint, _ = world.endpoint()
    message_id = _publish(world)
    # WHEN the router handles the ingest batch
    assert world.router.route_many(world.s.queue.sent) == [None]
    # THEN the receiver got it once, signed, and nothing went on the deliveries queue
    [request] = world.receiver.requests
    assert {k.lower(): v for k, v in request.headers.items()}["webhook-id"] == message_id
    assert world.deliveries.sent == []
    # AND it is recorded as a sender batch's success: no attempt item, the router batch's result item
    assert world.s.store.list_attempts(message_id) == []
    # AND the attempt log shows it: by message, by endpoint, and in the message's delivery state
    [attempt] = _attempts(world, message_id)
    assert (attempt.number, attempt.status, attempt.delivery_status) == (1, "succeeded", "succeeded")
    listed = world.s.store.list_endpoint_attempts(endpoint.id, limit=10, cursor=None).items
    assert [(a.message_id, a.status) for a in listed] == [(message_id, "succeeded")]
    [state] = delivery_states(world.s.store.get_message(message_id), _attempts(world, message_id))
    assert state.status == "succeeded" and state.attempts == 1
    # AND the message's own readers (detail, attempts listing) read it the same way
    detail = world.api.messages.get(message_id, OPERATOR)
    assert [(d.status, d.attempts) for d in detail.deliveries] == [("succeeded", 1)]
    page = world.api.messages.attempts(message_id, OPERATOR, PageRequest())
    assert [(a.number, a.status) for a in page.items] == [(1, "succeeded")]


def test_ten_webhooks_cost_their_message_and_one_attempt_write_each(world: FirstWorld) -> None:
    # GIVEN ten webhooks on the ingest queue to one endpoint
    world.endpoint()
    sid = world.s.github_source()
    for i in range(10):
        body = b'{"a": %d}' % i
        world.s.ingest.receive(inbound(sid, body, github_headers(body, delivery=f"d-{i}")))
    before = world.s.store.writes
    # WHEN the router gets them as one batch
    assert world.router.route_many(world.s.queue.sent) == [None] * 10
    # THEN each cost its message (dedupe, store and claim in one write); the batch its packed message
    # listing write, one result item for the ten successes (with their endpoint's packed listing item, as
    # a sender batch's) and one counter write (received and delivered together); no attempt item was
    # written, no sender ran, nothing was queued
    assert world.s.store.writes - before == 10 + 1 + 1 + 1
    hour = int(world.clock() // 3600) * 3600
    assert world.s.store.get_counts([hour])[hour]["received"] == 10
    assert world.s.store.get_counts([hour])[hour]["delivered"] == 10
    assert world.deliveries.sent == []
    assert len(world.receiver.requests) == 10


def test_a_failed_first_attempt_is_retried_through_the_deliveries_queue(services: Services) -> None:
    # GIVEN a receiver that fails once, then answers 200
    world = FirstWorld(services, Receiver([500, 200]))
    world.endpoint()
    message_id = _publish(world)
    # WHEN the router makes the first attempt
    assert world.router.route_many(world.s.queue.sent) == [None]
    # THEN the failure is recorded and only its retry is queued (attempt 2, later)
    [retry] = [Task.decode(b) for b in world.deliveries.sent]
    assert (retry.attempt, retry.not_before > world.clock.now) == (2, True)
    [first] = _attempts(world, message_id)
    assert (first.status, first.delivery_status) == ("failed", "pending")
    # AND the sender delivers the retry
    world.s.queue.sent.clear()
    assert world.run() == ["succeeded"]
    assert [a.status for a in _attempts(world, message_id)] == ["succeeded", "failed"]
    assert len(world.receiver.requests) == 2


def test_a_duplicate_router_batch_does_not_post_again_while_the_lease_lives(world: FirstWorld) -> None:
    # GIVEN a message whose first attempt the router made (and recorded)
    world.endpoint()
    message_id = _publish(world)
    text = world.s.queue.sent.pop(0)
    assert world.router.route_many([text]) == [None]
    assert len(world.receiver.requests) == 1
    # WHEN SQS gives the router the same batch again
    assert world.router.route_many([text]) == [None]
    # THEN it does not POST; it queues the attempt, which the sender holds back while the lease lives
    assert len(world.receiver.requests) == 1
    [body] = world.deliveries.sent
    assert Task.decode(body).attempt == 1 and not Task.decode(body).carried
    world.deliveries.sent.clear()
    assert world.sender.handle(body) == "deferred"
    assert len(world.receiver.requests) == 1
    # AND after the lease it finds the attempt recorded: no second POST
    world.clock.advance(LEASE + 1)
    assert world.sender.handle(body) == "duplicate"
    assert len(world.receiver.requests) == 1
    assert [a.status for a in _attempts(world, message_id)] == ["succeeded"]


def test_a_router_killed_mid_post_is_sent_again_only_after_its_lease(world: FirstWorld) -> None:
    # GIVEN a router that dies while its POST is on the wire (the receiver got it; nothing recorded)
    world.endpoint()
    message_id = _publish(world)
    text = world.s.queue.sent.pop(0)
    first = world.router._first
    assert first is not None
    real = first._sender.send_held

    def killed(held: Any, **_: Any) -> Any:
        world.receiver.requests.append(None)  # type: ignore[arg-type]  # the POST that went out
        raise Killed

    first._sender.send_held = killed  # type: ignore[method-assign]
    with pytest.raises(Killed):
        world.router.route_many([text])
    first._sender.send_held = real  # type: ignore[method-assign]
    assert [a.status for a in _attempts(world, message_id)] == ["in_flight"]  # its claim, unrecorded
    # WHEN SQS redelivers the ingest message while the lease still lives
    world.clock.advance(30)
    assert world.router.route_many([text]) == [None]
    # THEN no second POST: the attempt waits in the queue for the lease
    assert len(world.receiver.requests) == 1
    [body] = world.deliveries.sent
    world.deliveries.sent.clear()
    assert world.sender.handle(body) == "deferred"
    assert len(world.receiver.requests) == 1
    # AND once the lease has run out the attempt is claimed by the attempt item's write and sent once
    [again] = world.deliveries.sent
    world.deliveries.sent.clear()
    world.clock.advance(LEASE)
    assert world.sender.handle(again) == "succeeded"
    assert len(world.receiver.requests) == 2
    assert world.sender.handle(again) == "duplicate"  # a copy of the task stops at the claim
    assert len(world.receiver.requests) == 2
    [attempt] = _attempts(world, message_id)
    assert attempt.status == "succeeded" and attempt.started_at >= world.clock.now - 1


def test_a_late_outcome_of_a_dead_routers_attempt_never_overwrites_the_new_claim(world: FirstWorld) -> None:
    # GIVEN the router's claimed attempt re-claimed by a sender after its lease
    world.endpoint()
    message_id = _publish(world)
    text = world.s.queue.sent.pop(0)
    first = world.router._first
    assert first is not None
    real = first._sender.send_held
    held: list[Any] = []
    first._sender.send_held = lambda h, **_: held.extend(h) or [None] * len(h)  # type: ignore[method-assign]
    world.router.route_many([text])
    first._sender.send_held = real  # type: ignore[method-assign]
    [(_message, claim)] = held
    world.clock.advance(LEASE + 1)
    task = Task(message_id, claim.endpoint_id, 1, generation=claim.generation)
    assert world.sender.handle(task.encode()) == "succeeded"
    # WHEN the dead router's outcome arrives at last THEN it is refused
    from dataclasses import replace

    assert not world.s.store.finish_attempt(replace(claim, status="failed"))
    assert [a.status for a in _attempts(world, message_id)] == ["succeeded"]
    # AND a late success in its router batch's result item is not read over the sender's attempt item
    late = replace(claim, status="succeeded", delivery_status="succeeded", started_at=claim.started_at - 1)
    world.s.store.finish_batch(claim.batch, [late])
    [shown] = _attempts(world, message_id)
    assert (shown.status, shown.claim_id == claim.claim_id) == ("succeeded", False)


class Hanging(Receiver):
    """Answers at once, except requests to ``/hang``, which wait until released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def __call__(self, request: egress.OutboundRequest) -> egress.OutboundResponse:
        if request.url.endswith("/hang"):
            self.release.wait(10)
        return super().__call__(request)


def _nine_and_one_hanging(services: Services) -> tuple[Hanging, FirstWorld, Endpoint]:
    """Ten endpoints on one event type, the last of whose receivers hangs; a 0.2 s straggler grace."""
    receiver = Hanging()
    world = FirstWorld(services, receiver)
    assert world.router._first is not None
    world.router._first._sender._straggler_seconds = 0.2
    for i in range(9):
        world.endpoint(url=f"https://hooks.example.com/ok{i}")
    hanging, _ = world.endpoint(url="https://hooks.example.com/hang")
    return receiver, world, hanging


def test_a_hanging_receiver_does_not_hold_the_router_or_the_other_nine(services: Services) -> None:
    # GIVEN ten endpoints on one event type, one of whose receivers hangs
    receiver, world, hanging = _nine_and_one_hanging(services)
    message_id = _publish(world)
    try:
        # WHEN the router handles the message
        started = time.monotonic()
        assert world.router.route_many(world.s.queue.sent) == [None]
        took = time.monotonic() - started
        # THEN it returns soon after the nine are delivered, not when the hanging one answers
        assert took < 3.0, took
        delivered = [a for a in _attempts(world, message_id) if a.status == "succeeded"]
        assert len(delivered) == 9
        # AND a check of the hanging attempt is queued for after the claim's lease, as the sender does
        [check] = [Task.decode(b) for b in world.deliveries.sent]
        assert check.endpoint_id == hanging.id and check.not_before >= world.clock.now + LEASE
    finally:
        receiver.release.set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if len([a for a in _attempts(world, message_id) if a.status == "succeeded"]) == 10:
            break
        time.sleep(0.02)
    # AND the straggler's thread records it; its check finds it done
    world.clock.now = check.not_before
    posts = len(receiver.requests)
    assert world.sender.handle(check.encode()) == "duplicate"
    assert len(receiver.requests) == posts == 10


def test_an_endpoint_handed_off_as_a_straggler_is_queued_by_the_next_router_batches(
    services: Services,
) -> None:
    # GIVEN ten endpoints, one of whose receivers hangs, and a router batch that handed it off
    from chalicelib.outbound.lanes import SLOW_MEMORY_SECONDS

    receiver, world, hanging = _nine_and_one_hanging(services)
    try:
        _publish(world)
        assert world.router.route_many(world.s.queue.sent) == [None]
        world.s.queue.sent.clear()
        world.deliveries.sent.clear()
        # WHEN the next message is routed while the receiver still hangs
        posts = len(receiver.requests)
        second = _publish(world)
        started = time.monotonic()
        assert world.router.route_many(world.s.queue.sent) == [None]
        took = time.monotonic() - started
        # THEN the router makes the nine healthy first attempts itself and queues the slow one's (no
        # straggler grace paid: it waits on no receiver that hangs)
        assert len(receiver.requests) - posts == 9
        assert not [r for r in receiver.requests[posts:] if r.url == hanging.url]
        [task] = [Task.decode(b) for b in world.deliveries.sent]
        assert (task.message_id, task.endpoint_id, task.attempt) == (second, hanging.id, 1)
        assert took < 0.2 * 5, took
    finally:
        receiver.release.set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(receiver.requests) < 10 + 9:
        time.sleep(0.02)
    # AND a straggler that answers (however fast, once handed off) keeps the mark until the memory ends
    world.s.queue.sent.clear()
    world.deliveries.sent.clear()
    _publish(world)
    assert world.router.route_many(world.s.queue.sent) == [None]
    assert [Task.decode(b).endpoint_id for b in world.deliveries.sent] == [hanging.id]
    # AND after SLOW_MEMORY_SECONDS the router tries it itself again
    world.clock.now += SLOW_MEMORY_SECONDS + 1
    world.s.queue.sent.clear()
    world.deliveries.sent.clear()
    posts = len(receiver.requests)
    _publish(world)
    assert world.router.route_many(world.s.queue.sent) == [None]
    assert world.deliveries.sent == [] and len(receiver.requests) - posts == 10


def test_after_its_own_attempt_failed_the_router_queues_the_endpoints_next_first_attempts(
    services: Services,
) -> None:
    # GIVEN an endpoint whose receiver fails, and a router whose first attempt to it just failed
    world = FirstWorld(services, Receiver([503, 503, 503]))
    endpoint, _ = world.endpoint()
    _publish(world)
    assert world.router.route_many(world.s.queue.sent) == [None]
    assert len(world.receiver.requests) == 1
    world.s.queue.sent.clear()
    world.deliveries.sent.clear()
    # WHEN the next message is routed (another container may have opened its circuit meanwhile: the
    # router's copy of the endpoint can be seconds old)
    second = _publish(world)
    assert world.router.route_many(world.s.queue.sent) == [None]
    # THEN the router does not POST again: the first attempt is a task for the sender, which knows the
    # circuit
    assert len(world.receiver.requests) == 1
    [task] = [Task.decode(b) for b in world.deliveries.sent]
    assert (task.message_id, task.endpoint_id, task.attempt) == (second, endpoint.id, 1)


def test_endpoints_that_are_not_plain_keep_the_queue(world: FirstWorld) -> None:
    # GIVEN a plain endpoint and a throttled one on the same event
    plain, _ = world.endpoint(url="https://hooks.example.com/plain")
    throttled, _ = world.endpoint(url="https://hooks.example.com/slow", throttle_rate=5)
    _publish(world)
    # WHEN routed THEN the router sends to the plain one and queues the throttled one's first attempt
    assert world.router.route_many(world.s.queue.sent) == [None]
    assert [r.url for r in world.receiver.requests] == [plain.url]
    [task] = [Task.decode(b) for b in world.deliveries.sent]
    assert (task.endpoint_id, task.attempt) == (throttled.id, 1)
    assert task.carried  # its message travels with it, as before (the router's claim is not in it)


def test_more_than_ten_deliveries_keep_todays_path(world: FirstWorld) -> None:
    for i in range(11):
        world.endpoint(url=f"https://hooks.example.com/e{i}")
    _publish(world)
    assert world.router.route_many(world.s.queue.sent) == [None]
    assert world.receiver.requests == []
    assert len(world.deliveries.sent) == 11


def test_the_setting_is_on_by_default() -> None:
    # GIVEN no setting WHEN a stage reads its settings THEN the router makes first attempts
    assert Settings().router_first_attempt is True
    assert Settings.from_env({}).router_first_attempt is True
    assert Settings.from_env({"HOOKWAY_ROUTER_FIRST_ATTEMPT": "false"}).router_first_attempt is False


def test_a_stage_that_turns_it_off_queues_every_first_attempt(services: Services) -> None:
    # GIVEN router_first_attempt off WHEN a message is routed THEN its attempt is a task, nothing POSTed
    world = World(services, Receiver(), first_attempt=False)
    world.endpoint()
    _publish(world)
    assert world.router.route_many(world.s.queue.sent) == [None]
    assert world.receiver.requests == [] and len(world.deliveries.sent) == 1


def test_a_router_batch_makes_at_most_ten_first_attempts_itself(world: FirstWorld) -> None:
    # GIVEN five endpoints and a batch of five messages (25 first attempts)
    for i in range(5):
        world.endpoint(url=f"https://hooks.example.com/b{i}")
    for _ in range(5):
        _publish(world)
    # WHEN the router handles the batch
    assert world.router.route_many(world.s.queue.sent) == [None] * 5
    # THEN it sends the first two messages' ten itself and queues the other fifteen: a sender batch's
    # worth, which the pool runs at once, so none waits in its queue behind a hanging receiver
    assert len(world.receiver.requests) == 10
    assert len(world.deliveries.sent) == 15
    assert {Task.decode(b).attempt for b in world.deliveries.sent} == {1}


def test_a_first_attempt_that_ends_the_delivery_failed_is_found_by_status(services: Services) -> None:
    # GIVEN an endpoint with no retries whose receiver fails
    world = FirstWorld(services, Receiver([500]))
    endpoint, _ = world.endpoint(retry_schedule=[0])
    message_id = _publish(world)
    # WHEN the router makes the attempt
    assert world.router.route_many(world.s.queue.sent) == [None]
    # THEN the delivery ends failed, nothing is queued, and the search by status finds it
    assert world.deliveries.sent == []
    [attempt] = _attempts(world, message_id)
    assert (attempt.status, attempt.delivery_status) == ("failed", "failed")
    from chalicelib.ports import MessageQuery

    found = world.s.store.search_messages(MessageQuery(status="failed"), limit=10, cursor=None).items
    assert [m.id for m in found] == [message_id]
    by_endpoint = world.s.store.search_messages(MessageQuery(endpoint_id=endpoint.id), limit=10, cursor=None)
    assert [m.id for m in by_endpoint.items] == [message_id]
