"""Contract: the packed listings (``LIST#``, one item per batch and key) serve every message listing, the
search and the endpoint attempt listing exactly as the per-message index entries did: newest first,
cursors that resume inside an item and across items and shards, the same filters; entries written before
them (index entries) are merged in; a batch listed twice shows each message once."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest

from chalicelib.aws.dynamodb import listing, messages
from chalicelib.aws.dynamodb.attempts import AttemptTable
from chalicelib.aws.dynamodb.messages import MessageTable
from chalicelib.ids import new_id
from chalicelib.models import Attempt, Message
from chalicelib.ports import MessageQuery
from testkit.fakes import FakeClock
from testkit.memory.attempts import MemoryAttempts
from testkit.memory.messages import MemoryMessages
from tests.integration.contracts.builders import DAY, _message, _pages, _stage_began, contract_store

store = contract_store((MemoryMessages, MemoryAttempts), (MessageTable, AttemptTable))


def _ids(found: list[Message]) -> list[str]:
    ids = [m.id for m in found]
    assert len(ids) == len(set(ids)), "a message listed twice"
    return ids


def _newest_first(made: list[Message]) -> list[str]:
    return [m.id for m in sorted(made, key=lambda m: (m.received_at, m.id), reverse=True)]


def _router_batches(store: Any, clock: FakeClock, batches: list[list[Message]]) -> list[Message]:
    """Store each batch's messages deferred, then list the batch in one call, as the router does."""
    made = []
    for batch in batches:
        for message in batch:
            assert store.store_message(message, clock(), defer_listing=True)
        store.list_messages(new_id("lb"), batch)
        made.extend(batch)
    return made


def _mixed_batches(clock: FakeClock, count: int, size: int) -> list[list[Message]]:
    """Batches whose received times interleave (a batch holds old and new messages), from two sources
    and two applications, across a day boundary."""
    rng = random.Random(7)
    now = clock()
    return [
        [
            _message(
                clock,
                received_at=now - rng.uniform(0, 2 * DAY) if i % 5 else now - rng.uniform(0, 40),
                source_id=rng.choice(["src_a", "src_b"]),
                application_id=rng.choice(["app_a", "app_b", None]),
            )
            for i in range(size)
        ]
        for _ in range(count)
    ]


class TestPackedMessageListings:
    @pytest.mark.parametrize("limit", [1, 3, 10, 100])
    def test_every_listing_reads_batches_newest_first_with_cursors_inside_items(
        self, store: Any, clock: FakeClock, limit: int
    ) -> None:
        # GIVEN 48 messages listed by 8 router batches whose times interleave over two days of a stage
        # three days old (every listing below spans several items, so pages of 1 and 3 end inside them)
        _stage_began(store, clock() - 3 * DAY)
        made = _router_batches(store, clock, _mixed_batches(clock, count=8, size=6))
        assert len({m.source_id for m in made}) == 2 and len({m.application_id for m in made}) == 3
        # WHEN each listing is read page by page, THEN it is every match, newest first, each once
        for query, keep in (
            (MessageQuery(), lambda m: True),
            (MessageQuery(source_id="src_a"), lambda m: m.source_id == "src_a"),
            (MessageQuery(application_id="app_b"), lambda m: m.application_id == "app_b"),
            (
                MessageQuery(source_id="src_b", application_id="app_a"),
                lambda m: m.source_id == "src_b" and m.application_id == "app_a",
            ),
        ):
            found, _ = _pages(store, "search_messages", limit=limit, query=query)
            assert _ids(found) == _newest_first([m for m in made if keep(m)]), query

    def test_time_bounds_cut_inside_packed_items(self, store: Any, clock: FakeClock) -> None:
        # GIVEN batches of messages a second apart, each batch spanning ten seconds
        now = clock()
        batches = [
            [_message(clock, received_at=now - 10 * b - i, source_id="src_t") for i in range(10)]
            for b in range(6)
        ]
        made = _router_batches(store, clock, batches)
        after, before = now - 43.5, now - 7.5
        wanted = _newest_first([m for m in made if after <= m.received_at < before])
        for query in (
            MessageQuery(after=after, before=before),
            MessageQuery(source_id="src_t", after=after, before=before),
        ):
            found, _ = _pages(store, "search_messages", limit=4, query=query)
            assert _ids(found) == wanted

    def test_a_batch_listed_twice_shows_each_message_once(self, store: Any, clock: FakeClock) -> None:
        # GIVEN a batch listed, then listed again by its redelivery (another batch id, the same entries)
        batch = [_message(clock, received_at=clock() - i, source_id="src_r") for i in range(5)]
        _router_batches(store, clock, [batch])
        store.list_messages(new_id("lb"), batch)
        for query in (MessageQuery(), MessageQuery(source_id="src_r")):
            found, _ = _pages(store, "search_messages", limit=2, query=query)
            assert _ids(found) == _newest_first(batch)

    def test_a_deferred_message_is_listed_only_once_its_batch_is(self, store: Any, clock: FakeClock) -> None:
        message = _message(clock, source_id="src_d")
        assert store.store_message(message, clock(), defer_listing=True)
        assert store.search_messages(MessageQuery(source_id="src_d"), limit=5, cursor=None).items == []
        store.list_messages(new_id("lb"), [message])
        assert _ids(store.search_messages(MessageQuery(source_id="src_d"), limit=5, cursor=None).items) == [
            message.id
        ]

    def test_an_id_stored_again_later_is_listed_at_its_new_time_only(
        self, store: Any, clock: FakeClock
    ) -> None:
        # GIVEN a message, then the same id stored again past its replay window (a new storing)
        first = _message(clock, source_id="src_s")
        store.store_message(first, clock())
        clock.advance(120)
        again = replace(first, receipt_id="r2", received_at=clock(), dedupe_until=clock() + 60)
        assert store.store_message(again, clock())
        # THEN every listing shows it once, at its new time
        for query in (MessageQuery(), MessageQuery(source_id="src_s")):
            assert _ids(store.search_messages(query, limit=10, cursor=None).items) == [first.id]


def _claim(message: Message, endpoint_id: str, started_at: float, batch: str, number: int = 1) -> Attempt:
    return Attempt(
        message_id=message.id,
        endpoint_id=endpoint_id,
        number=number,
        claim_id=new_id("clm"),
        started_at=started_at,
        status="in_flight",
        delivery_status="pending",
        lease_until=started_at + 30,
        expires_at=started_at + 40 * DAY,
        generation="g1",
        batch=batch,
    )


class TestPackedEndpointListings:
    def test_a_sender_batch_lists_its_successes_by_endpoint(self, store: Any, clock: FakeClock) -> None:
        # GIVEN four sender batches of five first attempts each to one endpoint, their times interleaved
        now = clock()
        made: list[Attempt] = []
        for b in range(4):
            batch = new_id("rb")
            claims = []
            for i in range(5):
                message = _message(clock, received_at=now - 100, source_id="src_e")
                store.store_message(message, now)
                claim = _claim(message, "ep_p", now - i * 4 - b, batch)
                assert store.claim_attempt(claim, claim.started_at)
                claims.append(claim)
            # WHEN in flight, THEN a batch's claims are not listed yet
            assert all(
                a.claim_id not in {c.claim_id for c in claims}
                for a in _pages(store, "list_endpoint_attempts", endpoint_id="ep_p")[0]
            )
            done = [replace(c, status="succeeded", delivery_status="succeeded") for c in claims]
            store.finish_batch(batch, done)
            made.extend(done)
        # THEN the endpoint's attempts read newest first, page by page, each once, as succeeded
        for limit in (1, 3, 50):
            found, _ = _pages(store, "list_endpoint_attempts", limit=limit, endpoint_id="ep_p")
            assert [(a.claim_id, a.status) for a in found] == [
                (a.claim_id, "succeeded")
                for a in sorted(made, key=lambda a: (a.started_at, a.message_id), reverse=True)
            ]
        # AND the search by endpoint finds each message once, newest first attempt first
        found, _ = _pages(store, "search_messages", limit=4, query=MessageQuery(endpoint_id="ep_p"))
        assert _ids(found) == [
            a.message_id for a in sorted(made, key=lambda a: (a.started_at, a.message_id), reverse=True)
        ]

    def test_list_batch_attempts_lists_claims_recorded_elsewhere(self, store: Any, clock: FakeClock) -> None:
        # GIVEN claims of a batch whose outcomes another writer records (list_batch_attempts only)
        now = clock()
        batch = new_id("rb")
        claims = []
        for i in range(3):
            message = _message(clock, source_id="src_f")
            store.store_message(message, now)
            claims.append(_claim(message, "ep_f", now - i, batch))
            assert store.claim_attempt(claims[-1], now)
        store.list_batch_attempts(batch, claims)
        found, _ = _pages(store, "list_endpoint_attempts", limit=2, endpoint_id="ep_f")
        assert [a.claim_id for a in found] == [c.claim_id for c in claims]

    def test_a_failure_written_on_its_attempt_is_listed_with_the_packed_successes(
        self, store: Any, clock: FakeClock
    ) -> None:
        now = clock()
        batch = new_id("rb")
        ok, bad = (_message(clock, source_id="src_g") for _ in range(2))
        for message in (ok, bad):
            store.store_message(message, now)
        good = _claim(ok, "ep_g", now - 1, batch)
        failing = _claim(bad, "ep_g", now - 2, batch)
        for claim in (good, failing):
            assert store.claim_attempt(claim, claim.started_at)
        assert store.finish_attempt(replace(failing, status="failed", next_attempt_at=now + 60))
        store.finish_batch(batch, [replace(good, status="succeeded", delivery_status="succeeded")])
        found, _ = _pages(store, "list_endpoint_attempts", limit=1, endpoint_id="ep_g")
        assert [(a.claim_id, a.status) for a in found] == [
            (good.claim_id, "succeeded"),
            (failing.claim_id, "failed"),
        ]


@pytest.fixture
def dynamo(clock: FakeClock, endpoint: str) -> Any:
    from testkit import aws

    table = type("Tables", (MessageTable, AttemptTable), {})
    return table(aws.client("dynamodb", endpoint), aws.create_state_table(endpoint, upgraded=True), clock)


class TestIndexEntriesWrittenBefore:
    def test_old_indexed_messages_and_packed_ones_read_as_one_listing(
        self, dynamo: Any, clock: FakeClock
    ) -> None:
        # GIVEN messages written with their per-message index entries (the layout before packing) ...
        now = clock()
        old = [
            _message(clock, received_at=now - 2 * i, source_id="src_o", application_id="app_o")
            for i in range(6)
        ]
        for message in old:
            dynamo._db.put_item(TableName=dynamo._table, Item=messages.message_to_item_indexed(message))
        # ... and messages of router batches, in between in time
        new = [
            _message(clock, received_at=now - 2 * i - 1, source_id="src_o", application_id="app_o")
            for i in range(6)
        ]
        _router_batches(dynamo, clock, [new[:3], new[3:]])
        # THEN every listing reads both, newest first, each once
        for query in (MessageQuery(), MessageQuery(source_id="src_o"), MessageQuery(application_id="app_o")):
            found, _ = _pages(dynamo, "search_messages", limit=4, query=query)
            assert _ids(found) == _newest_first(old + new)

    def test_the_old_index_is_read_only_while_the_era_says_it_can_hold_entries(
        self, endpoint: str, clock: FakeClock
    ) -> None:
        from testkit import aws

        # GIVEN a stage's new table (its era: no entry of the layout before) that holds one anyway (as
        # no real stage can) and a message of a router batch
        table = type("Tables", (MessageTable, AttemptTable), {})
        name = aws.create_state_table(endpoint)
        db = aws.client("dynamodb", endpoint)
        old = _message(clock, received_at=clock() - 5, source_id="src_e", application_id="app_e")
        db.put_item(TableName=name, Item=messages.message_to_item_indexed(old))
        new = _router_batches(
            table(db, name, clock), clock, [[_message(clock, source_id="src_e", application_id="app_e")]]
        )
        queries = (MessageQuery(), MessageQuery(source_id="src_e"), MessageQuery(application_id="app_e"))
        # WHEN it is listed THEN only the packed listing is read
        fresh = table(db, name, clock)
        for query in queries:
            assert _ids(_pages(fresh, "search_messages", limit=4, query=query)[0]) == _ids(new), query
        # WHEN its era says old entries can exist until now (an upgraded stage) THEN they are read too
        upgraded = table(db, name, clock)
        upgraded.record_era(listing.Era(clock(), 0.0), replace_it=True)
        for query in queries:
            found, _ = _pages(upgraded, "search_messages", limit=4, query=query)
            assert _ids(found) == _newest_first([old, *new]), query

    def test_a_batch_writes_one_item_per_key_and_shard(self, dynamo: Any, clock: FakeClock) -> None:
        # GIVEN a router batch of ten messages of one source and one application
        batch = [
            _message(clock, received_at=clock() - i, source_id="src_w", application_id="app_w")
            for i in range(10)
        ]
        items = messages.listing_items("lb_1", batch)
        # THEN it is three items (its day, its source, its application), each under 1 KB: 0.3 write units
        assert sorted(i["pk"]["S"].rsplit("#", 1)[0] for i in items) == sorted(
            [
                listing.day_listing(batch[0].received_at and _day(batch[0])),
                listing.source_listing("src_w"),
                listing.application_listing("app_w"),
            ]
        )
        assert all(len(i["e"]["B"]) < 1024 for i in items)


def _day(message: Message) -> str:
    from chalicelib.aws.dynamodb.keys import day_of

    return day_of(message.received_at).isoformat()
