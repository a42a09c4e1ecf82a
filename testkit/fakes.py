"""In-memory fakes of Hookway's ports, with the same semantics as the AWS adapters.

Unit tests use them; the contract suites (``tests/integration/contracts/``, ``test_contracts.py``) run against these
and against the real adapters on moto's server, so the fakes cannot drift from the truth.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from chalicelib import ports
from chalicelib.aws import codec
from chalicelib.aws.dynamodb import applications, catalog, endpoints, keys, listen, sources
from chalicelib.errors import BadRequestError, NotFoundError, StorageError
from chalicelib.models import (
    Attempt,
    FanoutPage,
    Message,
    kept_attempt_shards,
)
from chalicelib.ports import MessageQuery, Page, decode_cursor, encode_cursor
from testkit.memory.applications import MemoryApplications
from testkit.memory.base import Entry
from testkit.memory.catalog import MemoryCatalog
from testkit.memory.counters import MemoryCounters
from testkit.memory.endpoints import MemoryEndpoints
from testkit.memory.idempotency import MemoryIdempotency
from testkit.memory.jobs import MemoryJobs
from testkit.memory.listen import MemoryListen
from testkit.memory.sessions import MemorySessions
from testkit.memory.sources import MemorySources

EMPTY_DAYS = 35  # as chalicelib.aws.dynamo: a search by day stops after this many days without a message

MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item size limit: attribute names and values, UTF-8


def item_size(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB counts it (close enough: names, strings, binaries, number digits)."""

    def size(value: Any) -> int:
        ((kind, inner),) = value.items()
        if kind in ("S", "N"):
            return len(str(inner).encode())
        if kind == "B":
            return len(inner)
        if kind in ("SS", "NS"):
            return sum(len(str(v).encode()) for v in inner)
        if kind == "L":
            return 3 + sum(size(v) + 1 for v in inner)
        if kind == "M":
            return 3 + sum(len(k.encode()) + size(v) + 1 for k, v in inner.items())
        return 1

    return sum(len(name.encode()) + size(value) for name, value in item.items())


def _check_size(item: Mapping[str, Any]) -> None:
    if item_size(item) > MAX_ITEM_BYTES:
        raise StorageError("DynamoDB put_item failed: ValidationException (item size over 400 KB)")


# An index entry as the fake keeps it: (index sort key, pk, sk, what it points at).


class FakeClock:
    """A virtual clock: tests move time instead of sleeping."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class MemoryStore(
    MemorySources,
    MemoryEndpoints,
    MemoryApplications,
    MemoryCatalog,
    MemorySessions,
    MemoryListen,
    MemoryCounters,
    MemoryIdempotency,
    MemoryJobs,
):
    """Every table port in dicts, keyed and paginated like the DynamoDB layout (messages, fan-out pages and
    attempts here; the other aggregates one module each in ``testkit.memory``)."""

    def __init__(self, clock: Any, *, page_size: int = keys.SUBSCRIPTION_PAGE) -> None:
        super().__init__(clock, page_size=page_size)
        # message id -> counted fan-out pages
        self.fanout: dict[tuple[str, int], FanoutPage] = {}
        self.fanned: dict[str, set[int]] = {}
        self.messages: dict[str, Message] = {}
        self.attempts: dict[tuple[str, str, str, int], Attempt] = {}
        self.delivery_counters: dict[tuple[str, str], dict[str, int]] = {}  # (pk, sk) -> counts
        self.fail_counts = 0  # how many delivery-count writes to refuse next (see _maybe_fail_count)

    def store_message(self, message: Message, now: float) -> bool:
        self._maybe_fail()
        _check_size(codec.message_to_item(message))
        with self._lock:
            old = self.messages.get(message.id)
            if old is not None and old.receipt_id != message.receipt_id and old.dedupe_until >= now:
                return False
            if old is not None:
                message = replace(message, attempt_shards=kept_attempt_shards(old, message))
            self.messages[message.id] = message
            self.fanned.pop(message.id, None)
            self.writes += 1
            return True

    def get_message(self, message_id: str) -> Message:
        self._maybe_fail()
        message = self.messages.get(message_id)
        if message is None or message.expires_at <= self._clock():
            raise NotFoundError(f"no message {message_id!r}", code="message_not_found")
        return message

    def search_messages(
        self,
        query: MessageQuery,
        *,
        limit: int,
        cursor: str | None,
        keep: Callable[[Message], bool] | None = None,
    ) -> Page[Message]:
        """As DynamoStore: the same index choice, order, stopping rule and cursor positions."""
        self._maybe_fail()
        limit = max(limit, 1)
        now = self._clock()
        position = decode_cursor(cursor, 3)
        by_endpoint = query.endpoint_id is not None
        by_ending = not by_endpoint and query.status in codec.INDEXED_ENDINGS
        low, high = codec.search_bounds(query)
        if by_endpoint or by_ending:
            low = high = None
        if position is not None and not (by_endpoint or by_ending):
            if high is not None and position[2] >= high:
                position = None
            elif low is not None and position[2] <= low:
                return Page([], None)
        day: date | None = None
        last_day: date | None = None
        if by_ending or (
            query.endpoint_id is None and query.source_id is None and query.application_id is None
        ):
            newest = now if by_ending or query.before is None else min(query.before, now)
            day = keys.day_of(newest)
            last_day = keys.day_of(query.after) if query.after is not None else date.min
            if position is not None:
                resume = codec.day_of_sort_key(position[2])
                if resume is None:
                    raise BadRequestError("the cursor is not valid", code="invalid_cursor")
                if resume > day:
                    position = None
                else:
                    day = resume
            if day < last_day:
                return Page([], None)
        found: list[Message] = []
        seen: set[str] = set()
        examined = 0
        empty_days = 0
        while True:
            entries = self._message_entries(query, day, low, high)
            hit = position is not None
            if position is not None:
                after = (position[2], position[0], position[1])
                entries = [e for e in entries if (e[0], e[1], e[2]) < after]
                position = None
            hit = hit or bool(entries)
            for i, (index_sk, pk, sk, message_id) in enumerate(entries):
                examined += 1
                message = None
                if not (by_endpoint or by_ending):
                    message = self.messages.get(message_id)
                elif (by_ending or sk.endswith("#001")) and message_id not in seen:
                    seen.add(message_id)
                    message = self.messages.get(message_id)
                if (
                    message is not None
                    and message.expires_at > now
                    and query.matches(message)
                    and (keep is None or keep(message))
                ):
                    found.append(message)
                if len(found) >= limit or examined >= ports.MAX_EXAMINED:
                    more = i + 1 < len(entries) or (
                        day is not None and last_day is not None and day > last_day
                    )
                    return Page(found, encode_cursor([pk, sk, index_sk]) if more else None)
            if day is None or last_day is None:
                return Page(found, None)
            empty_days = 0 if hit else empty_days + 1
            if empty_days >= EMPTY_DAYS or day <= last_day:
                return Page(found, None)
            day -= timedelta(days=1)

    def _message_entries(
        self, query: MessageQuery, day: date | None, low: str | None, high: str | None
    ) -> list[Entry]:
        """One partition of the index that serves a query, newest first (what a Query would read)."""
        entries: list[Entry]
        if query.endpoint_id is not None:
            entries = [
                (
                    f"{keys.time_key(a.started_at)}#{a.message_id}#{a.number:03d}",
                    _attempt_pk(a),
                    f"ATT#{a.endpoint_id}#{a.generation}#{a.number:03d}",
                    a.message_id,
                )
                for a in self.attempts.values()
                if a.endpoint_id == query.endpoint_id
            ]
        elif query.status in codec.INDEXED_ENDINGS:
            entries = [
                (
                    f"{keys.time_key(a.started_at)}#{a.message_id}#{a.number:03d}",
                    _attempt_pk(a),
                    f"ATT#{a.endpoint_id}#{a.generation}#{a.number:03d}",
                    a.message_id,
                )
                for a in self.attempts.values()
                if a.status != "in_flight"
                and a.delivery_status == query.status
                and keys.day_of(a.started_at) == day
            ]
        else:
            if query.source_id is not None:
                mine = [m for m in self.messages.values() if m.source_id == query.source_id]
            elif query.application_id is not None:
                mine = [m for m in self.messages.values() if m.application_id == query.application_id]
            else:
                mine = [m for m in self.messages.values() if keys.day_of(m.received_at) == day]
            entries = [
                (codec.message_sort_key(m), f"MSG#{m.id}", "META", m.id)
                for m in mine
                if (low is None or codec.message_sort_key(m) >= low)
                and (high is None or codec.message_sort_key(m) < high)
            ]
        return sorted(entries, key=lambda e: (e[0], e[1], e[2]), reverse=True)

    # ------------------------------------------------------------------------------------- endpoints

    def put_fanout_page(self, page: FanoutPage) -> None:
        self._maybe_fail()
        _check_size(codec.fanout_to_item(page))
        with self._lock:
            self.fanout[(page.message_id, page.number)] = page
            self.writes += 1

    def get_fanout_page(self, message_id: str, number: int) -> FanoutPage | None:
        self._maybe_fail()
        return self.fanout.get((message_id, number))

    def count_fanout_page(self, message_id: str, receipt_id: str, number: int, count: int) -> None:
        self._maybe_fail()
        with self._lock:
            message = self.messages.get(message_id)
            counted = self.fanned.setdefault(message_id, set())
            if message is None or message.receipt_id != receipt_id or number in counted:
                return
            counted.add(number)
            self.messages[message_id] = replace(
                message, endpoint_count=message.endpoint_count + count, fanned_pages=len(counted)
            )
            self.writes += 1

    # ------------------------------------------------------------------------------- hourly counters

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

    def get_attempt(
        self, message_id: str, endpoint_id: str, generation: str, number: int, *, shards: int = 0
    ) -> Attempt | None:
        found = self.attempts.get((message_id, endpoint_id, generation, number))
        if found is None or _attempt_pk(found) != codec.attempt_partition(message_id, endpoint_id, shards):
            return None  # kept in another partition than the one asked for: AWS's GetItem misses it too
        return found

    def finish_attempt(self, attempt: Attempt) -> bool:
        self._maybe_fail()
        key = (attempt.message_id, attempt.endpoint_id, attempt.generation, attempt.number)
        with self._lock:
            old = self.attempts.get(key)
            if old is None or old.claim_id != attempt.claim_id:
                return False
            if attempt.count_due and old.status != "in_flight":
                return False  # as the adapter: never marks an outcome already recorded (and counted)
            self.attempts[key] = attempt
            self.writes += 1
            return True

    def list_attempts(self, message_id: str, *, shards: int = 0) -> list[Attempt]:
        partitions = codec.attempt_partitions(message_id, shards)
        mine = [a for a in list(self.attempts.values()) if _attempt_pk(a) in partitions]
        return sorted(mine, key=lambda a: (a.started_at, a.number), reverse=True)

    def message_attempts(
        self, message_id: str, *, limit: int, cursor: str | None, shards: int = 0
    ) -> Page[Attempt]:
        """As the adapter: key order within each attempt partition, the partitions in turn."""
        self._maybe_fail()
        partitions = codec.attempt_partitions(message_id, shards)
        position = decode_cursor(cursor, 1 if shards <= 0 else 2)
        start: tuple[int, str] = (0, "")
        if position is not None:
            number, sk = ("0", *position) if shards <= 0 else position
            if not (number.isdigit() and int(number) < len(partitions) and sk.startswith("ATT#")):
                raise BadRequestError("the cursor is not valid", code="invalid_cursor")
            start = (int(number), sk)
        keyed = sorted(
            (
                (partitions.index(_attempt_pk(a)), codec.attempt_key(m, e, g, n)["sk"]["S"]),
                a,
            )
            for (m, e, g, n), a in list(self.attempts.items())
            if _attempt_pk(a) in partitions
        )
        after = [(key, a) for key, a in keyed if key > start]
        chunk, more = after[:limit], len(after) > limit
        if not more:
            return Page([a for _, a in chunk], None)
        number, sk = chunk[-1][0]
        return Page([a for _, a in chunk], encode_cursor([sk] if shards <= 0 else [str(number), sk]))

    def finish_counted(self, attempt: Attempt) -> bool:
        self._maybe_fail()
        self._maybe_fail_count()
        key = (attempt.message_id, attempt.endpoint_id, attempt.generation, attempt.number)
        with self._lock:
            old = self.attempts.get(key)
            if old is None or old.claim_id != attempt.claim_id or old.status != "in_flight":
                return False
            self.attempts[key] = replace(attempt, count_due=False)
            self._add_count(attempt)
            self.writes += 2
            return True

    def count_delivery_ending(self, attempt: Attempt) -> bool:
        self._maybe_fail()
        self._maybe_fail_count()
        key = (attempt.message_id, attempt.endpoint_id, attempt.generation, attempt.number)
        with self._lock:
            current = self.attempts.get(key)
            if current is None or not current.count_due:
                return False
            self.attempts[key] = replace(current, count_due=False)
            self._add_count(current)
            self.writes += 2
            return True

    def _maybe_fail_count(self) -> None:
        """A counter write refused (throttled, or a transaction conflict on the busy counter item)."""
        with self._lock:
            if self.fail_counts <= 0:
                return
            self.fail_counts -= 1
        raise StorageError("DynamoDB transact_write_items failed: TransactionCanceledException")

    def _add_count(self, attempt: Attempt) -> None:
        key = codec.delivery_counter_key(
            attempt.message_id, attempt.generation, attempt.endpoint_id, attempt.shards
        )
        counts = self.delivery_counters.setdefault((key["pk"]["S"], key["sk"]["S"]), {})
        counts[attempt.delivery_status] = counts.get(attempt.delivery_status, 0) + 1
        if attempt.reopens in codec.ENDED_STATUSES:
            counts[attempt.reopens] = counts.get(attempt.reopens, 0) - 1

    def delivery_counts(self, message_id: str, generation: str, shards: int) -> dict[str, int]:
        self._maybe_fail()
        totals = dict.fromkeys(codec.ENDED_STATUSES, 0)
        for key in codec.delivery_counter_keys(message_id, generation, shards):
            for name, value in self.delivery_counters.get((key["pk"]["S"], key["sk"]["S"]), {}).items():
                totals[name] += value
        return totals

    def latest_attempt(
        self, message_id: str, endpoint_id: str, generation: str, *, shards: int = 0
    ) -> Attempt | None:
        self._maybe_fail()
        partition = codec.attempt_partition(message_id, endpoint_id, shards)
        mine = [
            a
            for (m, e, g, _), a in list(self.attempts.items())
            if m == message_id and e == endpoint_id and g == generation and _attempt_pk(a) == partition
        ]
        return max(mine, key=lambda a: a.number, default=None)

    def list_endpoint_attempts(self, endpoint_id: str, *, limit: int, cursor: str | None) -> Page[Attempt]:
        self._maybe_fail()
        entries = [
            (
                f"{keys.time_key(a.started_at)}#{a.message_id}#{a.number:03d}",
                _attempt_pk(a),
                f"ATT#{a.endpoint_id}#{a.generation}#{a.number:03d}",
                a,
            )
            for a in self.attempts.values()
            if a.endpoint_id == endpoint_id
        ]
        return self._page(entries, limit, cursor, forward=False)

    # ---------------------------------------------------------------------------------- applications

    # -------------------------------------------------------------------------------- console sessions

    # ----------------------------------------------------------------------------------- event types

    # ------------------------------------------------------------------------------------------- jobs


class MemoryQueue:
    """A Queue that keeps what was sent; ``fail_with`` makes the next sends fail."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.delays: list[int] = []
        self.deleted: list[str] = []
        self.visibility: list[tuple[str, int]] = []  # change_visibility's (receipt handle, seconds)
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

    def change_visibility(self, entries: Sequence[tuple[str, int]]) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.visibility.extend(entries)


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


class FakeKeyring:
    """The Keyring port without KMS: data keys wrapped under a master key in memory, every call counted.

    Like KMS, a wrapped key unwraps only with the same master key (another FakeKeyring's fails), and
    ``fail_with`` stands for KMS being unreachable or the grant being revoked.
    """

    def __init__(self) -> None:
        import os

        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._master = AESGCM(AESGCM.generate_key(256))
        self._random = os.urandom
        self.generated = 0
        self.unwrapped = 0
        self.fail_with: Exception | None = None

    @property
    def calls(self) -> int:
        """KMS calls made so far (GenerateDataKey and Decrypt)."""
        return self.generated + self.unwrapped

    def new_data_key(self) -> tuple[bytes, bytes]:
        if self.fail_with is not None:
            raise self.fail_with
        self.generated += 1
        plain, nonce = self._random(32), self._random(12)
        return plain, nonce + self._master.encrypt(nonce, plain, b"fake-kms")

    def unwrap(self, wrapped: bytes) -> bytes:
        if self.fail_with is not None:
            raise self.fail_with
        self.unwrapped += 1
        try:
            return self._master.decrypt(wrapped[:12], wrapped[12:], b"fake-kms")
        except Exception as exc:
            raise StorageError("KMS Decrypt failed: InvalidCiphertextException") from exc


def _attempt_pk(attempt: Attempt) -> str:
    """The partition the adapter keeps an attempt in (its message's key, or one of its attempt shards)."""
    return codec.attempt_partition(attempt.message_id, attempt.endpoint_id, attempt.shards)


def _attempt_pk(attempt: Attempt) -> str:
    """The partition the adapter keeps an attempt in (its message's key, or one of its attempt shards)."""
    return codec.attempt_partition(attempt.message_id, attempt.endpoint_id, attempt.shards)


# ----------------------------------------------------------------- DynamoDB's limits, as AWS enforces them
# Every write of MemoryStore is sized as the adapter encodes it (chalicelib.aws.codec) and refused past
# 400 KB, as DynamoDB refuses it (chalicelib.aws.limits), so a unit test fails where AWS would. A fake
# method standing for a transaction or a batch calls ``limits.check_count(operation, n)`` with the number of
# items or keys the adapter sends in one request; a new writer gets its line here.
_ITEMS_WRITTEN: dict[str, Callable[..., list[keys.Item]]] = {
    "put_source": lambda source: [sources.source_to_item(source)],
    "store_message": lambda message, now: [codec.message_to_item(message)],
    "record_rejections": lambda sample, counts, *, slot, until: [
        {**sources.rejection_key(sample.source_id, slot), **sources.rejection_fields(sample, until)}
    ],
    "put_endpoint": lambda endpoint: [endpoints.endpoint_to_item(endpoint)],
    "claim_attempt": lambda attempt, now: [codec.attempt_to_item(attempt)],
    "finish_attempt": lambda attempt: [codec.attempt_to_item(attempt)],
    "finish_counted": lambda attempt: [codec.attempt_to_item(attempt)],
    "put_pulled": lambda pulled: [listen.pulled_to_item(pulled)],
    "create_application": lambda application: [applications.application_to_item(application)],
    "update_application": lambda old, new: [applications.application_to_item(new)],
    "put_event_type": lambda event_type: [catalog.event_type_to_item(event_type)],
}


def _within_limits(method: Callable[..., Any]) -> Callable[..., Any]:
    import functools

    from chalicelib.aws import limits

    items_of = _ITEMS_WRITTEN[method.__name__]

    @functools.wraps(method)
    def write(self: MemoryStore, *args: Any, **kwargs: Any) -> Any:
        for item in items_of(*args, **kwargs):
            limits.check_item(item)
        return method(self, *args, **kwargs)

    return write


for _name in _ITEMS_WRITTEN:
    setattr(MemoryStore, _name, _within_limits(getattr(MemoryStore, _name)))
