"""The router: ingest queue -> deduplicated, stored message -> matched endpoints -> delivery tasks.

Deduplication is one conditional write: the message id is derived from the source and its dedupe key,
so a second request with the same key meets the first message's item and stops there, while a
redelivery of the same SQS message (same receipt id) proceeds and finishes what it started.

A test event (``POST /v1/endpoints/{id}/test``) names its one endpoint in the envelope (``to``): it is
matched to that endpoint alone, whatever its filter, and takes the same path from there on.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Protocol

from chalicelib.caches import SubscriptionCache
from chalicelib.envelope import Envelope, EnvelopeError
from chalicelib.errors import NotFoundError
from chalicelib.filters.message import MessageDocument
from chalicelib.ids import new_id
from chalicelib.models import (
    INLINE_ENDPOINTS,
    OPS_SOURCE,
    BodyRef,
    Endpoint,
    FanoutPage,
    Message,
    attempt_shards_for,
    generation_of,
)
from chalicelib.outbound.first_attempts import FirstAttempts, unclaimed
from chalicelib.outbound.tasks import CHUNK_PREFIX, FanoutChunk, PoisonTaskError, Task
from chalicelib.ports import BlobStore, EndpointSource, FanoutStore, MessageStore, Queue
from chalicelib.tally import Tally

log = logging.getLogger("hookway.routing")


class PoisonMessageError(Exception):
    """An ingest message that can never succeed (unreadable, or its claim-checked body is gone or altered).

    Raised so SQS redrives it to the DLQ after ``maxReceiveCount`` receives instead of retrying forever.
    """


@dataclass(frozen=True)
class Matched:
    """Where a message's deliveries are: inline (a few ids in the message item) or in fan-out pages.

    ``parts`` (owners with their subscription page counts) is set when the message fans out in pages:
    one slot per subscription page; ``first`` holds slot 0's matched ids, which the router writes itself.
    """

    inline: tuple[str, ...] = ()
    first: tuple[str, ...] = ()
    parts: tuple[tuple[str | None, int], ...] = ()
    # Matched from the full listing of an owner not yet backfilled: every fan-out page, written by the
    # router itself (no chunk tasks), as before subscription pages.
    pages: tuple[tuple[str, ...], ...] = ()
    # The stored message holds this router run's own claim on some first attempts (``first_claim``),
    # which it makes itself; False for a claim kept from an earlier run (a redelivery: queued instead).
    claimed: bool = False

    @property
    def slots(self) -> int:
        """How many fan-out pages the message has (0: its ids are inline)."""
        return len(self.pages) or sum(pages for _, pages in self.parts)


class Fanout(Protocol):
    """Decides which endpoints get a message and hands them their deliveries."""

    def match(self, message: Message, only: str | None = None) -> Matched:
        """The endpoints that get this message (``only``: that one endpoint, if it is there)."""

    def enqueue(self, routed: Sequence[tuple[Message, Matched]]) -> int:
        """Write the stored messages' first fan-out pages and enqueue their deliveries and fan-out chunks;
        returns how many deliveries were queued."""

    def run_chunk(self, chunk: FanoutChunk) -> int:
        """Match, record and enqueue one fan-out chunk (and hand its other slots on); returns deliveries."""


def glob_match(pattern: str, text: str) -> bool:
    """Whether ``text`` matches ``pattern``, where ``*`` stands for any run of characters (none included).

    No regular expression and no backtracking: the pattern is cut at its stars into literal segments; the
    first must start the text, the last must end it, and each one between is found at its leftmost place
    after the previous one (leftmost is always safe: it leaves the most text for what follows), and the
    scan never goes back over text a segment has passed. The work is one ``str.find`` per segment over
    the text that remains, in C, bounded by ``len(text) * len(pattern)`` comparisons and in practice
    about ``len(text)`` per segment: many stars against a long event type that does not match cost
    microseconds, where the former ``^.*a.*b$`` regex backtracked exponentially in the number of stars.
    Same answers as ``fnmatch.fnmatchcase`` for patterns whose only special character is ``*``.
    """
    if "*" not in pattern:
        return pattern == text
    first, *middle, last = pattern.split("*")
    if len(text) < len(first) + len(last) or not text.startswith(first) or not text.endswith(last):
        return False
    position, end = len(first), len(text) - len(last)
    for segment in middle:
        if not segment:
            continue  # consecutive stars
        found = text.find(segment, position, end)
        if found < 0:
            return False
        position = found + len(segment)
    return True


def owned_alike(endpoint: Endpoint, message: Message) -> bool:
    """Whether a message may ever go to an endpoint, whatever its filter: the same owner (an application,
    or the operator), or an operational event about an application's endpoint going to the operator's.

    The router fans out by this rule; recovery (resend) and the sender check it again, so no path, the
    operator's own resend included, sends application A's message to application B's endpoint.
    """
    if endpoint.application_id == message.application_id:
        return True
    return message.source_id == OPS_SOURCE and endpoint.application_id is None


def matches(endpoint: Endpoint, message: Message, document: MessageDocument | None = None) -> bool:
    """Whether an endpoint wants a message: its source and event-type filters (``*`` wildcards), then
    its payload filter (an event pattern compiled once per loaded endpoint, matched against the
    message's ``document``: built once per message, only if a payload filter needs it).

    An endpoint with no filter gets every message except Hookway's operational events, which go only to
    endpoints that name them in ``event_types``.
    """
    if not endpoint.enabled or endpoint.session_over(message.received_at):
        return False
    if endpoint.filter_sources and message.source_id not in endpoint.filter_sources:
        return False
    if not endpoint.filter_event_types:
        if message.source_id == OPS_SOURCE:
            return False
    elif not any(glob_match(p, message.event_type or "") for p in endpoint.filter_event_types):
        return False
    pattern = endpoint.payload_pattern
    return pattern is None or pattern.matches((document or MessageDocument(message)).get())


FANOUT_PAGE = 500  # ids per fan-out page the router writes itself (a subscription page's worth)
SEND_THREADS = 16  # SendMessageBatch calls a fan-out runs at once (500 tasks: 50 calls, ~4 rounds)


def send_all(queue: Queue, bodies: Sequence[str], pool: ThreadPoolExecutor) -> None:
    """Enqueue many tasks, ten per SendMessageBatch, the calls in parallel; raises if any failed."""
    groups = [bodies[i : i + 10] for i in range(0, len(bodies), 10)]
    if len(groups) <= 1:
        if groups:
            queue.send_batch(groups[0])
        return
    for future in [pool.submit(queue.send_batch, group) for group in groups]:
        future.result()


class EndpointFanout:
    """The router's fan-out: match endpoints by subscription page, then enqueue delivery tasks.

    A message whose owner has one subscription page (up to 500 endpoints) is matched by the router alone;
    up to ``INLINE_ENDPOINTS`` matches stay in the message item (one write, as before). Beyond that the
    ids go to fan-out pages of at most 500, and an owner with more pages gets one fan-out chunk task per
    further page on the ingest queue, handed on as a 10-ary tree: every invocation reads one subscription
    page, writes one fan-out page and sends at most 50 + 1 SendMessageBatch calls, in parallel.
    """

    def __init__(
        self,
        endpoints: EndpointSource,
        queue: Queue,
        *,
        subscriptions: SubscriptionCache,
        store: FanoutStore,
        chunks: Queue,
        messages: MessageStore | None = None,
        blobs: BlobStore | None = None,
    ) -> None:
        self._messages = messages  # a chunk's message, read only if a payload filter needs its body
        self._blobs = blobs
        self._endpoints = endpoints
        self._queue = queue
        self._subscriptions = subscriptions
        self._store = store
        self._chunks = chunks
        self._pool = ThreadPoolExecutor(max_workers=SEND_THREADS, thread_name_prefix="fanout")

    def match(self, message: Message, only: str | None = None) -> Matched:
        """The endpoints of the message's owner whose filters match, or slot 0 of its fan-out.

        An operational event about an application's endpoint goes to that application's endpoints and to
        the operator's (each only if its filter names the event type). A message meant for ``only`` goes
        to that endpoint of its owner, filters aside (a disabled one then records its delivery skipped).
        """
        if only is not None:
            try:
                endpoint = self._endpoints.get(only)
            except NotFoundError:
                return Matched()  # deleted since: the message stays visible, delivered nowhere
            return Matched(inline=(endpoint.id,) if endpoint.application_id == message.application_id else ())
        owners: list[str | None] = [message.application_id]
        if message.source_id == OPS_SOURCE and message.application_id is not None:
            owners.append(None)
        if not all(self._subscriptions.complete(owner) for owner in owners):
            return self._match_listing(message, owners)
        parts = tuple((owner, pages) for owner in owners if (pages := self._subscriptions.pages(owner)))
        if not parts:
            return Matched()
        doc = MessageDocument(message)
        first = self._matched(message, parts[0][0], 0, doc)
        if len(parts) == 1 and parts[0][1] == 1:
            if len(first) <= INLINE_ENDPOINTS:
                return Matched(inline=first)
        elif len(parts) == 2 and parts[0][1] == 1 and parts[1][1] == 1:
            both = first + self._matched(message, parts[1][0], 0, doc)
            if len(both) <= INLINE_ENDPOINTS:
                return Matched(inline=both)
        return Matched(first=first, parts=parts)

    def _match_listing(self, message: Message, owners: Sequence[str | None]) -> Matched:
        """An owner with endpoints from before subscription pages (not backfilled yet): match its full
        listing, as the router did before, so none of them is missed; beyond ``INLINE_ENDPOINTS`` the
        router writes every fan-out page itself."""
        doc = MessageDocument(message)
        ids = tuple(
            e.id for owner in owners for e in self._subscriptions.legacy(owner) if matches(e, message, doc)
        )
        if len(ids) <= INLINE_ENDPOINTS:
            return Matched(inline=ids)
        size = FANOUT_PAGE
        return Matched(pages=tuple(ids[i : i + size] for i in range(0, len(ids), size)))

    def _matched(
        self, message: Message, owner: str | None, page: int, doc: MessageDocument | None = None
    ) -> tuple[str, ...]:
        doc = doc or MessageDocument(message)
        return tuple(e.id for e in self._subscriptions.page(owner, page) if matches(e, message, doc))

    def enqueue(self, routed: Sequence[tuple[Message, Matched]]) -> int:
        """Slot 0 of each paged message, then every first attempt and chunk, ten per SQS call in parallel."""
        tasks: list[str] = []
        chunks: list[str] = []
        for message, matched in routed:
            generation = generation_of(message)
            ids = message.endpoints
            if matched.pages:
                for number, page in enumerate(matched.pages):
                    self._record(message.id, message.receipt_id, generation, number, page, message.expires_at)
                ids = tuple(e for page in matched.pages for e in page)
            elif matched.parts:
                ids = matched.first
                self._record(message.id, message.receipt_id, generation, 0, ids, message.expires_at)
                root = FanoutChunk(
                    message.id,
                    message.receipt_id,
                    generation,
                    message.source_id,
                    message.event_type,
                    message.received_at,
                    message.expires_at,
                    matched.parts,
                    0,
                    matched.slots,
                ).carrying(message)  # its payload filters then read no message item
                chunks.extend(c.encode() for c in root.split())
            first = Task(message.id, "", generation=generation)
            if ids and not (matched.pages or matched.parts):
                first = first.carrying(message)  # the sender then reads no message item
            tasks.extend(replace(first, endpoint_id=e).encode() for e in ids)
        if chunks:
            send_all(self._chunks, chunks, self._pool)
        send_all(self._queue, tasks, self._pool)
        return len(tasks)

    def _stored(self, message_id: str) -> Message:
        """A chunk's message for its payload filters, with its body (one GetItem; one S3 GET if parked)."""
        assert self._messages is not None
        message = self._messages.get_message(message_id)
        if message.body is None and message.body_ref is not None and self._blobs is not None:
            message = replace(message, body=self._blobs.get(message.body_ref.key))
        return message

    def _record(
        self,
        message_id: str,
        receipt_id: str,
        generation: str,
        number: int,
        ids: tuple[str, ...],
        expires: float,
    ) -> None:
        """Write one fan-out page, then count it in its message (once): before any of its tasks is sent."""
        self._store.put_fanout_page(FanoutPage(message_id, number, generation, ids, expires))
        self._store.count_fanout_page(message_id, receipt_id, number, len(ids))

    def run_chunk(self, chunk: FanoutChunk) -> int:
        """Hand the other slots on, then match this slot's page (or reuse it, on a redelivery) and send.

        A redelivered chunk finds its page written and counted and sends the same tasks again: each
        duplicate meets its attempt's claim in the sender and stops there.
        """
        children = chunk.split()
        if children:
            self._chunks.send_batch([c.encode() for c in children])
        page = self._store.get_fanout_page(chunk.message_id, chunk.lo)
        if page is not None and page.generation == chunk.generation:
            ids = page.endpoint_ids
        else:
            owner, number = chunk.slot(chunk.lo)
            probe = Message(
                id=chunk.message_id,
                source_id=chunk.source_id,
                event_type=chunk.event_type,
                status="stored",
                received_at=chunk.received_at,
                size=0,
                body_sha256="",
                content_type="",
                receipt_id=chunk.receipt_id,
            )
            carried = chunk.message()
            if carried is not None:
                load: Callable[[], Message] | None = lambda: carried  # noqa: E731
            else:
                load = None if self._messages is None else (lambda: self._stored(chunk.message_id))
            ids = self._matched(probe, owner, number, MessageDocument(probe, load))
        self._record(chunk.message_id, chunk.receipt_id, chunk.generation, chunk.lo, ids, chunk.expires_at)
        tasks = [Task(chunk.message_id, e, generation=chunk.generation).encode() for e in ids]
        send_all(self._queue, tasks, self._pool)
        return len(tasks)


class Router:
    """Stores each ingest message once and fans it out."""

    def __init__(
        self,
        *,
        store: MessageStore,
        blobs: BlobStore,
        fanout: Fanout,
        clock: Callable[[], float],
        retention_seconds: int,
        inline_body_bytes: int,
        count: Callable[..., None] | None = None,
        tally: Tally | None = None,
        first_attempts: FirstAttempts | None = None,
    ) -> None:
        self._first = first_attempts
        # First attempts the router may still claim in the batch it is handling (see route_many).
        self._room = first_attempts.max_per_batch if first_attempts is not None else 0
        self._batch = ""  # the router batch its claims name (their successes' ``RES#`` item)
        self._store = store
        self._blobs = blobs
        self._tally = tally
        self._fanout = fanout
        self._clock = clock
        self._retention = retention_seconds
        self._inline = inline_body_bytes
        self._count = count or (lambda *a, **k: None)

    def route(self, text: str) -> str:
        """Handle one ingest message (or fan-out chunk); returns "stored", "duplicate" or "fanned_out";
        raises to have it retried."""
        if text.startswith(CHUNK_PREFIX):
            self._chunk(text)
            return "fanned_out"
        self._room = self._first.max_per_batch if self._first is not None else 0
        self._batch = new_id("rb")
        routed = self._store_one(text)
        if routed is None:
            return "duplicate"
        self._store.list_messages(new_id("lb"), [routed[0]])
        self._fanout.enqueue([self._queued(routed)])
        self._received([routed[0]])  # written when a batch (route_many) flushes
        error = self._send_first([routed])[0]
        if error is not None:
            raise error
        return "stored"

    def _queued(self, routed: tuple[Message, Matched]) -> tuple[Message, Matched]:
        """What goes on the deliveries queue: all but the first attempts this router makes itself."""
        message, matched = routed
        return (unclaimed(message), matched) if matched.claimed else routed

    def _send_first(self, routed: Sequence[tuple[Message, Matched]]) -> list[BaseException | None]:
        """Make the first attempts the router claimed with its messages (``chalicelib.outbound
        .first_attempts``); each message's first error, or None."""
        if self._first is None:
            return [None] * len(routed)
        mine = [m if matched.claimed else replace(m, first_claim=None) for m, matched in routed]
        return self._first.send(mine)

    def _chunk(self, text: str) -> None:
        try:
            chunk = FanoutChunk.decode(text)
        except PoisonTaskError as exc:
            raise PoisonMessageError(str(exc)) from exc
        sent = self._fanout.run_chunk(chunk)
        log.info("fanned out", extra={"message_id": chunk.message_id, "page": chunk.lo, "deliveries": sent})

    def route_many(self, texts: Sequence[str]) -> list[BaseException | None]:
        """Handle a batch: store each message, then enqueue all their deliveries together (ten per call).

        Returns each message's error or None. If the deliveries cannot be enqueued, every message stored in
        this batch fails too, so SQS gives it back and its redelivery (same receipt) enqueues them again.
        """
        errors: list[BaseException | None] = [None] * len(texts)
        stored: list[tuple[int, tuple[Message, Matched]]] = []
        self._room = self._first.max_per_batch if self._first is not None else 0
        self._batch = new_id("rb")
        for index, text in enumerate(texts):
            try:
                if text.startswith(CHUNK_PREFIX):
                    self._chunk(text)  # its own work and its own failure: it retries alone
                    continue
                routed = self._store_one(text)
            except Exception as exc:
                errors[index] = exc
                continue
            if routed is not None:
                stored.append((index, routed))
        if stored:
            try:
                # One packed listing write per key for the whole batch (not an index entry per message);
                # a failure fails the batch's messages, as the enqueue's does: their redelivery lists them.
                self._store.list_messages(new_id("lb"), [routed[0] for _, routed in stored])
                self._fanout.enqueue([self._queued(routed) for _, routed in stored])
            except Exception as exc:
                for index, _ in stored:
                    errors[index] = exc
            else:
                # Counted once its deliveries are queued: a batch that comes back was not counted yet.
                self._received([routed[0] for _, routed in stored])
                # Then the router's own first attempts (none if the queue failed: the redelivery finds
                # their claims kept and queues them, to wait for the lease).
                sent = self._send_first([routed for _, routed in stored])
                for (index, _), error in zip(stored, sent, strict=True):
                    errors[index] = error
        if self._tally is not None:
            self._tally.flush()
        return errors

    def _received(self, messages: Sequence[Message]) -> None:
        """Count stored messages in the hourly counters (written once per batch, per hour it touches)."""
        if self._tally is None:
            return
        for message in messages:
            self._tally.add("received", message.received_at)

    def _store_one(self, text: str) -> tuple[Message, Matched] | None:
        """Decode, check and store one ingest message; None when it is a duplicate."""
        try:
            envelope = Envelope.decode(text)
        except EnvelopeError as exc:
            raise PoisonMessageError(str(exc)) from exc
        now = self._clock()
        body, ref = envelope.body, envelope.body_ref
        raw = body  # the bytes in hand, for payload filters, even once parked in S3
        if ref is not None:
            raw = self._check_claim(ref, envelope.sha256)
        elif body is not None and len(body) > self._inline:
            # Too big for a DynamoDB item (400 KB): park the bytes in S3 under the message's id.
            key = f"messages/{envelope.id}/{envelope.receipt_id}"
            ref = BodyRef(bucket=self._blobs.put(key, body), key=key, sha256=envelope.sha256, size=len(body))
            body = None
        message = Message(
            id=envelope.id,
            source_id=envelope.source_id,
            event_type=envelope.event_type,
            event_type_verified=envelope.event_type_verified,
            event_type_invalid=envelope.event_type_invalid,
            status="stored",
            received_at=envelope.received_at,
            size=envelope.size,
            body_sha256=envelope.sha256,
            content_type=envelope.content_type,
            receipt_id=envelope.receipt_id,
            method=envelope.method,
            path=envelope.path,
            query=envelope.query,
            headers=envelope.headers,
            source_ip=envelope.source_ip,
            delivery_id=envelope.delivery_id,
            dedupe_key=envelope.dedupe_key,
            signed_timestamp=envelope.signed_timestamp,
            body=body,
            body_ref=ref,
            payload=envelope.payload,
            application_id=envelope.application_id,
            dedupe_until=envelope.received_at + envelope.replay_window,
            expires_at=envelope.received_at + self._retention,
        )
        # A few matched endpoints are stored with the message (in the same single write); more go to
        # fan-out pages written before their tasks: every delivery is visible as pending before its first
        # attempt, and no item grows with the number of endpoints.
        probe = message if message.body is not None or raw is None else replace(message, body=raw)
        matched = self._fanout.match(probe, envelope.endpoint_id)
        if matched.slots:
            # Its attempts are spread over partitions too (``MSG#{id}#A{k}``): none takes every delivery.
            message = replace(
                message, fanout_pages=matched.slots, attempt_shards=attempt_shards_for(matched.slots)
            )
        else:
            message = replace(message, endpoints=matched.inline)
            if self._first is not None:
                claim = self._first.claim(matched.inline, now, self._room, self._batch)
                self._room -= len(claim.endpoint_ids) if claim is not None else 0
                message = replace(message, first_claim=claim)
        proposed = message.first_claim
        stored = self._store.store_claiming(message, now, defer_listing=True)
        if stored is None:
            self._count("Duplicate")
            log.debug("duplicate", extra={"source_id": envelope.source_id, "message_id": envelope.id})
            return None
        message = replace(message, first_claim=stored.first_claim)
        if proposed is not None and stored.first_claim == proposed:
            matched = replace(matched, claimed=True)
        self._count("Stored")  # no tenant dimension: the id is in the (DEBUG) log line
        log.debug(  # a line per message at INFO would be log bytes paid per webhook
            "stored",
            extra={
                "source_id": envelope.source_id,
                "message_id": envelope.id,
                "deliveries": len(matched.first) if matched.parts else len(message.endpoints),
                "fanout_pages": matched.slots,
            },
        )
        return message, matched

    def _check_claim(self, ref: BodyRef, expected_sha256: str) -> bytes:
        try:
            data = self._blobs.get(ref.key)
        except NotFoundError as exc:
            raise PoisonMessageError(f"claim-checked body {ref.key} is missing") from exc
        if hashlib.sha256(data).hexdigest() != expected_sha256 or ref.sha256 != expected_sha256:
            raise PoisonMessageError(f"claim-checked body {ref.key} does not match its SHA-256")
        return data
