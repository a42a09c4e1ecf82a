"""In-memory fakes of Hookway's ports, with the same semantics as the AWS adapters.

Unit tests use them; ``tests/integration/test_contracts.py`` runs one behavioural suite against these
and against the real adapters on moto's server, so the fakes cannot drift from the truth.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from chalicelib import codec
from chalicelib.errors import NotFoundError, StorageError
from chalicelib.models import Attempt, Endpoint, Message, Rejection, Source
from chalicelib.store import Page, decode_cursor, encode_cursor


class FakeClock:
    """A virtual clock: tests move time instead of sleeping."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class MemoryStore:
    """The Store in a dict, keyed and paginated like the DynamoDB layout."""

    def __init__(self, clock: Any) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.sources: dict[str, Source] = {}
        self.messages: dict[str, Message] = {}
        self.rejections: dict[tuple[str, int], tuple[Rejection, int]] = {}
        self.counts: dict[str, dict[str, int]] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.attempts: dict[tuple[str, str, str, int], Attempt] = {}
        self.idempotency: dict[str, tuple[str, str, float]] = {}
        self.writes = 0
        self.fail_with: Exception | None = None

    def _maybe_fail(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    def ping(self) -> None:
        self._maybe_fail()

    def put_source(self, source: Source) -> None:
        self._maybe_fail()
        self.sources[source.id] = source

    def get_source(self, source_id: str) -> Source:
        self._maybe_fail()
        try:
            return self.sources[source_id]
        except KeyError:
            raise NotFoundError(f"no source {source_id!r}", code="source_not_found") from None

    def list_sources(self, *, limit: int, cursor: str | None) -> Page[Source]:
        ordered = sorted(self.sources.values(), key=lambda s: (s.created_at, s.id))
        keys = [f"{s.created_at:017.6f}#{s.id}" for s in ordered]
        return self._page(ordered, keys, "SOURCES", limit, cursor, forward=True, pk=lambda s: f"SRC#{s.id}")

    def delete_source(self, source_id: str) -> None:
        if self.sources.pop(source_id, None) is None:
            raise NotFoundError(f"no source {source_id!r}", code="source_not_found")

    def store_message(self, message: Message, now: float) -> bool:
        self._maybe_fail()
        with self._lock:
            old = self.messages.get(message.id)
            if old is not None and old.receipt_id != message.receipt_id and old.dedupe_until >= now:
                return False
            self.messages[message.id] = message
            self.writes += 1
            return True

    def get_message(self, message_id: str) -> Message:
        self._maybe_fail()
        message = self.messages.get(message_id)
        if message is None or message.expires_at <= self._clock():
            raise NotFoundError(f"no message {message_id!r}", code="message_not_found")
        return message

    def list_messages(self, *, source_id: str, limit: int, cursor: str | None) -> Page[Message]:
        mine = sorted(
            (m for m in self.messages.values() if m.source_id == source_id),
            key=lambda m: (m.received_at, m.id),
            reverse=True,
        )
        keys = [f"{m.received_at:017.6f}#{m.id}" for m in mine]
        return self._page(
            mine, keys, f"SRC#{source_id}", limit, cursor, forward=False, pk=lambda m: f"MSG#{m.id}"
        )

    def _page(
        self,
        items: list[Any],
        keys: list[str],
        partition: str,
        limit: int,
        cursor: str | None,
        *,
        forward: bool,
        pk: Any,
    ) -> Page[Any]:
        start = decode_cursor(cursor, frozenset({"pk", "sk", "gsi1pk", "gsi1sk"}))
        index = 0
        if start:
            after = start["gsi1sk"]["S"]
            index = next((i for i, k in enumerate(keys) if (k > after if forward else k < after)), len(keys))
        chunk = items[index : index + limit]
        more = index + limit < len(items)
        last = chunk[-1] if chunk and more else None
        next_key = None
        if last is not None:
            next_key = {
                "pk": codec.s(pk(last)),
                "sk": codec.s("META"),
                "gsi1pk": codec.s(partition),
                "gsi1sk": codec.s(keys[index + len(chunk) - 1]),
            }
        return Page(chunk, encode_cursor(next_key))

    def record_rejection(self, rejection: Rejection, *, slot: int, ttl: int) -> None:
        self._maybe_fail()
        self.rejections[(rejection.source_id, slot)] = (rejection, ttl)
        counts = self.counts.setdefault(rejection.source_id, {})
        counts["total"] = counts.get("total", 0) + 1
        counts[rejection.code] = counts.get(rejection.code, 0) + 1

    def list_rejections(self, source_id: str) -> list[Rejection]:
        now = self._clock()
        kept = [r for (sid, _), (r, ttl) in self.rejections.items() if sid == source_id and ttl > now]
        return sorted(kept, key=lambda r: r.at, reverse=True)

    def rejection_counts(self, source_id: str) -> dict[str, int]:
        return dict(self.counts.get(source_id, {}))

    # ------------------------------------------------------------------------------------- endpoints

    def put_endpoint(self, endpoint: Endpoint) -> None:
        self._maybe_fail()
        self.endpoints[endpoint.id] = endpoint

    def get_endpoint(self, endpoint_id: str) -> Endpoint:
        self._maybe_fail()
        try:
            return self.endpoints[endpoint_id]
        except KeyError:
            raise NotFoundError(f"no endpoint {endpoint_id!r}", code="endpoint_not_found") from None

    def list_endpoints(self, *, limit: int, cursor: str | None) -> Page[Endpoint]:
        ordered = sorted(self.endpoints.values(), key=lambda e: (e.created_at, e.id))
        keys = [f"{e.created_at:017.6f}#{e.id}" for e in ordered]
        return self._page(ordered, keys, "ENDPOINTS", limit, cursor, forward=True, pk=lambda e: f"EP#{e.id}")

    def all_endpoints(self) -> list[Endpoint]:
        self._maybe_fail()
        return sorted(self.endpoints.values(), key=lambda e: (e.created_at, e.id))

    def delete_endpoint(self, endpoint_id: str) -> None:
        if self.endpoints.pop(endpoint_id, None) is None:
            raise NotFoundError(f"no endpoint {endpoint_id!r}", code="endpoint_not_found")

    def set_endpoint_failing(self, endpoint_id: str, since: float | None) -> None:
        with self._lock:
            endpoint = self.endpoints.get(endpoint_id)
            if endpoint is None:
                return
            if since is None and endpoint.failing_since is not None:
                self.endpoints[endpoint_id] = endpoint.with_changes(failing_since=None)
                self.writes += 1
            elif since is not None and endpoint.failing_since is None:
                self.endpoints[endpoint_id] = endpoint.with_changes(failing_since=since)
                self.writes += 1

    def disable_endpoint(self, endpoint_id: str, reason: str, now: float) -> bool:
        with self._lock:
            endpoint = self.endpoints.get(endpoint_id)
            if endpoint is None or not endpoint.enabled:
                return False
            self.endpoints[endpoint_id] = endpoint.with_changes(
                enabled=False, disabled_reason=reason, updated_at=now
            )
            self.writes += 1
            return True

    # -------------------------------------------------------------------------------------- attempts

    def claim_attempt(self, attempt: Attempt, now: float) -> bool:
        self._maybe_fail()
        key = (attempt.message_id, attempt.endpoint_id, attempt.generation, attempt.number)
        with self._lock:
            old = self.attempts.get(key)
            if old is not None and not (old.status == "in_flight" and old.lease_until < now):
                return False
            self.attempts[key] = attempt
            self.writes += 1
            return True

    def get_attempt(self, message_id: str, endpoint_id: str, generation: str, number: int) -> Attempt | None:
        return self.attempts.get((message_id, endpoint_id, generation, number))

    def finish_attempt(self, attempt: Attempt) -> bool:
        self._maybe_fail()
        key = (attempt.message_id, attempt.endpoint_id, attempt.generation, attempt.number)
        with self._lock:
            old = self.attempts.get(key)
            if old is None or old.claim_id != attempt.claim_id:
                return False
            self.attempts[key] = attempt
            self.writes += 1
            return True

    def list_attempts(self, message_id: str) -> list[Attempt]:
        mine = [a for (m, _, _, _), a in self.attempts.items() if m == message_id]
        return sorted(mine, key=lambda a: (a.started_at, a.number), reverse=True)

    def list_endpoint_attempts(self, endpoint_id: str, *, limit: int, cursor: str | None) -> Page[Attempt]:
        mine = sorted(
            (a for a in self.attempts.values() if a.endpoint_id == endpoint_id),
            key=lambda a: (a.started_at, a.message_id, a.number),
            reverse=True,
        )
        keys = [f"{a.started_at:017.6f}#{a.message_id}#{a.number:03d}" for a in mine]
        return self._page(
            mine, keys, f"EP#{endpoint_id}", limit, cursor, forward=False, pk=lambda a: f"MSG#{a.message_id}"
        )

    def remember_idempotency_key(
        self, key: str, body_sha256: str, message_id: str, now: float, ttl: int
    ) -> tuple[str, str]:
        self._maybe_fail()
        with self._lock:
            old = self.idempotency.get(key)
            if old is not None and old[2] >= now:
                return old[0], old[1]
            self.idempotency[key] = (message_id, body_sha256, now + ttl)
            self.writes += 1
            return message_id, body_sha256


class MemoryQueue:
    """A Queue that keeps what was sent; ``fail_with`` makes the next sends fail."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.delays: list[int] = []
        self.deleted: list[str] = []
        self.fail_with: Exception | None = None
        self._n = 0

    def send(self, body: str, *, delay_seconds: int = 0) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        if len(body.encode()) > 1024 * 1024:
            raise StorageError("SQS SendMessage failed: InvalidParameterValue (message too long)")
        self.sent.append(body)
        self.delays.append(delay_seconds)
        self._n += 1
        return f"m-{self._n}"

    def send_batch(self, bodies: Sequence[str], *, delay_seconds: int = 0) -> None:
        for body in bodies:
            self.send(body, delay_seconds=delay_seconds)

    def delete_batch(self, receipt_handles: Sequence[str]) -> None:
        self.deleted.extend(receipt_handles)


class MemoryBlobs:
    """A BlobStore in a dict."""

    bucket = "fake-bucket"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.fail_with: Exception | None = None

    def put(self, key: str, data: bytes) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        self.objects[key] = bytes(data)
        return self.bucket

    def get(self, key: str) -> bytes:
        try:
            return self.objects[key]
        except KeyError:
            raise NotFoundError(f"no stored body {key!r}", code="body_not_found") from None
