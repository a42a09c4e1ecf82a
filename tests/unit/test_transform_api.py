"""An endpoint's transformation field (checked on save, stored, shown) and its simulation, with tenancy."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.api import access
from chalicelib.api.applications import parse_create as parse_create_application
from chalicelib.api.endpoints import parse_create, parse_simulate, parse_update, public_endpoint
from chalicelib.aws.dynamodb.endpoints import endpoint_to_item, item_to_endpoint
from chalicelib.errors import ForbiddenError, NotFoundError, ValidationError
from chalicelib.models import Transformation
from chalicelib.scope import OPERATOR, Scope
from chalicelib.transform.simulate import shown_outcome
from tests.conftest import Services
from tests.unit.test_delivery import Receiver, World, _publish

CODE = "function handler(w) { w.payload = {text: 'n=' + w.payload.data.n}; return w; }"


@pytest.fixture
def world(services: Services) -> World:
    return World(services, Receiver())


def _create(world: World, **doc: Any) -> Any:
    return world.endpoints.create(parse_create({"url": "https://hooks.example.com/in", **doc}), OPERATOR)[0]


def test_a_transformation_is_stored_shown_and_survives_the_dynamodb_codec(world: World) -> None:
    endpoint = _create(world, transformation={"code": CODE})
    assert endpoint.transformation == Transformation(CODE, True)
    assert public_endpoint(endpoint)["transformation"] == {"code": CODE, "enabled": True}
    assert item_to_endpoint(endpoint_to_item(endpoint)).transformation == Transformation(CODE, True)
    assert (
        item_to_endpoint(endpoint_to_item(endpoint.with_changes(transformation=None))).transformation is None
    )
    off = world.endpoints.update(
        endpoint.id, parse_update({"transformation": {"code": CODE, "enabled": False}}), OPERATOR
    )
    assert off.transformation == Transformation(CODE, False)
    cleared = world.endpoints.update(endpoint.id, parse_update({"transformation": None}), OPERATOR)
    assert cleared.transformation is None and public_endpoint(cleared)["transformation"] is None


@pytest.mark.parametrize(
    ("value", "field", "code"),
    [
        ({"code": "function handler(w) {"}, "transformation.code", "invalid_transformation"),
        ({"code": "var x = 1;"}, "transformation.code", "invalid_transformation"),
        ({"code": "while (true) {}"}, "transformation.code", "invalid_transformation"),
        ({"code": ""}, "transformation.code", "invalid_request"),
        ({"code": "x" * 20_000}, "transformation.code", "invalid_request"),
        ({"code": CODE, "enabled": "yes"}, "transformation.enabled", "invalid_request"),
        ({"code": CODE, "lang": "js"}, "transformation", "invalid_request"),
        ("function handler(w) { return w; }", "transformation", "invalid_request"),
    ],
)
def test_a_bad_transformation_is_a_400_naming_the_field(
    world: World, value: Any, field: str, code: str
) -> None:
    with pytest.raises(ValidationError) as err:
        _create(world, transformation=value)
    assert (err.value.status, err.value.field, err.value.code) == (400, field, code)


def test_passthrough_signing_refuses_a_transformation(world: World) -> None:
    with pytest.raises(ValidationError) as err:
        _create(world, signing="passthrough", transformation={"code": CODE})
    assert err.value.code == "transformation_with_passthrough"
    endpoint = _create(world, signing="passthrough")
    with pytest.raises(ValidationError):
        world.endpoints.update(endpoint.id, parse_update({"transformation": {"code": CODE}}), OPERATOR)


def test_simulate_a_stored_message_and_a_payload(world: World) -> None:
    # GIVEN an endpoint with a secret header and a transformation, and a published message
    endpoint = _create(world, headers={"X-Tenant": "secret-value"}, transformation={"code": CODE})
    message_id = _publish(world)
    world.route_all()  # stored by the router
    simulator = world.api.transformations
    # WHEN its own code runs on the stored message THEN the request is shown unsigned, header values masked
    _, outcome = simulator.simulate(endpoint.id, parse_simulate({"message_id": message_id}), OPERATOR)
    shown = shown_outcome(outcome, endpoint)
    assert shown["outcome"] == "request"
    request: Any = shown["request"]
    assert request["payload"] == {"text": "n=1"} and request["url"] == "https://hooks.example.com/in"
    assert request["headers"]["X-Tenant"] == "***"
    assert not any(name.lower().startswith("webhook-") for name in request["headers"])
    # AND code given runs on a payload given: a cancel, an error, a compile error
    for code, expected in (
        ("function handler(w) { w.cancel = true; return w; }", {"outcome": "cancelled"}),
        ("function handler(w) { while (true) {} }", {"outcome": "failed"}),
        ("function handler(w) {", {"outcome": "failed"}),
    ):
        _, outcome = simulator.simulate(
            endpoint.id, parse_simulate({"code": code, "payload": {"a": 1}}), OPERATOR
        )
        assert expected.items() <= shown_outcome(outcome, endpoint).items()
    # AND nothing was sent
    assert world.receiver.requests == []


@pytest.mark.parametrize(
    "doc", [{}, {"message_id": "m", "payload": 1}, {"payload": 1, "code": 5}, {"payload": 1, "other": 1}]
)
def test_simulate_refuses_a_malformed_request(doc: Any) -> None:
    with pytest.raises(ValidationError):
        parse_simulate(doc)


def test_a_portal_token_simulates_only_on_its_own_endpoints_and_messages(world: World) -> None:
    # GIVEN two applications, each with an endpoint and a message
    apps = world.api.applications
    a = apps.create(parse_create_application({"name": "A"}), OPERATOR).id
    b = apps.create(parse_create_application({"name": "B"}), OPERATOR).id
    ep_a = _create(world, application=a, transformation={"code": CODE})
    ep_b = _create(world, application=b, transformation={"code": CODE})
    from chalicelib.api.messages import parse_publish

    msg_b = world.publisher.publish(
        parse_publish({"event_type": "x.y", "payload": {"n": 2}, "application": b}), OPERATOR
    )
    world.route_all()
    token = Scope(application_id=a)
    simulator = world.api.transformations
    # WHEN A's token names B's endpoint, or B's message on its own endpoint THEN 404, as if absent
    with pytest.raises(NotFoundError):
        simulator.simulate(ep_b.id, parse_simulate({"payload": {"data": {"n": 1}}}), token)
    with pytest.raises(NotFoundError):
        simulator.simulate(ep_a.id, parse_simulate({"message_id": msg_b}), token)
    # AND its own endpoint works; a read-only token may not call it at all
    _, outcome = simulator.simulate(ep_a.id, parse_simulate({"payload": {"data": {"n": 1}}}), token)
    assert shown_outcome(outcome, ep_a)["outcome"] == "request"
    with pytest.raises(ForbiddenError):
        access.check(
            Scope(application_id=a, read_only=True),
            "POST",
            "/v1/endpoints/{endpoint_id}/transformation/simulate",
        )
