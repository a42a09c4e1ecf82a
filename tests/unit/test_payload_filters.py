"""An endpoint's payload filter (``filter.payload``) through the API layer, the store and the router."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from chalicelib.api.endpoints import parse_create, parse_update, public_endpoint
from chalicelib.api.messages import parse_publish
from chalicelib.aws.dynamodb.endpoints import endpoint_to_item, item_to_endpoint
from chalicelib.errors import ValidationError
from chalicelib.ids import new_id
from chalicelib.scope import OPERATOR
from tests.conftest import Services, github_headers, inbound
from tests.unit.test_delivery import Receiver, World

BIG_ORDERS = {"payload": {"total": [{"numeric": [">", 100]}]}}


@pytest.fixture
def world(services: Services) -> World:
    return World(services, Receiver())


def _publish(world: World, payload: Any, event_type: str = "order.created") -> str:
    return world.publisher.publish(parse_publish({"event_type": event_type, "payload": payload}), OPERATOR)


def test_the_filter_keeps_its_event_types_and_sources_and_adds_an_optional_payload_pattern(
    world: World,
) -> None:
    # GIVEN an endpoint created with all three parts of a filter
    endpoint, _ = world.endpoint(
        filter={"event_types": ["order.*"], "sources": ["api"], "payload": BIG_ORDERS}
    )
    # THEN the API shows them back, and the existing fields keep their meaning and storage
    shown = public_endpoint(world.endpoints.get(endpoint.id, OPERATOR))
    assert shown["filter"] == {"event_types": ["order.*"], "sources": ["api"], "payload": BIG_ORDERS}
    assert endpoint.filter_event_types == ("order.*",) and endpoint.filter_sources == ("api",)
    # AND an endpoint without one shows null
    plain, _ = world.endpoint(filter={"event_types": ["order.*"]})
    assert public_endpoint(plain)["filter"]["payload"] is None


def test_a_patch_replaces_the_filter_as_a_whole(world: World) -> None:
    endpoint, _ = world.endpoint(filter={"event_types": ["order.*"], "payload": BIG_ORDERS})
    updated = world.endpoints.update(
        endpoint.id, parse_update({"filter": {"payload": {"source": ["api"]}}}), OPERATOR
    )
    assert updated.filter_payload == {"source": ["api"]} and updated.filter_event_types == ()
    cleared = world.endpoints.update(endpoint.id, parse_update({"filter": {"event_types": ["x"]}}), OPERATOR)
    assert cleared.filter_payload is None
    # AND a PATCH without "filter" leaves it as it is
    kept = world.endpoints.update(endpoint.id, parse_update({"description": "d"}), OPERATOR)
    assert kept.filter_event_types == ("x",)


@pytest.mark.parametrize(
    ("pattern", "code", "field"),
    [
        ({"total": [1]}, "invalid_pattern", "filter.payload.total"),
        ({"payload": {"total": [{"regex": ".*"}]}}, "unknown_pattern_operator", "filter.payload.payload.total[0].regex"),
        ({"payload": {"k": ["x" * 250] * 20}}, "pattern_too_large", "filter.payload"),
        ("not an object", "invalid_pattern", "filter.payload"),
    ],
)  # fmt: skip
def test_an_invalid_pattern_is_a_400_naming_the_field(pattern: Any, code: str, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_create({"url": "https://hooks.example.com/in", "filter": {"payload": pattern}})
    assert caught.value.status == 400
    assert caught.value.to_body()["error"]["code"] == code
    assert caught.value.to_body()["error"]["field"] == field
    with pytest.raises(ValidationError):
        parse_update({"filter": {"payload": pattern}})


def test_the_pattern_round_trips_through_the_dynamodb_item() -> None:
    endpoint = item_to_endpoint(
        endpoint_to_item(
            replace(_endpoint(), filter_payload={"payload": {"a": [{"prefix": "x"}]}, "$or": [{"source": ["a"]}, {"source": ["b"]}]})
        )
    )  # fmt: skip
    assert endpoint.filter_payload == {
        "payload": {"a": [{"prefix": "x"}]},
        "$or": [{"source": ["a"]}, {"source": ["b"]}],
    }
    assert item_to_endpoint(endpoint_to_item(_endpoint())).filter_payload is None
    assert "filter_payload" not in endpoint_to_item(_endpoint())  # no attribute without a filter


def _endpoint() -> Any:
    from chalicelib.models import Endpoint

    return Endpoint(id=new_id("ep"), url="https://h.example.com", created_at=1.0, updated_at=1.0)


def test_a_message_the_payload_filter_refuses_is_no_delivery_for_that_endpoint(world: World) -> None:
    # GIVEN an endpoint for big orders only, and one without a payload filter
    picky, _ = world.endpoint(filter={"payload": BIG_ORDERS})
    plain, _ = world.endpoint()
    # WHEN a small and a big order are published and delivered
    small = _publish(world, {"total": 20})
    big = _publish(world, {"total": 250})
    world.run()
    # THEN the small order is a delivery of the plain endpoint only: never pending, skipped or delivered
    # for the picky one; the big order reached both
    assert world.s.store.messages[small].endpoints == (plain.id,)
    assert set(world.s.store.messages[big].endpoints) == {picky.id, plain.id}
    picky_attempts = {a.message_id for a in world.s.store.attempts.values() if a.endpoint_id == picky.id}
    assert picky_attempts == {big}
    bodies = [json.loads(r.body)["data"] for r in world.receiver.requests]
    assert sorted(b["total"] for b in bodies) == [20, 250, 250]


def test_an_inbound_webhook_is_matched_on_its_json_body_and_lower_cased_headers(services: Services) -> None:
    # GIVEN a GitHub source and an endpoint for pushes to main, by header and body
    world = World(services, Receiver())
    sid = services.github_source()
    pattern = {"headers": {"X-GitHub-Event": ["push"]}, "payload": {"ref": [{"suffix": "/main"}]}}
    wanted, _ = world.endpoint(filter={"sources": [sid], "payload": pattern})
    # WHEN a push to main, a push to a branch and an issue event arrive
    for body, event in [
        (b'{"ref": "refs/heads/main"}', "push"),
        (b'{"ref": "refs/heads/dev"}', "push"),
        (b'{"ref": "refs/heads/main"}', "issues"),
    ]:
        services.ingest.receive(inbound(sid, body, github_headers(body, event=event)))
    world.route_all()
    # THEN only the push to main is a delivery of the endpoint
    matched = [m for m in services.store.messages.values() if m.endpoints]
    assert [(m.event_type, json.loads(m.body or b"")["ref"]) for m in matched] == [
        ("push", "refs/heads/main")
    ]
    assert matched[0].endpoints == (wanted.id,)


def test_a_fan_out_chunk_matches_payload_filters_on_the_stored_message(world: World) -> None:
    # GIVEN 1,200 endpoints of one owner (three subscription pages), each for big orders only but one
    # in ten, which takes every order
    template, _ = world.endpoint(filter={"payload": BIG_ORDERS})
    plain = []
    for i in range(1_199):
        picky = i % 10 != 0
        endpoint = replace(
            template, id=new_id("ep"), url=f"https://hooks.example.com/in/{i}",
            filter_payload=BIG_ORDERS if picky else None,
        )  # fmt: skip
        world.s.store.put_endpoint(endpoint)
        if not picky:
            plain.append(endpoint.id)
    # WHEN a small and a big order are routed, their fan-out chunks included
    small, big = _publish(world, {"total": 5}), _publish(world, {"total": 500})
    reads: list[str] = []
    read = world.s.store.get_message
    world.s.store.get_message = lambda message_id, *a, **k: reads.append(message_id) or read(
        message_id, *a, **k
    )  # type: ignore[method-assign]
    world.route_all()

    def matched(message_id: str) -> list[str]:
        message = world.s.store.messages[message_id]
        pages = [world.s.store.fanout[(message_id, n)].endpoint_ids for n in range(message.fanout_pages)]
        return sorted(e for page in pages for e in page) if pages else sorted(message.endpoints)

    # THEN every chunk matched on the message's payload, which it carries (small): the small order went
    # to the endpoints without a payload filter only, the big one to all 1,200; no chunk read the item
    assert matched(small) == sorted(plain)
    assert len(matched(big)) == 1_200
    assert reads == []


def test_the_pattern_is_compiled_once_per_loaded_endpoint(world: World) -> None:
    endpoint, _ = world.endpoint(filter={"payload": BIG_ORDERS})
    assert endpoint.payload_pattern is endpoint.payload_pattern  # cached on the loaded object
    assert replace(endpoint, filter_payload=None).payload_pattern is None


def test_a_stored_pattern_that_no_longer_validates_matches_nothing_and_does_not_fail_the_router(
    world: World,
) -> None:
    # GIVEN an endpoint whose stored pattern is invalid (saved under looser bounds, say)
    endpoint, _ = world.endpoint()
    world.s.store.put_endpoint(replace(endpoint, filter_payload={"payload": {"a": [{"regex": "x"}]}}))
    world.endpoint_cache.invalidate()
    # WHEN a message is routed THEN it is stored, with no delivery for that endpoint
    message_id = _publish(world, {"a": 1})
    world.route_all()
    assert world.s.store.messages[message_id].endpoints == ()


# ---------------------------------------------------------------------------------- POST /v1/filters/test


def _test(world: World, body: dict[str, Any], scope: Any = OPERATOR) -> dict[str, Any]:
    from chalicelib.api.filters import parse_test, public_verdict

    return public_verdict(world.api.filter_tests.test(parse_test(body), scope))


def test_a_filter_test_answers_match_or_the_part_that_did_not(world: World) -> None:
    message = {"event_type": "order.created", "source": "api", "payload": {"total": 50}}
    # a match
    answer = _test(world, {"filter": {"event_types": ["order.*"]}, "message": message})
    assert answer["match"] is True and "part" not in answer
    # each part that can refuse, named
    assert _test(world, {"filter": {"sources": ["shopify"]}, "message": message})["part"] == "sources"
    assert (
        _test(world, {"filter": {"event_types": ["invoice.*"]}, "message": message})["part"] == "event_types"
    )
    refused = _test(world, {"filter": {"payload": BIG_ORDERS}, "message": message})
    assert (refused["match"], refused["part"], refused["path"]) == (False, "payload", "payload.total")


def test_a_filter_test_on_a_stored_message_answers_as_the_router_matched(world: World) -> None:
    # GIVEN an endpoint for big orders, and a small and a big order routed
    world.endpoint(filter={"payload": BIG_ORDERS})
    small, big = _publish(world, {"total": 5}), _publish(world, {"total": 500})
    world.route_all()
    # THEN the test agrees with the router for each stored message
    for message_id in (small, big):
        answer = _test(world, {"filter": {"payload": BIG_ORDERS}, "message_id": message_id})
        assert answer["match"] is bool(world.s.store.messages[message_id].endpoints)
        assert answer["document"]["payload"]["total"] in (5, 500)


@pytest.mark.parametrize(
    "body",
    [
        {"filter": {}},
        {"filter": {}, "message": {}, "message_id": "msg_1"},
        {"filter": {}, "message": {"body": "x"}},
        {"filter": {}, "message": {"headers": {"a": 1}}},
        {"filter": {}, "message_id": 7},
        {"filter": {"payload": {"payload": {"a": [{"regex": "x"}]}}}, "message": {}},
        {"filter": {}, "message": {}, "extra": 1},
        [],
    ],
)
def test_a_malformed_filter_test_is_a_400(world: World, body: Any) -> None:
    with pytest.raises(ValidationError):
        _test(world, body)


def test_a_portal_token_tests_filters_only_against_its_own_applications_messages(world: World) -> None:
    # GIVEN messages of applications A and B
    from chalicelib.api.applications import parse_create as parse_create_application
    from chalicelib.errors import NotFoundError
    from chalicelib.scope import Scope

    a = world.api.applications.create(parse_create_application({"name": "A"}), OPERATOR).id
    b = world.api.applications.create(parse_create_application({"name": "B"}), OPERATOR).id
    ids = {}
    for app in (a, b):
        doc = {"event_type": "order.created", "payload": {"secret_total": 1}, "application": app}
        ids[app] = world.publisher.publish(parse_publish(doc), OPERATOR)
    world.route_all()
    # WHEN A's token tests a filter against B's message THEN it is 404, as if it did not exist
    with pytest.raises(NotFoundError):
        _test(world, {"filter": {}, "message_id": ids[b]}, Scope(application_id=a))
    # AND against its own it answers
    assert _test(world, {"filter": {}, "message_id": ids[a]}, Scope(application_id=a))["match"] is True


def test_a_tenant_pattern_cannot_probe_a_signature_header_through_routing_or_the_test(
    services: Services,
) -> None:
    # GIVEN an application's GitHub source and, on its endpoint, a pattern on the signature header's
    # prefix (what a tenant would use to learn it a character at a time from what it receives)
    from chalicelib.api.applications import parse_create as parse_create_application
    from chalicelib.scope import Scope

    world = World(services, Receiver())
    app = world.api.applications.create(parse_create_application({"name": "A"}), OPERATOR).id
    sid = services.github_source(application=app)
    probe = {"headers": {"x-hub-signature-256": [{"prefix": "sha256="}]}}
    world.endpoint(application=app, filter={"payload": probe})  # the prober
    honest, _ = world.endpoint(application=app, filter={"payload": {"headers": {"x-github-event": ["push"]}}})
    # WHEN a signed push arrives (its signature header starts with sha256=)
    body = b'{"ref": "refs/heads/main"}'
    headers = github_headers(body, event="push")
    assert any(k.lower() == "x-hub-signature-256" for k in headers)
    services.ingest.receive(inbound(sid, body, headers))
    world.route_all()
    # THEN the probing endpoint never matches (signature headers are not in the document) while a
    # pattern on an ordinary header does, and the test shows the same to the tenant's token
    [message] = services.store.messages.values()
    assert message.endpoints == (honest.id,)
    answer = _test(world, {"filter": {"payload": probe}, "message_id": message.id}, Scope(application_id=app))
    assert answer["match"] is False and "x-hub-signature-256" not in answer["document"]["headers"]


def test_a_listen_session_takes_a_payload_filter_too(world: World) -> None:
    from chalicelib.api.listen import parse_open_session

    session, _ = world.api.listen.open(parse_open_session({"filter": {"payload": BIG_ORDERS}}), OPERATOR)
    small, big = _publish(world, {"total": 5}), _publish(world, {"total": 500})
    world.route_all()
    assert session.filter_payload == BIG_ORDERS
    assert session.id in world.s.store.messages[big].endpoints
    assert session.id not in world.s.store.messages[small].endpoints


def test_a_tenants_costliest_payload_filters_cannot_stall_the_router(services: Services) -> None:
    # GIVEN an application whose endpoints each hold the costliest pattern the bounds allow
    import time

    from chalicelib.api.applications import parse_create as parse_create_application

    world = World(services, Receiver())
    app = world.api.applications.create(parse_create_application({"name": "greedy"}), OPERATOR).id
    costly = {"payload": {"k": [{"wildcard": f"*{i}*x"} for i in range(150)]}}
    for _ in range(20):
        world.endpoint(application=app, filter={"payload": costly})
    # WHEN a message with a 20,000-element array is published and routed
    doc = {"event_type": "order.created", "payload": {"k": ["a" * 10] * 20_000}, "application": app}
    world.publisher.publish(parse_publish(doc), OPERATOR)
    started = time.perf_counter()
    world.route_all()
    # THEN routing takes well under a second (each match stops at its step budget) and matched nothing
    assert time.perf_counter() - started < 1.0
    [message] = services.store.messages.values()
    assert message.endpoints == ()


def test_a_body_parked_in_s3_for_its_size_is_matched_on_its_payload(services: Services) -> None:
    # GIVEN a GitHub source, an endpoint for pushes to main, and 1,200 more (three subscription pages:
    # the second and third are matched by fan-out chunks, which read the message back)
    world = World(services, Receiver())
    sid = services.github_source()
    pattern = {"payload": {"ref": [{"suffix": "/main"}]}}
    template, _ = world.endpoint(filter={"sources": [sid], "payload": pattern})
    for i in range(1_199):
        world.s.store.put_endpoint(replace(template, id=new_id("ep"), url=f"https://hooks.example.com/{i}"))
    # WHEN pushes too big for a DynamoDB item arrive, one to main and one to a branch (the first is
    # parked in S3 by the router, the second claim-checked by ingest)
    for ref, pad in (
        ("refs/heads/main", 300_000),
        ("refs/heads/dev", 300_000),
        ("refs/heads/main", 1_100_000),
    ):
        body = json.dumps({"ref": ref, "pad": "x" * pad}).encode()
        services.ingest.receive(inbound(sid, body, github_headers(body, event="push")))
    world.route_all()
    # THEN each is in S3, and each push to main matched all 1,200 endpoints, the other none
    counts = {}
    for message in services.store.messages.values():
        assert message.body is None and message.body_ref is not None
        ref = json.loads(services.blobs.objects[message.body_ref.key])["ref"]
        pages = [services.store.fanout[(message.id, n)].endpoint_ids for n in range(message.fanout_pages)]
        counts.setdefault(ref, []).append(sum(len(p) for p in pages) if pages else len(message.endpoints))
    assert counts == {"refs/heads/main": [1_200, 1_200], "refs/heads/dev": [0]}


def test_a_filter_test_on_a_body_in_s3_answers_as_the_router_matched(services: Services) -> None:
    world = World(services, Receiver())
    sid = services.github_source()
    body = json.dumps({"ref": "refs/heads/main", "pad": "x" * 300_000}).encode()
    services.ingest.receive(inbound(sid, body, github_headers(body, event="push")))
    world.route_all()
    [message] = services.store.messages.values()
    assert message.body_ref is not None
    answer = _test(
        world, {"filter": {"payload": {"payload": {"ref": ["refs/heads/main"]}}}, "message_id": message.id}
    )
    assert answer["match"] is True
