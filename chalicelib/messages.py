"""Messages as the API shows them: one message with its deliveries, search, the stored body, attempts.

The delivery read model lives here: a delivery is ``pending`` until an attempt says otherwise, and its
status is the one its latest attempt recorded in the message's current storing (generation).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from chalicelib.commands import SearchMessages
from chalicelib.errors import NotFoundError
from chalicelib.ids import MessageIds
from chalicelib.inbound.credentials import for_tokens
from chalicelib.models import DELIVERY_STATUSES, Attempt, Message, generation_of
from chalicelib.ports import (
    ApplicationResolver,
    BlobStore,
    DeliveryHistory,
    EndpointLookup,
    MessageQuery,
    Page,
    PageRequest,
    offsets,
    offsets_cursor,
    page_of,
)
from chalicelib.scope import Scope


@dataclass(frozen=True)
class DeliveryState:
    """One delivery of a message as the API shows it: pending until an attempt says otherwise."""

    endpoint_id: str
    status: str
    attempts: int
    last_attempt_at: float | None = None
    last_response_status: int | None = None
    last_error_class: str | None = None
    next_attempt_at: float | None = None


@dataclass(frozen=True)
class Fanout:
    """How far a big message's fan-out got: its pages of endpoint ids, and how many are written."""

    pages: int
    written: int


@dataclass(frozen=True)
class MessageDetail:
    """One message (as the caller may read it) with a page of its deliveries and their summary."""

    message: Message
    summary: dict[str, int]
    deliveries: list[DeliveryState]
    total: int
    cursor: str | None = None
    fanout: Fanout | None = None


@dataclass(frozen=True)
class ListedMessage:
    """A message found by a search, with its ``delivery_summary``."""

    message: Message
    summary: dict[str, int]


def delivery_states(message: Message, attempts: list[Attempt]) -> list[DeliveryState]:
    """Per endpoint: the delivery's status (pending until an attempt says otherwise) and its attempts."""
    current = generation_of(message)
    by_endpoint: dict[str, list[Attempt]] = {}
    for attempt in attempts:
        if attempt.generation == current:  # an earlier storing of the same id has its own history
            by_endpoint.setdefault(attempt.endpoint_id, []).append(attempt)
    out = []
    for endpoint_id in dict.fromkeys((*message.endpoints, *by_endpoint)):
        mine = sorted(by_endpoint.get(endpoint_id, []), key=lambda a: a.number)
        out.append(
            _state_of(
                endpoint_id, mine[-1] if mine else None, len([a for a in mine if a.status != "skipped"])
            )
        )
    return out


def _state_of(endpoint_id: str, latest: Attempt | None, attempts: int | None = None) -> DeliveryState:
    """One delivery from its latest attempt (None: pending, never attempted); ``attempts`` counted, or
    else told by the latest attempt's number."""
    if latest is None:
        return DeliveryState(endpoint_id, "pending", attempts or 0)
    status = latest.delivery_status
    if attempts is None:
        attempts = latest.number - (1 if latest.status == "skipped" else 0)
    return DeliveryState(
        endpoint_id,
        status,
        attempts,
        last_attempt_at=latest.started_at,
        last_response_status=latest.response_status,
        last_error_class=latest.error_class,
        next_attempt_at=latest.next_attempt_at if status == "pending" else None,
    )


READ_THREADS = 8  # a deliveries page reads each delivery's latest attempt, this many at once


def shown_to(message: Message, scope: Scope) -> Message:
    """The message as ``scope`` may read it: an application's token never sees signature headers."""
    if scope.is_operator:
        return message
    return replace(message, headers=for_tokens(message.headers))


def delivery_summary(states: list[DeliveryState]) -> dict[str, int]:
    """How many of a message's deliveries are in each status (``pending``, ``succeeded``, ``failed``,
    ``skipped``), computed when read from the attempts: nothing is written per outcome."""
    counts: dict[str, int] = dict.fromkeys(DELIVERY_STATUSES, 0)
    for state in states:
        counts[state.status] += 1
    return counts


class MessageService:
    """Reads of messages, scoped to the caller."""

    def __init__(
        self,
        *,
        store: DeliveryHistory,
        blobs: BlobStore,
        ids: MessageIds,
        applications: ApplicationResolver,
        endpoints: EndpointLookup,
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._ids = ids
        self._applications = applications
        self._endpoints = endpoints

    def message(self, message_id: str, scope: Scope) -> Message:
        """The message if the caller may see it; else 404 (``message_not_yet_stored`` for an id we issued)."""
        try:
            message = self._store.get_message(message_id)
        except NotFoundError:
            message = None
        if message is not None and scope.sees(message.application_id):
            return message
        if self._ids.issued(message_id):
            raise NotFoundError(
                f"message {message_id!r} is not stored: it was accepted and is still queued (the router "
                "stores it within seconds), or it is past its retention",
                code="message_not_yet_stored",
            )
        raise NotFoundError(f"no message {message_id!r}", code="message_not_found")

    def get(self, message_id: str, scope: Scope, page: PageRequest | None = None) -> MessageDetail:
        """One message with the state of its delivery to each endpoint.

        A message with its endpoints inline (at most ``INLINE_ENDPOINTS``) shows every delivery. A message
        that fanned out in pages shows ``page.limit`` deliveries from the cursor (``cursor`` leads on):
        one GetItem of a fan-out page and one Query (Limit 1) per delivery, whatever the message's size;
        its summary counts every delivery (from its counters), or else the deliveries shown.
        """
        message = self.message(message_id, scope)
        shown = shown_to(message, scope)
        if not message.fanout_pages:
            states = delivery_states(message, self._attempts_of(message))
            return MessageDetail(shown, delivery_summary(states), states, len(states))
        page = page or PageRequest()
        states, cursor = self._delivery_page(message, page)
        return MessageDetail(
            shown,
            self._fanned_summary(message) or delivery_summary(states),
            states,
            message.endpoint_count,
            cursor,
            Fanout(message.fanout_pages, message.fanned_pages),
        )

    def _delivery_page(self, message: Message, page: PageRequest) -> tuple[list[DeliveryState], str | None]:
        """``page.limit`` deliveries of a fanned-out message from a cursor ``[page number, offset]``."""
        number, offset = offsets(page.cursor, 2) or (0, 0)
        generation = generation_of(message)
        ids: list[str] = []
        while len(ids) < page.limit and number < message.fanout_pages:
            fanned = self._store.get_fanout_page(message.id, number)
            if fanned is None or fanned.generation != generation:
                break  # not written yet: the cursor waits here
            chunk = fanned.endpoint_ids[offset : offset + page.limit - len(ids)]
            ids.extend(chunk)
            offset += len(chunk)
            if offset >= len(fanned.endpoint_ids):
                number, offset = number + 1, 0
        with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
            latest = list(
                pool.map(
                    lambda e: self._store.latest_attempt(
                        message.id, e, generation, shards=message.attempt_shards
                    ),
                    ids,
                )
            )
        states = [_state_of(e, a) for e, a in zip(ids, latest, strict=True)]
        more = number < message.fanout_pages
        return states, offsets_cursor([number, offset]) if more else None

    def _fanned_summary(self, message: Message) -> dict[str, int] | None:
        """Every delivery of a message with attempt shards, by status, from its counters (one read of at
        most 128 small items, whatever its size): the ended ones as counted when they ended, the rest of
        the deliveries counted so far pending. None for a message without them (inline, or older)."""
        if not message.attempt_shards:
            return None
        ended = self._store.delivery_counts(message.id, generation_of(message), message.attempt_shards)
        counts: dict[str, int] = dict.fromkeys(DELIVERY_STATUSES, 0)
        for status, value in ended.items():
            counts[status] = max(value, 0)
        counts["pending"] = max(message.endpoint_count - sum(counts.values()), 0)
        return counts

    def listing(self, command: SearchMessages, scope: Scope, page: PageRequest) -> Page[ListedMessage]:
        """A search page, each message with its ``delivery_summary``.

        The summary is read, not stored: one query of a listed message's attempts (the same query the
        ``status`` filter makes for each candidate, and made once when it did), so a page of ``limit``
        messages costs ``limit`` more queries and no message ever writes a counter.
        """
        read: dict[str, list[Attempt]] = {}
        found = self.search(command, scope, page, attempts_of=read)
        items = []
        for message in found.items:
            if message.fanout_pages:
                # Never every attempt of a big message: its counters (one BatchGetItem), or for one
                # stored before them its first page of deliveries.
                summary = self._fanned_summary(message) or delivery_summary(
                    self._delivery_page(message, PageRequest(limit=50))[0]
                )
                items.append(ListedMessage(message, summary))
                continue
            attempts = read.get(message.id)
            if attempts is None:
                attempts = self._attempts_of(message)
            summary = delivery_summary(delivery_states(message, attempts))
            items.append(ListedMessage(message, summary))
        return Page(items, found.cursor)

    def search(
        self,
        command: SearchMessages,
        scope: Scope,
        page: PageRequest,
        attempts_of: dict[str, list[Attempt]] | None = None,
    ) -> Page[Message]:
        """Messages matching the filters, newest first; an application token sees only its own.

        ``attempts_of``, if given, receives the attempts the ``status`` filter read, by message id.
        """
        application = command.application
        application_id = self._applications.resolve(application, scope) if application else None
        if not scope.is_operator:
            application_id = scope.application_id
        if command.endpoint_id is not None:
            self._endpoints.get(command.endpoint_id, scope)
        status = command.status
        query = MessageQuery(
            application_id=application_id,
            source_id=command.source_id,
            endpoint_id=command.endpoint_id,
            event_type=command.event_type,
            provider_id=command.provider_id,
            after=command.after,
            before=command.before,
            status=status,
        )
        keep = None
        if status is not None:

            def keep(message: Message) -> bool:
                if message.fanout_pages:  # bounded: its counters, or its first deliveries, decide
                    counted = self._fanned_summary(message)
                    if counted is not None:
                        return counted[status] > 0
                    states = self._delivery_page(message, PageRequest(limit=50))[0]
                    return any(d.status == status for d in states)
                attempts = self._attempts_of(message)
                if attempts_of is not None:
                    attempts_of[message.id] = attempts
                return any(d.status == status for d in delivery_states(message, attempts))

        if query.source_id is not None and query.provider_id is not None and page.cursor is None:
            found = self._by_provider_id(query, keep)
            if found is not None:
                return Page([shown_to(found, scope)], None)
        result = self._store.search_messages(query, limit=page.limit, cursor=page.cursor, keep=keep)
        if scope.is_operator:
            return result
        return Page([shown_to(m, scope) for m in result.items], result.cursor)

    def _by_provider_id(self, query: MessageQuery, keep: Callable[[Message], bool] | None) -> Message | None:
        """The message a source stored for a provider's delivery id, read directly when it can be.

        Under a source's default deduplication the message id is derived from the provider's id, so one
        GetItem finds it; otherwise (or when the source's rule changed since) the index is searched.
        """
        assert query.source_id is not None and query.provider_id is not None
        try:
            message = self._store.get_message(self._ids.derived(query.source_id, f"id:{query.provider_id}"))
        except NotFoundError:
            return None
        if query.matches(message) and (keep is None or keep(message)):
            return message
        return None

    def body(self, message_id: str, scope: Scope) -> tuple[Message, bytes]:
        """The stored body, byte for byte, with its message."""
        message = self.message(message_id, scope)
        body = message.body if message.body_ref is None else self._blobs.get(message.body_ref.key)
        return message, body or b""

    def attempts(self, message_id: str, scope: Scope, page: PageRequest) -> Page[Attempt]:
        """Every attempt to deliver a message, newest first (a fanned-out message's: paged in key order)."""
        message = self.message(message_id, scope)
        if message.fanout_pages:
            # One Query of ``limit`` attempts in key order (by endpoint): never every attempt.
            return self._store.message_attempts(
                message_id, limit=page.limit, cursor=page.cursor, shards=message.attempt_shards
            )
        return page_of(self._attempts_of(message), page)

    def _attempts_of(self, message: Message) -> list[Attempt]:
        """Every attempt of a message with inline deliveries, with attempt 1 of those its router claimed
        and its batch recorded (no attempt item: ``AttemptStore.first_attempts``), newest first."""
        attempts = self._store.list_attempts(message.id, shards=message.attempt_shards)
        return self._store.first_attempts(message, attempts)
