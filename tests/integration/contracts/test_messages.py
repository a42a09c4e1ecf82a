"""The contract of MessageStore: one behavioural suite, run against the in-memory fake and DynamoDB on moto.

A search by endpoint or by an ended status reads the attempts' indexes: the suite runs on the messages'
fake and adapter with the attempts' beside them (not the whole Store).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from typing import Any

import pytest

from chalicelib import ports
from chalicelib.aws.dynamodb import attempts, counters, endpoints, keys, messages
from chalicelib.aws.dynamodb.attempts import AttemptTable
from chalicelib.aws.dynamodb.messages import MessageTable
from chalicelib.errors import BadRequestError, NotFoundError
from chalicelib.ids import new_id
from chalicelib.models import BodyRef, FirstClaim
from chalicelib.ports import MessageQuery, encode_cursor
from testkit.fakes import FakeClock
from testkit.memory.attempts import MemoryAttempts
from testkit.memory.messages import MemoryMessages
from tests.integration.contracts.builders import (
    DAY,
    _attempt,
    _endpoint,
    _message,
    _newest_first,
    _pages,
    _search,
    _search_raw,
    _stage_began,
    _store_all,
    contract_store,
)

store = contract_store((MemoryMessages, MemoryAttempts), (MessageTable, AttemptTable))


class TestMessages:
    @pytest.mark.parametrize(
        "body",
        [
            b"",
            b"x" * 511,
            json.dumps({"commits": [{"id": i, "message": "fix the build"} for i in range(300)]}).encode(),
            bytes(range(256)) * 8,  # binary, deflates
            os.urandom(4096),  # does not deflate: kept as it is
        ],
        ids=["empty", "short", "json-10k", "binary", "random"],
    )
    def test_every_inline_body_comes_back_byte_for_byte(
        self, store: Any, clock: FakeClock, body: bytes
    ) -> None:
        message = _message(clock, body=body, size=len(body))
        assert store.store_message(message, clock()) is True
        assert store.get_message(message.id).body == body

    def test_message_round_trip_inline_and_by_reference(self, store: Any, clock: FakeClock) -> None:
        inline = _message(clock)
        assert store.store_message(inline, clock()) is True
        assert store.get_message(inline.id) == inline
        ref = _message(
            clock,
            body=None,
            body_ref=BodyRef("b", "k", "abc", 3),
            event_type=None,
            event_type_verified=None,
            event_type_invalid=True,
            payload={"n": [1, 2]},
            source_ip=None,
            signed_timestamp=None,
        )
        store.store_message(ref, clock())
        assert store.get_message(ref.id) == ref

    def test_conditional_store_deduplicates(self, store: Any, clock: FakeClock) -> None:
        first = _message(clock)
        assert store.store_message(first, clock()) is True
        # the same SQS message again (same receipt) proceeds
        assert store.store_message(first, clock()) is True
        # another request with the same key, inside the window, does not
        second = _message(clock, id=first.id, receipt_id="r2", body=b"other")
        assert store.store_message(second, clock()) is False
        assert store.get_message(first.id).body == first.body
        # after the window it is new again
        clock.advance(61)
        assert store.store_message(second, clock()) is True
        assert store.get_message(first.id).body == b"other"

    def test_a_message_id_stored_again_keeps_its_attempt_partitions(
        self, store: Any, clock: FakeClock
    ) -> None:
        # GIVEN a message stored with 3 attempt partitions
        message = _message(clock, fanout_pages=3, attempt_shards=3)
        assert store.store_message(message, clock())
        # WHEN its ingest record comes back (same receipt) matching 5 pages now
        assert store.store_message(replace(message, fanout_pages=5, attempt_shards=5), clock())
        # THEN its attempts stay where its first run put them
        got = store.get_message(message.id)
        assert (got.fanout_pages, got.attempt_shards) == (5, 3)
        # AND another receipt within the replay window is a duplicate, as ever
        assert not store.store_message(replace(message, receipt_id="r2", attempt_shards=0), clock())
        # AND a new storing past the window, inline now, still covers the first storing's partitions
        clock.advance(61)
        again = replace(message, receipt_id="r2", fanout_pages=0, attempt_shards=0, endpoints=("ep_a",))
        assert store.store_message(again, clock())
        got = store.get_message(message.id)
        assert (got.receipt_id, got.endpoints, got.attempt_shards) == ("r2", ("ep_a",), 3)
        # AND a brand-new id is one write, with its own count
        fresh = _message(clock, fanout_pages=2, attempt_shards=2)
        assert store.store_message(fresh, clock()) and store.get_message(fresh.id).attempt_shards == 2

    def test_a_redelivery_keeps_the_routers_first_claim_and_a_new_storing_has_its_own(
        self, store: Any, clock: FakeClock
    ) -> None:
        # GIVEN a message stored with the router's claim on its first attempt to ep_a
        claim = FirstClaim("clm_1", clock(), clock() + 150, ("ep_a",))
        message = _message(clock, endpoints=("ep_a", "ep_b"), first_claim=claim)
        stored = store.store_claiming(message, clock())
        assert stored is not None and stored.first_claim == claim
        assert store.get_message(message.id).first_claim == claim
        assert store.get_message(message.id).holds_first("ep_b") is None
        # WHEN its ingest record comes back (same receipt) with a claim of its own
        other = FirstClaim("clm_2", clock(), clock() + 150, ("ep_a", "ep_b"))
        again = store.store_claiming(replace(message, first_claim=other), clock())
        # THEN the stored claim is kept (the first run may still be sending under it)
        assert again is not None and again.first_claim == claim
        assert store.get_message(message.id).first_claim == claim
        # AND a redelivery whose matches changed keeps the claim only on the deliveries it still has
        moved = store.store_claiming(replace(message, endpoints=("ep_b", "ep_c"), first_claim=other), clock())
        assert moved is not None and moved.first_claim is None
        assert store.get_message(message.id).first_claim is None
        # AND another receipt in the window is a duplicate; past the window a new storing has its own
        assert store.store_claiming(replace(message, receipt_id="r2"), clock()) is None
        clock.advance(61)
        fresh = store.store_claiming(replace(message, receipt_id="r2", first_claim=other), clock())
        assert fresh is not None and fresh.first_claim == other

    def test_expired_message_is_not_found_before_ttl_runs(self, store: Any, clock: FakeClock) -> None:
        message = _message(clock)
        store.store_message(message, clock())
        clock.advance(40 * DAY + 1)
        with pytest.raises(NotFoundError):
            store.get_message(message.id)

    def test_messages_page_newest_first_per_source(self, store: Any, clock: FakeClock) -> None:
        sid = new_id("src")
        made = []
        for _ in range(5):
            made.append(_message(clock, source_id=sid))
            store.store_message(made[-1], clock())
            clock.advance(1)
        store.store_message(_message(clock, source_id="src_other"), clock())
        query = MessageQuery(source_id=sid)
        page = store.search_messages(query, limit=3, cursor=None)
        rest = store.search_messages(query, limit=3, cursor=page.cursor)
        assert [m.id for m in page.items + rest.items] == [m.id for m in reversed(made)]
        assert rest.cursor is None

    @pytest.mark.parametrize("cursor", ["!!!", "e30", "eyJwayI6IDF9", "bm90IGpzb24"])
    @pytest.mark.parametrize(
        "query",
        [
            MessageQuery(source_id="s"),
            MessageQuery(),
            MessageQuery(application_id="app_a"),
            MessageQuery(endpoint_id="ep_a"),
        ],
    )
    def test_forged_cursor_is_a_400(self, store: Any, cursor: str, query: MessageQuery) -> None:
        with pytest.raises(BadRequestError) as err:
            store.search_messages(query, limit=3, cursor=cursor)
        assert err.value.code == "invalid_cursor"


class TestSearchMessages:
    def test_no_filter_newest_first_across_days(self, store: Any, clock: FakeClock) -> None:
        # GIVEN messages on several days (some days empty), of several sources and owners
        now = clock()
        made = _store_all(
            store,
            [
                _message(clock, received_at=now - days * DAY - i, source_id=f"src_{i}", application_id=owner)
                for days in (0, 1, 3, 6)
                for i, owner in enumerate(["app_a", None])
            ],
            clock,
        )
        # WHEN everything is searched, two at a time
        # THEN every message comes once, newest first
        assert _search(store, MessageQuery()) == _newest_first(made)
        assert _search(store, MessageQuery(), limit=50) == _newest_first(made)

    def test_search_skips_expired_messages(self, store: Any, clock: FakeClock) -> None:
        live = _message(clock)
        dead = _message(clock, received_at=clock() - 10, expires_at=clock() + 5)
        _store_all(store, [live, dead], clock)
        clock.advance(6)
        assert _search(store, MessageQuery()) == [live.id]
        assert _search(store, MessageQuery(source_id="src_a")) == [live.id]

    def test_by_source(self, store: Any, clock: FakeClock) -> None:
        now = clock()
        mine = [_message(clock, source_id="src_mine", received_at=now - i * 3600 * 7) for i in range(6)]
        others = [_message(clock, source_id="src_other", received_at=now - i) for i in range(3)]
        _store_all(store, mine + others, clock)
        assert _search(store, MessageQuery(source_id="src_mine")) == _newest_first(mine)

    def test_by_application(self, store: Any, clock: FakeClock) -> None:
        now = clock()
        a = [_message(clock, application_id="app_a", received_at=now - i * DAY) for i in range(4)]
        b = [_message(clock, application_id="app_b", received_at=now - i) for i in range(2)]
        operator = [_message(clock, application_id=None, received_at=now - 5)]
        _store_all(store, a + b + operator, clock)
        assert _search(store, MessageQuery(application_id="app_a")) == _newest_first(a)
        assert _search(store, MessageQuery(application_id="app_b")) == _newest_first(b)
        assert _search(store, MessageQuery(application_id="app_none")) == []

    def test_by_endpoint_first_attempts_newest_first(self, store: Any, clock: FakeClock) -> None:
        # GIVEN messages delivered to an endpoint (some retried, one stored twice) and to another one
        now = clock()
        m = [_message(clock, received_at=now - 100 + i) for i in range(4)]
        _store_all(store, m, clock)
        attempts = [
            _attempt(m[0], "ep_x", 1, now - 50),
            _attempt(m[0], "ep_x", 2, now - 10),  # a retry: not a new candidate
            _attempt(m[1], "ep_x", 1, now - 40),
            _attempt(m[2], "ep_x", 1, now - 60),
            _attempt(m[2], "ep_x", 1, now - 5, generation="g2"),  # the same id stored again
            _attempt(m[3], "ep_other", 1, now - 30),
        ]
        for attempt in attempts:
            assert store.claim_attempt(attempt, now) is True
        # WHEN the endpoint's messages are searched
        # THEN they come in the order of their first attempts, newest first, once each per page
        assert _search(store, MessageQuery(endpoint_id="ep_x"), limit=10) == [m[2].id, m[1].id, m[0].id]
        paged = _search_raw(store, MessageQuery(endpoint_id="ep_x"), limit=1)
        # (across pages a message stored twice may come once per storing)
        assert paged == [m[2].id, m[1].id, m[0].id, m[2].id]
        # AND the other filters still apply
        assert _search(store, MessageQuery(endpoint_id="ep_x", after=now - 99), limit=10) == [
            m[2].id,
            m[1].id,
        ]
        assert _search(store, MessageQuery(endpoint_id="ep_other")) == [m[3].id]
        assert _search(store, MessageQuery(endpoint_id="ep_none")) == []

    def test_by_event_type_exact_and_prefix(self, store: Any, clock: FakeClock) -> None:
        now = clock()
        types = ["order.created", "order.paid", "orders.imported", "order", "push", None, "order.x.y"]
        made = _store_all(
            store,
            [_message(clock, event_type=t, received_at=now - i * 5000) for i, t in enumerate(types)],
            clock,
        )
        by_type = {m.event_type: m.id for m in made}
        assert _search(store, MessageQuery(event_type="order.paid")) == [by_type["order.paid"]]
        assert _search(store, MessageQuery(event_type="order")) == [by_type["order"]]
        prefix = [by_type["order.created"], by_type["order.paid"], by_type["order.x.y"]]
        assert _search(store, MessageQuery(event_type="order.*")) == prefix
        assert _search(store, MessageQuery(event_type="order.*", source_id="src_a")) == prefix

    def test_by_provider_id(self, store: Any, clock: FakeClock) -> None:
        made = _store_all(
            store,
            [_message(clock, delivery_id=f"evt_{i % 3}", received_at=clock() - i) for i in range(7)],
            clock,
        )
        wanted = [m for m in made if m.delivery_id == "evt_1"]
        assert _search(store, MessageQuery(provider_id="evt_1")) == _newest_first(wanted)

    def test_after_and_before(self, store: Any, clock: FakeClock) -> None:
        # GIVEN messages one every 12 hours over 5 days
        now = clock()
        made = _store_all(store, [_message(clock, received_at=now - i * DAY / 2) for i in range(10)], clock)
        after, before = made[7].received_at, made[2].received_at
        expected = _newest_first([m for m in made if after <= m.received_at < before])
        assert len(expected) == 5  # after is inclusive, before exclusive
        for query in (
            MessageQuery(after=after, before=before),
            MessageQuery(after=after, before=before, source_id="src_a"),
            MessageQuery(after=after, before=before, application_id="app_owner"),
        ):
            assert _search(store, query) == expected
        assert _search(store, MessageQuery(after=after)) == _newest_first(made[:8])
        assert _search(store, MessageQuery(before=before)) == _newest_first(made[3:])
        assert _search(store, MessageQuery(before=now + 10 * DAY)) == _newest_first(made)
        assert _search(store, MessageQuery(after=now + 1)) == []
        assert _search(store, MessageQuery(after=before, before=after)) == []

    def test_combined_filters_and_keep(self, store: Any, clock: FakeClock) -> None:
        now = clock()
        made = _store_all(
            store,
            [
                _message(
                    clock,
                    received_at=now - i * 3000,
                    source_id="src_a" if i % 2 else "src_b",
                    event_type="order.paid" if i % 3 else "push",
                    application_id="app_a" if i < 8 else "app_b",
                )
                for i in range(12)
            ],
            clock,
        )
        after = now - 9 * 3000
        wanted = [
            m
            for m in made
            if m.source_id == "src_a"
            and m.event_type == "order.paid"
            and m.received_at >= after
            and m.application_id == "app_a"
        ]
        assert wanted
        query = MessageQuery(application_id="app_a", source_id="src_a", event_type="order.*", after=after)
        assert _search(store, query) == _newest_first(wanted)
        kept = {m.id for m in wanted[1:]}
        assert _search(store, query, keep=lambda m: m.id in kept) == _newest_first(wanted[1:])
        assert _search(store, MessageQuery(), keep=lambda m: m.id in kept) == _newest_first(wanted[1:])

    @pytest.mark.parametrize(
        "query",
        [MessageQuery(), MessageQuery(source_id="src_a"), MessageQuery(application_id="app_owner")],
        ids=["by-day", "by-source", "by-application"],
    )
    def test_small_pages_reconstruct_the_whole_result(
        self, store: Any, clock: FakeClock, query: MessageQuery
    ) -> None:
        # GIVEN ten messages over four days, two of them received in the same instant
        now = clock()
        times = [now - i * DAY * 0.4 for i in range(9)] + [now - DAY * 0.4]
        made = _store_all(store, [_message(clock, received_at=t) for t in times], clock)
        # WHEN they are listed two at a time, THEN the pages are exactly the whole listing
        whole = store.search_messages(query, limit=50, cursor=None)
        assert [m.id for m in whole.items] == _newest_first(made)
        assert whole.cursor is None
        assert _search(store, query, limit=2) == _newest_first(made)
        assert _search(store, query, limit=3) == _newest_first(made)

    def test_a_page_stops_after_max_examined(
        self, store: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # GIVEN ten messages, and a search that may examine only four per page
        monkeypatch.setattr(ports, "MAX_EXAMINED", 4)
        made = _store_all(store, [_message(clock, received_at=clock() - i) for i in range(10)], clock)
        # WHEN nothing matches, THEN a page comes back empty but with a cursor, until all are examined
        query = MessageQuery(source_id="src_a", event_type="nothing")
        first = store.search_messages(query, limit=2, cursor=None)
        assert first.items == []
        assert first.cursor is not None
        _, pages = _pages(store, "search_messages", limit=2, query=query)
        assert pages == 3
        # AND when a few match, they are all found across the pages, in order
        wanted = {made[1].id, made[6].id, made[9].id}
        for q in (MessageQuery(source_id="src_a"), MessageQuery()):
            assert _search(store, q, limit=5, keep=lambda m: m.id in wanted) == [
                made[1].id,
                made[6].id,
                made[9].id,
            ]

    def test_cursor_of_one_application_lists_only_another_ones_messages(
        self, store: Any, clock: FakeClock
    ) -> None:
        now = clock()
        a = _store_all(
            store, [_message(clock, application_id="app_a", received_at=now - i) for i in range(5)], clock
        )
        b = _store_all(
            store,
            [_message(clock, application_id="app_b", received_at=now - 2.5 - i) for i in range(5)],
            clock,
        )
        page = store.search_messages(MessageQuery(application_id="app_a"), limit=2, cursor=None)
        assert page.cursor is not None
        got, _ = _pages(store, "search_messages", query=MessageQuery(application_id="app_b"))
        assert {m.id for m in got} <= {m.id for m in b}
        moved = store.search_messages(MessageQuery(application_id="app_b"), limit=50, cursor=page.cursor)
        assert {m.id for m in moved.items} <= {m.id for m in b}
        assert not {m.id for m in moved.items} & {m.id for m in a}

    def test_well_formed_foreign_cursor_only_moves_the_start(self, store: Any, clock: FakeClock) -> None:
        now = clock()
        made = _store_all(store, [_message(clock, received_at=now - i * DAY) for i in range(3)], clock)
        cursor = encode_cursor([f"MSG#{made[0].id}", "META", f"{made[0].received_at:017.6f}#{made[0].id}"])
        for query in (
            MessageQuery(),
            MessageQuery(source_id="src_a"),
            MessageQuery(application_id="app_owner"),
        ):
            page = store.search_messages(query, limit=50, cursor=cursor)
            assert [m.id for m in page.items] == [made[1].id, made[2].id]
        # a cursor from beyond the range starts at its top; one from below it ends the listing
        future = encode_cursor(["MSG#x", "META", f"{now + 50 * DAY:017.6f}#x"])
        assert [m.id for m in store.search_messages(MessageQuery(), limit=50, cursor=future).items] == [
            m.id for m in made
        ]
        bounded = MessageQuery(after=now - 1.5 * DAY, before=now - 0.5 * DAY)
        assert _search(store, bounded) == [made[1].id]
        ancient = encode_cursor(["MSG#x", "META", f"{now - 9 * DAY:017.6f}#x"])
        assert store.search_messages(bounded, limit=50, cursor=ancient).items == []
        assert [m.id for m in store.search_messages(bounded, limit=50, cursor=future).items] == [made[1].id]
        # a by-day cursor whose sort key is no time is refused
        with pytest.raises(BadRequestError):
            store.search_messages(
                MessageQuery(), limit=5, cursor=encode_cursor(["MSG#x", "META", "nonsense"])
            )

    def test_by_day_walk_bridges_gaps_up_to_the_retention_limit(self, store: Any, clock: FakeClock) -> None:
        # GIVEN a message now, one 30 days ago and one behind a further gap of 36 empty days
        now = clock()
        made = _store_all(
            store,
            [
                _message(clock, received_at=now, expires_at=now + 90 * DAY),
                _message(clock, received_at=now - 30 * DAY, expires_at=now + 90 * DAY),
                _message(clock, received_at=now - 67 * DAY, expires_at=now + 90 * DAY),
            ],
            clock,
        )
        # WHEN every message is searched by day, THEN the walk stops after 35 days without a message
        assert _search(store, MessageQuery()) == [made[0].id, made[1].id]
        # AND a bound inside the gap starts the walk there
        assert _search(store, MessageQuery(before=now - 60 * DAY)) == [made[2].id]
        # AND the other indexes have no such limit
        assert _search(store, MessageQuery(source_id="src_a")) == [m.id for m in made]

    def test_non_finite_bounds_are_a_400(self, store: Any) -> None:
        with pytest.raises(BadRequestError):
            store.search_messages(MessageQuery(after=float("nan")), limit=5, cursor=None)

    def test_by_ending_finds_the_deliveries_that_ended_failed_or_skipped(
        self, store: Any, clock: FakeClock
    ) -> None:
        # GIVEN many messages, a few of whose deliveries ended failed or skipped, over several days of
        # a stage five days old (older than the ``after`` below, so that bound is the one that cuts)
        now = clock()
        _stage_began(store, now - 5 * DAY)
        messages = [
            _message(clock, received_at=now - 3 * DAY - i, application_id=("app_a" if i % 2 else None))
            for i in range(12)
        ]
        _store_all(store, messages, clock)
        failed_at = {0: now - 2 * DAY, 3: now - DAY, 5: now - 60, 8: now - 30}
        for i, message in enumerate(messages):
            store.claim_attempt(_attempt(message, "ep_1", 1, now - 3 * DAY), now)  # pending, then ...
            if i in failed_at:
                ended = replace(_attempt(message, "ep_1", 2, failed_at[i]), delivery_status="failed")
                assert store.claim_attempt(ended, now)
            elif i == 9:
                skipped = replace(
                    _attempt(message, "ep_2", 1, now - 10), status="skipped", delivery_status="skipped"
                )
                assert store.claim_attempt(skipped, now)
        # WHEN searched by that state THEN exactly those messages, the latest ending first, across days
        newest_ending = sorted(failed_at, key=lambda i: failed_at[i], reverse=True)
        assert _search(store, MessageQuery(status="failed")) == [messages[i].id for i in newest_ending]
        assert _search(store, MessageQuery(status="skipped")) == [messages[9].id]
        # ... combined with other filters, which apply to the messages found
        assert _search(store, MessageQuery(status="failed", application_id="app_a")) == [
            messages[i].id for i in newest_ending if i % 2
        ]
        # ... and ``after`` bounds the days read, never the messages' own filter
        assert _search(store, MessageQuery(status="failed", after=now - 4 * DAY)) == [
            messages[i].id for i in newest_ending
        ]
        assert _search(store, MessageQuery(status="failed", after=now - 3600)) == []
        # ... while the caller's keep decides what is still in that state
        assert _search(store, MessageQuery(status="failed"), keep=lambda m: m.id != messages[8].id) == [
            messages[i].id for i in newest_ending if i != 8
        ]
        # An in-flight claim or a pending retry is no ending.
        assert _search(store, MessageQuery(status="pending"), limit=50) == _newest_first(messages)


def _ids_in_every_shard(count: int) -> list[str]:
    """``count`` message ids (at least one per shard): the first ``INDEX_SHARDS`` one in each shard, in
    shard order scrambled, the rest anywhere."""
    by_shard: dict[int, str] = {}
    extra: list[str] = []
    while len(by_shard) < keys.INDEX_SHARDS or len(by_shard) + len(extra) < count:
        made = new_id("msg")
        if keys.shard_of(made) not in by_shard:
            by_shard[keys.shard_of(made)] = made
        elif len(extra) < count - keys.INDEX_SHARDS:
            extra.append(made)
    return [by_shard[s] for s in sorted(by_shard, key=lambda s: (s * 7) % keys.INDEX_SHARDS)] + extra


class TestWriteShards:
    """The index keys every message or attempt writes are sharded (``keys.INDEX_SHARDS``); a listing
    merges the shards, so it answers as one key did: the same items, order and pages."""

    def test_pages_cross_shard_boundaries_in_every_sharded_listing(
        self, store: Any, clock: FakeClock
    ) -> None:
        # GIVEN 20 messages of one source and application on a stage an hour old, one in each shard and
        # four more (three in one instant), each attempted at one endpoint, a few ending failed
        now = clock()
        _stage_began(store, now - 3600)
        times = [now - i * 7.0 for i in range(17)] + [now - 70.0] * 3
        ids = _ids_in_every_shard(len(times))
        made = _store_all(
            store, [_message(clock, id=i, received_at=t) for i, t in zip(ids, times, strict=True)], clock
        )
        assert {keys.shard_of(m.id) for m in made} == set(range(keys.INDEX_SHARDS))
        for i, message in enumerate(made):
            ended = "failed" if i % 3 == 0 else "pending"
            assert store.claim_attempt(
                replace(_attempt(message, "ep_hot", 1, message.received_at + 1), delivery_status=ended), now
            )
        newest = _newest_first(made)
        # WHEN each sharded listing is read in pages of 1, 3 and 7 THEN it is the whole listing, in order
        for limit in (1, 3, 7):
            for query in (
                MessageQuery(),
                MessageQuery(source_id="src_a"),
                MessageQuery(application_id="app_owner"),
                MessageQuery(endpoint_id="ep_hot"),
            ):
                assert _search(store, query, limit=limit) == newest, (query, limit)
            failed = [m.id for i, m in enumerate(made) if i % 3 == 0]
            assert _search(store, MessageQuery(status="failed"), limit=limit) == sorted(
                failed, key=lambda mid: newest.index(mid)
            )
            listed, _ = _pages(store, "list_endpoint_attempts", limit=limit, endpoint_id="ep_hot")
            assert [a.message_id for a in listed] == newest
        # AND a page of exactly what is left ends the listing
        whole = store.list_endpoint_attempts("ep_hot", limit=20, cursor=None)
        assert whole.cursor is None and len(whole.items) == 20

    def test_an_id_with_a_hash_names_no_other_key(self, store: Any, clock: FakeClock) -> None:
        # GIVEN messages attempted at an endpoint, some of them in its shard 3
        made = _store_all(store, [_message(clock, received_at=clock() - i) for i in range(20)], clock)
        for message in made:
            store.claim_attempt(_attempt(message, "ep_x", 1, clock()), clock())
        # WHEN a caller asks for an endpoint or source whose id ends like a shard THEN nothing is found
        assert _search(store, MessageQuery(endpoint_id="ep_x#3")) == []
        assert _search(store, MessageQuery(source_id="src_a#3")) == []
        assert store.list_endpoint_attempts("ep_x#3", limit=50, cursor=None).items == []


class TestUnshardedKeysOfEarlierStores:
    """State written before the keys were sharded (a saved local stack, a deployed table) stays readable:
    the unsharded key is read as one more shard. DynamoDB only: the fake has no keys."""

    @pytest.fixture
    def dynamo(self, endpoint: str, clock: FakeClock) -> Any:
        from chalicelib.aws.dynamo import DynamoStore
        from testkit import aws

        return DynamoStore(
            aws.client("dynamodb", endpoint), aws.create_state_table(endpoint, upgraded=True), clock
        )

    def _as_before(self, dynamo: Any, item: dict[str, Any]) -> None:
        """Write an item with its index keys as they were before sharding (the shard suffix cut off)."""
        for name in ("gsi1pk", "gsi2pk", "gsi3pk"):
            if name in item:
                item[name] = keys.s(item[name]["S"].rsplit("#", 1)[0])
        dynamo._db.put_item(TableName=dynamo._table, Item=item)

    def test_old_messages_attempts_attention_and_counters_are_still_listed(
        self, dynamo: Any, clock: FakeClock
    ) -> None:
        now = clock()
        # GIVEN messages, attempts, a failing endpoint and an hour's counters written before sharding ...
        old = [_message(clock, received_at=now - 100 - i) for i in range(6)]
        for message in old:
            self._as_before(dynamo, messages.message_to_item_indexed(message))
            ended = replace(_attempt(message, "ep_1", 1, message.received_at + 1), delivery_status="failed")
            self._as_before(dynamo, attempts.attempt_to_item(ended))
        failing = _endpoint(clock, enabled=True, disabled_reason=None, failing_since=now - 9)
        self._as_before(dynamo, endpoints.endpoint_to_item(failing))
        hour = int(now // 3600 * 3600)
        dynamo._db.update_item(
            TableName=dynamo._table,
            Key=counters.stats_key(hour, None),
            UpdateExpression="SET #h = :h ADD received :r",
            ExpressionAttributeNames={"#h": "hour"},
            ExpressionAttributeValues={":h": keys.n(hour), ":r": keys.n(5)},
        )
        assert (
            dynamo._db.get_item(TableName=dynamo._table, Key=messages.message_key(old[0].id))["Item"][
                "gsi2pk"
            ]["S"].count("#")
            == 1
        )  # DAY#{day}: no shard
        # ... and new ones after
        new = _store_all(dynamo, [_message(clock, received_at=now - i) for i in range(6)], clock)
        for message in new:
            dynamo.claim_attempt(
                replace(_attempt(message, "ep_1", 1, message.received_at + 1), delivery_status="failed"), now
            )
        dynamo.add_counts(hour, {"received": 2})
        # WHEN listed THEN old and new come back together, in order, page by page
        everything = _newest_first(new + old)
        for query in (
            MessageQuery(),
            MessageQuery(source_id="src_a"),
            MessageQuery(application_id="app_owner"),
            MessageQuery(endpoint_id="ep_1"),
            MessageQuery(status="failed"),
        ):
            assert _search(dynamo, query, limit=5) == everything, query
        listed, _ = _pages(dynamo, "list_endpoint_attempts", limit=4, endpoint_id="ep_1")
        assert [a.message_id for a in listed] == everything
        assert [e.id for e in dynamo.attention_endpoints(limit=50)] == [failing.id]
        assert dynamo.get_counts([hour])[hour]["received"] == 7


class TestMessagesOfTheLayoutBefore:
    """Message items written before the packed layout (a deployed table holds them until they expire)
    are read, listed, deduplicated against and stored again like new ones. DynamoDB only."""

    @pytest.fixture
    def dynamo(self, endpoint: str, clock: FakeClock) -> Any:
        from chalicelib.aws.dynamo import DynamoStore
        from testkit import aws

        return DynamoStore(
            aws.client("dynamodb", endpoint), aws.create_state_table(endpoint, upgraded=True), clock
        )

    def test_old_items_read_list_dedupe_and_store_again(self, dynamo: Any, clock: FakeClock) -> None:
        now = clock()
        # GIVEN messages written in the layout before (every field an attribute of its own) ...
        old = [
            _message(clock, received_at=now - 10 - i, body=b'{"n": %d}' % i + b" " * 600, size=609)
            for i in range(3)
        ]
        old[1] = replace(old[1], body=None, body_ref=BodyRef("b", "k", "abc", 3), payload={"a": [1]})
        for message in old:
            item = messages.message_to_item_v1(message)
            assert "m" not in item and "mz" not in item and "received_at" in item
            dynamo._db.put_item(TableName=dynamo._table, Item=item)
        # ... and new ones, in the packed layout
        new = _store_all(dynamo, [_message(clock, received_at=now - i) for i in range(3)], clock)
        stored = dynamo._db.get_item(TableName=dynamo._table, Key=messages.message_key(new[0].id))["Item"]
        assert "mz" in stored or "m" in stored
        assert "headers" not in stored and "received_at" not in stored
        # THEN each reads back whole, and the listings hold both, newest first
        for message in old + new:
            assert dynamo.get_message(message.id) == message
        everything = _newest_first(new + old)
        for query in (MessageQuery(), MessageQuery(source_id="src_a"), MessageQuery(event_type="push")):
            assert _search(dynamo, query, limit=2) == everything, query
        # AND an old item still deduplicates: another receipt within the window is refused ...
        assert dynamo.store_message(replace(old[0], receipt_id="r-other"), now) is False
        # ... the same receipt (an SQS redelivery) is stored again, now packed, and reads the same
        assert dynamo.store_message(old[0], now) is True
        again = dynamo._db.get_item(TableName=dynamo._table, Key=messages.message_key(old[0].id))["Item"]
        assert "mz" in again and dynamo.get_message(old[0].id) == old[0]
        # AND an old item past its retention is gone, as a new one is
        clock.advance(old[2].expires_at - now + 1)
        with pytest.raises(NotFoundError):
            dynamo.get_message(old[2].id)
