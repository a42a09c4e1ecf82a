"""The sender on fakes and a function transport, on a virtual clock: schedule, outcomes, health, ops events."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from chalicelib.api.endpoints import parse_create as parse_create_endpoint
from chalicelib.api.endpoints import parse_recover
from chalicelib.api.endpoints import parse_update as parse_update_endpoint
from chalicelib.api.messages import parse_publish, parse_resend
from chalicelib.config import Settings
from chalicelib.errors import StorageError
from chalicelib.messages import delivery_states
from chalicelib.models import Endpoint
from chalicelib.outbound import egress
from chalicelib.outbound.retry import DEFAULT_SCHEDULE
from chalicelib.outbound.routing import matches
from chalicelib.outbound.tasks import Task
from chalicelib.scope import OPERATOR
from chalicelib.wiring import roots
from testkit.fakes import FakeClock, MemoryQueue
from tests.conftest import Services, github_headers, inbound


class Receiver:
    """A scripted receiver: answers each request with the next (status, headers) or raises an error."""

    def __init__(self, script: list[Any] | None = None) -> None:
        self.script = list(script or [])
        self.requests: list[egress.OutboundRequest] = []

    def __call__(self, request: egress.OutboundRequest) -> egress.OutboundResponse:
        self.requests.append(request)
        step = self.script.pop(0) if self.script else 200
        if isinstance(step, Exception):
            raise step
        status, headers = (step, {}) if isinstance(step, int) else step
        return egress.OutboundResponse(
            status=status, headers=headers, body=b"ok " * 2000, duration=0.01, address="203.0.113.1"
        )


class World:
    """Services with the outbound path wired to fakes: the sender's queue path, every attempt a task on
    the deliveries queue (``router_first_attempt`` off, as a stage may set it; the default, the router
    making first attempts, is ``tests/unit/test_first_attempts.py``'s ``FirstWorld``)."""

    def __init__(
        self,
        services: Services,
        receiver: Receiver,
        endpoint_cache_seconds: int = 0,
        *,
        first_attempt: bool = False,
    ) -> None:
        self.s = services
        self.clock: FakeClock = services.clock
        self.deliveries = MemoryQueue()
        self.receiver = receiver
        self.api, self.worker = roots(
            Settings(
                stage="test",
                admin_key="k",
                endpoint_cache_seconds=endpoint_cache_seconds,
                router_first_attempt=first_attempt,
            ),
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
        self.hop_delays: list[int] = []

    def endpoint(self, **doc: Any) -> tuple[Endpoint, str]:
        endpoint, secret, _ = self.endpoints.create(
            parse_create_endpoint({"url": "https://hooks.example.com/in", **doc}), OPERATOR
        )
        return endpoint, secret

    def route_all(self) -> None:
        """Consume the ingest queue as its function does: job steps to the job runner, the rest routed."""
        from chalicelib.jobs import is_step_task

        while self.s.queue.sent:
            body = self.s.queue.sent.pop(0)
            if is_step_task(body):
                self.worker.job_runner.run(body)
            else:
                self.router.route(body)

    def release_parked(self) -> bool:
        """The scheduled release step (every 5 minutes where it is deployed), run when the queue is empty
        and tasks are parked (parking is on by default): the clock moves to the first run that releases the
        earliest parked bucket. True if it sent anything."""
        from chalicelib.outbound.parking import AHEAD_SECONDS, BUCKET_SECONDS, Release

        buckets = [bucket for (bucket, _), tasks in self.s.store.parked_tasks.items() if tasks]
        if not buckets:
            return False
        self.clock.now = max(self.clock.now, min(buckets) + BUCKET_SECONDS - AHEAD_SECONDS)
        Release(store=self.s.store, queue=self.deliveries, clock=self.clock).run()
        return bool(self.deliveries.sent)

    def run(self, max_steps: int = 200) -> list[str]:
        """Process delivery tasks in order, moving the virtual clock to each task's due time."""
        outcomes = []
        for _ in range(max_steps):
            self.route_all()
            if not self.deliveries.sent and not self.release_parked():
                return outcomes
            body = self.deliveries.sent.pop(0)
            self.hop_delays.append(self.deliveries.delays.pop(0))
            task = Task.decode(body)
            self.clock.now = max(self.clock.now, task.not_before)
            outcomes.append(self.sender.handle(body))
        raise AssertionError("did not settle")


@pytest.fixture
def world(services: Services) -> World:
    return World(services, Receiver())


def _publish(world: World, event_type: str = "invoice.paid", payload: Any = None) -> str:
    return world.publisher.publish(
        parse_publish({"event_type": event_type, "payload": payload or {"n": 1}}), OPERATOR
    )


def test_first_try_success_is_signed_for_the_official_verifier(world: World) -> None:
    import time

    world.clock.now = time.time()  # the official library checks the timestamp against the real clock
    _endpoint, secret = world.endpoint()
    message_id = _publish(world)
    assert world.run() == ["succeeded"]
    [request] = world.receiver.requests
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["webhook-id"] == message_id
    Webhook(secret).verify(
        request.body,
        {
            "webhook-id": headers["webhook-id"],
            "webhook-timestamp": headers["webhook-timestamp"],
            "webhook-signature": headers["webhook-signature"],
        },
    )
    assert json.loads(request.body)["data"] == {"n": 1}
    [state] = delivery_states(world.s.store.get_message(message_id), world.s.store.list_attempts(message_id))
    assert state.status == "succeeded" and state.attempts == 1


def test_two_dynamodb_writes_per_delivered_webhook_and_one_result_and_counter_write_per_batch(
    world: World,
) -> None:
    # GIVEN ten webhooks on the ingest queue
    world.endpoint()
    sid = world.s.github_source()
    for i in range(10):
        body = b'{"a": %d}' % i
        world.s.ingest.receive(inbound(sid, body, github_headers(body, delivery=f"d-{i}")))
    before = world.s.store.writes
    # WHEN the router and the sender each get them as one batch
    assert world.router.route_many(world.s.queue.sent) == [None] * 10
    assert world.sender.handle_many(world.deliveries.sent) == [None] * 10
    # THEN each webhook cost its message (with its dedupe) and its claim; the router batch one packed
    # listing write, the sender batch one result item (with its endpoint listing) for its ten successes,
    # and each batch one counter write for the hour (received, delivered)
    assert world.s.store.writes - before == 2 * 10 + 1 + 1 + 2
    assert [a.status for m in world.s.store.messages for a in world.s.store.list_attempts(m)] == [
        "succeeded"
    ] * 10
    hour = int(world.clock() // 3600) * 3600
    assert world.s.store.get_counts([hour]) == {
        hour: {"received": 10, "delivered": 10, "failed": 0, "rejected": 0}
    }


def test_default_schedule_spans_about_27_hours_then_fails_visibly(world: World) -> None:
    world.receiver.script = [500] * 20
    _endpoint, _ = world.endpoint()
    message_id = _publish(world)
    start = world.clock.now
    outcomes = world.run()
    assert outcomes == ["retrying"] * 7 + ["failed"]
    assert len(world.receiver.requests) == len(DEFAULT_SCHEDULE) == 8
    assert world.clock.now - start == pytest.approx(sum(DEFAULT_SCHEDULE), rel=0.01)  # rand=0.5: no jitter
    [state] = delivery_states(world.s.store.get_message(message_id), world.s.store.list_attempts(message_id))
    assert state.status == "failed" and state.attempts == 8
    # waits longer than SQS's 15-minute DelaySeconds cap were parked (on by default) and released with at
    # most 15 minutes left: one SendMessage per attempt's task, no hop chain
    assert max(world.hop_delays) <= 900 and len(world.hop_delays) == 8
    assert outcomes.count("deferred") == 0  # handle() was only called when due, by this driver


def test_operational_events_are_published_once_each(world: World) -> None:
    world.receiver.script = [500] * 20
    # (breakers that never open: this is about the message events; test_breaker covers the circuit's)
    never = {"failures": 1000, "probe_seconds": 60}
    ops_endpoint, _ = world.endpoint(
        filter={"event_types": ["message.attempt.*", "endpoint.*"]}, circuit_breaker=never
    )
    world.endpoint(filter={"event_types": ["invoice.*"]}, circuit_breaker=never)
    _publish(world)
    world.run()
    ops_messages = [m for m in world.s.store.messages.values() if m.source_id == "hookway"]
    assert sorted(m.event_type or "" for m in ops_messages) == [
        "message.attempt.exhausted",
        "message.attempt.failing",
    ]
    # the ops endpoint failed too, yet no operational event was published about an operational message
    assert {json.loads(m.body or b"{}")["data"]["source_id"] for m in ops_messages} == {"api"}
    assert ops_endpoint.id in {d for m in ops_messages for d in m.endpoints}


def test_500_then_200_recovers(world: World) -> None:
    world.receiver.script = [500, 503, 200]
    world.endpoint()
    message_id = _publish(world)
    assert world.run() == ["retrying", "retrying", "succeeded"]
    attempts = world.s.store.list_attempts(message_id)
    assert [a.response_status for a in attempts] == [200, 503, 500]  # newest first
    assert attempts[-1].response_body is not None and len(attempts[-1].response_body) == 4096
    ids = {r.headers["webhook-id"] for r in world.receiver.requests}
    assert ids == {message_id}  # the same id on every attempt
    stamps = [int(r.headers["webhook-timestamp"]) for r in world.receiver.requests]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3  # a new timestamp per attempt


def test_recovered_event_after_failing(world: World) -> None:
    world.receiver.script = [500, 500, 500, 500, 200]
    world.endpoint(filter={"event_types": ["invoice.*"]})
    world.endpoint(filter={"event_types": ["message.attempt.*"]})
    _publish(world)
    world.run()
    ops = sorted(m.event_type or "" for m in world.s.store.messages.values() if m.source_id == "hookway")
    assert ops == ["message.attempt.failing", "message.attempt.recovered"]


def test_410_disables_the_endpoint_and_later_deliveries_are_skipped(world: World) -> None:
    world.receiver.script = [410]
    endpoint, _ = world.endpoint(filter={"event_types": ["invoice.*"]})
    world.endpoint(filter={"event_types": ["endpoint.disabled"]})
    first = _publish(world)
    world.run()
    assert world.s.store.get_endpoint(endpoint.id).enabled is False
    # a task already queued for the disabled endpoint ends as skipped, kept for recovery
    world.deliveries.send(Task(first, endpoint.id, 2).encode())
    world.run()
    states = {
        s.endpoint_id: s.status
        for s in delivery_states(world.s.store.get_message(first), world.s.store.list_attempts(first))
    }
    assert states[endpoint.id] == "skipped"
    ops = [m for m in world.s.store.messages.values() if m.source_id == "hookway"]
    assert [m.event_type for m in ops] == ["endpoint.disabled"]


def test_retry_after_is_honoured_but_capped_by_the_longest_step(world: World) -> None:
    world.receiver.script = [(429, {"retry-after": "120"}), (503, {"retry-after": "99999"}), 200]
    world.endpoint(retry_schedule=[0, 5, 300])
    message_id = _publish(world)
    world.run()
    first, second, third = sorted(world.s.store.list_attempts(message_id), key=lambda a: a.number)
    # 5 s scheduled, but the receiver asked for 120 s; then 300 s scheduled, 99999 s asked: capped at 300
    assert second.started_at - first.started_at == pytest.approx(120)
    assert third.started_at - second.started_at == pytest.approx(300)
    assert third.response_status == 200


def test_transport_errors_are_failed_attempts_with_their_class(world: World) -> None:
    world.receiver.script = [
        egress.DeadlineExceededError("deadline"),
        egress.TLSError("bad cert"),
        egress.BlockedDestinationError("loopback"),
        200,
    ]
    world.endpoint()
    message_id = _publish(world)
    world.run()
    classes = [a.error_class for a in sorted(world.s.store.list_attempts(message_id), key=lambda a: a.number)]
    assert classes == ["timeout", "tls_error", "blocked_destination", None]


def test_redirect_is_a_failure(world: World) -> None:
    world.receiver.script = [(302, {"location": "http://169.254.169.254/"}), 200]
    world.endpoint()
    message_id = _publish(world)
    assert world.run() == ["retrying", "succeeded"]
    assert [a.response_status for a in world.s.store.list_attempts(message_id)] == [200, 302]


def test_endpoint_failing_for_five_days_is_disabled(world: World) -> None:
    world.receiver.script = [500] * 200
    endpoint, _ = world.endpoint(retry_schedule=[0, 3600, 3600, 3600])
    for _ in range(40):
        _publish(world)
        world.run()
        world.clock.advance(3 * 3600)
        if not world.s.store.get_endpoint(endpoint.id).enabled:
            break
    disabled = world.s.store.get_endpoint(endpoint.id)
    assert disabled.enabled is False
    assert "5 days" in (disabled.disabled_reason or "")
    assert disabled.failing_since is not None
    assert world.clock.now - disabled.failing_since >= 5 * 86400


def test_success_clears_the_failure_clock(world: World) -> None:
    world.receiver.script = [500, 200]
    endpoint, _ = world.endpoint()
    _publish(world)
    world.run()
    assert world.s.store.get_endpoint(endpoint.id).failing_since is None


def test_a_success_within_the_endpoint_caches_seconds_of_a_failure_clears_the_failure_clock(
    services: Services,
) -> None:
    # GIVEN the sender's endpoint cache of 10 s (the deployed default), warm with the healthy endpoint
    # (issue 19, correctness 1: the clear depended on the cached copy, which never saw the failure)
    world = World(services, Receiver([500, 200]), endpoint_cache_seconds=10)
    endpoint, _ = world.endpoint(retry_schedule=[0, 2])
    # WHEN an attempt fails, and its retry 2 s later succeeds (both within the cache's 10 s)
    _publish(world)
    assert world.run() == ["retrying", "succeeded"]
    # THEN the stored endpoint is no longer failing
    assert world.s.store.get_endpoint(endpoint.id).failing_since is None


def test_a_first_attempt_success_after_another_messages_failure_clears_the_failure_clock(
    services: Services,
) -> None:
    # GIVEN a warm 10 s endpoint cache, and one message whose only attempt fails (no retries left)
    world = World(services, Receiver([500, 200]), endpoint_cache_seconds=10)
    endpoint, _ = world.endpoint(retry_schedule=[0])
    _publish(world)
    assert world.run() == ["failed"]
    assert world.s.store.get_endpoint(endpoint.id).failing_since is not None
    # WHEN another message's first attempt succeeds 3 s later, in the same container
    world.clock.advance(3)
    _publish(world)
    assert world.run() == ["succeeded"]
    # THEN the failure clock is cleared
    assert world.s.store.get_endpoint(endpoint.id).failing_since is None


def test_a_healthy_endpoint_costs_no_write_for_its_failure_clock(services: Services) -> None:
    # GIVEN a healthy endpoint behind the 10 s cache
    world = World(services, Receiver(), endpoint_cache_seconds=10)
    endpoint, _ = world.endpoint()
    calls: list[float | None] = []
    store_set = world.s.store.set_endpoint_failing
    world.s.store.set_endpoint_failing = lambda eid, since: (calls.append(since), store_set(eid, since))[1]  # type: ignore[method-assign]
    # WHEN ten messages succeed at the first attempt THEN the failure clock is never written
    for _ in range(10):
        _publish(world)
    assert world.run() == ["succeeded"] * 10
    assert calls == [] and world.s.store.get_endpoint(endpoint.id).failing_since is None


def test_duplicate_task_is_not_sent_twice_and_crashed_claim_is_retaken(world: World) -> None:
    world.endpoint()
    message_id = _publish(world)
    world.route_all()
    task = world.deliveries.sent[0]
    world.deliveries.sent.append(task)
    world.deliveries.delays.append(0)
    assert world.run() == ["succeeded", "duplicate"]
    assert len(world.receiver.requests) == 1
    # a worker that claimed attempt 1 and died: the claim is retaken once its lease runs out
    endpoint, _ = world.endpoint(filter={"event_types": ["other"]})
    from chalicelib.models import Attempt, generation_of

    stale = Attempt(
        generation=generation_of(world.s.store.get_message(message_id)),
        message_id=message_id,
        endpoint_id=endpoint.id,
        number=1,
        claim_id="dead",
        started_at=world.clock.now,
        status="in_flight",
        delivery_status="pending",
        lease_until=world.clock.now + 45,
        expires_at=world.clock.now + 86400,
    )
    assert world.s.store.claim_attempt(stale, world.clock.now)
    world.deliveries.sent.clear()
    world.deliveries.delays.clear()
    # its task, back from SQS before the lease ran out, is neither sent nor dropped: it looks again later
    assert world.sender.handle(Task(message_id, endpoint.id).encode()) == "deferred"
    assert world.deliveries.delays == [11]
    world.clock.advance(11)
    assert world.sender.handle(world.deliveries.sent.pop(0)) == "deferred"  # still leased: later again
    world.clock.advance(35)
    assert world.sender.handle(world.deliveries.sent[-1]) == "succeeded"
    assert world.sender.handle(world.deliveries.sent[0]) == "duplicate"  # now done: a copy is dropped


def test_filters_by_source_and_event_type_patterns(services: Services) -> None:
    def ep(sources: tuple[str, ...] = (), types: tuple[str, ...] = ()) -> Endpoint:
        return Endpoint(
            id="ep",
            url="https://x",
            created_at=0,
            updated_at=0,
            filter_sources=sources,
            filter_event_types=types,
        )

    from chalicelib.models import Message

    msg = Message(
        id="m",
        source_id="src_a",
        event_type="invoice.paid",
        status="stored",
        received_at=0,
        size=0,
        body_sha256="",
        content_type="",
        receipt_id="r",
    )
    assert matches(ep(), msg)
    assert matches(ep(("src_a",)), msg) and not matches(ep(("src_b",)), msg)
    assert matches(ep(types=("invoice.*",)), msg) and matches(ep(types=("*.paid",)), msg)
    assert not matches(ep(types=("invoice",)), msg) and not matches(ep(types=("invoice.paid.*",)), msg)
    ops = Message(**{**msg.__dict__, "source_id": "hookway", "event_type": "endpoint.disabled"})
    assert not matches(ep(), ops)  # operational events only to endpoints that ask for them
    assert matches(ep(types=("endpoint.*",)), ops)


def test_batch_is_sent_concurrently(world: World) -> None:
    import threading

    # GIVEN a transport whose sends each wait until all four are in flight at once (a condition, not a
    # clock: sent one after another, the first would wait alone and the barrier would break)
    barrier = threading.Barrier(4, timeout=30)
    broken: list[BaseException] = []

    def together(request: egress.OutboundRequest) -> egress.OutboundResponse:
        try:
            barrier.wait()
        except threading.BrokenBarrierError as exc:
            broken.append(exc)
        return egress.OutboundResponse(200, {}, b"", 0.2, "203.0.113.1")

    world.sender._transport = egress.FunctionTransport(together)
    for _ in range(4):
        world.endpoint()
    _publish(world)
    world.route_all()
    # WHEN a batch of four deliveries is handled
    errors = world.sender.handle_many(list(world.deliveries.sent))
    # THEN all four were in flight together, and all succeeded
    assert errors == [None] * 4
    assert broken == []


def test_github_style_endpoint_signs_with_its_own_secret(world: World) -> None:
    import hashlib
    import hmac

    endpoint, secret = world.endpoint(signing="github")
    message_id = _publish(world, "push")
    assert world.run() == ["succeeded"]
    [request] = world.receiver.requests
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Hub-Signature-256"] == expected
    assert request.headers["X-GitHub-Delivery"] == message_id == request.headers["webhook-id"]
    assert "webhook-signature" not in request.headers
    assert endpoint.signing == "github"


def test_passthrough_endpoint_gets_the_provider_headers_and_bytes(world: World) -> None:
    world.endpoint(signing="passthrough")
    sid = world.s.github_source()
    body = b'{"zen": 1}'
    headers = github_headers(body, delivery="gh-7")
    world.s.ingest.receive(inbound(sid, body, {**headers, "authorization": ["Basic eDp5"]}))
    assert world.run() == ["succeeded"]
    [request] = world.receiver.requests
    assert request.body == body
    assert request.headers["x-hub-signature-256"] == headers["x-hub-signature-256"][0]
    assert request.headers["x-github-delivery"] == "gh-7"
    assert "authorization" not in {k.lower() for k in request.headers}  # credentials never travel on


def test_a_redelivered_router_message_creates_no_second_delivery(world: World) -> None:
    world.endpoint()
    _publish(world)
    text = world.s.queue.sent.pop(0)
    world.router.route(text)
    world.router.route(text)  # SQS gave the router the same message again
    assert len(world.deliveries.sent) == 2  # the copy's task exists ...
    assert world.run() == ["succeeded", "duplicate"]  # ... but the claim stops it
    assert len(world.receiver.requests) == 1


def test_an_id_stored_again_after_its_window_gets_fresh_deliveries_and_old_retries_stop(world: World) -> None:
    # GIVEN a Stripe-like source whose event failed on its first attempt and has a retry queued
    world.receiver.script = [500]
    endpoint, _ = world.endpoint()
    # (deduplicated by the provider's id header, the operator's explicit choice: the bodies differ)
    sid = world.s.github_source(replay_window=3600, dedupe="header:X-GitHub-Delivery")
    first_body = b'{"v": 1}'
    world.s.ingest.receive(inbound(sid, first_body, github_headers(first_body, delivery="evt_1")))
    world.route_all()
    task = world.deliveries.sent.pop(0)
    world.deliveries.delays.pop(0)
    assert world.sender.handle(task) == "retrying"
    old_retry = world.deliveries.sent.pop(0)
    world.deliveries.delays.pop(0)
    # WHEN the provider resends the same event id after the replay window (a manual resend, day 2)
    world.clock.advance(2 * 86400)
    second_body = b'{"v": 2}'
    world.s.ingest.receive(inbound(sid, second_body, github_headers(second_body, delivery="evt_1")))
    # THEN it is stored again under the same id and delivered afresh, from attempt 1
    assert world.run() == ["succeeded"]
    latest = world.receiver.requests[-1]
    assert json.loads(latest.body) == {"v": 2}
    message_id = latest.headers["webhook-id"]
    assert message_id == world.receiver.requests[0].headers["webhook-id"]  # the same id, a new storing
    [state] = delivery_states(world.s.store.get_message(message_id), world.s.store.list_attempts(message_id))
    assert (state.endpoint_id, state.status, state.attempts) == (endpoint.id, "succeeded", 1)
    # AND the old storing's queued retry does not send the new body under the old attempts
    assert world.sender.handle(old_retry) == "superseded"
    assert [r.body for r in world.receiver.requests] == [first_body, second_body]


def test_a_failed_delivery_can_be_resent(world: World) -> None:
    world.receiver.script = [500, 500, 200]
    endpoint, _ = world.endpoint(retry_schedule=[0, 5])
    message_id = _publish(world)
    assert world.run() == ["retrying", "failed"]
    recovery = world.api.recovery
    assert recovery.resend(message_id, parse_resend({}), OPERATOR) == [endpoint.id]
    assert world.run() == ["succeeded"]
    [state] = delivery_states(world.s.store.get_message(message_id), world.s.store.list_attempts(message_id))
    assert state.status == "succeeded" and state.attempts == 3
    ids = {r.headers["webhook-id"] for r in world.receiver.requests}
    assert ids == {message_id}


def test_skipped_deliveries_of_a_disabled_endpoint_are_recovered_once_it_is_enabled(world: World) -> None:
    world.receiver.script = [410]
    endpoint, _ = world.endpoint()
    start = world.clock.now
    first = _publish(world, payload={"n": 1})
    world.run()  # 410: the endpoint is disabled, this delivery is skipped
    world.clock.advance(60)
    second = _publish(world, payload={"n": 2})
    world.s.store.put_endpoint(world.s.store.get_endpoint(endpoint.id).with_changes(enabled=True))
    world.route_all()
    world.s.store.disable_endpoint(endpoint.id, "operator", world.clock.now)
    world.run()  # the second message's task meets the disabled endpoint: skipped
    world.endpoints.update(endpoint.id, parse_update_endpoint({"enabled": True}), OPERATOR)
    recovery = world.api.recovery
    assert sorted(recovery.recover(endpoint.id, parse_recover({"since": start}), OPERATOR)) == sorted(
        [first, second]
    )
    assert world.run() == ["succeeded", "succeeded"]
    for message_id in (first, second):
        [state] = delivery_states(
            world.s.store.get_message(message_id), world.s.store.list_attempts(message_id)
        )
        assert state.status == "succeeded"
    assert (
        recovery.recover(endpoint.id, parse_recover({"since": start}), OPERATOR) == []
    )  # nothing left to recover


def test_a_queue_that_lost_its_tasks_resumes_from_the_record_and_copies_stop_at_the_claim(
    world: World,
) -> None:
    from dataclasses import replace

    from chalicelib.models import Attempt, generation_of
    from chalicelib.outbound.recovery import pending_tasks

    # GIVEN a message fanned out to A (its first attempt failed, the retry is due in 5 s) and B (not yet
    # attempted), and a claim on C whose holder died; then the deliveries queue loses every task
    world.receiver.script = [500]
    a, _ = world.endpoint(url="https://a.example.com/in")
    b, _ = world.endpoint(url="https://b.example.com/in")
    message_id = _publish(world)
    world.route_all()
    first = Task.decode(world.deliveries.sent[0])
    assert world.sender.handle(world.deliveries.sent.pop(0)) == "retrying"
    c, _ = world.endpoint(url="https://c.example.com/in", filter={"event_types": ["other"]})
    message = world.s.store.get_message(message_id)
    stale = Attempt(
        generation=generation_of(message),
        message_id=message_id,
        endpoint_id=c.id,
        number=1,
        claim_id="dead",
        started_at=world.clock.now,
        status="in_flight",
        delivery_status="pending",
        lease_until=world.clock.now + 45,
        expires_at=world.clock.now + 86400,
    )
    assert world.s.store.claim_attempt(stale, world.clock.now)
    # an attempt of an earlier storing of the same id needs nothing
    older = replace(stale, generation="older", endpoint_id="ep_gone")
    world.deliveries.sent.clear()
    world.deliveries.delays.clear()
    # WHEN it is resumed twice (a copy of a task may still be queued: here, every one)
    attempts = [*world.s.store.list_attempts(message_id), older]
    tasks = {t.endpoint_id: t for t in pending_tasks(message, attempts)}
    assert world.api.recovery.resume([(message, attempts)]) == 3
    assert world.api.recovery.resume([(message, attempts)]) == 3
    # THEN each delivery gets the task it waited for, due when it was due
    failed = next(x for x in attempts if x.endpoint_id == first.endpoint_id)
    assert set(tasks) == {a.id, b.id, c.id}
    assert (tasks[first.endpoint_id].attempt, tasks[first.endpoint_id].not_before) == (
        2,
        failed.next_attempt_at,
    )
    other = b.id if first.endpoint_id == a.id else a.id
    assert (tasks[other].attempt, tasks[other].not_before) == (1, 0.0)
    assert (tasks[c.id].attempt, tasks[c.id].not_before) == (1, stale.lease_until + 1)
    # AND every delivery completes once: the copies stop at the attempts' claims
    assert world.run() == ["succeeded"] * 3 + ["duplicate"] * 3
    host = {a.id: "a.example.com", b.id: "b.example.com", c.id: "c.example.com"}
    sent = sorted(r.url.split("/")[2] for r in world.receiver.requests)
    assert sent == sorted([host[first.endpoint_id], *host.values()])  # one failed, then one each
    # AND once they ended, nothing is pending
    assert world.api.recovery.resume([(message, world.s.store.list_attempts(message_id))]) == 0


def test_a_batch_records_its_successes_in_one_write_and_a_copy_of_a_task_is_sent_once(world: World) -> None:
    # GIVEN two messages for one endpoint, and a copy of the first task in the same sender batch
    world.endpoint()
    ids = [_publish(world) for _ in range(2)]
    world.route_all()
    tasks = [*world.deliveries.sent, world.deliveries.sent[0]]
    world.deliveries.sent.clear()
    world.deliveries.delays.clear()
    before = world.s.store.writes
    # WHEN the sender handles them as one batch
    assert world.sender.handle_many(tasks) == [None] * 3
    # THEN each message was POSTed once (the copy found the attempt taken and looks again later) ...
    assert len(world.receiver.requests) == 2 and len(world.deliveries.sent) == 1
    # ... for two claims and one result write, and every read shows both attempts succeeded
    assert world.s.store.writes - before == 2 + 1 + 1  # + the sender batch's counter write
    for message_id in ids:
        [attempt] = world.s.store.list_attempts(message_id)
        assert attempt.status == "succeeded" and attempt.batch.startswith("rb_")
    # AND the copy, when it comes back after the attempt's lease, is dropped, not sent again
    from chalicelib.outbound.delivery import DEFAULT_LEASE_SECONDS

    world.clock.advance(DEFAULT_LEASE_SECONDS + 1)
    assert world.sender.handle(world.deliveries.sent.pop()) == "duplicate"
    assert len(world.receiver.requests) == 2


def test_a_batch_whose_result_write_fails_records_each_or_retries_the_task(world: World) -> None:
    from chalicelib.errors import StorageError

    world.endpoint()
    ids = [_publish(world) for _ in range(2)]
    world.route_all()
    tasks = list(world.deliveries.sent)
    world.deliveries.sent.clear()

    def refuse(*_: Any) -> None:
        raise StorageError("DynamoDB put_item failed: ProvisionedThroughputExceededException")

    world.s.store.finish_batch = refuse  # type: ignore[method-assign]
    # WHEN the batch's one result write fails THEN each outcome is written on its own attempt
    assert world.sender.handle_many(tasks) == [None, None]
    assert [a.status for m in ids for a in world.s.store.list_attempts(m)] == ["succeeded"] * 2
    # AND when that fails too, the task fails (SQS gives it back: at least once, never lost)
    more = _publish(world)
    world.route_all()
    world.s.store.finish_attempt = refuse  # type: ignore[method-assign]
    [error] = world.sender.handle_many(list(world.deliveries.sent))
    assert isinstance(error, StorageError)
    assert [a.status for a in world.s.store.list_attempts(more)] == ["in_flight"]


def test_a_first_attempt_carries_its_small_message_so_the_sender_reads_no_item(world: World) -> None:
    from dataclasses import replace as _replace

    from chalicelib.outbound.tasks import CARRIED_BYTES

    world.endpoint()
    message_id = _publish(world)
    world.route_all()
    [body] = world.deliveries.sent
    task = Task.decode(body)
    stored = world.s.store.get_message(message_id)
    # GIVEN the router's task: it carries the message it stored (its endpoint ids left out)
    assert task.message() == _replace(stored, endpoints=())

    def no_read(*_: Any) -> None:
        raise AssertionError("the sender read the message item")

    reads = world.s.store.get_message
    world.s.store.get_message = no_read  # type: ignore[method-assign]
    # WHEN the sender handles it THEN it is delivered without a read, the body byte for byte
    assert world.run() == ["succeeded"]
    assert world.receiver.requests[0].body == stored.body
    # AND a retry's task (and any task written before tasks carried messages) reads the item as before
    world.s.store.get_message = reads  # type: ignore[method-assign]
    old = '{"v":1,"message_id":"%s","endpoint_id":"%s","attempt":2,"not_before":0,"generation":"%s"}'
    assert Task.decode(old % (message_id, task.endpoint_id, task.generation)).message() is None
    # AND a message past its retention is gone, carried or not
    world.clock.advance(stored.expires_at - world.clock() + 1)
    assert world.sender.handle(body) == "gone"
    # AND a large message is not carried (the task stays small)
    big = Task(message_id, "ep").carrying(_replace(stored, body=os.urandom(CARRIED_BYTES + 1)))
    assert big.message() is None and len(big.encode()) < 300


def test_a_sender_batch_reads_its_endpoints_in_one_batched_read_and_falls_back_alone(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN ten endpoints, one message for all of them, and one deleted before the sender runs
    made = [world.endpoint()[0] for _ in range(10)]
    _publish(world)
    world.route_all()
    world.endpoints.delete(made[0].id, OPERATOR)
    store = world.s.store
    reads: list[str] = []
    single, batched = store.get_endpoint, store.get_endpoints
    monkeypatch.setattr(store, "get_endpoint", lambda i: reads.append("get") or single(i))
    monkeypatch.setattr(store, "get_endpoints", lambda ids: reads.append("batch") or batched(ids))
    # WHEN the sender gets the ten tasks as one batch
    tasks = list(world.deliveries.sent)
    world.deliveries.sent.clear()
    assert world.sender.handle_many(tasks) == [None] * 10
    # THEN one batched read served nine; the deleted one was looked up alone and skipped
    assert reads == ["batch", "get"]
    assert len(world.receiver.requests) == 9
    # AND when the batched read fails, each task reads its endpoint alone and is delivered
    _publish(world)
    world.route_all()
    reads.clear()
    monkeypatch.setattr(store, "get_endpoints", lambda ids: (_ for _ in ()).throw(StorageError("throttled")))
    tasks = list(world.deliveries.sent)
    world.deliveries.sent.clear()
    assert world.sender.handle_many(tasks) == [None] * 9
    assert reads == ["get"] * 9 and len(world.receiver.requests) == 18
