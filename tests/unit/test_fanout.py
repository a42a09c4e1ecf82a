"""Fan-out without a ceiling, on fakes: bounded items, bounded work per invocation, paged reads."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from chalicelib.api.applications import parse_create as parse_create_application
from chalicelib.api.endpoints import parse_create as parse_create_endpoint
from chalicelib.api.messages import parse_publish, parse_resend, parse_search
from chalicelib.aws.dynamodb import attempts as attempt_items
from chalicelib.aws.dynamodb import fanout as fanout_items
from chalicelib.aws.dynamodb import messages as message_items
from chalicelib.errors import BadRequestError, ValidationError
from chalicelib.ids import new_id
from chalicelib.models import INLINE_ENDPOINTS, Endpoint
from chalicelib.outbound.tasks import CHUNK_PREFIX, Task
from chalicelib.ports import PageRequest, encode_cursor
from chalicelib.scope import OPERATOR
from testkit.fakes import MAX_ITEM_BYTES, item_size
from tests.conftest import Services
from tests.unit.test_delivery import Receiver, World


@pytest.fixture
def world(services: Services) -> World:
    return World(services, Receiver())


def _endpoints(world: World, count: int) -> list[Endpoint]:
    """``count`` endpoints of the operator, each its own URL and secret (created once, then copied)."""
    template, _ = world.endpoint()
    made = [template]
    for i in range(count - 1):
        endpoint = replace(template, id=new_id("ep"), url=f"https://hooks.example.com/in/{i}")
        world.s.store.put_endpoint(endpoint)
        made.append(endpoint)
    return made


def _publish(world: World) -> str:
    return world.publisher.publish(
        parse_publish({"event_type": "invoice.paid", "payload": {"n": 1}}), OPERATOR
    )


def _route_counting(world: World) -> list[tuple[int, int]]:
    """Route everything (messages and fan-out chunks); per invocation: (delivery tasks, chunk tasks) sent."""
    per_call = []
    while world.s.queue.sent:
        body = world.s.queue.sent.pop(0)
        tasks_before, chunks_before = len(world.deliveries.sent), len(world.s.queue.sent)
        world.router.route(body)
        per_call.append((len(world.deliveries.sent) - tasks_before, len(world.s.queue.sent) - chunks_before))
    return per_call


def test_a_message_to_11000_endpoints_is_stored_bounded_and_fanned_out_in_bounded_chunks(
    world: World,
) -> None:
    # GIVEN 11,000 endpoints of one owner (the ids alone would be ~430 KB: over DynamoDB's 400 KB item)
    made = _endpoints(world, 11_000)
    # WHEN one message is published and routed, with its fan-out chunks
    message_id = _publish(world)
    per_call = _route_counting(world)
    # THEN the message is stored, small, and knows its pages; no invocation sent more than one page
    message = world.s.store.messages[message_id]
    assert item_size(message_items.message_to_item(message)) < 4096
    assert message.endpoints == () and message.fanout_pages == 22
    assert message.fanned_pages == 22 and message.endpoint_count == 11_000
    assert max(tasks for tasks, _ in per_call) <= 500 and max(chunks for _, chunks in per_call) <= 10
    assert len(per_call) == 22  # the message and 21 chunks
    for number in range(22):
        page = world.s.store.fanout[(message_id, number)]
        assert len(page.endpoint_ids) <= 500 and item_size(fanout_items.fanout_to_item(page)) < MAX_ITEM_BYTES
    # AND every endpoint has exactly one first-attempt task
    targets = [Task.decode(body).endpoint_id for body in world.deliveries.sent]
    assert sorted(targets) == sorted(e.id for e in made)


def test_the_fake_refuses_an_item_over_400_kb_like_dynamodb(world: World) -> None:
    # (30,000 ids: the packed item deflates them to about half, so 11,000 would fit now)
    message = replace(
        world.s.store.messages.get("x") or _any_message(world),
        endpoints=tuple(new_id("ep") for _ in range(30_000)),
    )
    with pytest.raises(Exception, match="400 KB"):
        world.s.store.store_message(message, world.clock())


def _any_message(world: World) -> Any:
    world.endpoint()
    message_id = _publish(world)
    world.route_all()
    return world.s.store.messages[message_id]


def test_up_to_100_matches_stay_inline_in_the_one_message_write(world: World) -> None:
    _endpoints(world, INLINE_ENDPOINTS)
    message_id = _publish(world)
    world.route_all()
    message = world.s.store.messages[message_id]
    assert len(message.endpoints) == INLINE_ENDPOINTS and message.fanout_pages == 0
    assert not world.s.store.fanout
    assert len(world.deliveries.sent) == INLINE_ENDPOINTS
    # and their attempts stay under the message's own key (one Query reads them all, as before)
    world.run(max_steps=1_000)
    attempts = [a for a in world.s.store.attempts.values() if a.message_id == message_id]
    assert len(attempts) == INLINE_ENDPOINTS and message.attempt_shards == 0
    assert {attempt_items.attempt_to_item(a)["pk"]["S"] for a in attempts} == {f"MSG#{message_id}"}


def test_a_redelivered_chunk_or_message_delivers_nothing_twice(world: World) -> None:
    # GIVEN 1,200 endpoints (3 subscription pages) and a message whose chunks run twice
    made = _endpoints(world, 1_200)
    message_id = _publish(world)
    first = world.s.queue.sent[0]
    world.router.route(world.s.queue.sent.pop(0))
    chunks = [b for b in world.s.queue.sent if b.startswith(CHUNK_PREFIX)]
    assert len(chunks) == 2
    world.s.queue.sent.extend(chunks)  # every chunk comes back once more (SQS redelivery)
    world.s.queue.sent.append(first)  # and so does the message itself
    world.run(max_steps=10_000)
    # THEN each endpoint got one POST, the count is exact, and every duplicate stopped at the claim
    urls = [r.url for r in world.receiver.requests]
    assert len(urls) == 1_200 and len(set(urls)) == 1_200
    message = world.s.store.messages[message_id]
    assert message.endpoint_count == 1_200 and {e.url for e in made} == set(urls)


def test_the_router_reloads_an_owner_only_when_its_version_moves(services: Services) -> None:
    s = services
    w = World(s, Receiver())
    _endpoints(w, 600)
    cache = w.worker.subscriptions
    cache._check = 10  # the World's container checks every time (0 s); production's default is 10 s
    reads: list[str] = []
    version = s.store.owner_version
    s.store.owner_version = lambda owner: (reads.append("version"), version(owner))[1]  # type: ignore[method-assign]
    _publish(w)
    w.route_all()
    loads = cache.loads
    assert loads == 2  # one page in the router, one in the chunk
    # WHEN more messages come within the check interval: no read at all
    _publish(w)
    w.route_all()
    assert cache.loads == loads and reads == ["version"]
    # WHEN the interval passes without a change: one GetItem of the version, no reload
    s.clock.advance(11)
    _publish(w)
    w.route_all()
    assert cache.loads == loads and reads == ["version", "version"]
    # WHEN an endpoint changes: the next check reloads (only what a message needs)
    w.endpoints.create(parse_create_endpoint({"url": "https://hooks.example.com/new"}), OPERATOR)
    s.clock.advance(11)
    _publish(w)
    w.route_all()
    assert cache.loads == loads + 2


def test_the_router_cache_is_bounded_by_its_endpoint_budget(services: Services) -> None:
    from chalicelib.caches import SubscriptionCache

    w = World(services, Receiver())
    _endpoints(w, 1_500)
    cache = SubscriptionCache(services.store, services.clock, check_seconds=60, max_endpoints=500)
    for number in range(3):
        cache.page(None, number)
    assert cache.held <= 500


def test_message_detail_attempts_and_resend_are_paged_for_a_fanned_out_message(world: World) -> None:
    made = _endpoints(world, 1_200)
    message_id = _publish(world)
    world.run(max_steps=10_000)
    messages = world.api.messages
    seen: list[str] = []
    cursor = None
    reads = 0
    while True:
        detail = messages.get(message_id, OPERATOR, PageRequest(limit=200, cursor=cursor))
        reads += 1
        assert len(detail.deliveries) <= 200 and detail.total == 1_200
        assert all(d.status == "succeeded" and d.attempts == 1 for d in detail.deliveries)
        seen.extend(d.endpoint_id for d in detail.deliveries)
        cursor = detail.cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(e.id for e in made) and reads == 6
    attempts: list[str] = []
    cursor = None
    while True:
        page = messages.attempts(message_id, OPERATOR, PageRequest(limit=200, cursor=cursor))
        assert len(page.items) <= 200
        attempts.extend(a.endpoint_id for a in page.items)
        cursor = page.cursor
        if cursor is None:
            break
    assert sorted(attempts) == sorted(seen)
    with pytest.raises(ValidationError) as refused:
        world.api.recovery.resend(message_id, parse_resend({}), OPERATOR)
    assert refused.value.code == "endpoint_ids_required"
    assert (
        world.api.recovery.resend(message_id, parse_resend({"endpoint_ids": seen[:3]}), OPERATOR) == seen[:3]
    )
    tasks = [Task.decode(b) for b in world.deliveries.sent]
    assert [(t.endpoint_id, t.attempt) for t in tasks] == [(e, 2) for e in seen[:3]]


@pytest.mark.parametrize("position", [["²", "0"], ["0", "٣"], ["1000000", "0"], ["-1", "0"]])
def test_a_forged_deliveries_or_attempts_cursor_is_a_400_not_a_500(world: World, position: list[str]) -> None:
    # GIVEN a message fanned out in pages and one delivered inline
    _endpoints(world, 150)
    fanned = _publish(world)
    world.run(max_steps=10_000)
    inline = world.publisher.publish(parse_publish({"event_type": "other", "payload": {}}), OPERATOR)
    world.run()
    messages = world.api.messages
    # WHEN a cursor holds numbers Python's isdigit() accepts but int() refuses ("²"), or out of range
    # THEN the deliveries page and the inline attempts listing answer 400 invalid_cursor
    with pytest.raises(BadRequestError) as deliveries:
        messages.get(fanned, OPERATOR, PageRequest(cursor=encode_cursor(position)))
    with pytest.raises(BadRequestError) as attempts:
        messages.attempts(inline, OPERATOR, PageRequest(cursor=encode_cursor(position[:1])))
    assert deliveries.value.code == attempts.value.code == "invalid_cursor"


def test_a_publish_reads_its_application_from_a_cache(services: Services) -> None:
    w = World(services, Receiver())
    app = w.api.applications.create(parse_create_application({"name": "acme", "uid": "acme"}), OPERATOR)
    reads: list[str] = []
    get = services.store.get_application
    services.store.get_application = lambda a: (reads.append(a), get(a))[1]  # type: ignore[method-assign]
    for ref in (app.id, app.id, "acme", "acme"):
        w.publisher.publish(parse_publish({"event_type": "x", "payload": {}, "application": ref}), OPERATOR)
    assert reads == [app.id]
    assert json.loads(services.queue.sent[-1])["app"] == app.id


def test_a_fanned_out_messages_attempts_are_spread_over_one_partition_per_page(world: World) -> None:
    # GIVEN 1,200 endpoints (3 subscription pages) and one message delivered to every one of them
    _endpoints(world, 1_200)
    message_id = _publish(world)
    world.run(max_steps=10_000)
    message = world.s.store.messages[message_id]
    assert message.fanout_pages == 3 and message.attempt_shards == 3
    # THEN no attempt is written under the message's own key: each endpoint's under one of 3 partitions
    attempts = [a for a in world.s.store.attempts.values() if a.message_id == message_id]
    assert len(attempts) == 1_200 and all(a.shards == 3 for a in attempts)
    per_key: dict[str, int] = {}
    for attempt in attempts:
        key = attempt_items.attempt_to_item(attempt)["pk"]["S"]
        per_key[key] = per_key.get(key, 0) + 1
    assert set(per_key) == {f"MSG#{message_id}#A{k}" for k in range(3)}
    assert max(per_key.values()) <= 500  # about one page's worth of deliveries per key, in all
    # AND a resend's next attempt lands beside the first, in the same partition
    some = sorted(a.endpoint_id for a in attempts)[:2]
    world.api.recovery.resend(message_id, parse_resend({"endpoint_ids": some}), OPERATOR)
    world.run(max_steps=100)
    for endpoint_id in some:
        latest = world.s.store.latest_attempt(message_id, endpoint_id, attempts[0].generation, shards=3)
        assert latest is not None and latest.number == 2 and latest.delivery_status == "succeeded"


def test_the_shard_count_follows_the_pages_up_to_its_ceiling() -> None:
    from chalicelib.models import ATTEMPT_SHARDS_MAX, attempt_shards_for

    assert [attempt_shards_for(p) for p in (0, 1, 3, 100)] == [0, 1, 3, 100]
    assert attempt_shards_for(10_000) == ATTEMPT_SHARDS_MAX
    # one endpoint's partition is stable, and spread evenly over the shards
    keys = [attempt_items.attempt_partition("msg_x", f"ep_{i}", 100) for i in range(50_000)]
    assert keys[7] == attempt_items.attempt_partition("msg_x", "ep_7", 100)
    counts: dict[str, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 100 and max(counts.values()) < 600


API = {"source": "api"}  # published messages only (a 410 also stores operational events)


def test_the_summary_of_a_big_message_counts_every_delivery_with_bounded_reads(services: Services) -> None:
    # GIVEN 1,200 endpoints of which the first 5 answer 410 Gone (disabled: their deliveries skipped)
    world = World(services, Receiver([410] * 5))
    _endpoints(world, 1_200)
    message_id = _publish(world)
    world.route_all()
    messages = world.api.messages
    [listed] = messages.listing(parse_search(API), OPERATOR, PageRequest(limit=10)).items
    assert listed.summary == {"pending": 1_200, "succeeded": 0, "failed": 0, "skipped": 0}
    world.run(max_steps=10_000)
    # THEN the listing's summary counts all 1,200 (not the first 50), from one read of the counters
    [listed] = messages.listing(parse_search(API), OPERATOR, PageRequest(limit=10)).items
    assert listed.summary == {"pending": 0, "succeeded": 1_195, "failed": 0, "skipped": 5}
    detail = messages.get(message_id, OPERATOR, PageRequest(limit=20))
    assert detail.summary == listed.summary and len(detail.deliveries) == 20
    # AND the status search finds it by its counters, whichever page the skipped deliveries are on
    assert [
        m.message.id
        for m in messages.listing(parse_search({**API, "status": "skipped"}), OPERATOR, PageRequest()).items
    ] == [message_id]
    assert messages.listing(parse_search({**API, "status": "failed"}), OPERATOR, PageRequest()).items == []
    # AND a resend of a skipped delivery, once its endpoint is enabled again, moves it to succeeded
    skipped = [r.url for r in world.receiver.requests[:5]]
    gone = next(e for e in world.s.store.endpoints.values() if e.url == skipped[0])
    world.s.store.put_endpoint(replace(gone, enabled=True, disabled_reason=None))
    world.api.recovery.resend(message_id, parse_resend({"endpoint_ids": [gone.id]}), OPERATOR)
    pending = messages.get(message_id, OPERATOR, PageRequest(limit=1)).summary
    assert pending["skipped"] == 5  # until the new attempt ends, as the attempts say too
    world.run(max_steps=100)
    [listed] = messages.listing(parse_search(API), OPERATOR, PageRequest(limit=10)).items
    assert listed.summary == {"pending": 0, "succeeded": 1_196, "failed": 0, "skipped": 4}


def test_recover_with_unmatched_never_counts_a_fanned_out_message_as_unmatched(world: World) -> None:
    from chalicelib.api.endpoints import parse_recover

    # GIVEN a message fanned out in pages to 150 endpoints (its ids in FAN# pages, none inline), delivered
    since = world.clock()
    _endpoints(world, 150)
    message_id = _publish(world)
    world.run(max_steps=1_000)
    assert world.s.store.messages[message_id].fanout_pages and len(world.receiver.requests) == 150
    # AND an endpoint created after it, whose filter takes it
    world.clock.advance(1)
    late, _ = world.endpoint()
    # WHEN it is recovered with include_unmatched over the message's time
    found = world.api.recovery.recover(
        late.id, parse_recover({"since": since, "include_unmatched": True}), OPERATOR
    )
    # THEN the message matched 150 endpoints: it is not "unmatched", and nothing is sent again
    assert found == []
    assert world.run() == [] and len(world.receiver.requests) == 150


def _deliver_as_sqs(world: World, max_steps: int = 10_000) -> list[str]:
    """Handle delivery tasks as the event source mapping does: a task that raises comes back (later)."""
    outcomes = []
    for _ in range(max_steps):
        world.route_all()
        if not world.deliveries.sent:
            return outcomes
        body = world.deliveries.sent.pop(0)
        world.deliveries.delays.pop(0)
        world.clock.now = max(world.clock.now, Task.decode(body).not_before)
        try:
            outcomes.append(world.sender.handle(body))
        except Exception as exc:
            outcomes.append(type(exc).__name__)
            world.deliveries.send(body, delay_seconds=5)  # back after its shortened visibility
    raise AssertionError("did not settle")


def _summary(world: World, message_id: str) -> dict[str, int]:
    detail = world.api.messages.get(message_id, OPERATOR, PageRequest(limit=1))
    summary: dict[str, int] = detail.summary
    return summary


def test_a_delivery_count_that_fails_is_retried_with_its_task_and_counted_once(world: World) -> None:
    # GIVEN a message fanned out in pages to 150 endpoints, and its counter writes throttled 151 times:
    # every outcome's transaction with its count, then the first retry's count alone too
    _endpoints(world, 150)
    message_id = _publish(world)
    world.s.store.fail_counts = 151
    # WHEN every delivery is handled, a task that fails coming back as SQS gives it back
    outcomes = _deliver_as_sqs(world)
    # THEN each outcome was recorded, its task retried until it counted the delivery, with no second POST
    assert outcomes.count("StorageError") == 151 and outcomes.count("counted") == 150
    assert len(world.receiver.requests) == 150
    assert _summary(world, message_id) == {"pending": 0, "succeeded": 150, "failed": 0, "skipped": 0}
    assert not any(a.count_due for a in world.s.store.attempts.values())
    # AND another copy of a task (an SQS redelivery) counts nothing twice
    attempt = next(a for a in world.s.store.attempts.values() if a.message_id == message_id)
    copy = Task(message_id, attempt.endpoint_id, 1, generation=attempt.generation).encode()
    assert world.sender.handle(copy) == "duplicate"
    assert _summary(world, message_id)["succeeded"] == 150


def test_a_skipped_or_dead_lettered_delivery_whose_count_fails_is_counted_on_its_retry(
    world: World,
) -> None:
    from chalicelib.outbound.dead_letters import DeadLetters

    # GIVEN a message fanned out in pages to 150 endpoints, one of them disabled, one of them dead-lettered
    endpoints = _endpoints(world, 150)
    message_id = _publish(world)
    world.route_all()
    world.s.store.put_endpoint(replace(endpoints[0], enabled=False))  # after its task was queued
    generation = world.s.store.messages[message_id].receipt_id.rsplit("_", 1)[-1][:12]
    skipped, lost = (Task(message_id, e.id, 1, generation=generation).encode() for e in endpoints[:2])
    world.deliveries.sent.remove(lost)
    world.deliveries.sent.remove(skipped)
    world.deliveries.sent.insert(0, skipped)  # handled first: its count is the one that fails
    world.deliveries.delays.pop()
    dead = DeadLetters(store=world.s.store, clock=world.clock, retention_seconds=86_400)
    # WHEN the counts of the skip and of the dead letter each fail once, and each is retried
    world.s.store.fail_counts = 1
    outcomes = _deliver_as_sqs(world)
    world.s.store.fail_counts = 1
    with pytest.raises(Exception, match="transact_write_items"):
        dead.handle(lost)
    assert dead.handle(lost) == "already_recorded"
    # THEN each is counted once
    assert outcomes[0] == "StorageError" and outcomes.count("StorageError") == 1
    assert outcomes.count("skipped") == 1  # its retry: the skip recorded already, counted now
    assert _summary(world, message_id) == {"pending": 0, "succeeded": 148, "failed": 1, "skipped": 1}
    assert dead.handle(lost) == "already_recorded"
    assert _summary(world, message_id)["failed"] == 1


def test_a_redelivered_message_keeps_its_attempt_partitions_when_its_page_count_moved(
    world: World,
) -> None:
    # GIVEN a message fanned out to 150 endpoints (one page: one attempt partition), half delivered
    _endpoints(world, 150)
    message_id = _publish(world)
    ingest = world.s.queue.sent[0]
    world.route_all()
    assert world.s.store.messages[message_id].attempt_shards == 1
    for body in world.deliveries.sent[:75]:
        world.sender.handle(body)
    # WHEN its owner gains 500 endpoints (two pages now) and the ingest record comes back (same receipt)
    _endpoints(world, 500)
    world.s.queue.sent.append(ingest)
    world.run(max_steps=10_000)
    # THEN the storing keeps the partitions its attempts are in: no delivery POSTed twice or unlisted
    message = world.s.store.messages[message_id]
    assert message.attempt_shards == 1
    assert len(world.receiver.requests) == 650  # each of the 150 + 500 endpoints once
    listed = world.s.store.list_attempts(message_id, shards=message.attempt_shards)
    assert len(listed) == 650 and len({a.endpoint_id for a in listed}) == 650


def test_a_new_storing_of_a_message_id_with_fewer_pages_still_lists_the_old_attempts(
    world: World,
) -> None:
    # GIVEN a message id stored and delivered to 150 endpoints (fanned out: its own attempt partition)
    made = _endpoints(world, 150)
    message_id = _publish(world)
    ingest = json.loads(world.s.queue.sent[0])
    world.run(max_steps=10_000)
    first = world.s.store.messages[message_id]
    assert first.attempt_shards == 1 and len(world.receiver.requests) == 150
    # WHEN, past its replay window, the same id is stored again (a new receipt) matching 50: inline now
    for endpoint in made[50:]:
        world.s.store.delete_endpoint(endpoint.id)
    world.clock.now = first.dedupe_until + 1
    world.s.queue.sent.append(json.dumps({**ingest, "receipt": "rcp_secondstoring"}))
    world.run(max_steps=10_000)
    message = world.s.store.messages[message_id]
    assert message.receipt_id == "rcp_secondstoring" and len(message.endpoints) == 50
    assert len(world.receiver.requests) == 200
    # THEN the id's attempts still list every attempt of the first storing, and the new ones
    seen, cursor = [], None
    while True:
        page = world.s.store.message_attempts(
            message_id, limit=100, cursor=cursor, shards=message.attempt_shards
        )
        seen.extend(page.items)
        if (cursor := page.cursor) is None:
            break
    assert len(seen) == 200 and len({(a.endpoint_id, a.generation) for a in seen}) == 200
    assert len(world.s.store.list_attempts(message_id, shards=message.attempt_shards)) == 200
    # AND the new storing's deliveries read as delivered
    detail = world.api.messages.get(message_id, OPERATOR, PageRequest(limit=100))
    assert detail.summary == {"pending": 0, "succeeded": 50, "failed": 0, "skipped": 0}


def test_an_owner_that_churns_keeps_its_subscription_pages_and_fans_out_to_each_live_endpoint_once(
    world: World,
) -> None:
    # GIVEN 1,200 endpoints of the operator (3 pages of 500)
    made = _endpoints(world, 1_200)
    store = world.s.store
    assert store.owner_version(None)[1] == 3
    # WHEN it churns: five rounds of deleting its 300 oldest endpoints and creating 300 new ones
    live = list(made)
    for round_number in range(5):
        for endpoint in live[:300]:
            world.endpoints.delete(endpoint.id, OPERATOR)
        live = live[300:]
        for i in range(300):
            endpoint = replace(made[0], id=new_id("ep"), url=f"https://hooks.example.com/r{round_number}/{i}")
            store.put_endpoint(endpoint)
            live.append(endpoint)
    # THEN the pages did not grow with the churn (6,000 ids written in all: 12 pages without compaction)
    pages = store.owner_version(None)[1]
    assert pages == 3
    held = [i for n in range(pages) for i in store.subscription_page(None, n)]
    assert sorted(held) == sorted(e.id for e in live)
    # AND a message reaches every live endpoint exactly once
    _publish(world)
    _route_counting(world)
    targets = [Task.decode(body).endpoint_id for body in world.deliveries.sent]
    assert sorted(targets) == sorted(e.id for e in live)


def test_the_router_cache_holds_no_transformation_code(services: Services) -> None:
    """The router only matches: its cache of up to 50,000 endpoints must not hold 16 KiB of code each."""
    from chalicelib.caches import SubscriptionCache

    w = World(services, Receiver())
    code = "function handler(webhook) { webhook.payload = {kept: true}; return webhook; }"
    made, *_ = w.endpoints.create(
        parse_create_endpoint(
            {"url": "https://hooks.example.com/t", "transformation": {"code": code, "enabled": True}}
        ),
        OPERATOR,
    )
    assert services.store.get_endpoint(made.id).transformation is not None
    cache = SubscriptionCache(services.store, services.clock, check_seconds=60, max_endpoints=500)
    routed = [e for e in cache.page(None, 0) if e.id == made.id]
    assert routed and routed[0].transformation is None
    assert [e.transformation for e in cache.legacy(None) if e.id == made.id] == [None]
