"""Applications, portal tokens and the event-type catalog, through the composition root on fakes.

Each test reads GIVEN / WHEN / THEN; the receivers are the scripted function transport of test_delivery.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from chalicelib.api import access
from chalicelib.api.applications import parse_create as parse_create_application
from chalicelib.api.applications import parse_mint, public_application
from chalicelib.api.applications import parse_update as parse_update_application
from chalicelib.api.endpoints import parse_create as parse_create_endpoint
from chalicelib.api.endpoints import parse_update as parse_update_endpoint
from chalicelib.api.event_types import parse_create as parse_create_event_type
from chalicelib.api.event_types import parse_update as parse_update_event_type
from chalicelib.api.listen import parse_open_session
from chalicelib.api.messages import parse_publish, parse_resend, parse_search
from chalicelib.api.sources import parse_create as parse_create_source
from chalicelib.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
    UnprocessableError,
    ValidationError,
)
from chalicelib.messages import delivery_states
from chalicelib.scope import OPERATOR, Scope
from tests.conftest import ADMIN_KEY, Services, github_headers, inbound, make_services
from tests.unit.test_delivery import Receiver, World


@pytest.fixture
def world(services: Services) -> World:
    return World(services, Receiver())


def _app(world: World, name: str, uid: str | None = None) -> str:
    doc: dict[str, Any] = {"name": name}
    if uid:
        doc["uid"] = uid
    return world.api.applications.create(parse_create_application(doc), OPERATOR).id


def _endpoint(world: World, application: str | None, path: str, **doc: Any) -> str:
    body = {"url": f"https://hooks.example.com/{path}", **doc}
    if application:
        body["application"] = application
    endpoint, _, _ = world.endpoints.create(parse_create_endpoint(body), OPERATOR)
    return endpoint.id


def _publish(world: World, application: str | None, event_type: str = "order.created") -> str:
    doc: dict[str, Any] = {"event_type": event_type, "payload": {"n": 1}}
    if application:
        doc["application"] = application
    return world.publisher.publish(parse_publish(doc), OPERATOR)


def _targets(world: World) -> list[str]:
    """Run every queued delivery; the URL paths the receiver was called on, sorted."""
    world.run()
    paths = sorted(r.url.rsplit("/", 1)[-1] for r in world.receiver.requests)
    world.receiver.requests.clear()
    return paths


# ------------------------------------------------------------------------------------- applications


def test_an_application_is_reachable_by_id_and_by_uid(world: World) -> None:
    # GIVEN an application with the customer's own id
    apps = world.api.applications
    created = apps.create(
        parse_create_application({"name": "Acme", "uid": "acme-42", "metadata": {"plan": "pro"}}), OPERATOR
    )
    # THEN both names find it, and the public shape carries what was given
    assert apps.get("acme-42", OPERATOR) == apps.get(created.id, OPERATOR) == created
    assert public_application(created)["metadata"] == {"plan": "pro"} and created.id.startswith("app_")


def test_a_uid_belongs_to_one_application(world: World) -> None:
    apps = world.api.applications
    first = apps.create(parse_create_application({"name": "A", "uid": "shared"}), OPERATOR)
    with pytest.raises(ConflictError) as err:
        apps.create(parse_create_application({"name": "B", "uid": "shared"}), OPERATOR)
    assert err.value.code == "uid_taken"
    # WHEN the uid moves to a new value THEN the old one is free again
    apps.update(first.id, parse_update_application({"uid": "renamed"}), OPERATOR)
    assert apps.create(parse_create_application({"name": "B", "uid": "shared"}), OPERATOR).uid == "shared"
    with pytest.raises(NotFoundError):
        apps.get("nobody", OPERATOR)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x", "uid": "app_" + "0" * 32}, "uid"),
        ({"name": "x", "uid": "has space"}, "uid"),
        ({"name": "x", "metadata": {"k": 1}}, "metadata"),
        ({"name": "x", "metadata": [1]}, "metadata"),
    ],
)
def test_bad_application_fields_are_refused_by_name(world: World, doc: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        world.api.applications.create(parse_create_application(doc), OPERATOR)
    assert err.value.field == field


def test_published_events_reach_only_their_applications_endpoints(world: World) -> None:
    # GIVEN two applications with two endpoints each, and one operator endpoint
    a, b = _app(world, "A", "cust-a"), _app(world, "B")
    _endpoint(world, a, "a1")
    _endpoint(world, "cust-a", "a2", filter={"event_types": ["order.*"]})
    _endpoint(world, b, "b1")
    _endpoint(world, b, "b2")
    _endpoint(world, None, "ops")
    # WHEN an event is published to A (by uid), to B, and to nobody
    _publish(world, "cust-a")
    assert _targets(world) == ["a1", "a2"]
    _publish(world, b, "invoice.paid")
    assert _targets(world) == ["b1", "b2"]
    _publish(world, None)
    assert _targets(world) == ["ops"]
    # THEN an unknown application is a 404 and nothing is queued
    with pytest.raises(NotFoundError) as err:
        _publish(world, "app_" + "f" * 32)
    assert err.value.code == "application_not_found"


def test_an_applications_source_delivers_inbound_webhooks_to_that_application_only(world: World) -> None:
    a, b = _app(world, "A"), _app(world, "B")
    _endpoint(world, a, "a1")
    _endpoint(world, b, "b1")
    _endpoint(world, None, "ops")
    sid = world.s.github_source(application=a)
    body = b'{"zen": "x"}'
    world.s.ingest.receive(inbound(sid, body, github_headers(body)))
    assert _targets(world) == ["a1"]
    stored = next(iter(world.s.store.messages.values()))
    assert stored.application_id == a


def test_operational_events_about_an_applications_endpoint_go_to_it_and_the_operator(world: World) -> None:
    # GIVEN app A with a failing endpoint and a watcher of operational events; B and the operator watch too
    a, b = _app(world, "A"), _app(world, "B")
    world.receiver.script = [410]  # the failing endpoint answers 410: disabled at once
    _endpoint(world, a, "dying")
    _endpoint(world, a, "a-watch", filter={"event_types": ["endpoint.disabled"]})
    _endpoint(world, b, "b-watch", filter={"event_types": ["endpoint.disabled"]})
    _endpoint(world, None, "ops-watch", filter={"event_types": ["endpoint.disabled"]})
    # WHEN A's endpoint is disabled
    _publish(world, a, "order.created")
    paths = _targets(world)
    # THEN A's watcher and the operator's get endpoint.disabled, B's does not
    assert paths == ["a-watch", "dying", "ops-watch"]
    event = next(m for m in world.s.store.messages.values() if m.event_type == "endpoint.disabled")
    assert event.application_id == a
    assert json.loads(event.body or b"")["data"]["application_id"] == a


def test_deleting_an_application_ends_its_queued_deliveries_skipped(world: World) -> None:
    # GIVEN an event routed to A's endpoint but not yet sent
    a = _app(world, "A")
    endpoint_id = _endpoint(world, a, "a1")
    message_id = _publish(world, a)
    world.route_all()
    # WHEN A is deleted
    world.api.applications.delete(a, OPERATOR)
    # THEN its endpoints are gone and the queued delivery ends skipped, visibly
    assert world.run() == ["skipped"]
    [state] = delivery_states(world.s.store.get_message(message_id), world.s.store.list_attempts(message_id))
    assert state.endpoint_id == endpoint_id and state.status == "skipped"
    with pytest.raises(NotFoundError):
        world.endpoints.get(endpoint_id, OPERATOR)
    assert world.receiver.requests == []


def test_publishing_to_an_application_costs_no_extra_write(world: World) -> None:
    # GIVEN one endpoint of the operator and one of an application
    a = _app(world, "A")
    _endpoint(world, None, "ops")
    _endpoint(world, a, "a1")
    sends_before = len(world.s.queue.sent)
    # WHEN one message is published for each owner and routed
    for owner in (None, a):
        writes = world.s.store.writes
        _publish(world, owner)
        world.route_all()
        # THEN each costs one SQS send to publish, the one conditional write that stores it and its
        # batch's one packed listing call (the same for an application's message: no extra write)
        assert world.s.store.writes - writes == 2
    assert len(world.s.queue.sent) == sends_before  # route_all drained both


# ---------------------------------------------------------------------------------------- tokens


def _token(world: World, application: str, **doc: Any) -> str:
    apps, tokens = world.api.applications, world.api.tokens
    return tokens.mint(apps.get(application, OPERATOR), parse_mint(doc), OPERATOR).token


def test_a_token_authenticates_as_its_application(world: World) -> None:
    a = _app(world, "A")
    tokens = world.api.tokens
    scope = tokens.authenticate(f"Bearer {_token(world, a)}")
    assert scope.application_id == a and not scope.read_only and not scope.is_operator
    assert tokens.authenticate("Bearer k").is_operator  # World's admin key is "k"
    assert tokens.authenticate(f"Bearer {_token(world, a, read_only=True)}").read_only


@pytest.mark.parametrize(
    "header", ["", "Basic abc", "Bearer ", "Bearer wrong", "Bearer hkt_", "Bearer hkt_x.y"]
)
def test_anything_but_a_valid_credential_is_401(world: World, header: str) -> None:
    with pytest.raises(UnauthorizedError):
        world.api.tokens.authenticate(header)


def test_a_tampered_token_is_refused(world: World) -> None:
    a, b = _app(world, "A"), _app(world, "B")
    token = _token(world, a)
    payload, tag = token.removeprefix("hkt_").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims[0] == a
    claims[0] = b  # WHEN A's token is rewritten to name B, keeping A's tag
    changed = (
        base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode().rstrip("=")
    )
    forged = f"hkt_{changed}.{tag}"
    assert forged != token
    with pytest.raises(UnauthorizedError) as err:
        world.api.tokens.authenticate(f"Bearer {forged}")
    assert err.value.code == "token_invalid"


def test_a_token_expires_and_can_be_revoked(world: World) -> None:
    a = _app(world, "A")
    tokens = world.api.tokens
    short = _token(world, a, expires_in=60)
    world.clock.advance(61)
    with pytest.raises(UnauthorizedError) as err:
        tokens.authenticate(f"Bearer {short}")
    assert err.value.code == "token_expired"
    live = _token(world, a)
    world.clock.advance(1)
    tokens.revoke(world.api.applications.get(a, OPERATOR), OPERATOR)
    with pytest.raises(UnauthorizedError) as err:
        tokens.authenticate(f"Bearer {live}")
    assert err.value.code == "token_revoked"
    world.clock.advance(1)
    assert tokens.authenticate(f"Bearer {_token(world, a)}").application_id == a  # new tokens work


def test_a_token_outlives_nothing_of_its_application(world: World) -> None:
    a = _app(world, "A")
    token = _token(world, a)
    world.api.applications.delete(a, OPERATOR)
    with pytest.raises(UnauthorizedError):
        world.api.tokens.authenticate(f"Bearer {token}")


def test_token_lifetimes_are_bounded(world: World) -> None:
    a = _app(world, "A")
    for lifetime in (0, 59, 7 * 86400 + 1, "3600", True):
        with pytest.raises(ValidationError):
            _token(world, a, expires_in=lifetime)


def test_a_token_sees_only_its_applications_things(world: World) -> None:
    # GIVEN endpoints and messages of A and B
    a, b = _app(world, "A", "cust-a"), _app(world, "B", "cust-b")
    ep_a, ep_b = _endpoint(world, a, "a1"), _endpoint(world, b, "b1")
    msg_a, msg_b = _publish(world, a), _publish(world, b)
    world.run()
    scope = Scope(application_id=a)
    # THEN A's token reads A's, and B's answer exactly as if they did not exist
    assert world.endpoints.get(ep_a, scope).id == ep_a
    assert world.api.messages.get(msg_a, scope).message.id == msg_a
    with pytest.raises(NotFoundError) as err:
        world.endpoints.get(ep_b, scope)
    assert err.value.code == "endpoint_not_found"
    with pytest.raises(NotFoundError):
        world.api.messages.get(msg_b, scope)
    with pytest.raises(NotFoundError):
        world.api.recovery.resend(msg_b, parse_resend({}), scope)
    with pytest.raises(NotFoundError):
        world.api.recovery.resend(msg_a, parse_resend({"endpoint_ids": [ep_b]}), scope)
    # ... a token creates in its own application whatever the body says, and never in another
    created, _, _ = world.endpoints.create(
        parse_create_endpoint({"url": "https://hooks.example.com/x"}), scope
    )
    assert created.application_id == a
    with pytest.raises(ForbiddenError):
        world.endpoints.create(
            parse_create_endpoint({"url": "https://hooks.example.com/x", "application": "cust-b"}), scope
        )
    # ... the application routes answer 403 for any other application, found or not
    assert world.api.applications.get("cust-a", scope).id == a
    for ref in (b, "cust-b", "nobody"):
        with pytest.raises(ForbiddenError):
            world.api.applications.get(ref, scope)
    # ... and the search lists A's messages only
    from chalicelib.ports import PageRequest

    page = world.api.messages.search(parse_search({}), scope, PageRequest(50))
    assert {m.id for m in page.items} == {msg_a}


def test_a_read_only_token_changes_nothing(world: World) -> None:
    a = _app(world, "A")
    ep = _endpoint(world, a, "a1")
    scope = Scope(application_id=a, read_only=True)
    # every change to an endpoint is declared "write" (chalicelib.api.endpoints): refused before the view
    with pytest.raises(ForbiddenError) as err:
        access.check(scope, "PATCH", "/v1/endpoints/{endpoint_id}")
    assert err.value.code == "read_only_token"
    for method, route in (("POST", "/v1/endpoints"), ("DELETE", "/v1/endpoints/{endpoint_id}")):
        with pytest.raises(ForbiddenError):
            access.check(scope, method, route)
    access.check(scope, "GET", "/v1/endpoints/{endpoint_id}")
    assert world.endpoints.get(ep, scope).id == ep


# ---------------------------------------------------------------------------------- message ids


def test_an_issued_id_not_yet_stored_says_so(world: World) -> None:
    # GIVEN a message accepted (202) but not routed yet
    message_id = _publish(world, None)
    with pytest.raises(NotFoundError) as err:
        world.api.messages.get(message_id, OPERATOR)
    assert err.value.code == "message_not_yet_stored"
    # THEN an id this deployment never issued is plainly not found
    with pytest.raises(NotFoundError) as err:
        world.api.messages.get("msg_" + "0" * 32, OPERATOR)
    assert err.value.code == "message_not_found"
    # ... and another deployment's ids are not ours
    other = make_services(id_key="another-table")
    assert not other.api.ids.issued(message_id)
    world.route_all()
    assert world.api.messages.get(message_id, OPERATOR).message.id == message_id


# ---------------------------------------------------------------------------------- event types

SCHEMA = {
    "type": "object",
    "required": ["id", "total"],
    "properties": {"id": {"type": "integer"}, "total": {"type": "number", "minimum": 0}},
}


def test_a_payload_that_breaks_its_schema_is_422_and_nothing_is_queued(world: World) -> None:
    catalog = world.api.event_types
    catalog.create(
        parse_create_event_type({"name": "order.created", "description": "an order", "schema": SCHEMA}),
        OPERATOR,
    )
    sent = len(world.s.queue.sent)
    with pytest.raises(UnprocessableError) as err:
        world.publisher.publish(
            parse_publish({"event_type": "order.created", "payload": {"id": 1, "total": -5}}), OPERATOR
        )
    assert err.value.status == 422 and err.value.code == "schema_mismatch"
    assert err.value.details["pointer"] == "/total"
    assert len(world.s.queue.sent) == sent
    world.publisher.publish(
        parse_publish({"event_type": "order.created", "payload": {"id": 1, "total": 5}}), OPERATOR
    )
    assert len(world.s.queue.sent) == sent + 1
    # Unknown types stay allowed ...
    world.publisher.publish(parse_publish({"event_type": "not.in.catalog", "payload": {}}), OPERATOR)


def test_a_strict_deployment_refuses_types_outside_the_catalog() -> None:
    services = make_services(strict_event_types=True)
    with pytest.raises(UnprocessableError) as err:
        services.api.publisher.publish(parse_publish({"event_type": "nope", "payload": {}}), OPERATOR)
    assert err.value.code == "unknown_event_type"


def test_the_catalog_refuses_invalid_schemas_and_duplicates(world: World) -> None:
    catalog = world.api.event_types
    with pytest.raises(ValidationError) as err:
        catalog.create(parse_create_event_type({"name": "x", "schema": {"type": "not-a-type"}}), OPERATOR)
    assert err.value.code == "invalid_schema"
    catalog.create(parse_create_event_type({"name": "x"}), OPERATOR)
    with pytest.raises(ConflictError):
        catalog.create(parse_create_event_type({"name": "x"}), OPERATOR)
    updated = catalog.update(
        "x", parse_update_event_type("x", {"deprecated": True, "schema": SCHEMA}), OPERATOR
    )
    assert updated.deprecated and updated.schema == SCHEMA
    # ... a token may not change it: the route is the operator's (chalicelib.api.event_types)
    with pytest.raises(ForbiddenError):
        access.check(Scope(application_id="app_x"), "PATCH", "/v1/event-types/{name}")
    assert catalog.get("x", Scope(application_id="app_x")).name == "x"  # readable by a token
    catalog.delete("x", OPERATOR)
    with pytest.raises(NotFoundError):
        catalog.get("x", OPERATOR)


def test_the_admin_key_of_the_composition_root_is_the_test_key() -> None:
    # The shared fixture's key is the one the API tests send.
    assert make_services().api.admin_key.current() == ADMIN_KEY


def test_a_providers_delivery_id_is_found_by_one_read_when_the_source_dedupes_by_it(world: World) -> None:
    from chalicelib.ports import PageRequest

    # GIVEN a source deduplicated by its provider's signed delivery id (Standard Webhooks) that stored one
    from tests.unit.verification import signers as s

    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    sid = world.s.sources.create(
        parse_create_source({"name": "sw", "verification": {"scheme": "standard", "secrets": [secret]}})
    ).id
    body = b'{"zen": "found"}'
    signed = s.standard(secret, body, ts=int(world.clock()), msg_id="gh-77")
    world.s.ingest.receive(inbound(sid, body, signed.headers))
    world.route_all()
    searched: list[Any] = []
    real = world.s.store.search_messages
    world.s.store.search_messages = lambda *a, **k: (searched.append(a), real(*a, **k))[1]  # type: ignore[method-assign]
    messages = world.api.messages
    # WHEN it is searched by source and provider id THEN it is read directly, without an index search
    page = messages.search(parse_search({"source": sid, "provider_id": "gh-77"}), OPERATOR, PageRequest(50))
    assert [m.delivery_id for m in page.items] == ["gh-77"] and page.cursor is None
    assert searched == []
    # ... and an id it never stored falls back to the index, which finds nothing either
    assert (
        messages.search(
            parse_search({"source": sid, "provider_id": "gh-78"}), OPERATOR, PageRequest(50)
        ).items
        == []
    )
    assert len(searched) == 1
    # ... and a token of another application does not find it this way either
    other = Scope(application_id=_app(world, "X"))
    assert (
        messages.search(parse_search({"source": sid, "provider_id": "gh-77"}), other, PageRequest(50)).items
        == []
    )


def test_the_operators_resend_cannot_send_one_applications_message_to_anothers_endpoint(
    world: World,
) -> None:
    from chalicelib.outbound.tasks import Task

    # GIVEN applications A and B with an endpoint each, and a message of A delivered
    a, b = _app(world, "A"), _app(world, "B")
    ep_a, ep_b = _endpoint(world, a, "a"), _endpoint(world, b, "b")
    ep_ops = _endpoint(world, None, "ops")
    msg_a = _publish(world, a)
    assert _targets(world) == ["a"]
    # WHEN the operator resends A's message to B's endpoint (issue 19, security 15), or to its own
    for target in (ep_b, ep_ops):
        with pytest.raises(ValidationError) as err:
            world.api.recovery.resend(msg_a, parse_resend({"endpoint_ids": [target]}), OPERATOR)
        # THEN 400 naming the field, and nothing is queued
        assert err.value.field == "endpoint_ids" and err.value.code == "endpoint_of_another_application"
    assert world.deliveries.sent == []
    # ... and a task that names B's endpoint anyway (queued around the check) is refused by the sender
    world.deliveries.send(Task(msg_a, ep_b, 1).encode())
    assert world.run() == ["refused"]
    assert _targets(world) == []
    assert all(x.endpoint_id != ep_b for x in world.s.store.list_attempts(msg_a))
    # ... while resending to its own endpoint still works
    assert world.api.recovery.resend(msg_a, parse_resend({"endpoint_ids": [ep_a]}), OPERATOR) == [ep_a]
    assert _targets(world) == ["a"]


# ------------------------------------------------------------------ quotas of a portal token (issue 19, security 11)


def test_a_portal_token_creates_at_most_the_stages_endpoints_per_application(services: Services) -> None:
    from chalicelib.endpoints import EndpointService
    from chalicelib.outbound.listen import ListenService

    # GIVEN an application, its token, and a cap of 3 endpoints per application
    world = World(services, Receiver())
    app = _app(world, "A")
    token = Scope(application_id=app, token_id="t1")
    capped = EndpointService(
        world.s.store,
        world.clock,
        allow_private=False,
        https_only=False,
        resolver=lambda host, port: ["93.184.215.14"],
        applications=world.api.applications,
        max_endpoints_per_application=3,
    )
    url = {"url": "https://hooks.example.com/x"}
    for _ in range(3):
        capped.create(parse_create_endpoint(url), token)
    # WHEN the token creates one more (an endpoint or a listen session) THEN 409 with a reason code
    with pytest.raises(ConflictError) as err:
        capped.create(parse_create_endpoint(url), token)
    assert err.value.code == "endpoint_quota_exceeded" and err.value.status == 409
    with pytest.raises(ConflictError):
        ListenService(
            store=world.s.store,
            endpoints=capped,
            sender=world.sender,
            clock=world.clock,
            sleep=world.clock.advance,
        ).open(parse_open_session({}), token)
    # ... while the operator's own calls are not capped
    capped.create(parse_create_endpoint({**url, "application": app}), OPERATOR)
    assert len(world.s.store.endpoints_of(app)) == 4
    # ... and a deletion makes room again
    first = world.s.store.endpoints_of(app)[0]
    capped.delete(first.id, OPERATOR)
    capped.delete(world.s.store.endpoints_of(app)[0].id, OPERATOR)
    capped.create(parse_create_endpoint(url), token)


def test_a_portal_token_cannot_set_a_retry_schedule_faster_than_the_minimum_step(world: World) -> None:
    app = _app(world, "A")
    token = Scope(application_id=app, token_id="t1")
    url = "https://hooks.example.com/x"
    # WHEN a token sets retries 1 s apart, on create or update THEN 400 naming the field
    with pytest.raises(ValidationError) as err:
        world.endpoints.create(parse_create_endpoint({"url": url, "retry_schedule": [0, 1, 1, 1]}), token)
    assert err.value.field == "retry_schedule" and err.value.code == "retry_schedule_too_fast"
    endpoint, _, _ = world.endpoints.create(
        parse_create_endpoint({"url": url, "retry_schedule": [0, 5, 60]}), token
    )
    with pytest.raises(ValidationError):
        world.endpoints.update(endpoint.id, parse_update_endpoint({"retry_schedule": [0, 4]}), token)
    # ... while the operator may (its own internal receivers)
    assert world.endpoints.update(
        endpoint.id, parse_update_endpoint({"retry_schedule": [0, 1]}), OPERATOR
    ).retry_schedule == (0, 1)


def test_test_resend_and_recover_are_rate_limited_per_token() -> None:
    from chalicelib.api import access
    from chalicelib.errors import TooManyRequestsError
    from chalicelib.limits import RateLimiter
    from testkit.fakes import FakeClock

    # GIVEN as many actions per minute as there are limited routes (test, resend, recover, replay: 4), and
    # two tokens of one application
    clock = FakeClock()
    routes = list(access.token_limited())
    limiter = RateLimiter(len(routes), 60.0, clock)
    first, second = Scope("app_a", token_id="one"), Scope("app_a", token_id="two")
    # WHEN the first token tests, resends, recovers and replays once each
    for method, route in routes:
        access.check(first, method, route, lambda: limiter)
    # THEN its fourth call of any of them is 429 with Retry-After; the other token and the operator pass
    with pytest.raises(TooManyRequestsError) as err:
        access.check(first, *routes[0], lambda: limiter)
    assert err.value.status == 429 and err.value.code == "rate_limited"
    assert 1 <= int(err.value.headers["Retry-After"]) <= 20
    access.check(second, *routes[0], lambda: limiter)
    for _ in range(10):
        access.check(OPERATOR, *routes[1], lambda: limiter)
    # ... reads are never limited, and after the wait it may go on
    access.check(first, "GET", "/v1/endpoints", lambda: limiter)
    clock.advance(int(err.value.headers["Retry-After"]))
    access.check(first, *routes[2], lambda: limiter)
