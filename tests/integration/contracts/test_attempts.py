"""The contract of AttemptStore: one behavioural suite, run against the in-memory fake and DynamoDB on moto.

Its cases store the messages they attempt, and find a message through its attempts: the suite runs on
the attempts' fake and adapter with the messages' beside them (not the whole Store).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from chalicelib.aws.dynamodb import attempts
from chalicelib.aws.dynamodb.attempts import AttemptTable
from chalicelib.aws.dynamodb.messages import MessageTable
from chalicelib.errors import BadRequestError
from chalicelib.models import Attempt, FirstClaim, first_attempt, generation_of
from chalicelib.ports import MessageQuery, encode_cursor
from testkit.fakes import FakeClock
from testkit.memory.attempts import MemoryAttempts
from testkit.memory.messages import MemoryMessages
from tests.integration.contracts.builders import _attempt, _message, _pages, _search_raw, contract_store

store = contract_store((MemoryAttempts, MemoryMessages), (AttemptTable, MessageTable))


class TestAttempts:
    def test_an_outcome_creates_the_attempt_of_a_claim_held_in_its_message_unless_claimed_since(
        self, store: Any, clock: FakeClock
    ) -> None:
        # GIVEN a first attempt claimed in its message's item (no attempt item yet)
        message = _message(clock)
        store.store_message(message, clock())
        held = replace(_attempt(message, "ep_a", 1, clock()), status="in_flight")
        assert store.get_attempt(message.id, "ep_a", "g1", 1) is None
        # WHEN its outcome is recorded THEN the attempt item is created with it
        assert store.finish_attempt(replace(held, status="succeeded", delivery_status="succeeded"))
        got = store.get_attempt(message.id, "ep_a", "g1", 1)
        assert got is not None and (got.claim_id, got.status) == (held.claim_id, "succeeded")
        # AND a claim of that attempt by anyone else is refused: it is finished
        assert not store.claim_attempt(_attempt(message, "ep_a", 1, clock() + 200), clock() + 200)
        # GIVEN another held attempt that a sender claimed once the lease ran out
        other = replace(_attempt(message, "ep_b", 1, clock()), status="in_flight")
        taken = replace(_attempt(message, "ep_b", 1, clock() + 200), status="in_flight")
        assert store.claim_attempt(taken, clock() + 200)
        # WHEN the first holder's outcome arrives late THEN it is refused and the new claim stands
        assert not store.finish_attempt(replace(other, status="failed"))
        now = store.get_attempt(message.id, "ep_b", "g1", 1)
        assert now is not None and now.claim_id == taken.claim_id

    def test_a_router_batch_records_its_first_claims_successes_as_a_sender_batch(
        self, store: Any, clock: FakeClock
    ) -> None:
        # GIVEN a message stored with its router's claim on three first attempts, named after its batch
        claim = FirstClaim("rb_r1.0", clock(), clock() + 150, ("ep_a", "ep_b", "ep_c"))
        stored = _message(clock, endpoints=claim.endpoint_ids, first_claim=claim)
        store.store_message(stored, clock())
        message = store.get_message(stored.id)
        assert message.first_claim == claim and claim.batch == "rb_r1"
        # WHEN the batch records ep_a's success (result item and endpoint listing) and ep_b's failure on
        # its own item, and ep_c's attempt is still on the wire
        ok = replace(first_attempt(message, claim, "ep_a"), status="succeeded", delivery_status="succeeded")
        store.finish_batch("rb_r1", [replace(ok, duration_ms=12, response_status=200)])
        failed = replace(first_attempt(message, claim, "ep_b"), status="failed", response_status=500)
        assert store.finish_attempt(failed)
        # THEN only the failure has an attempt item
        assert [a.endpoint_id for a in store.list_attempts(message.id)] == ["ep_b"]
        # AND the message's readers see all three: the success from the claim and the result item
        read = store.first_attempts(message, store.list_attempts(message.id))
        got = {a.endpoint_id: (a.claim_id, a.status, a.response_status) for a in read}
        ids = {e: first_attempt(message, claim, e).claim_id for e in claim.endpoint_ids}
        assert len(set(ids.values())) == 3 and all(i.startswith("rb_r1.0-") for i in ids.values())
        assert got == {
            "ep_a": (ids["ep_a"], "succeeded", 200),
            "ep_b": (ids["ep_b"], "failed", 500),
            "ep_c": (ids["ep_c"], "in_flight", None),
        }
        # AND the endpoint listings show the recorded ones, not the one in flight
        listed = store.list_endpoint_attempts("ep_a", limit=10, cursor=None).items
        assert [(a.message_id, a.number, a.status, a.response_status) for a in listed] == [
            (message.id, 1, "succeeded", 200)
        ]
        assert [a.status for a in store.list_endpoint_attempts("ep_b", limit=10, cursor=None).items] == [
            "failed"
        ]
        assert store.list_endpoint_attempts("ep_c", limit=10, cursor=None).items == []
        # AND a sender that claimed ep_c after the lease is read instead of the claim
        later = clock() + 200
        taken = replace(_attempt(message, "ep_c", 1, later, generation_of(message)), status="in_flight")
        assert store.claim_attempt(taken, later)
        [c] = [
            a
            for a in store.first_attempts(message, store.list_attempts(message.id))
            if a.endpoint_id == "ep_c"
        ]
        assert c.claim_id == taken.claim_id

    def test_message_attempts_page_by_key_and_the_latest_attempt(self, store: Any, clock: FakeClock) -> None:
        message = _message(clock)
        store.store_message(message, clock())
        for endpoint_id in ("ep_a", "ep_b", "ep_c"):
            for number in (1, 2):
                store.claim_attempt(_attempt(message, endpoint_id, number, clock()), clock())
        seen, cursor = [], None
        while True:
            page = store.message_attempts(message.id, limit=4, cursor=cursor)
            assert len(page.items) <= 4
            seen.extend((a.endpoint_id, a.number) for a in page.items)
            cursor = page.cursor
            if cursor is None:
                break
        assert seen == [(e, n) for e in ("ep_a", "ep_b", "ep_c") for n in (1, 2)]
        latest = store.latest_attempt(message.id, "ep_b", "g1")
        assert latest is not None and latest.number == 2
        assert store.latest_attempt(message.id, "ep_b", "other") is None

    def test_attempts_of_a_fanned_out_message_are_spread_over_attempt_shards(
        self, store: Any, clock: FakeClock
    ) -> None:
        # GIVEN a message that fanned out over 3 pages: its attempts in 3 partitions by endpoint
        message = _message(clock, fanout_pages=3, attempt_shards=3)
        assert store.store_message(message, clock())
        assert store.get_message(message.id).attempt_shards == 3
        endpoints = [f"ep_{i:02d}" for i in range(20)]
        for endpoint_id in endpoints:
            for number in (1, 2):
                claim = replace(_attempt(message, endpoint_id, number, clock()), status="in_flight", shards=3)
                assert store.claim_attempt(claim, clock())
                assert store.finish_attempt(replace(claim, status="failed"))
        assert {attempts.attempt_partition(message.id, e, 3) for e in endpoints} == {
            f"MSG#{message.id}#A{k}" for k in range(3)
        }
        # ... and one attempt written under the message's own key (before it was sharded: a deploy)
        store.claim_attempt(_attempt(message, "ep_old", 1, clock()), clock())
        # THEN one delivery's attempts are one read in its partition, and no other partition has them
        got = store.get_attempt(message.id, "ep_07", "g1", 2, shards=3)
        assert got is not None and (got.message_id, got.endpoint_id, got.shards) == (message.id, "ep_07", 3)
        assert store.get_attempt(message.id, "ep_07", "g1", 2) is None
        latest = store.latest_attempt(message.id, "ep_07", "g1", shards=3)
        assert latest is not None and latest.number == 2
        assert store.latest_attempt(message.id, "ep_07", "g1") is None
        # AND the listing walks every partition in turn, page by page, each attempt once, legacy included
        seen, cursor, pages = [], None, 0
        while True:
            page = store.message_attempts(message.id, limit=7, cursor=cursor, shards=3)
            assert len(page.items) <= 7 and all(a.message_id == message.id for a in page.items)
            seen.extend((a.endpoint_id, a.number) for a in page.items)
            cursor, pages = page.cursor, pages + 1
            if cursor is None:
                break
        expected = {(e, n) for e in endpoints for n in (1, 2)} | {("ep_old", 1)}
        assert len(seen) == len(expected) and set(seen) == expected and pages >= 6
        partitions = attempts.attempt_partitions(message.id, 3)
        order = [
            partitions.index(attempts.attempt_partition(message.id, e, 0 if e == "ep_old" else 3))
            for e, _ in seen
        ]
        assert order == sorted(order)  # partition by partition
        assert {(a.endpoint_id, a.number) for a in store.list_attempts(message.id, shards=3)} == expected
        # AND an endpoint's attempts and the search by endpoint find the message through the shard
        mine, _ = _pages(store, "list_endpoint_attempts", limit=5, endpoint_id="ep_07")
        assert {(a.message_id, a.number) for a in mine} == {(message.id, 1), (message.id, 2)}
        assert _search_raw(store, MessageQuery(endpoint_id="ep_07"), limit=5) == [message.id]
        # AND a forged cursor is a 400, never a read of another partition
        for forged in (["99", "ATT#"], ["1", "META"], ["ATT#ep_00#g1#001"], ["x", "ATT#"]):
            with pytest.raises(BadRequestError):
                store.message_attempts(message.id, limit=5, cursor=encode_cursor(forged), shards=3)

    def test_delivery_counters_of_a_message_with_attempt_shards(self, store: Any, clock: FakeClock) -> None:
        message = _message(clock, fanout_pages=3, attempt_shards=3)
        store.store_message(message, clock())

        def claimed(endpoint_id: str, number: int = 1) -> Attempt:
            claim = replace(_attempt(message, endpoint_id, number, clock()), status="in_flight", shards=3)
            assert store.claim_attempt(claim, clock())
            return claim

        def ended(claim: Attempt, status: str, reopens: str = "") -> Attempt:
            return replace(claim, status="failed", delivery_status=status, reopens=reopens, count_due=True)

        # GIVEN deliveries that end, each recorded with its count in one transaction
        ends = {"succeeded": 7, "failed": 2, "skipped": 1}
        n = 0
        for status, count in ends.items():
            for _ in range(count):
                assert store.finish_counted(ended(claimed(f"ep_{n}"), status))
                n += 1
        # a failed delivery resent, then succeeded (the failure taken off)
        assert store.finish_counted(ended(claimed("ep_7", 2), "succeeded", reopens="failed"))
        assert store.delivery_counts(message.id, "g1", 3) == {"succeeded": 8, "failed": 1, "skipped": 1}
        assert store.delivery_counts(message.id, "g2", 3) == {"succeeded": 0, "failed": 0, "skipped": 0}
        got = store.get_attempt(message.id, "ep_7", "g1", 2, shards=3)
        assert got is not None and got.reopens == "failed" and not got.count_due
        # WHEN an outcome is recorded alone, marked (its count's transaction failed)
        marked = ended(claimed("ep_20"), "failed")
        assert store.finish_attempt(marked)
        got = store.get_attempt(message.id, "ep_20", "g1", 1, shards=3)
        assert got is not None and got.count_due
        # THEN the finished outcome is never marked or counted again by its old claim
        assert not store.finish_attempt(marked) and not store.finish_counted(marked)
        # AND counting it clears the mark: once, however often a retry asks
        assert store.count_delivery_ending(got)
        assert not store.count_delivery_ending(got)
        assert store.delivery_counts(message.id, "g1", 3) == {"succeeded": 8, "failed": 2, "skipped": 1}
        got = store.get_attempt(message.id, "ep_20", "g1", 1, shards=3)
        assert got is not None and not got.count_due and got.delivery_status == "failed"
        # AND a claim taken over by another holder records nothing, counts nothing
        stale = claimed("ep_21")
        clock.advance(31)  # its lease ran out: another worker claims the attempt
        assert store.claim_attempt(replace(stale, claim_id="clm_other", lease_until=clock() + 30), clock())
        assert not store.finish_counted(ended(stale, "succeeded"))
        assert store.delivery_counts(message.id, "g1", 3)["succeeded"] == 8


class TestBatchResults:
    """A sender batch records its successes in one write (``finish_batch``): every read shows them as
    recorded, a claim is never taken over once its batch recorded it, and an outcome counts only while
    its claim still holds."""

    def _claimed(self, store: Any, clock: FakeClock, batch: str, endpoints: tuple[str, ...]) -> list[Attempt]:
        message = _message(clock)
        store.store_message(message, clock())
        claims = [
            replace(
                _attempt(message, endpoint_id, 1, clock()),
                status="in_flight",
                lease_until=clock() + 150,
                batch=batch,
            )
            for endpoint_id in endpoints
        ]
        for claim in claims:
            assert store.claim_attempt(claim, clock())
        return claims

    def test_every_read_shows_the_batch_outcomes(self, store: Any, clock: FakeClock) -> None:
        # GIVEN three claims of one sender batch, two of them recorded together
        claims = self._claimed(store, clock, "rb_1", ("ep_a", "ep_b", "ep_c"))
        done = [
            replace(
                c,
                status="succeeded",
                delivery_status="succeeded",
                duration_ms=7,
                response_status=200,
                response_body='{"ok": true}',
            )
            for c in claims[:2]
        ]
        store.finish_batch("rb_1", done)
        message_id = claims[0].message_id
        # THEN every read of an attempt shows them recorded, and the third still in flight
        assert store.get_attempt(message_id, "ep_a", "g1", 1) == done[0]
        assert store.latest_attempt(message_id, "ep_b", "g1") == done[1]
        assert store.get_attempt(message_id, "ep_c", "g1", 1) == claims[2]
        by_endpoint = {a.endpoint_id: a for a in store.list_attempts(message_id)}
        assert by_endpoint == {"ep_a": done[0], "ep_b": done[1], "ep_c": claims[2]}
        page = store.message_attempts(message_id, limit=10, cursor=None)
        assert [a.status for a in page.items] == ["succeeded", "succeeded", "in_flight"]
        listed, _ = _pages(store, "list_endpoint_attempts", limit=5, endpoint_id="ep_a")
        assert listed == [done[0]]
        # AND once the leases ran out, the recorded ones are never claimed again; the other one is
        clock.advance(151)
        for claim in claims:
            retry = replace(
                claim, claim_id="clm_again", started_at=clock(), lease_until=clock() + 150, batch=""
            )
            assert store.claim_attempt(retry, clock()) is (claim is claims[2])
        assert store.get_attempt(message_id, "ep_a", "g1", 1) == done[0]
        assert store.get_attempt(message_id, "ep_c", "g1", 1).claim_id == "clm_again"

    def test_an_outcome_counts_only_while_its_claim_holds(self, store: Any, clock: FakeClock) -> None:
        # GIVEN a batch claim whose holder outlived its lease: another worker took the attempt over
        [claim] = self._claimed(store, clock, "rb_2", ("ep_a",))
        clock.advance(151)
        taker = replace(claim, claim_id="clm_taker", started_at=clock(), lease_until=clock() + 150, batch="")
        assert store.claim_attempt(taker, clock())
        # WHEN the first holder's batch records its outcome late
        store.finish_batch("rb_2", [replace(claim, status="succeeded", delivery_status="succeeded")])
        # THEN the attempt is the taker's, still in flight
        assert store.get_attempt(claim.message_id, "ep_a", "g1", 1) == taker
