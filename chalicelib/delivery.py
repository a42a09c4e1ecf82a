"""The sender: deliveries queue -> claim -> signed POST through the egress guard -> record -> retry.

One task on the deliveries queue is one attempt of one (message, endpoint) delivery. The attempt item in
DynamoDB is also its claim: a conditional write creates attempt N only if it does not exist or its holder's
lease ran out, so two workers never send the same attempt at once, and a duplicate task (an SQS redelivery,
a router that fanned out twice) finds the attempt taken and stops. The next attempt's task is enqueued
*before* the current attempt is recorded, so a crash between the two can cause one extra POST with the same
``webhook-id`` (at least once), never a lost delivery.

Retries wait with SQS ``DelaySeconds`` (at most 15 minutes per hop): a task that arrives before its
``not_before`` is put back with the time that remains, so a 10-hour wait costs 40 hops of one SendMessage,
one ReceiveMessage and one DeleteMessage each.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Protocol

from chalicelib import egress
from chalicelib.errors import NotFoundError
from chalicelib.ids import new_id
from chalicelib.models import Attempt, Endpoint, Message, generation_of
from chalicelib.publish import OPS_SOURCE, Publisher
from chalicelib.queues import MAX_DELAY_SECONDS, BlobStore, Queue
from chalicelib.retry import DEFAULT_SCHEDULE, classify, next_delay, parse_retry_after
from chalicelib.signing import github_signature, standard_headers
from chalicelib.store import Store

log = logging.getLogger("hookway.delivery")

FAILING_AFTER_ATTEMPTS = 4
RESPONSE_KEPT_BYTES = 4096
# How long a claim holds: longer than the deliver function can run (120 s), so a live holder is never
# overtaken, whatever the S3 read, DNS or the next task's enqueue take around the POST itself.
DEFAULT_LEASE_SECONDS = 150.0
RECHECK_SECONDS = 10.0
EARLY_TOLERANCE = 0.5  # SQS delays are whole seconds; a task this close to due is sent now
_HOP_BY_HOP = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "upgrade",
        "trailer",
        "expect",
        "proxy-authorization",
        "authorization",
        "cookie",
    }
)
VERSION = 1


class PoisonTaskError(Exception):
    """A delivery task that can never be processed (unreadable)."""


@dataclass(frozen=True)
class Task:
    """One attempt of one delivery, as queued."""

    message_id: str
    endpoint_id: str
    attempt: int = 1
    not_before: float = 0.0
    generation: str = ""

    def encode(self) -> str:
        """The queue's text form."""
        return json.dumps(
            {
                "v": VERSION,
                "message_id": self.message_id,
                "endpoint_id": self.endpoint_id,
                "attempt": self.attempt,
                "not_before": self.not_before,
                "generation": self.generation,
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, text: str) -> Task:
        """Parse the queue's text form, or PoisonTaskError."""
        try:
            doc = json.loads(text)
            task = cls(
                str(doc["message_id"]),
                str(doc["endpoint_id"]),
                int(doc["attempt"]),
                float(doc["not_before"]),
                str(doc.get("generation", "")),
            )
            if doc.get("v") != VERSION or task.attempt < 1:
                raise ValueError("bad version or attempt")
        except (KeyError, TypeError, ValueError, RecursionError) as exc:
            raise PoisonTaskError(f"unreadable delivery task: {type(exc).__name__}") from exc
        return task


class EndpointSource(Protocol):
    """Where the services look endpoints up (a short-lived cache over the store)."""

    def all(self) -> list[Endpoint]:
        """Every endpoint."""

    def get(self, endpoint_id: str) -> Endpoint:
        """One endpoint, or NotFoundError."""


class EndpointCache:
    """Endpoints read through a short-lived cache: the router matches every message against all of them."""

    def __init__(self, store: Store, clock: Callable[[], float], ttl: float) -> None:
        self._store = store
        self._clock = clock
        self._ttl = ttl
        self._loaded_at = -1e18
        self._by_id: dict[str, Endpoint] = {}

    def _fresh(self) -> dict[str, Endpoint]:
        now = self._clock()
        if now - self._loaded_at >= self._ttl:
            self._by_id = {e.id: e for e in self._store.all_endpoints()}
            self._loaded_at = now
        return self._by_id

    def all(self) -> list[Endpoint]:
        """Every endpoint (possibly up to ``ttl`` seconds old)."""
        return list(self._fresh().values())

    def get(self, endpoint_id: str) -> Endpoint:
        """One endpoint; one created since the last load is read from the store."""
        found = self._fresh().get(endpoint_id)
        return found if found is not None else self._store.get_endpoint(endpoint_id)

    def invalidate(self) -> None:
        """Reload on next use (after a change made in this process)."""
        self._loaded_at = -1e18


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$")


def matches(endpoint: Endpoint, message: Message) -> bool:
    """Whether an endpoint wants a message: its source and event-type filters (``*`` wildcards).

    An endpoint with no filter gets every message except Hookway's operational events, which go only to
    endpoints that name them in ``event_types``.
    """
    if not endpoint.enabled:
        return False
    if endpoint.filter_sources and message.source_id not in endpoint.filter_sources:
        return False
    if not endpoint.filter_event_types:
        return message.source_id != OPS_SOURCE
    event_type = message.event_type or ""
    return any(_glob(p).match(event_type) for p in endpoint.filter_event_types)


class EndpointFanout:
    """The router's fan-out: match endpoints, then enqueue one delivery task per match, in batches."""

    def __init__(self, endpoints: EndpointSource, queue: Queue) -> None:
        self._endpoints = endpoints
        self._queue = queue

    def match(self, message: Message) -> tuple[str, ...]:
        """The ids of the endpoints that get this message."""
        return tuple(e.id for e in self._endpoints.all() if matches(e, message))

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


class Sender:
    """Sends delivery tasks; see the module docstring."""

    def __init__(
        self,
        *,
        store: Store,
        blobs: BlobStore,
        queue: Queue,
        transport: egress.OutboundTransport,
        endpoints: EndpointSource,
        publisher: Publisher | None,
        clock: Callable[[], float],
        rand: Callable[[], float] = random.random,
        disable_after: float = 5 * 86400,
        retention_seconds: int = 30 * 86400,
        max_workers: int = 10,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        count: Callable[..., None] | None = None,
        observe: Callable[[str, float], None] | None = None,
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._observe = observe or (lambda name, value: None)
        self._queue = queue
        self._transport = transport
        self._endpoints = endpoints
        self._publisher = publisher
        self._clock = clock
        self._rand = rand
        self._disable_after = disable_after
        self._retention = retention_seconds
        self._lease = lease_seconds
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="sender")
        self._count = count or (lambda *a, **k: None)

    def handle_many(self, bodies: Sequence[str]) -> list[BaseException | None]:
        """Handle a batch concurrently (one slow endpoint holds back no other); the error of each, or None."""

        def run(body: str) -> BaseException | None:
            try:
                self.handle(body)
            except Exception as exc:
                return exc
            return None

        return list(self._pool.map(run, bodies))

    def handle(self, body: str) -> str:
        """Process one task; returns what happened. Raises only to have SQS retry the task."""
        task = Task.decode(body)
        now = self._clock()
        if task.not_before > now + EARLY_TOLERANCE:
            wait = task.not_before - now
            self._queue.send(body, delay_seconds=math.ceil(min(wait, MAX_DELAY_SECONDS)))
            return "deferred"
        try:
            message = self._store.get_message(task.message_id)
        except NotFoundError:
            log.warning("message gone", extra={"message_id": task.message_id})
            return "gone"
        generation = generation_of(message)
        if task.generation and task.generation != generation:
            # The message id was stored again after its replay window: that storing has its own tasks.
            return "superseded"
        try:
            endpoint: Endpoint | None = self._endpoints.get(task.endpoint_id)
        except NotFoundError:
            endpoint = None
        if endpoint is None or not endpoint.enabled:
            self._skip(task, generation, now)
            return "skipped"
        claim = Attempt(
            message_id=message.id,
            endpoint_id=endpoint.id,
            number=task.attempt,
            claim_id=new_id("clm"),
            started_at=now,
            status="in_flight",
            delivery_status="pending",
            lease_until=now + self._lease,
            expires_at=message.expires_at,
            generation=generation,
        )
        if not self._store.claim_attempt(claim, now):
            return self._claimed_elsewhere(body, task, generation, now)
        return self._attempt(task, message, endpoint, claim)

    def _claimed_elsewhere(self, body: str, task: Task, generation: str, now: float) -> str:
        """Another holder has this attempt: drop the task if the attempt is done, else look again later.

        Dropping while the attempt is still in flight would lose the delivery if its holder dies and its
        own task is the one we are looking at (a redelivery that came back before the lease ran out).
        """
        current = self._store.get_attempt(task.message_id, task.endpoint_id, generation, task.attempt)
        if current is not None and current.status == "in_flight":
            # Look again when the holder has most likely finished, and at the latest when its lease ends.
            wait = min(max(current.lease_until - now, 0.0), RECHECK_SECONDS) + 1.0
            self._queue.send(body, delay_seconds=math.ceil(min(wait, MAX_DELAY_SECONDS)))
            return "deferred"
        self._count("DuplicateTask")
        return "duplicate"

    def _skip(self, task: Task, generation: str, now: float) -> None:
        skipped = Attempt(
            message_id=task.message_id,
            endpoint_id=task.endpoint_id,
            number=task.attempt,
            claim_id=new_id("clm"),
            started_at=now,
            status="skipped",
            delivery_status="skipped",
            error_class="endpoint_disabled",
            expires_at=now + self._retention,
            generation=generation,
        )
        self._store.claim_attempt(skipped, now)

    def _attempt(self, task: Task, message: Message, endpoint: Endpoint, claim: Attempt) -> str:
        request = self._request(message, endpoint, claim.started_at)
        status: int | None = None
        error_class: str | None = None
        error: str | None = None
        kept: str | None = None
        retry_after: float | None = None
        started = time.monotonic()
        try:
            response = self._transport.send(request)
        except egress.EgressError as exc:
            error_class, error = exc.error_class, str(exc)[:300]
        else:
            status = response.status
            kept = _kept_body(response.body)
            retry_after = parse_retry_after(response.headers.get("retry-after"), self._clock())
        duration_ms = int((time.monotonic() - started) * 1000)
        self._observe("AttemptLatency", duration_ms)
        schedule = endpoint.retry_schedule or DEFAULT_SCHEDULE
        decision = classify(status, error_class, retry_after, schedule)
        base = Attempt(
            **{
                **claim.__dict__,
                "duration_ms": duration_ms,
                "response_status": status,
                "error_class": error_class,
                "error": error,
                "response_body": kept,
                "status": "succeeded" if decision.outcome == "succeeded" else "failed",
            }
        )
        now = self._clock()
        # Operational events and the endpoint's state go out before the attempt is recorded: a failure in
        # between retries the task, which finds the attempt unrecorded and redoes them (their ids dedupe).
        if decision.outcome == "succeeded":
            if task.attempt > FAILING_AFTER_ATTEMPTS:
                self._ops("message.attempt.recovered", message, endpoint, claim)
            if endpoint.failing_since is not None:
                self._store.set_endpoint_failing(endpoint.id, None)
            self._store.finish_attempt(Attempt(**{**base.__dict__, "delivery_status": "succeeded"}))
            self._count("Delivered")
            self._observe("EndToEndLatency", max(0.0, (now - message.received_at) * 1000))
            return "succeeded"
        if decision.outcome == "disable":
            self._disable(endpoint, "the endpoint answered 410 Gone", now)
            self._store.finish_attempt(Attempt(**{**base.__dict__, "delivery_status": "skipped"}))
            return "disabled"
        delay = next_delay(schedule, task.attempt, self._rand)
        if delay is None:
            self._ops("message.attempt.exhausted", message, endpoint, claim)
            self._note_failure(endpoint, now)
            self._store.finish_attempt(Attempt(**{**base.__dict__, "delivery_status": "failed"}))
            self._count("Exhausted")
            return "failed"
        delay = max(delay, decision.min_delay or 0.0)
        following = Task(
            message.id, endpoint.id, task.attempt + 1, not_before=now + delay, generation=claim.generation
        )
        self._queue.send(following.encode(), delay_seconds=math.ceil(min(delay, MAX_DELAY_SECONDS)))
        if task.attempt == FAILING_AFTER_ATTEMPTS:
            self._ops("message.attempt.failing", message, endpoint, claim)
        self._note_failure(endpoint, now)
        self._store.finish_attempt(
            Attempt(**{**base.__dict__, "delivery_status": "pending", "next_attempt_at": now + delay})
        )
        # 429/502/504 are the receiver (or its proxy) asking for air, not a broken endpoint: counted apart.
        self._count("AttemptThrottled" if decision.throttled else "AttemptFailed")
        return "retrying"

    def _note_failure(self, endpoint: Endpoint, now: float) -> None:
        """Start the endpoint's failure clock, or disable it once it has failed for ``disable_after``."""
        if endpoint.failing_since is None:
            self._store.set_endpoint_failing(endpoint.id, now)
        elif now - endpoint.failing_since >= self._disable_after:
            days = self._disable_after / 86400
            self._disable(endpoint, f"every attempt failed for {days:g} days", now)

    def _disable(self, endpoint: Endpoint, reason: str, now: float) -> None:
        """Publish ``endpoint.disabled``, then disable; the event's id names this enabled state of the endpoint
        (its ``updated_at``), so workers racing to disable it, or a retried task, publish it once."""
        if self._publisher is not None:
            self._publisher.operational(
                "endpoint.disabled",
                {"endpoint_id": endpoint.id, "url": endpoint.url, "reason": reason},
                dedupe=f"endpoint.disabled:{endpoint.id}:{endpoint.updated_at!r}",
            )
        self._store.disable_endpoint(endpoint.id, reason, now)

    def _ops(self, event_type: str, message: Message, endpoint: Endpoint, claim: Attempt) -> None:
        if self._publisher is None or message.source_id == OPS_SOURCE:
            return  # never an operational event about an operational event: no loops
        data = {
            "message_id": message.id,
            "endpoint_id": endpoint.id,
            "event_type": message.event_type,
            "source_id": message.source_id,
            "attempts": claim.number,
        }
        dedupe = f"{event_type}:{message.id}:{claim.generation}:{endpoint.id}"
        self._publisher.operational(event_type, data, dedupe=dedupe)

    def _request(self, message: Message, endpoint: Endpoint, now: float) -> egress.OutboundRequest:
        body = message.body if message.body_ref is None else self._blobs.get(message.body_ref.key)
        body = body or b""
        headers: dict[str, str] = {}
        if endpoint.signing == "passthrough" and message.source_id not in ("api", OPS_SOURCE):
            # The provider's own headers, but never one Hookway sets itself: a sender must not be able to
            # forge Hookway's provenance headers or make a receiver see two Content-Types.
            headers.update(
                {k: v for k, v in message.headers.items() if k.lower() not in _HOP_BY_HOP and not _ours(k)}
            )
        headers["Content-Type"] = message.content_type or "application/json"
        if endpoint.signing == "github":
            newest = endpoint.live_secrets(now)[-1]  # secrets are kept in the order they were added
            headers["webhook-id"] = message.id
            headers["X-Hub-Signature-256"] = github_signature(newest, body)
            headers["X-GitHub-Event"] = message.event_type or "message"
            headers["X-GitHub-Delivery"] = message.id
        else:
            headers.update(standard_headers(message.id, int(now), body, endpoint.live_secrets(now)))
        headers["Hookway-Source"] = message.source_id
        if message.event_type:
            headers["Hookway-Event-Type"] = message.event_type
        if message.delivery_id:
            headers["Hookway-Provider-Event-Id"] = message.delivery_id
        headers.update(endpoint.headers)
        if endpoint.auth is not None:
            if endpoint.auth["type"] == "basic":
                raw = f"{endpoint.auth['username']}:{endpoint.auth['password']}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
            else:
                headers["Authorization"] = f"Bearer {endpoint.auth['token']}"
        return egress.OutboundRequest(
            "POST",
            endpoint.url,
            headers,
            body,
            endpoint.timeout,
            client_certificate=endpoint.client_certificate,
        )


def _ours(name: str) -> bool:
    """Whether a header is one Hookway sets on deliveries (so a passed-through copy is dropped)."""
    lower = name.lower()
    return lower in ("content-type", "user-agent") or lower.startswith(("webhook-", "svix-", "hookway-"))


def _kept_body(body: bytes) -> str:
    """The first 4 KiB of a response, as text (base64 with a marker when it is not UTF-8)."""
    head = body[:RESPONSE_KEPT_BYTES]
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(head).decode()


def delivery_states(message: Message, attempts: list[Attempt]) -> list[dict[str, Any]]:
    """Per endpoint: the delivery's status (pending until an attempt says otherwise) and its attempts."""
    current = generation_of(message)
    by_endpoint: dict[str, list[Attempt]] = {}
    for attempt in attempts:
        if attempt.generation == current:  # an earlier storing of the same id has its own history
            by_endpoint.setdefault(attempt.endpoint_id, []).append(attempt)
    out = []
    for endpoint_id in dict.fromkeys((*message.endpoints, *by_endpoint)):
        mine = sorted(by_endpoint.get(endpoint_id, []), key=lambda a: a.number)
        latest = mine[-1] if mine else None
        status = latest.delivery_status if latest is not None else "pending"
        out.append(
            {
                "endpoint_id": endpoint_id,
                "status": status,
                "attempts": len([a for a in mine if a.status != "skipped"]),
                "last_attempt_at": latest.started_at if latest else None,
                "last_response_status": latest.response_status if latest else None,
                "last_error_class": latest.error_class if latest else None,
                "next_attempt_at": latest.next_attempt_at if latest and status == "pending" else None,
            }
        )
    return out


class Recovery:
    """Sending again what did not arrive: one message (resend) or an endpoint's failed and skipped deliveries.

    A new attempt is one past the delivery's last, in the message's current storing, so it goes through the
    same claim as every other attempt: if a scheduled retry with that number is already queued, only one of
    the two is sent.
    """

    def __init__(
        self, *, store: Store, queue: Queue, endpoints: EndpointSource, clock: Callable[[], float]
    ) -> None:
        self._store = store
        self._queue = queue
        self._endpoints = endpoints
        self._clock = clock

    def resend(self, message_id: str, endpoint_ids: Sequence[str] | None = None) -> list[str]:
        """Queue one more attempt of a message to each of its endpoints (or the ones named); returns them."""
        message = self._store.get_message(message_id)
        targets = list(endpoint_ids) if endpoint_ids else list(message.endpoints)
        for endpoint_id in targets:
            self._endpoints.get(endpoint_id)  # NotFoundError for an unknown endpoint
        attempts = self._store.list_attempts(message_id)
        self._enqueue(message, targets, attempts)
        return targets

    def recover(self, endpoint_id: str, since: float, limit: int = 1000) -> list[str]:
        """Queue one more attempt of every delivery to an endpoint that ended failed or skipped since ``since``."""
        self._endpoints.get(endpoint_id)
        latest: dict[str, Attempt] = {}
        cursor: str | None = None
        while len(latest) < limit:
            page = self._store.list_endpoint_attempts(endpoint_id, limit=100, cursor=cursor)
            for attempt in page.items:
                if attempt.started_at < since:
                    page = replace(page, cursor=None)
                    break
                current = latest.get(attempt.message_id)
                if current is None or (attempt.generation, attempt.number) > (
                    current.generation,
                    current.number,
                ):
                    latest[attempt.message_id] = attempt
            cursor = page.cursor
            if cursor is None:
                break
        recovered = []
        for message_id, attempt in latest.items():
            if attempt.delivery_status not in ("failed", "skipped"):
                continue
            try:
                message = self._store.get_message(message_id)
            except NotFoundError:
                continue  # past its retention
            if generation_of(message) != attempt.generation:
                continue  # stored again since: that storing has deliveries of its own
            self._enqueue(message, [endpoint_id], self._store.list_attempts(message_id))
            recovered.append(message_id)
        return recovered

    def _enqueue(self, message: Message, endpoint_ids: Sequence[str], attempts: list[Attempt]) -> None:
        generation = generation_of(message)
        tasks = []
        for endpoint_id in endpoint_ids:
            numbers = [
                a.number for a in attempts if a.endpoint_id == endpoint_id and a.generation == generation
            ]
            tasks.append(
                Task(message.id, endpoint_id, max(numbers, default=0) + 1, generation=generation).encode()
            )
        if tasks:
            self._queue.send_batch(tasks)
