"""In-memory fakes of Hookway's ports, with the same semantics as the AWS adapters.

Unit tests use them; ``tests/integration/test_contracts.py`` runs one behavioural suite against these
and against the real adapters on moto's server, so the fakes cannot drift from the truth.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from chalicelib import ports
from chalicelib.aws import codec
from chalicelib.errors import BadRequestError, ConflictError, NotFoundError, StorageError
from chalicelib.models import (
    Application,
    Attempt,
    Endpoint,
    EventType,
    FanoutPage,
    Job,
    Message,
    Pulled,
    Rejection,
    Source,
)
from chalicelib.ports import MessageQuery, Page, decode_cursor, encode_cursor

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
Entry = tuple[str, str, str, Any]


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

    def __init__(self, clock: Any, *, page_size: int = codec.SUBSCRIPTION_PAGE) -> None:
        self._clock = clock
        self.page_size = page_size
        self._lock = threading.Lock()
        # owner -> [version, subscription pages]; endpoint id -> its page; message id -> counted pages
        self.owners: dict[str | None, list[Any]] = {}
        self.sub_page: dict[str, int] = {}
        self.complete: set[str | None] = set()  # owners whose endpoints are all in pages
        self.fanout: dict[tuple[str, int], FanoutPage] = {}
        self.fanned: dict[str, set[int]] = {}
        self.pages: dict[tuple[str | None, int], set[str]] = {}
        self.sources: dict[str, Source] = {}
        self.messages: dict[str, Message] = {}
        self.rejections: dict[tuple[str, int], tuple[Rejection, int]] = {}
        self.counts: dict[str, dict[str, int]] = {}
        self.rejection_writes = 0  # record_rejections calls: a test counts the writes of a burst
        self.endpoints: dict[str, Endpoint] = {}
        self.attempts: dict[tuple[str, str, str, int], Attempt] = {}
        self.idempotency: dict[str, tuple[str, str, float]] = {}
        self.applications: dict[str, Application] = {}
        self.uids: dict[str, str] = {}
        self.event_types: dict[str, EventType] = {}
        self.sessions: dict[str, float] = {}
        self.pulled: dict[tuple[str, str], Pulled] = {}
        self.hours: dict[int, dict[str, int]] = {}
        # endpoint id -> the time of its gsi3 "needs attention" entry (as DynamoStore writes it)
        self.attention: dict[str, float] = {}
        self.checkpoints: dict[str, str] = {}
        self.writes = 0
        self.fail_with: Exception | None = None
        self.jobs: dict[str, Job] = {}

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
        self._maybe_fail()
        entries = [
            (f"{codec.time_key(s.created_at)}#{s.id}", f"SRC#{s.id}", "META", s)
            for s in self.sources.values()
        ]
        return self._page(entries, limit, cursor, forward=True)

    def delete_source(self, source_id: str) -> None:
        if self.sources.pop(source_id, None) is None:
            raise NotFoundError(f"no source {source_id!r}", code="source_not_found")

    def store_message(self, message: Message, now: float) -> bool:
        self._maybe_fail()
        _check_size(codec.message_to_item(message))
        with self._lock:
            old = self.messages.get(message.id)
            if old is not None and old.receipt_id != message.receipt_id and old.dedupe_until >= now:
                return False
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
            day = codec.day_of(newest)
            last_day = codec.day_of(query.after) if query.after is not None else date.min
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
                    f"{codec.time_key(a.started_at)}#{a.message_id}#{a.number:03d}",
                    f"MSG#{a.message_id}",
                    f"ATT#{a.endpoint_id}#{a.generation}#{a.number:03d}",
                    a.message_id,
                )
                for a in self.attempts.values()
                if a.endpoint_id == query.endpoint_id
            ]
        elif query.status in codec.INDEXED_ENDINGS:
            entries = [
                (
                    f"{codec.time_key(a.started_at)}#{a.message_id}#{a.number:03d}",
                    f"MSG#{a.message_id}",
                    f"ATT#{a.endpoint_id}#{a.generation}#{a.number:03d}",
                    a.message_id,
                )
                for a in self.attempts.values()
                if a.status != "in_flight"
                and a.delivery_status == query.status
                and codec.day_of(a.started_at) == day
            ]
        else:
            if query.source_id is not None:
                mine = [m for m in self.messages.values() if m.source_id == query.source_id]
            elif query.application_id is not None:
                mine = [m for m in self.messages.values() if m.application_id == query.application_id]
            else:
                mine = [m for m in self.messages.values() if codec.day_of(m.received_at) == day]
            entries = [
                (codec.message_sort_key(m), f"MSG#{m.id}", "META", m.id)
                for m in mine
                if (low is None or codec.message_sort_key(m) >= low)
                and (high is None or codec.message_sort_key(m) < high)
            ]
        return sorted(entries, key=lambda e: (e[0], e[1], e[2]), reverse=True)

    def _page(self, entries: list[Entry], limit: int, cursor: str | None, *, forward: bool) -> Page[Any]:
        """One page of an index partition, as a Query with Limit and ExclusiveStartKey reads it."""
        position = decode_cursor(cursor, 3)
        ordered = sorted(entries, key=lambda e: (e[0], e[1], e[2]), reverse=not forward)
        if position is not None:
            start = (position[2], position[0], position[1])
            ordered = [
                e for e in ordered if ((e[0], e[1], e[2]) > start if forward else (e[0], e[1], e[2]) < start)
            ]
        chunk = ordered[:limit]
        more = len(ordered) > limit
        last = chunk[-1] if chunk and more else None
        return Page([e[3] for e in chunk], encode_cursor([last[1], last[2], last[0]]) if last else None)

    def record_rejections(
        self, sample: Rejection, counts: Mapping[str, int], *, slot: int, until: int
    ) -> None:
        self._maybe_fail()
        self.rejection_writes += 1
        self.rejections[(sample.source_id, slot)] = (sample, until)
        kept = self.counts.setdefault(sample.source_id, {})
        for code, value in counts.items():
            if value > 0:
                kept["total"] = kept.get("total", 0) + value
                kept[code] = kept.get(code, 0) + value

    def list_rejections(self, source_id: str) -> list[Rejection]:
        now = self._clock()
        kept = [r for (sid, _), (r, ttl) in self.rejections.items() if sid == source_id and ttl > now]
        return sorted(kept, key=lambda r: r.at, reverse=True)

    def rejection_counts(self, source_id: str) -> dict[str, int]:
        return dict(self.counts.get(source_id, {}))

    # ------------------------------------------------------------------------------------- endpoints

    def put_endpoint(self, endpoint: Endpoint) -> None:
        self._maybe_fail()
        with self._lock:
            owner = endpoint.application_id
            if endpoint.id not in self.sub_page:  # as DynamoStore: join the last page with room
                new = endpoint.id not in self.endpoints
                self.sub_page[endpoint.id] = self._join(owner, endpoint.id, new=new)
            self.endpoints[endpoint.id] = endpoint
            self._bump(owner)
            changed = codec.attention_at(endpoint)
            if changed is None:
                self.attention.pop(endpoint.id, None)
            else:
                self.attention[endpoint.id] = changed

    def _join(self, owner: str | None, endpoint_id: str, *, new: bool = False) -> int:
        state = self.owners.setdefault(owner, [0, 0])
        last = state[1] - 1
        if last < 0 or len(self.pages.get((owner, last), ())) >= self.page_size:
            if last < 0 and new and not any(e.application_id == owner for e in self.endpoints.values()):
                self.complete.add(owner)  # a new owner: in pages from its first endpoint
            last = state[1]
            state[1] += 1
        self.pages.setdefault((owner, last), set()).add(endpoint_id)
        return last

    def _bump(self, owner: str | None) -> None:
        self.owners.setdefault(owner, [0, 0])[0] += 1

    def owner_version(self, application_id: str | None) -> tuple[int, int]:
        self._maybe_fail()
        version, pages = self.owners.get(application_id, [0, 0])
        return version, pages

    def owner_state(self, application_id: str | None) -> tuple[int, int, bool]:
        version, pages = self.owner_version(application_id)
        return version, pages, application_id in self.complete

    def put_legacy_endpoint(self, endpoint: Endpoint) -> None:
        """Write an endpoint the way Hookway did before subscription pages (tests of the backfill)."""
        self.endpoints[endpoint.id] = endpoint

    def unjoined_endpoints(self, application_id: str | None, *, limit: int, cursor: str | None) -> Page[str]:
        self._maybe_fail()
        page = self.list_endpoints(application_id=application_id, limit=limit, cursor=cursor)
        return Page([e.id for e in page.items if e.id not in self.sub_page], page.cursor)

    def join_subscription(self, endpoint_id: str, page: int | None = None) -> bool:
        self._maybe_fail()
        with self._lock:
            endpoint = self.endpoints.get(endpoint_id)
            if endpoint is None or endpoint_id in self.sub_page:
                return False
            if page is None:
                page = self._join(endpoint.application_id, endpoint_id)
            self.sub_page[endpoint_id] = page
            return True

    def mark_subscriptions_complete(self, application_id: str | None) -> None:
        self._maybe_fail()
        self.complete.add(application_id)
        self._bump(application_id)

    def subscription_page(self, application_id: str | None, number: int) -> tuple[str, ...]:
        self._maybe_fail()
        return tuple(sorted(self.pages.get((application_id, number), ())))

    def get_endpoints(self, endpoint_ids: Sequence[str]) -> list[Endpoint]:
        self._maybe_fail()
        return [self.endpoints[i] for i in dict.fromkeys(endpoint_ids) if i in self.endpoints]

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

    def get_endpoint(self, endpoint_id: str) -> Endpoint:
        self._maybe_fail()
        try:
            return self.endpoints[endpoint_id]
        except KeyError:
            raise NotFoundError(f"no endpoint {endpoint_id!r}", code="endpoint_not_found") from None

    def list_endpoints(self, *, application_id: str | None, limit: int, cursor: str | None) -> Page[Endpoint]:
        self._maybe_fail()
        entries = [
            (f"{codec.time_key(e.created_at)}#{e.id}", f"EP#{e.id}", "META", e)
            for e in self.endpoints.values()
            if e.application_id == application_id
        ]
        return self._page(entries, limit, cursor, forward=True)

    def endpoints_of(self, application_id: str | None) -> list[Endpoint]:
        self._maybe_fail()
        mine = (e for e in self.endpoints.values() if e.application_id == application_id)
        return sorted(mine, key=lambda e: (e.created_at, e.id))

    def delete_endpoint(self, endpoint_id: str) -> None:
        self.attention.pop(endpoint_id, None)
        endpoint = self.endpoints.pop(endpoint_id, None)
        if endpoint is None:
            raise NotFoundError(f"no endpoint {endpoint_id!r}", code="endpoint_not_found")
        page = self.sub_page.pop(endpoint_id, None)
        if page is not None:
            self.pages.get((endpoint.application_id, page), set()).discard(endpoint_id)
        self._bump(endpoint.application_id)

    def set_endpoint_failing(self, endpoint_id: str, since: float | None) -> None:
        with self._lock:
            endpoint = self.endpoints.get(endpoint_id)
            if endpoint is None:
                return
            if since is None and endpoint.failing_since is not None:
                self.endpoints[endpoint_id] = endpoint.with_changes(failing_since=None)
                if endpoint.enabled:
                    self.attention.pop(endpoint_id, None)
                self.writes += 1
            elif since is not None and endpoint.failing_since is None:
                self.endpoints[endpoint_id] = endpoint.with_changes(failing_since=since)
                self.attention[endpoint_id] = since
                self.writes += 1

    def disable_endpoint(self, endpoint_id: str, reason: str, now: float) -> bool:
        with self._lock:
            endpoint = self.endpoints.get(endpoint_id)
            if endpoint is None or not endpoint.enabled:
                return False
            self.endpoints[endpoint_id] = endpoint.with_changes(
                enabled=False, disabled_reason=reason, updated_at=now
            )
            self.attention[endpoint_id] = now
            self._bump(endpoint.application_id)
            self.writes += 1
            return True

    def attention_endpoints(self, *, limit: int) -> list[Endpoint]:
        self._maybe_fail()
        entries = sorted(
            ((codec.attention_sort_key(at, eid), eid) for eid, at in self.attention.items()), reverse=True
        )
        return [self.endpoints[eid] for _, eid in entries[:limit] if eid in self.endpoints]

    def attention_due(
        self, until: float, *, after: float | None, limit: int, cursor: str | None
    ) -> Page[Endpoint]:
        self._maybe_fail()
        position = decode_cursor(cursor, 1)
        low, high = codec.attention_range(after, until)
        entries = sorted(
            key
            for key in (codec.attention_sort_key(at, eid) for eid, at in self.attention.items())
            if (low is None or key > low) and key <= high and (position is None or key > position[0])
        )
        chunk = entries[:limit]
        found = [self.endpoints.get(key.split("#", 1)[1]) for key in chunk]
        return Page(
            [e for e in found if e is not None], encode_cursor([chunk[-1]]) if len(entries) > limit else None
        )

    def get_checkpoint(self, name: str) -> str | None:
        self._maybe_fail()
        return self.checkpoints.get(name)

    def put_checkpoint(self, name: str, value: str) -> None:
        self._maybe_fail()
        self.checkpoints[name] = value
        self.writes += 1

    # ------------------------------------------------------------------------------- hourly counters

    def add_counts(self, hour: int, counts: Mapping[str, int]) -> None:
        self._maybe_fail()
        wanted = {name: value for name, value in counts.items() if value}
        if not wanted:
            return
        with self._lock:
            stored = self.hours.setdefault(hour, dict.fromkeys(codec.STATS_FIELDS, 0))
            for name, value in wanted.items():
                stored[name] = stored.get(name, 0) + value
            self.writes += 1

    def get_counts(self, hours: Sequence[int]) -> dict[int, dict[str, int]]:
        self._maybe_fail()
        return {hour: dict(self.hours[hour]) for hour in hours if hour in self.hours}

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

    def put_pulled(self, pulled: Pulled) -> None:
        self._maybe_fail()
        self.pulled[(pulled.endpoint_id, pulled.seq)] = pulled
        self.writes += 1

    def list_pulled(self, endpoint_id: str, *, after: str | None, limit: int) -> list[Pulled]:
        self._maybe_fail()
        now = self._clock()
        waiting = sorted(
            (
                p
                for (ep, seq), p in self.pulled.items()
                if ep == endpoint_id and (after is None or seq > after)
            ),
            key=lambda p: p.seq,
        )
        return [p for p in waiting if p.expires_at + 86400 > now][:limit]

    def get_pulled(self, endpoint_id: str, seq: str) -> Pulled | None:
        self._maybe_fail()
        return self.pulled.get((endpoint_id, seq))

    def delete_pulled(self, endpoint_id: str, seq: str) -> None:
        self._maybe_fail()
        self.pulled.pop((endpoint_id, seq), None)

    def list_attempts(self, message_id: str) -> list[Attempt]:
        mine = [a for (m, _, _, _), a in self.attempts.items() if m == message_id]
        return sorted(mine, key=lambda a: (a.started_at, a.number), reverse=True)

    def message_attempts(self, message_id: str, *, limit: int, cursor: str | None) -> Page[Attempt]:
        self._maybe_fail()
        position = decode_cursor(cursor, 1)
        if position is not None and not position[0].startswith("ATT#"):
            raise BadRequestError("the cursor is not valid", code="invalid_cursor")
        keyed = sorted(
            (codec.attempt_key(m, e, g, n)["sk"]["S"], a)
            for (m, e, g, n), a in list(self.attempts.items())
            if m == message_id
        )
        after = [(sk, a) for sk, a in keyed if position is None or sk > position[0]]
        chunk = after[:limit]
        more = len(after) > limit
        return Page([a for _, a in chunk], encode_cursor([chunk[-1][0]]) if more else None)

    def latest_attempt(self, message_id: str, endpoint_id: str, generation: str) -> Attempt | None:
        self._maybe_fail()
        mine = [
            a
            for (m, e, g, _), a in list(self.attempts.items())
            if m == message_id and e == endpoint_id and g == generation
        ]
        return max(mine, key=lambda a: a.number, default=None)

    def list_endpoint_attempts(self, endpoint_id: str, *, limit: int, cursor: str | None) -> Page[Attempt]:
        self._maybe_fail()
        entries = [
            (
                f"{codec.time_key(a.started_at)}#{a.message_id}#{a.number:03d}",
                f"MSG#{a.message_id}",
                f"ATT#{a.endpoint_id}#{a.generation}#{a.number:03d}",
                a,
            )
            for a in self.attempts.values()
            if a.endpoint_id == endpoint_id
        ]
        return self._page(entries, limit, cursor, forward=False)

    # ---------------------------------------------------------------------------------- applications

    def _uid_free(self, uid: str, application_id: str) -> None:
        holder = self.uids.get(uid)
        if holder is not None and holder != application_id:
            raise ConflictError(f"the uid {uid!r} belongs to another application", code="uid_taken")

    def create_application(self, application: Application) -> None:
        self._maybe_fail()
        with self._lock:
            if application.uid is not None:
                self._uid_free(application.uid, application.id)
                self.uids[application.uid] = application.id
            self.applications[application.id] = application
            self.writes += 1

    def update_application(self, old: Application, new: Application) -> None:
        """As DynamoStore: name, uid, metadata and updated_at change; tokens_valid_after stays as stored."""
        self._maybe_fail()
        with self._lock:
            stored = self.applications.get(new.id)
            if stored is None:
                raise NotFoundError(f"no application {new.id!r}", code="application_not_found")
            if new.uid != old.uid:
                if new.uid is not None:
                    self._uid_free(new.uid, new.id)
                if old.uid is not None and self.uids.get(old.uid) == old.id:
                    del self.uids[old.uid]
                if new.uid is not None:
                    self.uids[new.uid] = new.id
            self.applications[new.id] = replace(
                stored,
                name=new.name,
                uid=new.uid,
                metadata=new.metadata,
                branding=new.branding,
                updated_at=new.updated_at,
            )
            self.writes += 1

    def get_application(self, application_id: str) -> Application:
        self._maybe_fail()
        try:
            return self.applications[application_id]
        except KeyError:
            raise NotFoundError(f"no application {application_id!r}", code="application_not_found") from None

    def application_id_for_uid(self, uid: str) -> str | None:
        self._maybe_fail()
        return self.uids.get(uid)

    def list_applications(self, *, limit: int, cursor: str | None) -> Page[Application]:
        self._maybe_fail()
        entries = [
            (f"{codec.time_key(a.created_at)}#{a.id}", f"APP#{a.id}", "META", a)
            for a in self.applications.values()
        ]
        return self._page(entries, limit, cursor, forward=True)

    def delete_application(self, application: Application) -> None:
        self._maybe_fail()
        with self._lock:
            self.applications.pop(application.id, None)
            if application.uid is not None and self.uids.get(application.uid) == application.id:
                del self.uids[application.uid]

    def revoke_tokens(self, application_id: str, before: float) -> None:
        self._maybe_fail()
        with self._lock:
            application = self.get_application(application_id)
            if before > application.tokens_valid_after:
                self.applications[application_id] = replace(application, tokens_valid_after=before)
                self.writes += 1

    # -------------------------------------------------------------------------------- console sessions

    def put_session(self, digest: str, expires_at: float) -> None:
        self._maybe_fail()
        self.sessions[digest] = expires_at
        self.writes += 1

    def session_expires_at(self, digest: str) -> float | None:
        self._maybe_fail()
        return self.sessions.get(digest)

    def delete_session(self, digest: str) -> None:
        self._maybe_fail()
        self.sessions.pop(digest, None)

    def end_sessions(self) -> int:
        self._maybe_fail()
        ended = len(self.sessions)
        self.sessions.clear()
        return ended

    # ----------------------------------------------------------------------------------- event types

    def put_event_type(self, event_type: EventType) -> None:
        self._maybe_fail()
        self.event_types[event_type.name] = event_type

    def get_event_type(self, name: str) -> EventType:
        self._maybe_fail()
        try:
            return self.event_types[name]
        except KeyError:
            raise NotFoundError(f"no event type {name!r}", code="event_type_not_found") from None

    def list_event_types(self, *, limit: int, cursor: str | None) -> Page[EventType]:
        self._maybe_fail()
        entries = [(e.name, f"ET#{e.name}", "META", e) for e in self.event_types.values()]
        return self._page(entries, limit, cursor, forward=True)

    def delete_event_type(self, name: str) -> None:
        self._maybe_fail()
        if self.event_types.pop(name, None) is None:
            raise NotFoundError(f"no event type {name!r}", code="event_type_not_found")

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

    # ------------------------------------------------------------------------------------------- jobs

    def create_job(self, job: Job) -> None:
        self._maybe_fail()
        with self._lock:
            self.jobs[job.id] = job
            self.writes += 1

    def get_job(self, job_id: str) -> Job:
        self._maybe_fail()
        job = self.jobs.get(job_id)
        if job is None or job.expires_at <= self._clock():
            raise NotFoundError(f"no job {job_id!r}", code="job_not_found")
        return job

    def save_job(self, job: Job, *, expected_rev: int) -> bool:
        self._maybe_fail()
        with self._lock:
            stored = self.jobs.get(job.id)
            if stored is None or stored.rev != expected_rev:
                return False
            self.jobs[job.id] = job
            self.writes += 1
            return True


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


# ----------------------------------------------------------------- DynamoDB's limits, as AWS enforces them
# Every write of MemoryStore is sized as the adapter encodes it (chalicelib.aws.codec) and refused past
# 400 KB, as DynamoDB refuses it (chalicelib.aws.limits), so a unit test fails where AWS would. A fake
# method standing for a transaction or a batch calls ``limits.check_count(operation, n)`` with the number of
# items or keys the adapter sends in one request; a new writer gets its line here.
_ITEMS_WRITTEN: dict[str, Callable[..., list[codec.Item]]] = {
    "put_source": lambda source: [codec.source_to_item(source)],
    "store_message": lambda message, now: [codec.message_to_item(message)],
    "record_rejections": lambda sample, counts, *, slot, until: [
        {**codec.rejection_key(sample.source_id, slot), **codec.rejection_fields(sample, until)}
    ],
    "put_endpoint": lambda endpoint: [codec.endpoint_to_item(endpoint)],
    "claim_attempt": lambda attempt, now: [codec.attempt_to_item(attempt)],
    "finish_attempt": lambda attempt: [codec.attempt_to_item(attempt)],
    "put_pulled": lambda pulled: [codec.pulled_to_item(pulled)],
    "create_application": lambda application: [codec.application_to_item(application)],
    "update_application": lambda old, new: [codec.application_to_item(new)],
    "put_event_type": lambda event_type: [codec.event_type_to_item(event_type)],
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
