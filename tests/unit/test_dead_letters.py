"""The dead-letter handler and the scheduled sweep, on fakes and a virtual clock."""

from __future__ import annotations

import pytest

from chalicelib.errors import StorageError
from chalicelib.messages import delivery_states
from chalicelib.outbound.dead_letters import DeadLetters, StillLeasedError
from chalicelib.outbound.tasks import PoisonTaskError, Task
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


def _state(world: World, message_id: str) -> dict:  # type: ignore[type-arg]
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
    assert _state(world, message_id)["status"] == "pending"
    counted: list[str] = []
    # WHEN the task reaches the dead-letter handler
    outcome = _dead_letters(world, counted).handle(task)
    # THEN the delivery is failed with the reason dead_lettered, visible in the API's view, and counted
    assert outcome == "failed"
    state = _state(world, message_id)
    assert state["status"] == "failed" and state["last_error_class"] == "dead_lettered"
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
    assert _state(world, message_id)["last_error_class"] == "dead_lettered"


def test_a_finished_attempt_is_never_overwritten(world: World) -> None:
    # GIVEN a delivery that succeeded, and a stale copy of its task in the dead-letter queue
    world.endpoint()
    message_id = _publish(world)
    task = _first_task(world)
    assert world.sender.handle(task) == "succeeded"
    counted: list[str] = []
    # WHEN the copy reaches the handler THEN nothing changes and nothing is counted
    assert _dead_letters(world, counted).handle(task) == "already_recorded"
    assert _state(world, message_id)["status"] == "succeeded"
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


def _sweep(world: World, counted: list[str]) -> Sweep:
    return Sweep(
        store=world.s.store,
        publisher=world.publisher,
        clock=world.clock,
        disable_after=5 * 86400,
        count=lambda name, **dims: counted.append(name),
    )


def test_the_sweep_disables_an_endpoint_that_kept_failing_without_new_traffic(world: World) -> None:
    # GIVEN an endpoint failing since 6 days, with no delivery arriving to notice, and a healthy one
    failing, _ = world.endpoint()
    healthy, _ = world.endpoint()
    world.s.store.set_endpoint_failing(failing.id, world.clock.now)
    world.clock.advance(6 * 86400)
    counted: list[str] = []
    # WHEN the sweep runs
    report = _sweep(world, counted).run()
    # THEN only the failing one is disabled, with the operational event, and the report says so
    assert report.endpoints_disabled == [failing.id] and report.endpoints_checked == 2
    assert not world.s.store.get_endpoint(failing.id).enabled
    assert world.s.store.get_endpoint(healthy.id).enabled
    assert any(b'"endpoint.disabled"' in body.encode() for body in world.s.queue.sent)
    assert counted == ["SweepDisabled"]
    # WHEN it runs again THEN nothing more happens
    assert _sweep(world, []).run().endpoints_disabled == []


def test_the_sweep_leaves_an_endpoint_failing_for_less_than_the_period(world: World) -> None:
    endpoint, _ = world.endpoint()
    world.s.store.set_endpoint_failing(endpoint.id, world.clock.now)
    world.clock.advance(4 * 86400)
    assert _sweep(world, []).run().endpoints_disabled == []
    assert world.s.store.get_endpoint(endpoint.id).enabled


def test_the_sweep_ends_a_claim_whose_holder_never_came_back(world: World) -> None:
    # GIVEN an attempt left in flight by a holder that died, whose task never came back
    world.endpoint()
    message_id = _publish(world)
    task = Task.decode(_first_task(world))
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
    # WHEN the sweep runs before the lease has been over for an hour THEN it leaves the claim alone
    world.clock.advance(1800)
    assert _sweep(world, []).run().claims_ended == 0
    # WHEN it runs later THEN the delivery ends failed (claim_expired), and /recover can send it again
    world.clock.advance(3600)
    counted: list[str] = []
    assert _sweep(world, counted).run().claims_ended == 1
    state = _state(world, message_id)
    assert state["status"] == "failed" and state["last_error_class"] == "claim_expired"
    assert counted == ["SweepClaimsEnded"]
