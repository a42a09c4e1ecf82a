"""The endpoint's failure clock is written once per change per container, never per outcome from a stale
cached copy, and a throttled write of it never fails a task after its POST (scale review, Table 1 #17)."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import StorageError
from chalicelib.messages import delivery_states
from tests.conftest import Services
from tests.unit.test_delivery import Receiver, World, _publish


def _spy(world: World) -> list[float | None]:
    """Record every failure-clock write the sender makes (they still reach the store)."""
    calls: list[float | None] = []
    inner = world.s.store.set_endpoint_failing

    def spy(endpoint_id: str, since: float | None) -> None:
        calls.append(since)
        inner(endpoint_id, since)

    world.s.store.set_endpoint_failing = spy  # type: ignore[method-assign]
    return calls


def _handle_due(world: World) -> list[str]:
    """Route what was published and handle the delivery tasks due now (retries stay queued)."""
    world.route_all()
    due = [(b, d) for b, d in zip(world.deliveries.sent, world.deliveries.delays, strict=True) if d == 0]
    world.deliveries.sent[:] = [
        b for b, d in zip(world.deliveries.sent, world.deliveries.delays, strict=True) if d
    ]
    world.deliveries.delays[:] = [d for d in world.deliveries.delays if d]
    return [world.sender.handle(body) for body, _ in due]


def test_failures_within_the_cache_lifetime_start_the_failure_clock_with_one_write(
    services: Services,
) -> None:
    # GIVEN an endpoint behind the sender's 10 s cache, warm with its healthy copy
    world = World(services, Receiver([200] + [500] * 50), endpoint_cache_seconds=10)
    # (a breaker that does not open within the 50: the failure clock alone is under test)
    endpoint, _ = world.endpoint(
        retry_schedule=[0, 3600], circuit_breaker={"failures": 1000, "probe_seconds": 60}
    )
    _publish(world)
    assert world.run() == ["succeeded"]
    calls = _spy(world)
    # WHEN 50 messages fail within a few seconds (the cached copy still says healthy)
    for _ in range(50):
        _publish(world)
    outcomes = _handle_due(world)
    # THEN each is retrying, and the failure clock was written once, not once per failure
    assert outcomes == ["retrying"] * 50
    assert len(calls) == 1 and calls[0] is not None
    assert world.s.store.get_endpoint(endpoint.id).failing_since is not None


def test_successes_within_the_cache_lifetime_clear_the_failure_clock_with_one_write(
    services: Services,
) -> None:
    # GIVEN an endpoint whose cached copy (10 s) says failing, as the stored item does
    world = World(services, Receiver(), endpoint_cache_seconds=10)
    endpoint, _ = world.endpoint()
    world.s.store.set_endpoint_failing(endpoint.id, world.clock.now - 60)
    world.endpoint_cache.invalidate()
    calls = _spy(world)
    # WHEN 50 messages succeed within the cache's lifetime
    for _ in range(50):
        _publish(world)
    assert world.run(max_steps=51) == ["succeeded"] * 50
    # THEN the clock was cleared with one write, not 50 conditional writes on the one item
    assert calls == [None]
    assert world.s.store.get_endpoint(endpoint.id).failing_since is None
    # ... and once the memory (the cache's lifetime) is over, a new change is written again
    world.s.store.set_endpoint_failing(endpoint.id, world.clock.now)  # another container's failure
    calls.clear()
    world.clock.advance(11)
    _publish(world)
    assert world.run() == ["succeeded"]
    assert calls == [None]
    assert world.s.store.get_endpoint(endpoint.id).failing_since is None


def test_a_throttled_failure_clock_write_after_the_post_never_fails_the_task(services: Services) -> None:
    # GIVEN an endpoint that answers 500, and a store that throttles the endpoint item's updates
    world = World(services, Receiver([500]), endpoint_cache_seconds=10)
    world.endpoint(retry_schedule=[0, 3600])

    def throttled(*args: Any, **kwargs: Any) -> None:
        raise StorageError("DynamoDB update_item failed: ProvisionedThroughputExceededException")

    world.s.store.set_endpoint_failing = throttled  # type: ignore[method-assign]
    message_id = _publish(world)
    # WHEN the attempt fails and its failure clock cannot be written
    outcomes = _handle_due(world)
    # THEN the task still ends normally (no exception, so SQS will not bring it back to POST again) ...
    assert outcomes == ["retrying"]
    assert len(world.receiver.requests) == 1
    # ... and the attempt is recorded, with its retry scheduled
    message = world.s.store.get_message(message_id)
    [state] = delivery_states(message, world.s.store.list_attempts(message_id))
    assert state.status == "pending" and state.attempts == 1
