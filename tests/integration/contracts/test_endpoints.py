"""The contract of EndpointStore, EndpointHealthStore and SubscriptionStore: one behavioural suite, run against the in-memory fake and DynamoDB on moto."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from chalicelib.aws.dynamodb import endpoints
from chalicelib.errors import BadRequestError, NotFoundError
from chalicelib.ids import new_id
from chalicelib.models import (
    Endpoint,
    Secret,
)
from testkit.fakes import FakeClock
from tests.integration.contracts.builders import (
    _application,
    _endpoint,
    _message,
    _pages,
)


def _put_legacy(store: Any, endpoint: Endpoint) -> None:
    """Write an endpoint the way Hookway did before subscription pages: the item alone, no page."""
    if hasattr(store, "put_legacy_endpoint"):
        store.put_legacy_endpoint(endpoint)
    else:
        store._db.put_item(TableName=store._table, Item=endpoints.endpoint_to_item(endpoint))


def _routed_to(store: Any, clock: FakeClock, application_id: str | None) -> set[str]:
    """The endpoint ids the router matches a message of this owner to (a fresh router container)."""
    from chalicelib.caches import SubscriptionCache
    from chalicelib.outbound.routing import EndpointFanout
    from testkit.fakes import MemoryQueue

    cache = SubscriptionCache(store, clock, check_seconds=0, max_endpoints=10_000)
    fanout = EndpointFanout(store, MemoryQueue(), subscriptions=cache, store=store, chunks=MemoryQueue())
    message = _message(clock, application_id=application_id, event_type="order.created")
    matched = fanout.match(message)
    if matched.parts:  # by subscription page: every page of each owner
        return {
            e
            for owner, pages in matched.parts
            for n in range(pages)
            for e in fanout._matched(message, owner, n)
        }
    return set(matched.inline) | {e for page in matched.pages for e in page}


class TestEndpoints:
    def test_a_listen_session_round_trips(self, store: Any, clock: FakeClock) -> None:
        session = _endpoint(clock, url="listen:ep_x", kind="listen", expires_at=clock() + 600)
        store.put_endpoint(session)
        assert store.get_endpoint(session.id) == session

    def test_endpoint_round_trip_with_every_optional_field(self, store: Any, clock: FakeClock) -> None:
        # GIVEN an endpoint with every optional field, outbound mTLS included, and one with none
        full = Endpoint(
            id=new_id("ep"),
            url="https://hooks.example.com/in",
            created_at=clock(),
            updated_at=clock(),
            secrets=(Secret("sec_1", "whsec_x", clock(), None),),
            filter_event_types=("order.*",),
            filter_payload={
                "payload": {"total": [{"numeric": [">", 100]}]},
                "$or": [{"source": ["a"]}, {"source": ["b"]}],
            },
            auth={"type": "bearer", "token": "t"},
            retry_schedule=(0, 5),
            failing_since=clock(),
            client_certificate="secretsmanager:hookway/local/certs/acme",
        )
        bare = Endpoint(
            id=new_id("ep"), url="https://hooks.example.com/b", created_at=clock(), updated_at=clock()
        )
        # WHEN stored and read back THEN each is what was stored
        for endpoint in (full, bare):
            store.put_endpoint(endpoint)
            assert store.get_endpoint(endpoint.id) == endpoint

    def test_round_trip(self, store: Any, clock: FakeClock) -> None:
        endpoint = _endpoint(clock, application_id="app_x")
        store.put_endpoint(endpoint)
        assert store.get_endpoint(endpoint.id) == endpoint
        minimal = Endpoint(id=new_id("ep"), url="https://e.com", created_at=clock(), updated_at=clock())
        store.put_endpoint(minimal)
        assert store.get_endpoint(minimal.id) == minimal
        store.delete_endpoint(minimal.id)
        with pytest.raises(NotFoundError):
            store.get_endpoint(minimal.id)

    def test_endpoints_per_owner_never_mix(self, store: Any, clock: FakeClock) -> None:
        # GIVEN endpoints of the operator, of application A and of application B
        made: dict[str | None, list[Endpoint]] = {None: [], "app_a": [], "app_b": []}
        for i in range(9):
            owner = [None, "app_a", "app_b"][i % 3]
            if i >= 6 and owner == "app_b":
                continue  # B has fewer
            made[owner].append(_endpoint(clock, application_id=owner))
            store.put_endpoint(made[owner][-1])
            clock.advance(1)
        # WHEN each owner's endpoints are listed page by page, and all at once
        for owner, mine in made.items():
            listed, _ = _pages(store, "list_endpoints", application_id=owner)
            # THEN each owner sees exactly its own, oldest first
            assert [e.id for e in listed] == [e.id for e in mine]
            assert [e.id for e in store.endpoints_of(owner)] == [e.id for e in mine]
        assert store.endpoints_of("app_none") == []

    def test_cursor_of_one_owner_cannot_reach_another(self, store: Any, clock: FakeClock) -> None:
        a = [_endpoint(clock, application_id="app_a") for _ in range(3)]
        b = [_endpoint(clock, application_id="app_b") for _ in range(3)]
        for e in a + b:
            store.put_endpoint(e)
        page = store.list_endpoints(application_id="app_a", limit=1, cursor=None)
        other = store.list_endpoints(application_id="app_b", limit=10, cursor=page.cursor)
        assert {e.id for e in other.items} <= {e.id for e in b}

    def test_failing_and_disabled_endpoints_of_every_owner_need_attention(
        self, store: Any, clock: FakeClock
    ) -> None:
        # GIVEN a healthy endpoint of the operator and of an application, one saved disabled, one failing
        healthy = _endpoint(clock, enabled=True, disabled_reason=None, failing_since=None)
        theirs = _endpoint(
            clock, enabled=True, disabled_reason=None, failing_since=None, application_id="app_a"
        )
        saved_off = _endpoint(clock, disabled_reason="by hand", failing_since=None, updated_at=clock() + 1)
        for endpoint in (healthy, theirs, saved_off):
            store.put_endpoint(endpoint)
        assert [e.id for e in store.attention_endpoints(limit=50)] == [saved_off.id]
        # WHEN the application's starts failing, and the operator's healthy one is disabled after that
        store.set_endpoint_failing(theirs.id, clock() + 2)
        assert store.disable_endpoint(healthy.id, "410 Gone", clock() + 3)
        # THEN all three are listed, the most recent change first, as stored
        listed = store.attention_endpoints(limit=50)
        assert [e.id for e in listed] == [healthy.id, theirs.id, saved_off.id]
        assert (listed[1].application_id, listed[1].failing_since) == ("app_a", clock() + 2)
        assert (listed[0].enabled, listed[0].disabled_reason) == (False, "410 Gone")
        assert [e.id for e in store.attention_endpoints(limit=2)] == [healthy.id, theirs.id]
        # WHEN the failing one recovers, the disabled one that also fails recovers, and one is deleted
        store.set_endpoint_failing(healthy.id, clock() + 4)
        store.set_endpoint_failing(healthy.id, None)  # still disabled: still listed
        store.set_endpoint_failing(theirs.id, None)
        store.delete_endpoint(saved_off.id)
        # THEN only the disabled one is left, and saving it enabled takes it off
        assert [e.id for e in store.attention_endpoints(limit=50)] == [healthy.id]
        store.put_endpoint(store.get_endpoint(healthy.id).with_changes(enabled=True, disabled_reason=None))
        assert store.attention_endpoints(limit=50) == []

    def test_the_attention_range_is_read_in_pages_oldest_first(self, store: Any, clock: FakeClock) -> None:
        # GIVEN five endpoints that started failing 10 s apart, and a healthy one
        t0 = clock()
        failing = [_endpoint(clock, enabled=True, disabled_reason=None, failing_since=None) for _ in range(5)]
        healthy = _endpoint(clock, enabled=True, disabled_reason=None, failing_since=None)
        for endpoint in (*failing, healthy):
            store.put_endpoint(endpoint)
        for i, endpoint in enumerate(failing):
            store.set_endpoint_failing(endpoint.id, t0 + 10 * i)
        # WHEN the range (t0, t0 + 30] is read two at a time
        got: list[str] = []
        cursor = None
        while True:
            page = store.attention_due(t0 + 30, after=t0, limit=2, cursor=cursor)
            assert len(page.items) <= 2
            got += [e.id for e in page.items]
            cursor = page.cursor
            if cursor is None:
                break
        # THEN it holds the entries after t0 up to t0 + 30 included, each once (oldest first within each
        # write shard of EP_ATTENTION: the partitions are read in turn, so not across them)
        assert sorted(got) == sorted(e.id for e in failing[1:4]) and len(got) == 3
        everything = store.attention_due(t0 + 30, after=None, limit=10, cursor=None)
        assert sorted(e.id for e in everything.items) == sorted(e.id for e in failing[:4])
        assert everything.cursor is None
        with pytest.raises(BadRequestError):
            store.attention_due(t0, after=None, limit=2, cursor="e30")

    def test_subscription_pages_and_owner_version(self, store: Any, clock: FakeClock) -> None:
        # GIVEN pages of 3 ids, and 7 endpoints of one owner
        store.page_size = 3
        made = [_endpoint(clock, application_id="app_f", enabled=True) for _ in range(7)]
        for endpoint in made:
            store.put_endpoint(endpoint)
        version, pages = store.owner_version("app_f")
        # THEN they fill 3 pages, each id once, and the version moved with every write
        assert pages == 3 and version == 7
        held = [store.subscription_page("app_f", n) for n in range(pages)]
        assert [len(p) for p in held] == [3, 3, 1]
        assert sorted(i for p in held for i in p) == sorted(e.id for e in made)
        # WHEN one is updated, one disabled and one deleted: no page changes but the deleted id's
        store.put_endpoint(replace(made[0], description="changed"))
        store.disable_endpoint(made[1].id, "test", clock())
        store.delete_endpoint(made[2].id)
        assert store.owner_version("app_f") == (10, 3)
        remaining = sorted(i for n in range(3) for i in store.subscription_page("app_f", n))
        assert remaining == sorted(e.id for e in made if e is not made[2])
        assert [e.id for e in store.get_endpoints([made[3].id, made[2].id, made[0].id])] == [
            made[3].id,
            made[0].id,
        ]
        assert store.owner_version("app_nobody") == (0, 0)


class TestSubscriptionBackfill:
    def test_legacy_endpoints_are_routed_before_and_after_a_resumable_idempotent_backfill(
        self, store: Any, clock: FakeClock
    ) -> None:
        from chalicelib.backfill import CHECKPOINT, DONE, Backfill

        # GIVEN pages of 3 ids, 5 legacy endpoints of app_l and 2 of the operator, written without pages
        store.page_size = 3
        store.create_application(_application(clock, id="app_l"))
        legacy = [_endpoint(clock, application_id="app_l", filter_sources=(), enabled=True) for _ in range(5)]
        ours = [_endpoint(clock, filter_sources=(), enabled=True) for _ in range(2)]
        for endpoint in legacy + ours:
            _put_legacy(store, endpoint)
        assert store.owner_state("app_l") == (0, 0, False)
        listed, _ = _pages(store, "unjoined_endpoints", limit=2, application_id="app_l")
        assert sorted(listed) == sorted(e.id for e in legacy)
        # THEN before the backfill the router matches them from the listing
        assert _routed_to(store, clock, "app_l") == {e.id for e in legacy}
        assert _routed_to(store, clock, None) == {e.id for e in ours}
        # WHEN the backfill runs one step at a time, two endpoints a step
        for _ in range(30):
            if Backfill(store, page_size=2).run(max_steps=1).done:
                break
        assert store.get_checkpoint(CHECKPOINT) == DONE
        # THEN each endpoint is in exactly one page, both owners are complete, and routing uses the pages
        version, pages, complete = store.owner_state("app_l")
        assert pages == 2 and complete
        held = [i for n in range(pages) for i in store.subscription_page("app_l", n)]
        assert sorted(held) == sorted(e.id for e in legacy)
        assert store.owner_state(None)[1:] == (1, True)
        assert _pages(store, "unjoined_endpoints", limit=10, application_id="app_l")[0] == []
        assert _routed_to(store, clock, "app_l") == {e.id for e in legacy}
        # WHEN it runs again: nothing joins, nothing moves
        again = Backfill(store).run(again=True)
        assert again.done and again.joined == 0
        assert store.owner_state("app_l") == (version, pages, True)
        assert sorted(i for n in range(pages) for i in store.subscription_page("app_l", n)) == sorted(held)

    def test_join_is_safe_beside_saves_and_deletes(self, store: Any, clock: FakeClock) -> None:
        a, b, c = (_endpoint(clock, application_id="app_j") for _ in range(3))
        for endpoint in (a, b, c):
            _put_legacy(store, endpoint)
        # a save by the new code joins a legacy endpoint once; the backfill then has nothing to do
        store.put_endpoint(replace(a, description="saved"))
        assert store.join_subscription(a.id) is False
        # a deleted endpoint is not joined
        store.delete_endpoint(b.id)
        assert store.join_subscription(b.id) is False
        # an id already in a page only gets its page recorded
        assert store.join_subscription(c.id) is True
        assert store.join_subscription(c.id) is False
        held = [i for n in range(store.owner_state("app_j")[1]) for i in store.subscription_page("app_j", n)]
        assert sorted(held) == sorted([a.id, c.id])
        # the owner had endpoints before its first page: not complete until the backfill marks it
        assert store.owner_state("app_j")[2] is False
        store.mark_subscriptions_complete("app_j")
        assert store.owner_state("app_j")[2] is True

    def test_a_new_owner_is_complete_from_its_first_endpoint(self, store: Any, clock: FakeClock) -> None:
        store.put_endpoint(_endpoint(clock, application_id="app_new"))
        assert store.owner_state("app_new")[1:] == (1, True)
        assert store.owner_version("app_new") == store.owner_state("app_new")[:2]


class TestSubscriptionCompaction:
    def _held(self, store: Any, owner: str) -> list[str]:
        pages = store.owner_version(owner)[1]
        return [i for n in range(pages) for i in store.subscription_page(owner, n)]

    def test_deletes_remove_emptied_last_pages_and_refill_emptied_ones(
        self, store: Any, clock: FakeClock
    ) -> None:
        # GIVEN pages of 3 ids and 9 endpoints of one owner: 3 full pages
        store.page_size = 3
        made = [_endpoint(clock, application_id="app_c", enabled=True) for _ in range(9)]
        for endpoint in made:
            store.put_endpoint(endpoint)
        assert store.owner_version("app_c")[1] == 3
        # WHEN the last page's endpoints are deleted: its page goes
        for endpoint in made[6:]:
            store.delete_endpoint(endpoint.id)
        assert store.owner_version("app_c")[1] == 2
        # AND two of page 0 are deleted, then three endpoints created: page 0 is refilled first, no page added
        for endpoint in made[0:2]:
            store.delete_endpoint(endpoint.id)
        fresh = [_endpoint(clock, application_id="app_c", enabled=True) for _ in range(3)]
        for endpoint in fresh:
            store.put_endpoint(endpoint)
        live = made[2:6] + fresh
        assert store.owner_version("app_c")[1] == 3
        assert sorted(store.subscription_page("app_c", 0)) == sorted([made[2].id, fresh[0].id, fresh[1].id])
        # THEN every live endpoint is in exactly one page within the count, and routed
        assert sorted(self._held(store, "app_c")) == sorted(e.id for e in live)
        assert _routed_to(store, clock, "app_c") == {e.id for e in live}
        # AND deleting everything leaves no page (empty pages below the last go with it); compaction again
        # does nothing; a new endpoint starts page 0 again and is routed
        for endpoint in live:
            store.delete_endpoint(endpoint.id)
        assert store.owner_version("app_c")[1] == 0
        assert store.compact_subscriptions("app_c") == 0
        again = _endpoint(clock, application_id="app_c", enabled=True)
        store.put_endpoint(again)
        assert store.owner_version("app_c")[1] == 1 and self._held(store, "app_c") == [again.id]
        assert _routed_to(store, clock, "app_c") == {again.id}

    def test_one_delete_removes_a_bounded_number_of_empty_pages(self, store: Any, clock: FakeClock) -> None:
        from chalicelib.aws.dynamodb.endpoints import MAX_SHRINK_PAGES

        # GIVEN 12 pages of one id each, the first 11 emptied while the last still held its id
        store.page_size = 1
        made = [_endpoint(clock, application_id="app_b", enabled=True) for _ in range(MAX_SHRINK_PAGES + 4)]
        for endpoint in made:
            store.put_endpoint(endpoint)
        for endpoint in made[:-1]:
            store.delete_endpoint(endpoint.id)
        assert store.owner_version("app_b")[1] == len(made)
        # WHEN the last one is deleted: at most MAX_SHRINK_PAGES pages go in that call
        store.delete_endpoint(made[-1].id)
        assert store.owner_version("app_b")[1] == len(made) - MAX_SHRINK_PAGES
        # AND a compaction call goes on from there, idempotently
        assert store.compact_subscriptions("app_b") == len(made) - MAX_SHRINK_PAGES
        assert store.compact_subscriptions("app_b") == 0
        assert store.owner_version("app_b")[1] == 0
