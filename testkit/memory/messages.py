"""The in-memory fake of MessageStore (see ``testkit.fakes``): the same index choice, order, stopping rule
and cursor positions as ``chalicelib.aws.dynamodb.messages``. A search by endpoint or by an ended status
reads the attempts this store keeps beside its messages (``testkit.memory.attempts``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from chalicelib import ports
from chalicelib.aws.dynamodb import attempts, keys, messages
from chalicelib.errors import BadRequestError, NotFoundError
from chalicelib.models import Attempt, Message, kept_attempt_shards, kept_first_claim
from chalicelib.ports import MessageQuery, Page, decode_cursor, encode_cursor
from testkit.memory.attempts import attempt_pk as _attempt_pk
from testkit.memory.base import Entry, MemoryTable
from testkit.memory.base import check_size as _check_size

EMPTY_DAYS = messages.EMPTY_DAYS  # a search by day stops after this many days without a message


class MemoryMessages(MemoryTable):
    """MessageStore in a dict, keyed and paged like the DynamoDB layout."""

    attempts: dict[tuple[str, str, str, int], Attempt]  # kept by ``MemoryAttempts``: the index a search reads

    def __init__(self, clock: Any, **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        self.messages: dict[str, Message] = {}
        self.fanned: dict[str, set[int]] = {}  # message id -> counted fan-out pages
        self.listed: set[tuple[str, float]] = set()  # (id, received): what the packed listings name
        if not hasattr(self, "attempts"):
            self.attempts = {}

    def store_message(self, message: Message, now: float, *, defer_listing: bool = False) -> bool:
        return self.store_claiming(message, now, defer_listing=defer_listing) is not None

    def store_claiming(self, message: Message, now: float, *, defer_listing: bool = False) -> Message | None:
        stored = self._store(message, now)
        if stored is not None and not defer_listing:
            self.list_messages("lb_memory", [message])
        return stored

    def list_messages(self, batch: str, stored: Sequence[Message]) -> None:
        """As the adapter's packed listing items: each message listed at its received time."""
        self._maybe_fail()
        with self._lock:
            self.writes += 1
            self.listed.update((m.id, m.received_at) for m in stored)

    def _listed(self, message: Message) -> bool:
        return (message.id, message.received_at) in self.listed

    def _store(self, message: Message, now: float) -> Message | None:
        self._maybe_fail()
        _check_size(messages.message_to_item(message))
        with self._lock:
            old = self.messages.get(message.id)
            if old is not None and old.receipt_id != message.receipt_id and old.dedupe_until >= now:
                return None
            if old is not None:
                message = replace(
                    message,
                    attempt_shards=kept_attempt_shards(old, message),
                    first_claim=kept_first_claim(old, message),
                )
            self.messages[message.id] = message
            self.fanned.pop(message.id, None)
            self.writes += 1
            return message

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
        by_ending = not by_endpoint and query.status in attempts.INDEXED_ENDINGS
        low, high = messages.search_bounds(query)
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
                resume = messages.day_of_sort_key(position[2])
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
                if a.endpoint_id == query.endpoint_id and self._endpoint_listed(a)
            ]
        elif query.status in attempts.INDEXED_ENDINGS:
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
                (messages.message_sort_key(m), f"MSG#{m.id}", "META", m.id)
                for m in mine
                if self._listed(m)
                and (low is None or messages.message_sort_key(m) >= low)
                and (high is None or messages.message_sort_key(m) < high)
            ]
        return sorted(entries, key=lambda e: (e[0], e[1], e[2]), reverse=True)
