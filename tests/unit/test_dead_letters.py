"""The dead-letter handler and the scheduled sweep, on fakes and a virtual clock."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from chalicelib.errors import StorageError
from chalicelib.messages import DeliveryState, delivery_states
from chalicelib.models import Endpoint
from chalicelib.outbound.dead_letters import DeadLetters, StillLeasedError
from chalicelib.outbound.tasks import PoisonTaskError, Task
from chalicelib.ports import Page
from chalicelib.sweep import Sweep
from tests.unit.test_delivery import Receiver, World, _publish


@pytest.fixture
def world(services) -> World:  # type: ignore[no-untyped-def]
    return World(services, Receiver())


def _dead_letters(world: World, counted: list[str]) -> DeadLetters:
    return DeadLetters(
        store=world.s.store,
        clock=world.clock,
        retention_seconds=30 * 86400,
        count=lambda name, **dims: counted.append(name),
    )


def _state(world: World, message_id: str) -> DeliveryState:
    message = world.s.store.get_message(message_id)
    [state] = delivery_states(message, world.s.store.list_attempts(message_id))
    return state


def _first_task(world: World) -> str:
    world.route_all()
    return world.deliveries.sent.pop(0)


def test_a_task_that_failed_every_receive_ends_its_delivery_failed(world: World) -> None:
    # GIVEN a delivery whose task raised on every receive (the store was down while it was tried)
    world.endpoint()
    message_id = _publish(world)
    task = _first_task(world)
    world.s.store.fail_with = StorageError("DynamoDB PutItem failed: ServiceUnavailable")
    for _ in range(5):
        with pytest.raises(StorageError):
            world.sender.handle(task)
    world.s.store.fail_with = None
    assert _state(world, message_id).status == "pending"
    counted: list[str] = []
    # WHEN the task reaches the dead-letter handler
    outcome = _dead_letters(world, counted).handle(task)
    # THEN the delivery is failed with the reason dead_lettered, visible in the API's view, and counted
    assert outcome == "failed"
    state = _state(world, message_id)
    assert state.status == "failed" and state.last_error_class == "dead_lettered"
    assert counted == ["DeadLettered"]


def test_a_claim_left_in_flight_is_taken_over_once_its_lease_ran_out(world: World) -> None:
    # GIVEN a task whose holder claimed the attempt and then kept failing (its payload object is gone)
    world.endpoint()
    message_id = _publish(world)
    task = _first_task(world)
    decoded = Task.decode(task)
    message = world.s.store.get_message(message_id)
    from chalicelib.models import Attempt, generation_of

    held = Attempt(
        message_id=message_id,
        endpoint_id=decoded.endpoint_id,
        number=1,
        claim_id="clm_holder",
        started_at=world.clock.now,
        status="in_flight",
        delivery_status="pending",
        lease_until=world.clock.now + 150,
        generation=generation_of(message),
    )
    assert world.s.store.claim_attempt(held, world.clock.now)
    handler = _dead_letters(world, [])
    # WHEN it reaches the handler while the lease still holds THEN it is tried again later
    with pytest.raises(StillLeasedError):
        handler.handle(task)
    # WHEN the lease has run out THEN the attempt ends failed (dead_lettered)
    world.clock.advance(151)
    assert handler.handle(task) == "failed"
    assert _state(world, message_id).last_error_class == "dead_lettered"


def test_a_finished_attempt_is_never_overwritten(world: World) -> None:
    # GIVEN a delivery that succeeded, and a stale copy of its task in the dead-letter queue
    world.endpoint()
    message_id = _publish(world)
    task = _first_task(world)
    assert world.sender.handle(task) == "succeeded"
    counted: list[str] = []
    # WHEN the copy reaches the handler THEN nothing changes and nothing is counted
    assert _dead_letters(world, counted).handle(task) == "already_recorded"
    assert _state(world, message_id).status == "succeeded"
    assert counted == []


def test_an_unreadable_task_is_raised_on_to_the_parked_queue(world: World) -> None:
    # GIVEN garbage in the dead-letter queue WHEN handled THEN it raises (so it moves on to the parked queue)
    with pytest.raises(PoisonTaskError):
        _dead_letters(world, []).handle("not a task")
    errors = _dead_letters(world, []).handle_many(["not a task"])
    assert isinstance(errors[0], PoisonTaskError)


def test_a_task_of_a_message_past_retention_is_dropped(world: World) -> None:
    # GIVEN a task whose message no longer exists WHEN handled THEN it is done with (nothing to end)
    body = Task("msg_gone", "ep_gone").encode()
    assert _dead_letters(world, []).handle(body) == "gone"


def _sweep(world: World, counted: list[str], store: Any = None, **kwargs: Any) -> Sweep:
    return Sweep(
        store=store or world.s.store,
        publisher=world.publisher,
        clock=world.clock,
        disable_after=5 * 86400,
        count=lambda name, **dims: counted.append(name),
        **kwargs,
    )


class CountingStore:
    """The fake store, counting the calls made and the items they returned (what DynamoDB would read)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[str] = []
        self.items_read = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            result = method(*args, **kwargs)
            if isinstance(result, Page):
                self.items_read += len(result.items)
            elif isinstance(result, list):
                self.items_read += len(result)
            elif result is not None and not isinstance(result, bool):
                self.items_read += 1
            return result

        return counted


def test_the_sweep_disables_an_endpoint_that_kept_failing_without_new_traffic(world: World) -> None:
    # GIVEN an endpoint failing since 6 days, with no delivery arriving to notice, and a healthy one
    failing, _ = world.endpoint()
    healthy, _ = world.endpoint()
    world.s.store.set_endpoint_failing(failing.id, world.clock.now)
    world.clock.advance(6 * 86400)
    counted: list[str] = []
    # WHEN the sweep runs
    report = _sweep(world, counted).run()
    # THEN only the failing one is disabled, with the operational event, and the report says so; the
    # healthy one is not even read (intended change: the sweep reads the attention index only)
    assert report.endpoints_disabled == [failing.id] and report.endpoints_checked == 1
    assert report.caught_up
    assert not world.s.store.get_endpoint(failing.id).enabled
    assert world.s.store.get_endpoint(healthy.id).enabled
    assert any(b'"endpoint.disabled"' in body.encode() for body in world.s.queue.sent)
    assert counted == ["SweepDisabled"]
    # WHEN it runs again THEN nothing more happens (and nothing already examined is read again)
    again = _sweep(world, []).run()
    assert again.endpoints_disabled == [] and again.endpoints_checked == 0


def test_the_sweep_leaves_an_endpoint_failing_for_less_than_the_period(world: World) -> None:
    endpoint, _ = world.endpoint()
    world.s.store.set_endpoint_failing(endpoint.id, world.clock.now)
    world.clock.advance(4 * 86400)
    assert _sweep(world, []).run().endpoints_disabled == []
    assert world.s.store.get_endpoint(endpoint.id).enabled
    # WHEN the period has passed, at a later run THEN it is disabled then
    world.clock.advance(1 * 86400 + 3600)
    assert _sweep(world, []).run().endpoints_disabled == [endpoint.id]


def _many_endpoints(world: World, n: int) -> list[Endpoint]:
    """``n`` healthy endpoints of the operator and of 100 applications, put straight into the fake."""
    template, _ = world.endpoint()
    made = [template]
    for i in range(1, n):
        endpoint = replace(
            template,
            id=f"ep_{i:08d}",
            application_id=None if i % 2 else f"app_{i % 100:03d}",
            created_at=template.created_at + i / 1000,
        )
        world.s.store.put_endpoint(endpoint)
        made.append(endpoint)
    return made


def test_the_sweep_on_20000_endpoints_reads_only_those_that_need_attention(world: World) -> None:
    # GIVEN 20,000 endpoints: 5 failing for 6 days, 3 failing for 2 days, 2 disabled a week ago
    endpoints = _many_endpoints(world, 20_000)
    start = world.clock.now
    for e in endpoints[100:102]:
        world.s.store.disable_endpoint(e.id, "by hand", start)
    world.clock.advance(86400)
    old = [e.id for e in endpoints[1000:1005]]
    for endpoint_id in old:
        world.s.store.set_endpoint_failing(endpoint_id, world.clock.now)
    world.clock.advance(4 * 86400)
    recent = [e.id for e in endpoints[5000:5003]]
    for endpoint_id in recent:
        world.s.store.set_endpoint_failing(endpoint_id, world.clock.now)
    world.clock.advance(2 * 86400)
    store = CountingStore(world.s.store)
    # WHEN the sweep runs
    report = _sweep(world, [], store=store).run()
    # THEN it disabled the 5, having read the 7 index entries in its range (5 + the 2 disabled) and no
    # listing of endpoints, applications or attempts
    assert sorted(report.endpoints_disabled) == sorted(old)
    assert report.endpoints_checked == 7 and report.caught_up
    assert store.items_read <= 7 + 1  # the entries, and the checkpoint
    assert set(store.calls) <= {"get_checkpoint", "attention_due", "disable_endpoint", "put_checkpoint"}
    # WHEN 4 days pass and it runs again THEN it reads only the 3 entries that came due and disables them
    world.clock.advance(4 * 86400)
    store = CountingStore(world.s.store)
    report = _sweep(world, [], store=store).run()
    assert sorted(report.endpoints_disabled) == sorted(recent)
    assert report.endpoints_checked == 3
    assert store.items_read <= 3 + 1


def test_the_sweep_works_in_bounded_runs_and_carries_on_where_it_stopped(world: World) -> None:
    # GIVEN 7 endpoints failing for 6 days
    failing = [world.endpoint()[0].id for _ in range(7)]
    for endpoint_id in failing:
        world.s.store.set_endpoint_failing(endpoint_id, world.clock.now)
        world.clock.advance(1)
    world.clock.advance(6 * 86400)
    disabled: list[str] = []
    reports = []
    # WHEN the sweep runs with a budget of 3 endpoints a run
    for _ in range(3):
        store = CountingStore(world.s.store)
        report = _sweep(world, [], store=store, max_items=3).run()
        assert report.endpoints_checked <= 3 and store.items_read <= 3 + 1
        disabled += report.endpoints_disabled
        reports.append(report)
        world.clock.advance(3600)
    # THEN three runs disabled all seven, each once, oldest first; the last one caught up
    assert disabled == failing
    assert [r.caught_up for r in reports] == [False, False, True]
    # ... and a run out of time examines nothing, and loses nothing
    world.s.store.set_endpoint_failing(world.endpoint()[0].id, world.clock.now)
    world.clock.advance(6 * 86400)
    assert _sweep(world, [], max_seconds=0).run().endpoints_checked == 0
    assert len(_sweep(world, []).run().endpoints_disabled) == 1


def test_an_orphan_claim_is_ended_by_the_dead_letter_handler_and_never_read_by_the_sweep(
    world: World,
) -> None:
    # GIVEN an attempt left in flight by a holder that died; its task then failed every receive
    world.endpoint()
    message_id = _publish(world)
    body = _first_task(world)
    task = Task.decode(body)
    from chalicelib.models import Attempt, generation_of

    orphan = Attempt(
        message_id=message_id,
        endpoint_id=task.endpoint_id,
        number=1,
        claim_id="clm_dead",
        started_at=world.clock.now,
        status="in_flight",
        delivery_status="pending",
        lease_until=world.clock.now + 150,
        generation=generation_of(world.s.store.get_message(message_id)),
    )
    world.s.store.claim_attempt(orphan, world.clock.now)
    # WHEN the sweep runs THEN it reads no attempt (that scan is gone)
    world.clock.advance(7200)
    store = CountingStore(world.s.store)
    _sweep(world, [], store=store).run()
    assert "list_endpoint_attempts" not in store.calls and "list_attempts" not in store.calls
    # WHEN the task reaches the dead-letter queue THEN its handler ends the delivery failed
    assert _dead_letters(world, []).handle(body) == "failed"
    state = _state(world, message_id)
    assert state.status == "failed" and state.last_error_class == "dead_lettered"


def test_the_sender_and_the_sweep_racing_to_disable_an_endpoint_publish_endpoint_disabled_once(
    world: World,
) -> None:
    # GIVEN an endpoint failing for six days, and a sweep that reads it from the attention index just as an
    # attempt of the sender finds it failing too (both hold the same enabled copy)
    endpoint, _ = world.endpoint()
    world.s.store.set_endpoint_failing(endpoint.id, world.clock.now)
    world.clock.advance(6 * 86400)
    world.receiver.script = [500]
    store = world.s.store

    class Racing:
        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def attention_due(self, *args: Any, **kwargs: Any) -> Any:
            page = store.attention_due(*args, **kwargs)
            _publish(world)
            world.run()  # the sender's attempt fails and disables the endpoint meanwhile
            return page

    # WHEN the sweep runs on its copy
    report = _sweep(world, [], store=Racing()).run()
    world.route_all()
    # THEN the endpoint was disabled once, by the sender, and the one way of disabling published one event
    assert not store.get_endpoint(endpoint.id).enabled
    assert "5 days" in (store.get_endpoint(endpoint.id).disabled_reason or "")
    assert report.endpoints_checked == 1 and report.endpoints_disabled == []
    disabled = [m for m in store.messages.values() if m.event_type == "endpoint.disabled"]
    assert len(disabled) == 1


def _first_world(services: Any) -> Any:
    from tests.unit.test_first_attempts import FirstWorld

    return FirstWorld(services, Receiver())


def _first_attempt_task(world: Any, message_id: str) -> str:
    """Attempt 1's task of a delivery the router claimed (as a redelivered router batch queues it)."""
    message = world.s.store.get_message(message_id)
    [endpoint_id] = message.first_claim.endpoint_ids
    from chalicelib.models import generation_of

    return Task(message_id, endpoint_id, 1, generation=generation_of(message)).encode()


def _shown(world: Any, message_id: str) -> list[Any]:
    store = world.s.store
    return store.first_attempts(store.get_message(message_id), store.list_attempts(message_id))


def test_a_first_attempt_the_router_delivered_is_never_overwritten_by_a_dead_letter(services: Any) -> None:
    # GIVEN a delivery whose first attempt the router made and recorded in its batch's result item
    world = _first_world(services)
    world.endpoint()
    message_id = _publish(world)
    world.route_all()
    assert [a.status for a in _shown(world, message_id)] == ["succeeded"]
    # WHEN a task of that attempt 1 reaches the dead-letter handler (a queued copy that kept failing)
    world.clock.advance(200)
    counted: list[str] = []
    outcome = _dead_letters(world, counted).handle(_first_attempt_task(world, message_id))
    # THEN it reads the router's claim and its recorded success: nothing is written, nothing counted
    assert outcome == "already_recorded"
    assert [a.status for a in _shown(world, message_id)] == ["succeeded"]
    assert counted == []


def test_a_first_attempt_the_router_still_holds_is_waited_for(services: Any) -> None:
    # GIVEN a router that claimed attempt 1 with the message and died mid-POST (nothing recorded)
    world = _first_world(services)
    world.endpoint()
    message_id = _publish(world)
    first = world.router._first

    def killed(held: Any, **_: Any) -> Any:
        raise RuntimeError("the router's container froze mid-POST")

    real = first._sender.send_held
    first._sender.send_held = killed
    with pytest.raises(RuntimeError):
        world.router.route_many([world.s.queue.sent.pop(0)])
    first._sender.send_held = real
    task = _first_attempt_task(world, message_id)
    # WHEN its task reaches the dead-letter handler while the router's lease lives
    # THEN the handler waits for it (no second claim beside a live one)
    with pytest.raises(StillLeasedError):
        _dead_letters(world, []).handle(task)
    assert [a.status for a in _shown(world, message_id)] == ["in_flight"]
    # AND once the lease ran out it ends the delivery failed, as any other
    world.clock.advance(151)
    assert _dead_letters(world, []).handle(task) == "failed"
    [attempt] = _shown(world, message_id)
    assert (attempt.status, attempt.error_class) == ("failed", "dead_lettered")
