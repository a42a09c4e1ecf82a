"""Endpoints written before subscription pages: delivered before the backfill (the router's fallback to
the full listing) and after it (pages); the backfill is idempotent and resumable."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from chalicelib.api.applications import parse_create as parse_create_application
from chalicelib.api.endpoints import parse_create as parse_create_endpoint
from chalicelib.api.messages import parse_publish
from chalicelib.backfill import CHECKPOINT, DONE, Backfill
from chalicelib.ids import new_id
from chalicelib.models import Endpoint
from chalicelib.scope import OPERATOR
from tests.conftest import Services
from tests.unit.test_delivery import Receiver, World


@pytest.fixture
def world(services: Services) -> World:
    return World(services, Receiver())


def _legacy(world: World, count: int, application_id: str | None = None) -> list[Endpoint]:
    """``count`` endpoints written as Hookway wrote them before subscription pages (no page, no version)."""
    template, _ = world.endpoint()
    world.s.store.delete_endpoint(template.id)
    store = world.s.store
    store.owners.clear()
    store.pages.clear()
    store.complete.clear()
    made = []
    for i in range(count):
        endpoint = replace(
            template,
            id=new_id("ep"),
            url=f"https://hooks.example.com/in/{i}",
            application_id=application_id,
            created_at=template.created_at + i,
        )
        store.put_legacy_endpoint(endpoint)
        made.append(endpoint)
    return made


def _publish(world: World, application: str | None = None) -> str:
    doc = {
        "event_type": "invoice.paid",
        "payload": {"n": 1},
        **({"application": application} if application else {}),
    }
    return world.publisher.publish(parse_publish(doc), OPERATOR)


def _delivered(world: World) -> list[str]:
    world.run(max_steps=5_000)
    urls = [r.url for r in world.receiver.requests]
    world.receiver.requests.clear()
    return urls


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_legacy_endpoints_get_messages_before_the_backfill_and_after_it(world: World) -> None:
    # GIVEN 3 endpoints of the operator written before subscription pages (in no page)
    made = _legacy(world, 3)
    store = world.s.store
    assert store.owner_state(None) == (0, 0, False)
    # WHEN a message is published before any backfill
    caught = _Records()
    logger = logging.getLogger("hookway.caches")
    level, disabled = logger.level, logger.disabled
    logger.setLevel(logging.WARNING)  # whatever an earlier test left on the "hookway" loggers
    logger.disabled = False
    logger.addHandler(caught)
    try:
        _publish(world)
        first = _delivered(world)
        _publish(world)
        second = _delivered(world)
    finally:
        logger.removeHandler(caught)
        logger.setLevel(level)
        logger.disabled = disabled
    # THEN every legacy endpoint gets it (the full listing), with one WARNING for the owner
    assert sorted(first) == sorted(e.url for e in made) == sorted(second)
    warnings = [r for r in caught.records if "subscription pages" in r.getMessage()]
    assert len(warnings) == 1
    # WHEN the backfill runs: each endpoint joins a page and the owner is marked complete
    totals = Backfill(store).run()
    assert totals.done and totals.joined == 3
    assert store.owner_state(None)[1:] == (1, True)
    assert set(store.subscription_page(None, 0)) == {e.id for e in made}
    # THEN a message reaches them through the pages (no full listing read)
    listings = []
    of = store.endpoints_of
    store.endpoints_of = lambda owner: (listings.append(owner), of(owner))[1]  # type: ignore[method-assign]
    _publish(world)
    assert sorted(_delivered(world)) == sorted(e.url for e in made)
    assert listings == []


def test_more_than_100_legacy_endpoints_of_an_application_fan_out_in_pages_before_the_backfill(
    world: World,
) -> None:
    # GIVEN an application with 1,100 legacy endpoints (over the inline limit, three pages' worth)
    app = world.api.applications.create(parse_create_application({"name": "legacy"}), OPERATOR)
    made = _legacy(world, 1_100, app.id)
    # WHEN a message for it is routed before the backfill
    message_id = _publish(world, app.id)
    world.route_all()
    # THEN the router wrote every fan-out page (bounded items) and queued every endpoint once
    message = world.s.store.messages[message_id]
    assert message.fanout_pages == 3 and message.endpoints == ()
    assert message.endpoint_count == 1_100
    assert all(len(world.s.store.fanout[(message_id, n)].endpoint_ids) <= 500 for n in range(3))
    urls = _delivered(world)
    assert len(urls) == 1_100 and set(urls) == {e.url for e in made}
    # AND after the backfill the same, through three subscription pages
    Backfill(world.s.store).run()
    assert world.s.store.owner_state(app.id)[1:] == (3, True)
    _publish(world, app.id)
    urls = _delivered(world)
    assert len(urls) == 1_100 and set(urls) == {e.url for e in made}


def test_the_backfill_is_resumable_and_idempotent(world: World) -> None:
    # GIVEN legacy endpoints of the operator and of two applications, one of them already joined
    apps = [
        world.api.applications.create(parse_create_application({"name": f"a{i}"}), OPERATOR) for i in range(2)
    ]
    store = world.s.store
    made = _legacy(world, 7) + _legacy_more(world, 5, apps[0].id) + _legacy_more(world, 4, apps[1].id)
    store.join_subscription(made[0].id)
    # WHEN it runs two endpoints per step, one step per run (as if interrupted after every step)
    runs = 0
    while True:
        runs += 1
        totals = Backfill(store, page_size=2).run(max_steps=1)
        if totals.done:
            break
        assert runs < 50
    # THEN it went on from its checkpoint each time, and every endpoint is in exactly one page
    assert store.get_checkpoint(CHECKPOINT) == DONE
    assert runs >= 9
    _assert_each_in_one_page(world, made)
    assert all(store.owner_state(owner)[2] for owner in (None, apps[0].id, apps[1].id))
    # WHEN it runs again (a finished run is a no-op; forced, it joins nothing)
    assert Backfill(store).run().skipped
    again = Backfill(store).run(again=True)
    assert again.done and again.joined == 0
    _assert_each_in_one_page(world, made)


def test_an_id_already_in_a_page_without_its_record_is_not_joined_twice(world: World) -> None:
    # GIVEN an endpoint whose id is in page 0 but whose item lost its record (a crash after the join,
    # or an older version rewrote the item during a deploy)
    made = _legacy(world, 3)
    store = world.s.store
    for endpoint in made:
        store.join_subscription(endpoint.id)
    store.sub_page.pop(made[1].id)
    # WHEN the backfill runs
    totals = Backfill(store).run()
    # THEN it only records the page: no second page, no duplicate delivery
    assert totals.joined == 1 and store.sub_page[made[1].id] == 0
    _assert_each_in_one_page(world, made)
    _publish(world)
    assert sorted(_delivered(world)) == sorted(e.url for e in made)


def test_a_new_owner_is_complete_from_its_first_endpoint_but_a_legacy_owner_is_not(world: World) -> None:
    store = world.s.store
    world.endpoint()
    assert store.owner_state(None)[2] is True
    app = world.api.applications.create(parse_create_application({"name": "old"}), OPERATOR)
    old = _legacy_more(world, 1, app.id)
    world.endpoints.create(
        parse_create_endpoint({"url": "https://hooks.example.com/new", "application": app.id}), OPERATOR
    )
    # THEN the legacy owner still is not complete (its old endpoint is in no page) and both get messages
    assert store.owner_state(app.id)[2] is False
    _publish(world, app.id)
    urls = _delivered(world)
    assert sorted(urls) == sorted([old[0].url, "https://hooks.example.com/new"])


def _legacy_more(world: World, count: int, application_id: str) -> list[Endpoint]:
    template = next(iter(world.s.store.endpoints.values()))
    made = []
    for i in range(count):
        endpoint = replace(
            template,
            id=new_id("ep"),
            url=f"https://hooks.example.com/{application_id}/{i}",
            application_id=application_id,
            created_at=template.created_at + i,
        )
        world.s.store.put_legacy_endpoint(endpoint)
        made.append(endpoint)
    return made


def _assert_each_in_one_page(world: World, made: list[Endpoint]) -> None:
    store = world.s.store
    for endpoint in made:
        holding = [key for key, ids in store.pages.items() if endpoint.id in ids]
        assert holding == [(endpoint.application_id, store.sub_page[endpoint.id])]


def test_resume_after_a_restart_rebuilds_first_attempts_from_fan_out_pages(world: World) -> None:
    # GIVEN 1,200 endpoints (3 fan-out pages) and a message routed, whose delivery tasks were lost (the
    # emulator stopped: the deliveries queue is not saved), one endpoint already delivered
    template, _ = world.endpoint()
    made = [template]
    for i in range(1_199):
        endpoint = replace(template, id=new_id("ep"), url=f"https://hooks.example.com/r/{i}")
        world.s.store.put_endpoint(endpoint)
        made.append(endpoint)
    message_id = _publish(world)
    world.route_all()
    world.deliveries.sent.clear()
    world.deliveries.delays.clear()
    message = world.s.store.messages[message_id]
    assert message.fanout_pages == 3 and message.endpoints == ()
    # WHEN the local stack resumes from the table's messages and attempts
    resumed = world.api.recovery.resume([(message, [])])
    # THEN every endpoint gets its first attempt back, one page of tasks at a time
    assert resumed == 1_200
    urls = _delivered(world)
    assert len(urls) == 1_200 and set(urls) == {e.url for e in made}
