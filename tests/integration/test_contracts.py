"""One behavioural suite for each port, run against the in-memory fake and the AWS adapter on moto."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from typing import Any

import pytest

from chalicelib import ports
from chalicelib.aws import codec
from chalicelib.aws.sqs import SqsQueue
from chalicelib.branding import Branding
from chalicelib.errors import BadRequestError, ConflictError, NotFoundError, StorageError
from chalicelib.ids import new_id
from chalicelib.models import (
    Application,
    Attempt,
    BodyRef,
    Endpoint,
    EventType,
    Message,
    MtlsRule,
    Pulled,
    Rejection,
    Secret,
    Source,
    Verification,
)
from chalicelib.ports import MessageQuery, encode_cursor
from testkit.fakes import FakeClock

DAY = 86400.0


def _source(clock: FakeClock, **changes: Any) -> Source:
    now = clock()
    base = Source(
        id=new_id("src"),
        name="n",
        created_at=now,
        updated_at=now,
        verification=Verification("stripe", (Secret("sec_1", "whsec_x", now, None),), 300, {"a": [1, "b"]}),
        ip_allowlist=("10.0.0.0/8",),
        basic_auth=("u:p:w",),
        mtls=MtlsRule(("CN=a",), ()),
        rejection_status=403,
        dedupe="json:/id",
        replay_window=60,
        max_body_bytes=10,
        description="d",
        enabled=False,
        application_id="app_owner",
    )
    return base.with_changes(**changes)


def _message(clock: FakeClock, **changes: Any) -> Message:
    base = Message(
        id=new_id("msg"),
        source_id="src_a",
        event_type="push",
        event_type_verified=False,
        status="stored",
        received_at=clock(),
        size=3,
        body_sha256="abc",
        content_type="application/json",
        receipt_id="r1",
        headers={"x-a": "1"},
        source_ip="203.0.113.1",
        delivery_id="d",
        dedupe_key="id:d",
        signed_timestamp=5,
        body=b"\x00\xffz",
        dedupe_until=clock() + 60,
        expires_at=clock() + 40 * DAY,
        application_id="app_owner",
    )
    return replace(base, **changes)


def _endpoint(clock: FakeClock, **changes: Any) -> Endpoint:
    now = clock()
    base = Endpoint(
        id=new_id("ep"),
        url="https://example.com/hook",
        created_at=now,
        updated_at=now,
        secrets=(Secret("s1", "whsec_abc", now, now + 60),),
        description="d",
        filter_sources=("src_a",),
        filter_event_types=("order.*",),
        signing="github",
        headers={"x-a": "1"},
        auth={"type": "bearer", "token": "t"},
        timeout=5.0,
        retry_schedule=(5, 60),
        enabled=False,
        disabled_reason="failing",
        failing_since=now - 5,
        application_id=None,
    )
    return replace(base, **changes)


def _application(clock: FakeClock, **changes: Any) -> Application:
    now = clock()
    base = Application(
        id=new_id("app"),
        name="Acme",
        created_at=now,
        updated_at=now,
        uid=None,
        metadata={"plan": "pro"},
    )
    return replace(base, **changes)


def _attempt(
    message: Message, endpoint_id: str, number: int, started_at: float, generation: str = "g1"
) -> Attempt:
    return Attempt(
        message_id=message.id,
        endpoint_id=endpoint_id,
        number=number,
        claim_id=new_id("clm"),
        started_at=started_at,
        status="failed",
        delivery_status="pending",
        lease_until=started_at + 30,
        expires_at=started_at + 40 * DAY,
        generation=generation,
    )


def _pages(store: Any, method: str, limit: int = 2, **kwargs: Any) -> tuple[list[Any], int]:
    """Every item of a listing, page by page (and how many pages it took)."""
    items: list[Any] = []
    cursor = None
    for pages in range(1, 1000):
        page = getattr(store, method)(limit=limit, cursor=cursor, **kwargs)
        assert len(page.items) <= limit
        items.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            return items, pages
    raise AssertionError("the listing never ended")


def _search(store: Any, query: MessageQuery, limit: int = 2, keep: Any = None) -> list[str]:
    """The ids of a whole search, page by page; no id may come twice."""
    found, _ = _pages(store, "search_messages", limit=limit, query=query, keep=keep)
    ids = [m.id for m in found]
    assert len(ids) == len(set(ids))
    return ids


def _store_all(store: Any, messages: list[Message], clock: FakeClock) -> list[Message]:
    for message in messages:
        assert store.store_message(message, clock()) is True
    return messages


def _newest_first(messages: list[Message]) -> list[str]:
    return [m.id for m in sorted(messages, key=lambda m: (m.received_at, m.id), reverse=True)]


class TestStore:
    def test_source_round_trip(self, store: Any, clock: FakeClock) -> None:
        source = _source(clock)
        store.put_source(source)
        assert store.get_source(source.id) == source
        minimal = _source(
            clock,
            mtls=None,
            dedupe=None,
            max_body_bytes=None,
            verification=Verification("github", (), None, {}),
        )
        store.put_source(minimal)
        assert store.get_source(minimal.id) == minimal

    def test_endpoint_round_trip_with_every_optional_field(self, store: Any, clock: FakeClock) -> None:
        # GIVEN an endpoint with every optional field, outbound mTLS included, and one with none
        full = Endpoint(
            id=new_id("ep"),
            url="https://hooks.example.com/in",
            created_at=clock(),
            updated_at=clock(),
            secrets=(Secret("sec_1", "whsec_x", clock(), None),),
            filter_event_types=("order.*",),
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

    def test_missing_source_and_delete(self, store: Any, clock: FakeClock) -> None:
        with pytest.raises(NotFoundError):
            store.get_source("src_missing")
        source = _source(clock)
        store.put_source(source)
        store.delete_source(source.id)
        with pytest.raises(NotFoundError):
            store.get_source(source.id)
        with pytest.raises(NotFoundError):
            store.delete_source(source.id)

    def test_sources_page_oldest_first(self, store: Any, clock: FakeClock) -> None:
        made = []
        for _ in range(5):
            made.append(_source(clock))
            store.put_source(made[-1])
            clock.advance(1)
        seen: list[str] = []
        cursor = None
        while True:
            page = store.list_sources(limit=2, cursor=cursor)
            seen.extend(s.id for s in page.items)
            cursor = page.cursor
            if cursor is None:
                break
        assert seen == [s.id for s in made]

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

    @pytest.mark.parametrize("method", ["list_sources", "list_applications", "list_event_types"])
    def test_forged_cursor_is_a_400_in_every_listing(self, store: Any, method: str) -> None:
        with pytest.raises(BadRequestError) as err:
            getattr(store, method)(limit=3, cursor="e30")
        assert err.value.code == "invalid_cursor"
        with pytest.raises(BadRequestError):
            store.list_endpoints(application_id=None, limit=3, cursor="bm90IGpzb24")

    def test_rejections_ring_and_counts(self, store: Any, clock: FakeClock) -> None:
        sid = new_id("src")
        for i in range(4):
            # each write is one flush: a sample and the counts it stands for
            store.record_rejections(
                Rejection(
                    sid,
                    clock() + i,
                    "signature_mismatch" if i else "ip_not_allowed",
                    "m",
                    "1.2.3.4",
                    "POST",
                    "a/b",
                    3,
                    "ua",
                    ("content-type", "x-hub-signature-256"),
                ),
                {"signature_mismatch": 10 * i, "ip_not_allowed": 0 if i else 1},
                slot=i % 3,
                until=int(clock()) + 100,
            )
        kept = store.list_rejections(sid)
        assert len(kept) == 3  # bounded by the ring
        assert kept[0].header_names == ("content-type", "x-hub-signature-256")
        assert [r.at for r in kept] == sorted((r.at for r in kept), reverse=True)
        # every count stays, also those of a slot whose sample was replaced
        assert store.rejection_counts(sid) == {"total": 61, "signature_mismatch": 60, "ip_not_allowed": 1}
        clock.advance(101)
        assert store.list_rejections(sid) == []
        assert store.rejection_counts(sid)["total"] == 61  # the counts outlive what is shown


class TestApplications:
    def test_round_trip_and_uid_lookup(self, store: Any, clock: FakeClock) -> None:
        # GIVEN an application with a uid and one without
        app = _application(clock, uid="acme-1", metadata={"plan": "pro", "region": "eu"})
        bare = _application(clock, metadata={})
        # WHEN both are created
        store.create_application(app)
        store.create_application(bare)
        # THEN each reads back whole and the uid names its application
        assert store.get_application(app.id) == app
        assert store.get_application(bare.id) == bare
        assert store.application_id_for_uid("acme-1") == app.id
        assert store.application_id_for_uid("nobody") is None

    def test_branding_round_trips_and_is_replaced_or_cleared_by_an_update(
        self, store: Any, clock: FakeClock
    ) -> None:
        branded = _application(clock, branding=Branding("Acme", "https://acme.example/l.svg", "#0f766e"))
        store.create_application(branded)
        assert store.get_application(branded.id) == branded
        partial = replace(branded, branding=Branding(accent="#111111"), updated_at=clock() + 1)
        store.update_application(branded, partial)
        assert store.get_application(branded.id).branding == Branding(accent="#111111")
        store.update_application(partial, replace(partial, branding=Branding()))
        assert store.get_application(branded.id).branding == Branding()

    def test_missing_application(self, store: Any) -> None:
        with pytest.raises(NotFoundError) as err:
            store.get_application("app_missing")
        assert err.value.code == "application_not_found"

    def test_uid_conflict_on_create(self, store: Any, clock: FakeClock) -> None:
        # GIVEN an application holding a uid
        first = _application(clock, uid="shared")
        store.create_application(first)
        # WHEN another one is created with the same uid
        second = _application(clock, uid="shared")
        with pytest.raises(ConflictError) as err:
            store.create_application(second)
        # THEN it is refused and nothing of it is stored
        assert err.value.code == "uid_taken"
        with pytest.raises(NotFoundError):
            store.get_application(second.id)
        assert store.application_id_for_uid("shared") == first.id
        # AND creating the holder again (a retry) is no conflict
        store.create_application(first)

    def test_uid_conflict_on_update(self, store: Any, clock: FakeClock) -> None:
        # GIVEN two applications with their own uids
        a = _application(clock, uid="a")
        b = _application(clock, uid="b")
        store.create_application(a)
        store.create_application(b)
        # WHEN b tries to take a's uid
        with pytest.raises(ConflictError) as err:
            store.update_application(b, replace(b, uid="a", name="renamed"))
        # THEN nothing changes
        assert err.value.code == "uid_taken"
        assert store.get_application(b.id) == b
        assert store.application_id_for_uid("a") == a.id
        assert store.application_id_for_uid("b") == b.id

    def test_uid_move_frees_the_old_uid(self, store: Any, clock: FakeClock) -> None:
        # GIVEN an application with uid "old"
        app = _application(clock, uid="old")
        store.create_application(app)
        # WHEN it moves to "new" (and other fields change)
        clock.advance(5)
        moved = replace(app, uid="new", name="Acme 2", metadata={"k": "v"}, updated_at=clock())
        store.update_application(app, moved)
        # THEN "new" names it, "old" is free for another application
        assert store.get_application(app.id) == moved
        assert store.application_id_for_uid("new") == app.id
        assert store.application_id_for_uid("old") is None
        other = _application(clock, uid="old")
        store.create_application(other)
        assert store.application_id_for_uid("old") == other.id
        # AND dropping the uid frees it as well
        store.update_application(moved, replace(moved, uid=None))
        assert store.get_application(app.id).uid is None
        assert store.application_id_for_uid("new") is None

    def test_update_without_uid_change_keeps_the_uid(self, store: Any, clock: FakeClock) -> None:
        app = _application(clock, uid="same")
        store.create_application(app)
        store.update_application(app, replace(app, name="n2"))
        assert store.get_application(app.id).name == "n2"
        assert store.application_id_for_uid("same") == app.id

    def test_update_of_a_deleted_application_is_not_found(self, store: Any, clock: FakeClock) -> None:
        app = _application(clock, uid="gone")
        with pytest.raises(NotFoundError) as err:
            store.update_application(app, replace(app, uid="gone2"))
        assert err.value.code == "application_not_found"
        assert store.application_id_for_uid("gone2") is None

    def test_delete_frees_the_uid(self, store: Any, clock: FakeClock) -> None:
        # GIVEN an application with a uid
        app = _application(clock, uid="u1")
        store.create_application(app)
        # WHEN it is deleted
        store.delete_application(app)
        # THEN it is gone and its uid can be taken again
        with pytest.raises(NotFoundError):
            store.get_application(app.id)
        assert store.application_id_for_uid("u1") is None
        again = _application(clock, uid="u1")
        store.create_application(again)
        assert store.application_id_for_uid("u1") == again.id
        # AND deleting an application without a uid works too
        bare = _application(clock)
        store.create_application(bare)
        store.delete_application(bare)
        with pytest.raises(NotFoundError):
            store.get_application(bare.id)

    def test_applications_page_oldest_first(self, store: Any, clock: FakeClock) -> None:
        made = []
        for i in range(5):
            made.append(_application(clock, uid=f"u{i}" if i % 2 else None))
            store.create_application(made[-1])
            clock.advance(1)
        seen, pages = _pages(store, "list_applications")
        assert [a.id for a in seen] == [a.id for a in made]
        assert pages == 3

    def test_console_sessions_are_kept_until_signed_out(self, store: Any, clock: FakeClock) -> None:
        # GIVEN a session kept by its digest
        store.put_session("d" * 64, clock() + 3600)
        # THEN it is found with when it ends, and an unknown one is not
        assert store.session_expires_at("d" * 64) == clock() + 3600
        assert store.session_expires_at("e" * 64) is None
        # WHEN it is deleted (twice: the second is no error), THEN it is gone
        store.delete_session("d" * 64)
        store.delete_session("d" * 64)
        assert store.session_expires_at("d" * 64) is None

    def test_end_sessions_ends_every_console_session(self, store: Any, clock: FakeClock) -> None:
        # GIVEN three sessions (an earlier test may have left others)
        store.end_sessions()
        for digest in ("a" * 64, "b" * 64, "c" * 64):
            store.put_session(digest, clock() + 3600)
        # WHEN every session is ended THEN none is found, and a second call finds nothing to end
        assert store.end_sessions() == 3
        assert [store.session_expires_at(d * 64) for d in "abc"] == [None, None, None]
        assert store.end_sessions() == 0

    def test_revoke_tokens_only_moves_forward(self, store: Any, clock: FakeClock) -> None:
        # GIVEN an application
        app = _application(clock, uid="rv")
        store.create_application(app)
        # WHEN its tokens are revoked, then "revoked" at an earlier time
        store.revoke_tokens(app.id, 1000.0)
        store.revoke_tokens(app.id, 500.0)
        # THEN the later instant stands
        assert store.get_application(app.id).tokens_valid_after == 1000.0
        store.revoke_tokens(app.id, 2000.5)
        assert store.get_application(app.id).tokens_valid_after == 2000.5
        # AND an update built from a stale copy cannot undo the revocation
        store.update_application(app, replace(app, name="stale"))
        got = store.get_application(app.id)
        assert (got.name, got.tokens_valid_after) == ("stale", 2000.5)
        # AND a missing application is a 404
        with pytest.raises(NotFoundError) as err:
            store.revoke_tokens("app_missing", 1.0)
        assert err.value.code == "application_not_found"


class TestEndpoints:
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

    def test_a_checkpoint_reads_back_what_was_saved(self, store: Any) -> None:
        assert store.get_checkpoint("sweep") is None
        store.put_checkpoint("sweep", '{"done": 1.5}')
        store.put_checkpoint("sweep", '{"done": 2.5}')
        assert store.get_checkpoint("sweep") == '{"done": 2.5}'


class TestCounters:
    def test_counters_add_up_per_hour_and_read_back_in_one_call(self, store: Any) -> None:
        hour = 1_800_000_000 // 3600 * 3600
        store.add_counts(hour, {"received": 3, "delivered": 2})
        store.add_counts(hour, {"received": 1, "failed": 1, "rejected": 0})
        store.add_counts(hour + 3600, {"rejected": 4})
        store.add_counts(hour + 7200, {"received": 0})  # nothing to add: no item
        assert store.get_counts([hour - 3600, hour, hour + 3600, hour + 7200]) == {
            hour: {"received": 4, "delivered": 2, "failed": 1, "rejected": 0},
            hour + 3600: {"received": 0, "delivered": 0, "failed": 0, "rejected": 4},
        }
        week = [hour - 3600 * i for i in range(168)]
        assert store.get_counts(week) == {hour: {"received": 4, "delivered": 2, "failed": 1, "rejected": 0}}


class TestJobs:
    def test_a_job_round_trips_and_changes_only_from_the_revision_it_read(
        self, store: Any, clock: FakeClock
    ) -> None:
        from dataclasses import replace

        from chalicelib.ids import new_id
        from chalicelib.models import Job

        # GIVEN a stored job
        job = Job(
            id=new_id("job"),
            kind="endpoint.recover",
            created_at=clock(),
            updated_at=clock(),
            params={"endpoint_id": "ep_1", "since": 1.5, "include_unmatched": True},
            application_id="app_1",
            expires_at=clock() + 600,
        )
        store.create_job(job)
        assert store.get_job(job.id) == job
        # WHEN two workers move it on from the same revision
        first = replace(job, state="running", done=500, cursor='["attempts","abc"]', rev=1, sent=1)
        second = replace(job, state="failed", error={"code": "x", "message": "y"}, rev=1)
        # THEN only the first write holds, with every field as written
        assert store.save_job(first, expected_rev=0) is True
        assert store.save_job(second, expected_rev=0) is False
        assert store.get_job(job.id) == first
        done = replace(first, state="succeeded", done=1200, total=1200, cursor=None, rev=2, step=4)
        assert store.save_job(done, expected_rev=1) is True
        assert store.get_job(job.id) == done
        # ... an unknown job is job_not_found, and so is one past its week
        with pytest.raises(NotFoundError) as err:
            store.get_job(new_id("job"))
        assert err.value.code == "job_not_found"
        assert store.save_job(replace(job, id=new_id("job")), expected_rev=0) is False
        clock.advance(601)
        with pytest.raises(NotFoundError):
            store.get_job(job.id)


class TestListen:
    def test_a_listen_session_round_trips(self, store: Any, clock: FakeClock) -> None:
        session = _endpoint(clock, url="listen:ep_x", kind="listen", expires_at=clock() + 600)
        store.put_endpoint(session)
        assert store.get_endpoint(session.id) == session

    def test_waiting_deliveries_page_by_cursor_oldest_first_per_session(
        self, store: Any, clock: FakeClock
    ) -> None:
        # GIVEN three deliveries waiting in one session and one in another
        def pulled(endpoint_id: str, n: int) -> Pulled:
            now = clock()
            clock.advance(1)
            return Pulled(
                endpoint_id, f"{now:017.6f}-clm_{n}", f"msg_{n}", 1, "g1", f"clm_{n}", now, now + 600
            )

        mine = [pulled("ep_a", n) for n in range(3)]
        other = pulled("ep_b", 9)
        for item in [*reversed(mine), other]:
            store.put_pulled(item)
        # WHEN listed from the start, then after a cursor
        first = store.list_pulled("ep_a", after=None, limit=2)
        rest = store.list_pulled("ep_a", after=first[-1].seq, limit=2)
        # THEN each page is the session's own, oldest first, and the cursor continues where it stopped
        assert first == mine[:2] and rest == mine[2:]
        assert store.list_pulled("ep_a", after=mine[-1].seq, limit=2) == []
        assert store.get_pulled("ep_b", other.seq) == other
        # AND a reported one is gone, and deleting it twice is no error
        store.delete_pulled("ep_a", mine[0].seq)
        store.delete_pulled("ep_a", mine[0].seq)
        assert store.get_pulled("ep_a", mine[0].seq) is None
        assert store.list_pulled("ep_a", after=None, limit=10) == mine[1:]


class TestEventTypes:
    def test_crud(self, store: Any, clock: FakeClock) -> None:
        # GIVEN an event type with a schema and one without
        schema = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
        with_schema = EventType("order.created", clock(), clock(), "An order", schema, False)
        bare = EventType("ping", clock(), clock())
        store.put_event_type(with_schema)
        store.put_event_type(bare)
        # THEN both read back whole
        assert store.get_event_type("order.created") == with_schema
        assert store.get_event_type("ping") == bare
        # WHEN one is replaced
        changed = replace(with_schema, deprecated=True, schema=None, updated_at=clock() + 1)
        store.put_event_type(changed)
        assert store.get_event_type("order.created") == changed
        # WHEN one is deleted, THEN it is gone, and deleting it again is a 404
        store.delete_event_type("ping")
        with pytest.raises(NotFoundError) as err:
            store.get_event_type("ping")
        assert err.value.code == "event_type_not_found"
        with pytest.raises(NotFoundError) as err:
            store.delete_event_type("ping")
        assert err.value.code == "event_type_not_found"

    def test_listed_by_name_page_by_page(self, store: Any, clock: FakeClock) -> None:
        names = ["user.deleted", "order.paid", "a", "order.created", "user.created"]
        for name in names:
            store.put_event_type(EventType(name, clock(), clock()))
        listed, pages = _pages(store, "list_event_types")
        assert [e.name for e in listed] == sorted(names)
        assert pages == 3


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
        # GIVEN many messages, a few of whose deliveries ended failed or skipped, over several days
        now = clock()
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


class TestWriteShards:
    """The index keys every message or attempt writes are sharded (``codec.INDEX_SHARDS``); a listing
    merges the shards, so it answers as one key did: the same items, order and pages."""

    def test_pages_cross_shard_boundaries_in_every_sharded_listing(
        self, store: Any, clock: FakeClock
    ) -> None:
        # GIVEN 40 messages of one source and application (more than the shards, three in one instant),
        # each attempted at one endpoint, a few ending failed
        now = clock()
        times = [now - i * 7.0 for i in range(37)] + [now - 70.0] * 3
        made = _store_all(store, [_message(clock, received_at=t) for t in times], clock)
        assert len({codec.shard_of(m.id) for m in made}) > 8  # spread over many shards
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
            attempts, _ = _pages(store, "list_endpoint_attempts", limit=limit, endpoint_id="ep_hot")
            assert [a.message_id for a in attempts] == newest
        # AND a page of exactly what is left ends the listing
        whole = store.list_endpoint_attempts("ep_hot", limit=40, cursor=None)
        assert whole.cursor is None and len(whole.items) == 40

    def test_an_id_with_a_hash_names_no_other_key(self, store: Any, clock: FakeClock) -> None:
        # GIVEN messages attempted at an endpoint, some of them in its shard 3
        made = _store_all(store, [_message(clock, received_at=clock() - i) for i in range(20)], clock)
        for message in made:
            store.claim_attempt(_attempt(message, "ep_x", 1, clock()), clock())
        # WHEN a caller asks for an endpoint or source whose id ends like a shard THEN nothing is found
        assert _search(store, MessageQuery(endpoint_id="ep_x#3")) == []
        assert _search(store, MessageQuery(source_id="src_a#3")) == []
        assert store.list_endpoint_attempts("ep_x#3", limit=50, cursor=None).items == []

    def test_hours_are_summed_over_their_shares(self, store: Any) -> None:
        # GIVEN many flushes of one hour (each to a share picked at random)
        hour = 1_800_000_000 // 3600 * 3600
        for _ in range(40):
            store.add_counts(hour, {"received": 2, "rejected": 1})
        # THEN the hour reads back as their sum
        assert store.get_counts([hour]) == {
            hour: {"received": 80, "delivered": 0, "failed": 0, "rejected": 40}
        }


class TestUnshardedKeysOfEarlierStores:
    """State written before the keys were sharded (a saved local stack, a deployed table) stays readable:
    the unsharded key is read as one more shard. DynamoDB only: the fake has no keys."""

    @pytest.fixture
    def dynamo(self, endpoint: str, clock: FakeClock) -> Any:
        from chalicelib.aws.dynamo import DynamoStore
        from testkit import aws

        return DynamoStore(aws.client("dynamodb", endpoint), aws.create_state_table(endpoint), clock)

    def _as_before(self, dynamo: Any, item: dict[str, Any]) -> None:
        """Write an item with its index keys as they were before sharding (the shard suffix cut off)."""
        for name in ("gsi1pk", "gsi2pk", "gsi3pk"):
            if name in item:
                item[name] = codec.s(item[name]["S"].rsplit("#", 1)[0])
        dynamo._db.put_item(TableName=dynamo._table, Item=item)

    def test_old_messages_attempts_attention_and_counters_are_still_listed(
        self, dynamo: Any, clock: FakeClock
    ) -> None:
        now = clock()
        # GIVEN messages, attempts, a failing endpoint and an hour's counters written before sharding ...
        old = [_message(clock, received_at=now - 100 - i) for i in range(6)]
        for message in old:
            self._as_before(dynamo, codec.message_to_item(message))
            ended = replace(_attempt(message, "ep_1", 1, message.received_at + 1), delivery_status="failed")
            self._as_before(dynamo, codec.attempt_to_item(ended))
        failing = _endpoint(clock, enabled=True, disabled_reason=None, failing_since=now - 9)
        self._as_before(dynamo, codec.endpoint_to_item(failing))
        hour = int(now // 3600 * 3600)
        dynamo._db.update_item(
            TableName=dynamo._table,
            Key=codec.stats_key(hour, None),
            UpdateExpression="SET #h = :h ADD received :r",
            ExpressionAttributeNames={"#h": "hour"},
            ExpressionAttributeValues={":h": codec.n(hour), ":r": codec.n(5)},
        )
        assert (
            dynamo._db.get_item(TableName=dynamo._table, Key=codec.message_key(old[0].id))["Item"]["gsi2pk"][
                "S"
            ].count("#")
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
        attempts, _ = _pages(dynamo, "list_endpoint_attempts", limit=4, endpoint_id="ep_1")
        assert [a.message_id for a in attempts] == everything
        assert [e.id for e in dynamo.attention_endpoints(limit=50)] == [failing.id]
        assert dynamo.get_counts([hour])[hour]["received"] == 7


def _search_raw(store: Any, query: MessageQuery, limit: int) -> list[str]:
    found, _ = _pages(store, "search_messages", limit=limit, query=query)
    return [m.id for m in found]


class TestQueue:
    def test_send_and_batch_keep_bodies(self, queue: Any) -> None:
        big = "é" * 300_000  # 600 KB of UTF-8
        queue.send(big)
        queue.send_batch([json.dumps({"n": i}) for i in range(23)])
        bodies = _drain(queue)
        assert big in bodies
        assert sorted(b for b in bodies if b != big) == sorted(json.dumps({"n": i}) for i in range(23))

    def test_oversized_message_is_a_storage_error(self, queue: Any) -> None:
        with pytest.raises(StorageError):
            queue.send("x" * (1024 * 1024 + 1))

    def test_a_failed_record_comes_back_when_its_visibility_says(self, queue: Any) -> None:
        # GIVEN 12 received messages (more than one ChangeMessageVisibilityBatch call)
        queue.send_batch([f"r{i}" for i in range(12)])
        if not isinstance(queue, SqsQueue):
            queue.change_visibility([(f"h{i}", 0) for i in range(12)])
            assert queue.visibility == [(f"h{i}", 0) for i in range(12)]
            return
        sqs = queue.sqs  # type: ignore[attr-defined]
        held: dict[str, str] = {}
        while len(held) < 12:
            for m in sqs.receive_message(
                QueueUrl=queue.url, MaxNumberOfMessages=10, VisibilityTimeout=600
            ).get("Messages", []):
                held[m["Body"]] = m["ReceiptHandle"]
        # WHEN the handler gives 11 of them back now and keeps one for 10 minutes
        queue.change_visibility([(held[f"r{i}"], 0 if i else 600) for i in range(12)])
        # THEN the 11 can be received again at once, the kept one cannot
        assert sorted(_drain(queue), key=lambda b: int(b[1:])) == [f"r{i}" for i in range(1, 12)]
        # ... and a receipt SQS no longer knows is a StorageError (the handler then lets the timeout run)
        with pytest.raises(StorageError):
            queue.change_visibility([("not-a-receipt-handle", 5)])


def _drain(queue: Any) -> list[str]:
    if not isinstance(queue, SqsQueue):
        return list(queue.sent)
    bodies: list[str] = []
    sqs = queue.sqs  # type: ignore[attr-defined]
    while True:
        got = sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not got:
            return bodies
        bodies.extend(m["Body"] for m in got)
        queue.delete_batch([m["ReceiptHandle"] for m in got])


class TestBlobs:
    def test_put_get_and_missing(self, blobs: Any) -> None:
        data = bytes(range(256)) * 4096
        bucket = blobs.put("a/b", data)
        assert bucket == blobs.bucket
        assert blobs.get("a/b") == data
        with pytest.raises(NotFoundError):
            blobs.get("nope")


# --------------------------------------------------------------------------- secrets at rest (security 9)

SECRET_PLAINTEXTS = {
    "endpoint HMAC secret": "whsec_c2VhbGVkLWF0LXJlc3QtaG1hYy1zZWNyZXQ=",
    "endpoint ed25519 key": "whsk_" + "B" * 86 + "==",
    "receiver basic password": "receiver-password-at-rest",
    "receiver bearer token": "receiver-bearer-at-rest",
    "custom header value": "custom-header-at-rest",
    "source secret": "source-secret-at-rest",
    "source basic auth": "provider:source-basic-at-rest",
}


@pytest.fixture(params=["memory", "dynamodb"])
def sealed(request: pytest.FixtureRequest, clock: FakeClock) -> tuple[Any, Any, Any]:
    """A sealed store, a function that returns every byte it holds, and a function that makes another
    sealed store on the same data and key (another container: nothing cached): the fake with a fake
    keyring, or DynamoDB with a KMS key, both on moto."""
    from chalicelib.aws.dynamo import DynamoStore
    from chalicelib.aws.kms import KmsKeyring
    from chalicelib.sealing import SealedStore, Sealer
    from testkit import aws
    from testkit.fakes import FakeKeyring, MemoryStore

    if request.param == "memory":
        fake = MemoryStore(clock)

        def held() -> str:
            return repr(fake.endpoints) + repr(fake.sources)

        keyring = FakeKeyring()
        return (
            SealedStore(fake, Sealer(keyring, clock)),
            held,
            lambda: SealedStore(fake, Sealer(keyring, clock)),
        )
    endpoint = request.getfixturevalue("endpoint")
    db = aws.client("dynamodb", endpoint)
    table = aws.create_state_table(endpoint)
    kms = aws.client("kms", endpoint)
    key = kms.create_key(Description="contract suite")["KeyMetadata"]["Arn"]

    def scanned() -> str:
        return json.dumps(db.scan(TableName=table)["Items"])

    store = DynamoStore(db, table, clock)
    keyring = KmsKeyring(lambda: kms, key, "test")
    return (
        SealedStore(store, Sealer(keyring, clock)),
        scanned,
        lambda: SealedStore(store, Sealer(keyring, clock)),
    )


def _secret_holders(clock: FakeClock) -> tuple[Endpoint, Endpoint, Source]:
    p = SECRET_PLAINTEXTS
    basic = Endpoint(
        id=new_id("ep"),
        url="https://hooks.example.com/a",
        created_at=clock(),
        updated_at=clock(),
        secrets=(
            Secret("sec_h", p["endpoint HMAC secret"], clock()),
            Secret("sec_e", p["endpoint ed25519 key"], clock()),
        ),
        headers={"X-Api-Key": p["custom header value"]},
        auth={"type": "basic", "username": "hookway", "password": p["receiver basic password"]},
    )
    bearer = replace(basic, id=new_id("ep"), auth={"type": "bearer", "token": p["receiver bearer token"]})
    source = _source(
        clock,
        verification=Verification("github", (Secret("sec_s", p["source secret"], clock()),), None, {}),
        basic_auth=(p["source basic auth"],),
    )
    return basic, bearer, source


class TestSecretsAtRest:
    def test_no_secret_of_any_kind_is_in_the_stored_bytes(
        self, sealed: tuple[Any, Any, Any], clock: FakeClock
    ) -> None:
        store, held, another = sealed
        # GIVEN every kind of secret, WHEN stored
        basic, bearer, source = _secret_holders(clock)
        store.put_endpoint(basic)
        store.put_endpoint(bearer)
        store.put_source(source)
        # THEN none is in what the store holds (DynamoDB: a scan of the table, every attribute)
        stored = held()
        assert basic.id in stored and "X-Api-Key" in stored and "hwenc1:" in stored
        for kind, plaintext in SECRET_PLAINTEXTS.items():
            assert plaintext not in stored, kind
        # ... and each reads back as it was, here and in another container (which unwraps the data key)
        for reader in (store, another()):
            assert reader.get_endpoint(basic.id) == basic and reader.get_endpoint(bearer.id) == bearer
            assert reader.get_source(source.id) == source

    def test_a_ciphertext_moved_to_another_item_does_not_open(
        self, sealed: tuple[Any, Any, Any], clock: FakeClock
    ) -> None:
        from chalicelib.sealing import SealError

        store, _, another = sealed
        victim, evil, _ = _secret_holders(clock)
        store.put_endpoint(victim)
        store.put_endpoint(replace(evil, headers={}, auth=None, secrets=()))
        # WHEN a victim's sealed signing secret is written, as stored, into the other endpoint's header
        stolen = store.inner.get_endpoint(victim.id).secrets[0].value
        store.inner.put_endpoint(replace(store.inner.get_endpoint(evil.id), headers={"X-Echo": stolen}))
        # THEN reading that endpoint fails: Hookway never sends the victim's secret to its URL
        for reader in (store, another()):
            with pytest.raises(SealError):
                reader.get_endpoint(evil.id)
            assert reader.get_endpoint(victim.id) == victim


# ------------------------------------------------------------------------- DynamoDB's limits (scale issue)


class TestLimits:
    """What DynamoDB refuses, the fake refuses too (chalicelib.aws.limits); moto is checked alongside."""

    def test_an_item_over_400_kb_is_refused_and_one_under_is_kept(self, store: Any, clock: FakeClock) -> None:
        # GIVEN a message whose inline body does not compress and makes the item larger than 400 KB
        big = _message(clock, body=os.urandom(420_000), size=420_000)
        # WHEN it is stored THEN both refuse it with a StorageError (DynamoDB's ValidationException)
        with pytest.raises(StorageError):
            store.store_message(big, clock())
        with pytest.raises(NotFoundError):
            store.get_message(big.id)
        # ... and a message well inside the limit is kept (moto counts binary as base64: 250 KB -> 333 KB)
        fits = _message(clock, body=os.urandom(250_000), size=250_000)
        assert store.store_message(fits, clock())
        assert store.get_message(fits.id).body == fits.body
        # ... the same for a string attribute (an endpoint's headers)
        with pytest.raises(StorageError):
            store.put_endpoint(_endpoint(clock, headers={"X-Big": "a" * 420_000}))
        kept = _endpoint(clock, headers={"X-Big": "a" * 300_000})
        store.put_endpoint(kept)
        assert store.get_endpoint(kept.id) == kept

    def test_reads_of_more_than_100_items_are_split_into_batches(self, store: Any, clock: FakeClock) -> None:
        # GIVEN 120 endpoints of one owner (BatchGetItem takes at most 100 keys a call)
        made = {_endpoint(clock, application_id="app_many").id for _ in range(120)}
        for endpoint_id in made:
            store.put_endpoint(_endpoint(clock, id=endpoint_id, application_id="app_many"))
        # WHEN the router's load reads them all THEN every one comes back
        assert {e.id for e in store.endpoints_of("app_many")} == made

    def test_request_limits_as_aws_and_moto_enforce_them(self, endpoint: str) -> None:
        from botocore.exceptions import ClientError

        from chalicelib.aws import limits
        from testkit import aws

        db = aws.client("dynamodb", endpoint)
        table = aws.create_state_table(endpoint)

        def key(i: int) -> dict[str, Any]:
            return {"pk": {"S": f"LIMIT#{i}"}, "sk": {"S": "META"}}

        def refused(call: Any, **kwargs: Any) -> bool:
            try:
                call(**kwargs)
            except ClientError as exc:
                return exc.response["Error"]["Code"] == "ValidationException"
            return False

        # BatchWriteItem: 25 puts, not 26. moto 5 takes 26 as well: only chalicelib.aws.limits (the fake's
        # check) stands for AWS here
        puts = [{"PutRequest": {"Item": key(i)}} for i in range(26)]
        db.batch_write_item(RequestItems={table: puts[:25]})
        with pytest.raises(StorageError):
            limits.check_count("BatchWriteItem", 26)
        # BatchGetItem: 100 keys, not 101
        db.batch_get_item(RequestItems={table: {"Keys": [key(i) for i in range(100)]}})
        assert refused(db.batch_get_item, RequestItems={table: {"Keys": [key(i) for i in range(101)]}})
        with pytest.raises(StorageError):
            limits.check_count("BatchGetItem", 101)
        # TransactWriteItems: AWS takes 100 actions; moto still stops at 25, so no test may lean on 26-100
        actions = [{"Put": {"TableName": table, "Item": key(1000 + i)}} for i in range(101)]
        assert refused(db.transact_write_items, TransactItems=actions)
        with pytest.raises(StorageError):
            limits.check_count("TransactWriteItems", 101)
        limits.check_count("TransactWriteItems", 100)
        # An item over 400 KB by the size rule is refused
        item = {**key(2000), "blob": {"S": "a" * 410_000}}
        assert limits.item_size(item) > limits.MAX_ITEM_BYTES
        assert refused(db.put_item, TableName=table, Item=item)


class TestFanout:
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

    def test_fanout_pages_are_counted_once_per_storing(self, store: Any, clock: FakeClock) -> None:
        from chalicelib.models import FanoutPage

        message = _message(clock, fanout_pages=2)
        assert store.store_message(message, clock())
        ids = tuple(new_id("ep") for _ in range(500))
        page = FanoutPage(message.id, 1, "g1", ids, message.expires_at)
        store.put_fanout_page(page)
        assert store.get_fanout_page(message.id, 1) == page
        assert store.get_fanout_page(message.id, 0) is None
        for _ in range(2):
            store.count_fanout_page(message.id, message.receipt_id, 1, 500)
        store.count_fanout_page(message.id, "another_receipt", 0, 7)
        got = store.get_message(message.id)
        assert (got.endpoint_count, got.fanned_pages, got.fanout_pages, got.endpoints) == (500, 1, 2, ())

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


def _put_legacy(store: Any, endpoint: Endpoint) -> None:
    """Write an endpoint the way Hookway did before subscription pages: the item alone, no page."""
    if hasattr(store, "put_legacy_endpoint"):
        store.put_legacy_endpoint(endpoint)
    else:
        from chalicelib.aws import codec

        store._db.put_item(TableName=store._table, Item=codec.endpoint_to_item(endpoint))


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
