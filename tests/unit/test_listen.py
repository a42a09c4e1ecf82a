"""Listen sessions on fakes: handed over instead of POSTed, pulled signed, reported like any attempt."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from chalicelib.api.listen import parse_open_session, parse_pull, parse_report, pulled, reported
from chalicelib.errors import ConflictError, GoneError, NotFoundError, ValidationError
from chalicelib.messages import DeliveryState, delivery_states
from chalicelib.models import Endpoint
from chalicelib.outbound.listen import ListenService
from chalicelib.outbound.tasks import Task
from chalicelib.scope import OPERATOR, Scope
from tests.conftest import Services
from tests.unit.test_delivery import Receiver, World, _publish


def _pull(service: ListenService, endpoint_id: str, params: dict[str, str], scope: Scope) -> dict[str, Any]:
    """A pull as the API makes it: the query parsed, the result shaped (chalicelib.api.listen)."""
    return pulled(service.pull(endpoint_id, parse_pull(params), scope))


def _report(
    service: ListenService, endpoint_id: str, delivery_id: str, doc: Any, scope: Scope
) -> dict[str, Any]:
    """A report as the API makes it."""
    return reported(service.report(endpoint_id, delivery_id, parse_report(doc), scope))


@pytest.fixture
def world(services: Services) -> World:
    return World(services, Receiver())


def listen(world: World) -> ListenService:
    return ListenService(
        store=world.s.store,
        endpoints=world.endpoints,
        sender=world.sender,
        clock=world.clock,
        sleep=world.clock.advance,
    )


def session(world: World, expires_in: int = 600, **doc: object) -> tuple[Endpoint, str]:
    return listen(world).open(
        parse_open_session({"expires_in": expires_in, "filter": {"event_types": ["order.*"]}, **doc}),
        OPERATOR,
    )


def hand_over(world: World) -> list[str]:
    """Route, then handle the tasks due now (not the expiry checks, which are due at the session's end)."""
    world.route_all()
    due = [b for b in world.deliveries.sent if Task.decode(b).not_before <= world.clock()]
    world.deliveries.sent[:] = [b for b in world.deliveries.sent if b not in due]
    return [world.sender.handle(body) for body in due]


def state(world: World, message_id: str) -> DeliveryState:
    message = world.s.store.get_message(message_id)
    [only] = delivery_states(message, world.s.store.list_attempts(message_id))
    return only


def test_a_delivery_is_handed_over_not_posted_and_pulled_signed_for_the_official_verifier(
    world: World,
) -> None:
    world.clock.now = time.time()  # the official library checks the timestamp against the real clock
    endpoint, secret = session(world)
    message_id = _publish(world, "order.created", {"n": 1})
    assert hand_over(world) == ["handed_over"]
    assert world.receiver.requests == []  # nothing POSTed
    pulled = _pull(listen(world), endpoint.id, {}, OPERATOR)
    [item] = pulled["data"]
    body = base64.b64decode(item["body_base64"])
    assert Webhook(secret).verify(body, item["headers"])["data"] == {"n": 1}
    assert item["message_id"] == message_id and pulled["next_cursor"] == item["id"]
    assert state(world, message_id).status == "pending"


def test_the_local_answer_is_the_attempts_outcome_and_a_failure_is_retried_into_the_session(
    world: World,
) -> None:
    # GIVEN a pulled delivery
    endpoint, _ = session(world)
    message_id = _publish(world, "order.created")
    hand_over(world)
    service = listen(world)
    [first] = _pull(service, endpoint.id, {}, OPERATOR)["data"]
    # WHEN the local receiver answered 500
    assert (
        _report(service, endpoint.id, first["id"], {"status": 500, "duration_ms": 4}, OPERATOR)["outcome"]
        == "retrying"
    )
    # THEN the attempt is recorded failed with that status, and the retry comes back into the session
    [attempt] = world.s.store.list_attempts(message_id)
    assert (attempt.status, attempt.response_status, attempt.duration_ms) == ("failed", 500, 4)
    world.clock.advance(10)
    assert hand_over(world) == ["handed_over"]
    [second] = _pull(service, endpoint.id, {"cursor": first["id"]}, OPERATOR)["data"]
    assert second["attempt"] == 2 and second["headers"]["webhook-id"] == first["headers"]["webhook-id"]
    # AND a 200 ends the delivery succeeded
    assert _report(service, endpoint.id, second["id"], {"status": 200}, OPERATOR)["outcome"] == "succeeded"
    assert state(world, message_id).status == "succeeded"
    # AND a second report of the same delivery is refused
    with pytest.raises(NotFoundError):
        _report(service, endpoint.id, second["id"], {"status": 200}, OPERATOR)


def test_deliveries_wait_while_the_cli_is_away_and_a_fresh_cli_gets_every_unreported_one(
    world: World,
) -> None:
    endpoint, _ = session(world)
    ids = [_publish(world, "order.created", {"n": n}) for n in range(3)]
    hand_over(world)
    service = listen(world)
    seen = _pull(service, endpoint.id, {}, OPERATOR)["data"]  # pulled, then the CLI died before reporting
    again = _pull(service, endpoint.id, {}, OPERATOR)["data"]  # a fresh CLI, no cursor
    assert sorted(d["message_id"] for d in again) == sorted(ids) and len(seen) == 3


def test_at_the_sessions_end_an_unreported_delivery_fails_with_cli_disconnected(world: World) -> None:
    # GIVEN a delivery handed over and never reported
    endpoint, _ = session(world, expires_in=60)
    message_id = _publish(world, "order.created")
    hand_over(world)
    [check] = world.deliveries.sent
    assert Task.decode(check).not_before == endpoint.expires_at + 2
    # WHEN the session's end passes and the check runs
    world.clock.now = Task.decode(check).not_before
    assert world.sender.handle(check) == "cli_disconnected"
    # THEN the delivery ended failed, saying why; pulling and late reports answer 410
    [attempt] = world.s.store.list_attempts(message_id)
    assert (attempt.status, attempt.error_class) == ("failed", "cli_disconnected")
    assert state(world, message_id).status == "failed"
    with pytest.raises(GoneError):
        _pull(listen(world), endpoint.id, {}, OPERATOR)


def test_the_end_check_leaves_a_reported_delivery_alone(world: World) -> None:
    endpoint, _ = session(world, expires_in=60)
    message_id = _publish(world, "order.created")
    hand_over(world)
    service = listen(world)
    [item] = _pull(service, endpoint.id, {}, OPERATOR)["data"]
    _report(service, endpoint.id, item["id"], {"status": 204}, OPERATOR)
    [check] = world.deliveries.sent
    world.clock.now = Task.decode(check).not_before
    assert world.sender.handle(check) == "duplicate"
    assert state(world, message_id).status == "succeeded"


def test_a_stale_claim_is_a_conflict(world: World) -> None:
    from dataclasses import replace

    endpoint, _ = session(world)
    _publish(world, "order.created")
    hand_over(world)
    [pulled] = world.s.store.list_pulled(endpoint.id, after=None, limit=10)
    world.s.store.put_pulled(replace(pulled, seq="z", claim_id="clm_other"))
    with pytest.raises(ConflictError):
        _report(listen(world), endpoint.id, "z", {"status": 200}, OPERATOR)


def test_the_long_poll_waits_for_the_first_delivery_up_to_its_limit(world: World) -> None:
    endpoint, _ = session(world)
    start = world.clock()
    assert _pull(listen(world), endpoint.id, {"wait": "5"}, OPERATOR)["data"] == []
    assert 5 <= world.clock() - start < 6
    assert _pull(listen(world), endpoint.id, {"wait": "99"}, OPERATOR)["data"] == []
    assert world.clock() - start < 27  # capped at 20 s


@pytest.mark.parametrize("wait", ["nan", "NaN", "inf", "-inf", "1e999", "soon"])
def test_a_wait_that_is_not_a_finite_number_is_refused_not_polled_until_the_session_ends(
    world: World, wait: str
) -> None:
    # GIVEN a session (issue 19, security 12: wait=nan polled until the session ended)
    endpoint, _ = session(world)
    start = world.clock()
    # WHEN a pull asks to wait a non-finite time THEN 400 naming the field, at once
    with pytest.raises(ValidationError) as err:
        _pull(listen(world), endpoint.id, {"wait": wait}, OPERATOR)
    assert err.value.field == "wait" and err.value.status == 400
    assert world.clock() == start


def test_routing_skips_a_session_that_has_ended(world: World) -> None:
    session(world, expires_in=60)
    world.clock.advance(61)
    _publish(world, "order.created")
    world.route_all()
    assert world.deliveries.sent == []


@pytest.mark.parametrize(
    "doc",
    [
        {"expires_in": 5},
        {"expires_in": 100_000},
        {"expires_in": True},
        {"url": "https://x.example"},
        {"filter": {"bad": 1}},
    ],
)
def test_bad_session_requests_are_400(world: World, doc: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        listen(world).open(parse_open_session(doc), OPERATOR)


@pytest.mark.parametrize(
    "doc",
    [
        {"status": 99},
        {"status": "200"},
        {"status": True},
        {"duration_ms": -1},
        {"body_base64": "%%%"},
        {"error": 5},
        [],
    ],
)
def test_bad_reports_are_400(world: World, doc: object) -> None:
    endpoint, _ = session(world)
    _publish(world, "order.created")
    hand_over(world)
    [item] = _pull(listen(world), endpoint.id, {}, OPERATOR)["data"]
    with pytest.raises(ValidationError):
        _report(listen(world), endpoint.id, item["id"], doc, OPERATOR)


def test_an_ordinary_endpoint_is_not_a_session(world: World) -> None:
    endpoint, _ = world.endpoint()
    with pytest.raises(NotFoundError):
        _pull(listen(world), endpoint.id, {}, OPERATOR)


def test_a_session_that_completes_a_reopened_delivery_keeps_the_big_messages_counters_exact(
    world: World,
) -> None:
    from dataclasses import replace

    from chalicelib.api.messages import parse_resend
    from chalicelib.ports import PageRequest
    from tests.unit.test_fanout import _endpoints

    # GIVEN a message fanned out in pages (150 endpoints and a listen session: it keeps counters)
    endpoint, _ = session(world)
    _endpoints(world, 150)
    message_id = _publish(world, "order.created")
    assert hand_over(world).count("succeeded") == 150
    assert world.s.store.get_message(message_id).attempt_shards > 0
    service = listen(world)
    # AND the session's delivery ended skipped (its CLI's receiver answered 410: the session disabled)
    [first] = _pull(service, endpoint.id, {}, OPERATOR)["data"]
    assert _report(service, endpoint.id, first["id"], {"status": 410}, OPERATOR)["outcome"] == "disabled"
    summary = world.api.messages.get(message_id, OPERATOR, PageRequest(limit=1)).summary
    assert summary == {"pending": 0, "succeeded": 150, "failed": 0, "skipped": 1}
    # WHEN it is enabled again, the delivery resent (reopened) and the CLI reports a 200
    world.s.store.put_endpoint(replace(world.s.store.endpoints[endpoint.id], enabled=True))
    world.clock.advance(1)
    world.api.recovery.resend(message_id, parse_resend({"endpoint_ids": [endpoint.id]}), OPERATOR)
    assert hand_over(world) == ["handed_over"]
    [second] = _pull(service, endpoint.id, {"cursor": first["id"]}, OPERATOR)["data"]
    assert _report(service, endpoint.id, second["id"], {"status": 200}, OPERATOR)["outcome"] == "succeeded"
    # THEN the skipped ending is taken off: one delivery, counted once
    summary = world.api.messages.get(message_id, OPERATOR, PageRequest(limit=1)).summary
    assert summary == {"pending": 0, "succeeded": 151, "failed": 0, "skipped": 0}
