"""One behavioural suite for each port, run against the in-memory fake and the AWS adapter on moto."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.errors import BadRequestError, NotFoundError, StorageError
from chalicelib.ids import new_id
from chalicelib.models import BodyRef, Endpoint, Message, MtlsRule, Rejection, Secret, Source, Verification
from chalicelib.queues import SqsQueue
from tests.fakes import FakeClock


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
    )
    return base.with_changes(**changes)


def _message(clock: FakeClock, **changes: Any) -> Message:
    base = Message(
        id=new_id("msg"),
        source_id="src_a",
        event_type="push",
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
        expires_at=clock() + 86400,
    )
    return Message(**{**base.__dict__, **changes})


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

    def test_message_round_trip_inline_and_by_reference(self, store: Any, clock: FakeClock) -> None:
        inline = _message(clock)
        assert store.store_message(inline, clock()) is True
        assert store.get_message(inline.id) == inline
        ref = _message(
            clock,
            body=None,
            body_ref=BodyRef("b", "k", "abc", 3),
            event_type=None,
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
        clock.advance(86401)
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
        page = store.list_messages(source_id=sid, limit=3, cursor=None)
        rest = store.list_messages(source_id=sid, limit=3, cursor=page.cursor)
        assert [m.id for m in page.items + rest.items] == [m.id for m in reversed(made)]
        assert rest.cursor is None

    @pytest.mark.parametrize("cursor", ["!!!", "e30", "eyJwayI6IDF9", "bm90IGpzb24"])
    def test_forged_cursor_is_a_400(self, store: Any, cursor: str) -> None:
        with pytest.raises(BadRequestError) as err:
            store.list_messages(source_id="s", limit=3, cursor=cursor)
        assert err.value.code == "invalid_cursor"

    def test_rejections_ring_and_counts(self, store: Any, clock: FakeClock) -> None:
        sid = new_id("src")
        for i in range(4):
            store.record_rejection(
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
                ),
                slot=i % 3,
                ttl=int(clock()) + 100,
            )
        kept = store.list_rejections(sid)
        assert len(kept) == 3  # bounded by the ring
        assert [r.at for r in kept] == sorted((r.at for r in kept), reverse=True)
        assert store.rejection_counts(sid) == {"total": 4, "signature_mismatch": 3, "ip_not_allowed": 1}
        clock.advance(101)
        assert store.list_rejections(sid) == []


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
