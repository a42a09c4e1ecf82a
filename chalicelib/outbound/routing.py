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
from dataclasses import replace
from typing import Protocol

from chalicelib.envelope import Envelope, EnvelopeError
from chalicelib.errors import NotFoundError
from chalicelib.models import OPS_SOURCE, BodyRef, Endpoint, Message, generation_of
from chalicelib.outbound.tasks import Task
from chalicelib.ports import BlobStore, EndpointSource, Queue, Store
from chalicelib.tally import Tally

log = logging.getLogger("hookway.routing")


class PoisonMessageError(Exception):
    """An ingest message that can never succeed (unreadable, or its claim-checked body is gone or altered).

    Raised so SQS redrives it to the DLQ after ``maxReceiveCount`` receives instead of retrying forever.
    """


class Fanout(Protocol):
    """Decides which endpoints get a message and hands them their deliveries."""

    def match(self, message: Message, only: str | None = None) -> tuple[str, ...]:
        """The ids of the endpoints that get this message (``only``: that one endpoint, if it is there)."""

    def enqueue(self, messages: Sequence[Message]) -> int:
        """Enqueue one delivery per endpoint in each ``message.endpoints``; returns how many."""


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


def matches(endpoint: Endpoint, message: Message) -> bool:
    """Whether an endpoint wants a message: its source and event-type filters (``*`` wildcards).

    An endpoint with no filter gets every message except Hookway's operational events, which go only to
    endpoints that name them in ``event_types``.
    """
    if not endpoint.enabled or endpoint.session_over(message.received_at):
        return False
    if endpoint.filter_sources and message.source_id not in endpoint.filter_sources:
        return False
    if not endpoint.filter_event_types:
        return message.source_id != OPS_SOURCE
    event_type = message.event_type or ""
    return any(glob_match(p, event_type) for p in endpoint.filter_event_types)


class EndpointFanout:
    """The router's fan-out: match endpoints, then enqueue one delivery task per match, in batches."""

    def __init__(self, endpoints: EndpointSource, queue: Queue) -> None:
        self._endpoints = endpoints
        self._queue = queue

    def match(self, message: Message, only: str | None = None) -> tuple[str, ...]:
        """The ids of the endpoints that get this message: its owner's, whose filters match.

        An operational event about an application's endpoint goes to that application's endpoints and to
        the operator's (each only if its filter names the event type). A message meant for ``only`` goes
        to that endpoint of its owner, filters aside (a disabled one then records its delivery skipped).
        """
        if only is not None:
            try:
                endpoint = self._endpoints.get(only)
            except NotFoundError:
                return ()  # deleted since: the message stays visible, delivered nowhere
            return (endpoint.id,) if endpoint.application_id == message.application_id else ()
        owners: list[str | None] = [message.application_id]
        if message.source_id == OPS_SOURCE and message.application_id is not None:
            owners.append(None)
        return tuple(e.id for owner in owners for e in self._endpoints.of(owner) if matches(e, message))

    def enqueue(self, messages: Sequence[Message]) -> int:
        """Enqueue the first attempt of each of the messages' deliveries, ten tasks per SQS call."""
        tasks = [
            Task(m.id, endpoint_id, generation=generation_of(m)).encode()
            for m in messages
            for endpoint_id in m.endpoints
        ]
        if tasks:
            self._queue.send_batch(tasks)
        return len(tasks)


class NoFanout:
    """A Fanout with no endpoints: messages are stored and stay visible through the API."""

    def match(self, message: Message, only: str | None = None) -> tuple[str, ...]:
        """Nothing matches."""
        return ()

    def enqueue(self, messages: Sequence[Message]) -> int:
        """Deliver nowhere."""
        return 0


class Router:
    """Stores each ingest message once and fans it out."""

    def __init__(
        self,
        *,
        store: Store,
        blobs: BlobStore,
        fanout: Fanout,
        clock: Callable[[], float],
        retention_seconds: int,
        inline_body_bytes: int,
        count: Callable[..., None] | None = None,
        tally: Tally | None = None,
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._tally = tally
        self._fanout = fanout
        self._clock = clock
        self._retention = retention_seconds
        self._inline = inline_body_bytes
        self._count = count or (lambda *a, **k: None)

    def route(self, text: str) -> str:
        """Handle one ingest message; returns "stored" or "duplicate"; raises to have it retried."""
        message = self._store_one(text)
        if message is None:
            return "duplicate"
        self._fanout.enqueue([message])
        self._received([message])  # written when a batch (route_many) flushes
        return "stored"

    def route_many(self, texts: Sequence[str]) -> list[BaseException | None]:
        """Handle a batch: store each message, then enqueue all their deliveries together (ten per call).

        Returns each message's error or None. If the deliveries cannot be enqueued, every message stored in
        this batch fails too, so SQS gives it back and its redelivery (same receipt) enqueues them again.
        """
        errors: list[BaseException | None] = [None] * len(texts)
        stored: list[tuple[int, Message]] = []
        for index, text in enumerate(texts):
            try:
                message = self._store_one(text)
            except Exception as exc:
                errors[index] = exc
                continue
            if message is not None:
                stored.append((index, message))
        if stored:
            try:
                self._fanout.enqueue([message for _, message in stored])
            except Exception as exc:
                for index, _ in stored:
                    errors[index] = exc
            else:
                # Counted once its deliveries are queued: a batch that comes back was not counted yet.
                self._received([message for _, message in stored])
        if self._tally is not None:
            self._tally.flush()
        return errors

    def _received(self, messages: Sequence[Message]) -> None:
        """Count stored messages in the hourly counters (written once per batch, per hour it touches)."""
        if self._tally is None:
            return
        for message in messages:
            self._tally.add("received", message.received_at)

    def _store_one(self, text: str) -> Message | None:
        """Decode, check and store one ingest message; None when it is a duplicate."""
        try:
            envelope = Envelope.decode(text)
        except EnvelopeError as exc:
            raise PoisonMessageError(str(exc)) from exc
        now = self._clock()
        body, ref = envelope.body, envelope.body_ref
        if ref is not None:
            self._check_claim(ref, envelope.sha256)
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
        # The matched endpoints are stored with the message (in the same single write), so every delivery
        # is visible as pending before its first attempt.
        message = replace(message, endpoints=self._fanout.match(message, envelope.endpoint_id))
        if not self._store.store_message(message, now):
            self._count("Duplicate")
            log.info("duplicate", extra={"source_id": envelope.source_id, "message_id": envelope.id})
            return None
        self._count("Stored")  # no tenant dimension: the id is in the log line
        log.info(
            "stored",
            extra={
                "source_id": envelope.source_id,
                "message_id": envelope.id,
                "deliveries": len(message.endpoints),
            },
        )
        return message

    def _check_claim(self, ref: BodyRef, expected_sha256: str) -> None:
        try:
            data = self._blobs.get(ref.key)
        except NotFoundError as exc:
            raise PoisonMessageError(f"claim-checked body {ref.key} is missing") from exc
        if hashlib.sha256(data).hexdigest() != expected_sha256 or ref.sha256 != expected_sha256:
            raise PoisonMessageError(f"claim-checked body {ref.key} does not match its SHA-256")
