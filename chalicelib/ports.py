"""The ports: what the services need from the outside world, as ``typing.Protocol``s.

One port per aggregate of the table (``SourceStore``, ``MessageStore``, ``AttemptStore``, ``EndpointStore``,
...), a union of a few where one consumer spans aggregates (``SenderStore``, ``DeliveryHistory``, ...), and
``Store``, all of them, which only the wiring names. Services import these and never an adapter. The
DynamoDB, SQS and S3 adapters live in ``chalicelib.aws`` (``chalicelib.aws.dynamodb``: one module per
aggregate); the in-memory fakes in ``testkit`` (one per port). One contract suite per port
(``tests/integration/contracts/``)
runs against both, so they cannot drift apart.

Cursors are opaque to every caller: a cursor is an adapter's *position* (a short list of strings, such as
the sort key of the last item of a page) in URL-safe base64. Partitions are never in a cursor: the adapter
derives them from the query, so a cursor forged by a caller can move where a listing starts, never which
tenant's items it lists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from chalicelib.models import (
    Application,
    Attempt,
    BreakerPolicy,
    Circuit,
    Endpoint,
    EventType,
    FanoutPage,
    Job,
    JobPlan,
    Message,
    Pulled,
    PulledOutcome,
    Rejection,
    Source,
)
from chalicelib.paging import (
    MAX_CURSOR_CHARS,
    MAX_DELAY_SECONDS,
    MAX_PAGE,
    Page,
    PageRequest,
    decode_cursor,
    encode_cursor,
    offsets,
    offsets_cursor,
    page_of,
)
from chalicelib.scope import Scope

if TYPE_CHECKING:
    from chalicelib.commands import EndpointFields

# Pages and cursors live in chalicelib.paging (the ingest path's adapters import them without the Protocols);
# named here as well, where the services have always found them.
__all__ = [
    "MAX_CURSOR_CHARS",
    "MAX_DELAY_SECONDS",
    "MAX_PAGE",
    "Page",
    "PageRequest",
    "decode_cursor",
    "encode_cursor",
    "offsets",
    "offsets_cursor",
    "page_of",
]

T = TypeVar("T")


MAX_EXAMINED = 1000  # candidates one search page may look at before it answers with what it found


@dataclass(frozen=True)
class MessageQuery:
    """The filters of a message search; every one is optional and they combine with AND.

    Which index serves it, most selective first: ``endpoint`` (the endpoint's first attempts),
    ``status`` failed or skipped (the attempts that ended a delivery so), ``source``, ``application``,
    else every message by day. The rest filter the candidates. ``status`` only chooses the index: the
    caller's ``keep`` decides whether a candidate's delivery is in that state now (it may have been
    recovered since).
    """

    application_id: str | None = None
    source_id: str | None = None
    endpoint_id: str | None = None
    event_type: str | None = None  # exact, or a prefix ending in ".*" (``order.*``)
    provider_id: str | None = None
    after: float | None = None
    before: float | None = None
    status: str | None = None

    def matches(self, message: Message) -> bool:
        """Whether a candidate passes every filter but the endpoint (which the index answers)."""
        if self.application_id is not None and message.application_id != self.application_id:
            return False
        if self.source_id is not None and message.source_id != self.source_id:
            return False
        if self.provider_id is not None and message.delivery_id != self.provider_id:
            return False
        if self.after is not None and message.received_at < self.after:
            return False
        if self.before is not None and message.received_at >= self.before:
            return False
        if self.event_type is not None:
            event_type = message.event_type or ""
            if self.event_type.endswith(".*"):
                return event_type.startswith(self.event_type[:-1])
            return event_type == self.event_type
        return True


class Queue(Protocol):
    """A durable queue of text messages."""

    def send(self, body: str, *, delay_seconds: int = 0) -> str:
        """Enqueue one message; returns its id. Raises StorageError if it is not stored."""

    def send_batch(self, bodies: Sequence[str], *, delay_seconds: int = 0) -> None:
        """Enqueue many messages; raises StorageError unless every one is stored."""

    def delete_batch(self, receipt_handles: Sequence[str]) -> None:
        """Delete received messages by receipt handle."""

    def change_visibility(self, entries: Sequence[tuple[str, int]]) -> None:
        """Make received messages visible again after (receipt handle, seconds); StorageError if refused."""


class BlobStore(Protocol):
    """Large bodies kept outside the queue (the claim check)."""

    def put(self, key: str, data: bytes) -> str:
        """Store bytes under a key; returns the bucket name."""

    def get(self, key: str) -> bytes:
        """The bytes under a key, or NotFoundError."""


class Reachable(Protocol):
    """Whether the table answers at all (the health check)."""

    def ping(self) -> None:
        """Raise StorageError unless the table answers."""


class SourceStore(Protocol):
    """Sources (``SRC#``): the inbound configuration, by id and oldest first."""

    def put_source(self, source: Source) -> None:
        """Create or replace a source."""

    def get_source(self, source_id: str) -> Source:
        """The source, or NotFoundError."""

    def list_sources(self, *, limit: int, cursor: str | None) -> Page[Source]:
        """Sources, oldest first."""

    def delete_source(self, source_id: str) -> None:
        """Delete a source, or NotFoundError."""


class RejectionStore(Protocol):
    """A source's recent rejections and their counters (``SRC#`` ring slots): best effort."""

    def record_rejections(
        self, sample: Rejection, counts: Mapping[str, int], *, slot: int, until: int
    ) -> None:
        """In one write: keep ``sample`` in ring slot ``slot`` of its source (shown until ``until``) and add
        ``counts`` (rejections per reason code since the last write) to the source's counters."""

    def list_rejections(self, source_id: str) -> list[Rejection]:
        """The recent rejections of a source, newest first."""

    def rejection_counts(self, source_id: str) -> dict[str, int]:
        """How many rejections per reason code a source has had."""


class MessageStore(Protocol):
    """Messages (``MSG#``): stored once per replay window, read by id, searched by index."""

    def store_message(self, message: Message, now: float, *, defer_listing: bool = False) -> bool:
        """Store a message unless another one with its id is live in its replay window, and list it.

        True when stored (a redelivery of the same receipt counts as stored), False for a duplicate.
        ``defer_listing``: the caller lists it with its batch (``list_messages``); until then no listing
        or search shows it.
        """

    def store_claiming(self, message: Message, now: float, *, defer_listing: bool = False) -> Message | None:
        """``store_message``, returning the message as stored, None for a duplicate: a redelivery of the
        same receipt keeps the ``first_claim`` the stored item holds (see ``models.kept_first_claim``)."""

    def list_messages(self, batch: str, stored: Sequence[Message]) -> None:
        """List a batch's stored messages in every listing and search (by day, source, application) in
        one packed write per key: the router's one call per batch (``batch``: an id of its own).
        StorageError if not every entry was written; writing the same messages again is harmless."""

    def get_message(self, message_id: str) -> Message:
        """The message, or NotFoundError."""

    def search_messages(
        self,
        query: MessageQuery,
        *,
        limit: int,
        cursor: str | None,
        keep: Callable[[Message], bool] | None = None,
    ) -> Page[Message]:
        """Messages matching a query, newest first, never by a table scan (see MessageQuery).

        ``keep`` is the caller's own last filter (the delivery status); it must be thread-safe, as an
        adapter may ask it about several candidates at once. A page examines at most
        ``MAX_EXAMINED`` candidates: it may then hold fewer than ``limit`` messages and still have a cursor.
        """


class FanoutStore(Protocol):
    """A big message's fan-out pages (``MSG#`` / ``FAN#``): the endpoint ids it matched, page by page."""

    def put_fanout_page(self, page: FanoutPage) -> None:
        """Store one page of a message's matched endpoint ids (a rewrite of the same page is harmless)."""

    def get_fanout_page(self, message_id: str, number: int) -> FanoutPage | None:
        """One fan-out page of a message, or None."""

    def count_fanout_page(self, message_id: str, receipt_id: str, number: int, count: int) -> None:
        """Add a written fan-out page to its message's ``endpoint_count`` once (a second call is a no-op;
        so is a call for another storing of the message id than ``receipt_id``'s)."""


class AttemptStore(Protocol):
    """Attempts (``MSG#`` / ``ATT#``): the claim on a delivery and its outcomes, by message and by endpoint."""

    def claim_attempt(self, attempt: Attempt, now: float) -> bool:
        """Create an attempt unless it exists and is finished or still leased; True if claimed."""

    def get_attempt(
        self, message_id: str, endpoint_id: str, generation: str, number: int, *, shards: int = 0
    ) -> Attempt | None:
        """One attempt, or None (``shards``: its message's ``attempt_shards``, as for every attempt read)."""

    def finish_attempt(self, attempt: Attempt) -> bool:
        """Record an attempt's outcome if the caller still holds its claim (one marked ``count_due``:
        only while it is still in flight, so it never marks an outcome already counted). An attempt with
        no item (the router's claim in its message, ``Message.first_claim``) is created by it, unless
        someone claimed it since."""

    def finish_batch(self, batch: str, attempts: Sequence[Attempt]) -> None:
        """Record the outcomes of one sender batch's attempts, each claimed with ``batch``, in one write
        (their claims stay as they are; a reader takes an outcome whose claim still holds), with their
        endpoints' listing (``list_batch_attempts``). StorageError: maybe nothing recorded (the caller
        records each with ``finish_attempt``, which lists it on its own item)."""

    def list_batch_attempts(self, batch: str, attempts: Sequence[Attempt]) -> None:
        """List attempts claimed with ``batch`` in their endpoints' attempt listings and the endpoint
        search: one packed item per endpoint for the whole batch. A claim that names a batch is not
        listed by itself while in flight; ``finish_batch`` lists the ones it records, and a caller that
        records them otherwise (e.g. on the message item) calls this. StorageError if not all written."""

    def first_attempts(self, message: Message, attempts: Sequence[Attempt]) -> list[Attempt]:
        """``attempts`` (the message's, as read) with attempt 1 of each delivery its router claimed
        (``Message.first_claim`` naming a router batch) that has no attempt item: the claim, with its
        outcome if the batch's result item holds one (else in flight), newest first as ``list_attempts``."""

    def finish_counted(self, attempt: Attempt) -> bool:
        """Record an outcome that moves its message's delivery counters (``count_due``) and count it, in
        one transaction, if the caller still holds the claim; StorageError (a busy or throttled counter)
        leaves both unwritten."""

    def list_attempts(self, message_id: str, *, shards: int = 0) -> list[Attempt]:
        """Every attempt of a message, newest first (only for messages with inline endpoints)."""

    def message_attempts(
        self, message_id: str, *, limit: int, cursor: str | None, shards: int = 0
    ) -> Page[Attempt]:
        """A page of a message's attempts in key order (by endpoint, storing, number; with ``shards``,
        within each attempt partition in turn): bounded reads, possibly a short page with a cursor."""

    def count_delivery_ending(self, attempt: Attempt) -> bool:
        """Count the recorded ending of a delivery whose attempt is marked ``count_due``: ADD its status
        (less its ``reopens``) to its message's counters and clear the mark, in one transaction, so a
        retry counts it once. False if the mark is gone (counted already); StorageError to retry."""
        ...

    def delivery_counts(self, message_id: str, generation: str, shards: int) -> dict[str, int]:
        """The ended deliveries of one storing of a message with attempt shards, by status (bounded:
        one read of at most ``shards`` small items)."""
        ...

    def latest_attempt(
        self, message_id: str, endpoint_id: str, generation: str, *, shards: int = 0
    ) -> Attempt | None:
        """The latest attempt of one delivery in one storing of a message, or None (one bounded read)."""

    def list_endpoint_attempts(self, endpoint_id: str, *, limit: int, cursor: str | None) -> Page[Attempt]:
        """Attempts to an endpoint, newest first."""


class EndpointStore(Protocol):
    """Endpoints (``EP#``): by id, by owner, in batches."""

    def put_endpoint(self, endpoint: Endpoint) -> None:
        """Create or replace an endpoint."""

    def get_endpoint(self, endpoint_id: str) -> Endpoint:
        """The endpoint, or NotFoundError."""

    def get_endpoints(self, endpoint_ids: Sequence[str]) -> list[Endpoint]:
        """The endpoints with these ids that exist, in that order (batched reads)."""

    def list_endpoints(self, *, application_id: str | None, limit: int, cursor: str | None) -> Page[Endpoint]:
        """The endpoints of one owner (an application, None: the operator's own), oldest first."""

    def endpoints_of(self, application_id: str | None) -> list[Endpoint]:
        """Every endpoint of one owner, all pages (the router matches a message against them)."""

    def delete_endpoint(self, endpoint_id: str) -> None:
        """Delete an endpoint, or NotFoundError."""


class EndpointHealthStore(Protocol):
    """An endpoint's failure clock and disabling, and the "needs attention" index over them."""

    def set_endpoint_failing(self, endpoint_id: str, since: float | None) -> None:
        """Record since when an endpoint has failed without a success (None: it is healthy)."""

    def disable_endpoint(self, endpoint_id: str, reason: str, now: float) -> bool:
        """Disable an enabled endpoint; True if this call disabled it."""

    def attention_endpoints(self, *, limit: int) -> list[Endpoint]:
        """Endpoints of every owner that are failing or disabled, the most recent change first.

        Never a scan: only such endpoints are indexed (each save, failure and disable keeps the entry).
        """

    def attention_due(
        self, until: float, *, after: float | None, limit: int, cursor: str | None
    ) -> Page[Endpoint]:
        """Endpoints whose "needs attention" entry changed in ``(after, until]`` (``after`` None: from the
        first), at most ``limit`` a page; reads that index range only, never every endpoint."""


class CircuitStore(Protocol):
    """The circuit's conditional writes on the endpoint's item (each a no-op on a deleted endpoint)."""

    def circuit_failed(
        self, endpoint_id: str, policy: BreakerPolicy, now: float, *, probe: bool
    ) -> Circuit | None:
        """Count a failed attempt, opening the circuit at the policy's count; the circuit after it (None: the
        endpoint is gone). Atomic: concurrent failures each count, and only one opens a cycle."""

    def circuit_probe(self, endpoint_id: str, policy: BreakerPolicy, now: float) -> Circuit | None:
        """Take the probe of an open circuit whose ``next_probe_at`` has come: None for the one winner,
        else the circuit as it stands (closed meanwhile, or another's probe in flight)."""

    def circuit_succeeded(self, endpoint_id: str) -> Circuit | None:
        """Close the circuit and reset its count if either is needed; the circuit *before* (None: nothing
        to change, or the endpoint is gone)."""


class ThrottleStore(Protocol):
    """The endpoint's throttle item."""

    def take_slot(self, endpoint_id: str, interval: float, now: float) -> float:
        """Take the endpoint's next free slot (``next_slot``, atomically across senders); its time."""


class ParkStore(Protocol):
    """Delivery tasks parked under their due time (``chalicelib.outbound.parking``)."""

    def park(self, bucket: int, shard: int, key: str, body: str) -> None:
        """Keep a task in a due-time bucket's shard until the release step takes it."""

    def parked(self, bucket: int, shard: int, *, limit: int) -> list[tuple[str, str]]:
        """The first ``limit`` tasks of a bucket's shard, in due order: (key, body)."""

    def unpark(self, bucket: int, shard: int, keys: Sequence[str]) -> None:
        """Delete released tasks."""

    def hold(self, endpoint_id: str, shard: int, key: str, body: str, now: float) -> None:
        """Keep a task an endpoint's open circuit holds until its release (the circuit closes)."""

    def held(self, endpoint_id: str, shard: int, *, limit: int) -> list[tuple[str, str]]:
        """The first ``limit`` held tasks of a shard of the endpoint's, in due order: (key, body)."""

    def unhold(self, endpoint_id: str, shard: int, keys: Sequence[str]) -> None:
        """Delete released held tasks."""


@dataclass(frozen=True)
class Turn:
    """Whose turn it is at a fifo endpoint (``chalicelib.outbound.fifo``): an entry's key, or None, and
    until when its holder's claim on the turn lasts."""

    holder: str | None = None
    lease_until: float = 0.0


class FifoStore(Protocol):
    """A fifo endpoint's ordered list of pending deliveries and its turn (``EP#{id}#FIFO``)."""

    def fifo_enter(self, endpoint_id: str, key: str, body: str) -> None:
        """Put a delivery in the list under ``key`` with its task, unless it is there already."""

    def fifo_update(self, endpoint_id: str, key: str, body: str) -> None:
        """Replace the task of an entry that is in the list (never creates one)."""

    def fifo_has(self, endpoint_id: str, key: str) -> bool:
        """Whether the entry is in the list (a consistent read)."""

    def fifo_head(self, endpoint_id: str, *, limit: int) -> list[tuple[str, str]]:
        """The first ``limit`` entries, in key order: (key, task). A consistent read."""

    def fifo_turn(self, endpoint_id: str) -> Turn:
        """The turn as it stands (a consistent read); ``Turn()`` if no one ever held it."""

    def fifo_give(self, endpoint_id: str, seen: Turn, to: str, lease_until: float) -> bool:
        """Give the turn to ``to`` if it is still as ``seen``; False if it changed meanwhile."""

    def fifo_hold(self, endpoint_id: str, key: str, lease_until: float) -> None:
        """Stretch the turn's lease if ``key`` holds it (else nothing)."""

    def fifo_leave(self, endpoint_id: str, key: str) -> None:
        """Delete an entry (none: nothing)."""

    def fifo_pass(self, endpoint_id: str, key: str, to: str | None, lease_until: float) -> bool:
        """Hand the turn from ``key`` to ``to`` (None: free it). True if ``to`` now holds it from this
        hand-off or an earlier one (so its task is to be sent); False if ``key`` did not hold it."""


class SubscriptionStore(Protocol):
    """An owner's subscription pages (``SUBS#``): its endpoint ids in pages of ``SUBSCRIPTION_PAGE``, and its version."""

    def owner_version(self, application_id: str | None) -> tuple[int, int]:
        """An owner's endpoint version (it moves on every change that can alter matching) and how many
        subscription pages it has: ``(version, pages)``, ``(0, 0)`` for an owner without endpoints."""

    def owner_state(self, application_id: str | None) -> tuple[int, int, bool]:
        """``owner_version`` and, from the same read, whether every endpoint of the owner is in its
        subscription pages (``complete``: set by the backfill, or at the owner's first endpoint)."""

    def unjoined_endpoints(self, application_id: str | None, *, limit: int, cursor: str | None) -> Page[str]:
        """Of one listing page of the owner's endpoints (``limit`` read), the ids in no subscription page."""

    def join_subscription(self, endpoint_id: str, page: int | None = None) -> bool:
        """Put an endpoint that is in no subscription page in one (``page``: the one already holding its
        id); False if it has one or is gone. Safe beside concurrent saves and deletes."""

    def mark_subscriptions_complete(self, application_id: str | None) -> None:
        """Record that every endpoint of the owner is in its pages, and move its version."""

    def compact_subscriptions(self, application_id: str | None) -> int:
        """Remove the owner's empty last subscription pages (at most ``MAX_SHRINK_PAGES`` a call,
        idempotent); returns how many went. A delete that empties a page does it itself."""

    def subscription_page(self, application_id: str | None, number: int) -> tuple[str, ...]:
        """The endpoint ids of one subscription page of an owner (at most ``SUBSCRIPTION_PAGE``)."""


class ApplicationStore(Protocol):
    """Applications (``APP#``, ``APPUID#``): tenants, their unique uid and their tokens' revocation."""

    def create_application(self, application: Application) -> None:
        """Store a new application; ConflictError ``uid_taken`` if its uid belongs to another one."""

    def update_application(self, old: Application, new: Application) -> None:
        """Replace an application (moving its uid if it changed); ConflictError ``uid_taken`` as above."""

    def get_application(self, application_id: str) -> Application:
        """The application, or NotFoundError ``application_not_found``."""

    def application_id_for_uid(self, uid: str) -> str | None:
        """The id of the application with this uid, or None."""

    def list_applications(self, *, limit: int, cursor: str | None) -> Page[Application]:
        """Applications, oldest first."""

    def delete_application(self, application: Application) -> None:
        """Delete an application and its uid (its endpoints are deleted by the service)."""

    def revoke_tokens(self, application_id: str, before: float) -> None:
        """Revoke every portal token of an application issued before ``before``."""


class EventTypeStore(Protocol):
    """The event type catalog (``ET#``)."""

    def put_event_type(self, event_type: EventType) -> None:
        """Create or replace a catalog entry."""

    def get_event_type(self, name: str) -> EventType:
        """A catalog entry, or NotFoundError ``event_type_not_found``."""

    def list_event_types(self, *, limit: int, cursor: str | None) -> Page[EventType]:
        """The catalog, by name."""

    def delete_event_type(self, name: str) -> None:
        """Delete a catalog entry, or NotFoundError."""


class SessionStore(Protocol):
    """Console sessions (``SESSION#``), by a keyed digest of their id."""

    def put_session(self, digest: str, expires_at: float) -> None:
        """Keep a console session (by a keyed digest of its id) until ``expires_at``."""

    def session_expires_at(self, digest: str) -> float | None:
        """When a console session ends, or None if there is none (signed out, or gone with its TTL)."""

    def delete_session(self, digest: str) -> None:
        """End a console session (a missing one is no error)."""

    def end_sessions(self) -> int:
        """End every console session; returns how many there were."""


class ListenStore(Protocol):
    """Deliveries waiting for a listen session's CLI to pull them (``LISTEN#``)."""

    def put_pulled(self, pulled: Pulled) -> None:
        """Keep a delivery for a listen session's CLI to pull."""

    def list_pulled(self, endpoint_id: str, *, after: str | None, limit: int) -> list[Pulled]:
        """A listen session's waiting deliveries queued after the cursor ``after``, oldest first."""

    def get_pulled(self, endpoint_id: str, seq: str) -> Pulled | None:
        """One waiting delivery, or None."""

    def delete_pulled(self, endpoint_id: str, seq: str) -> None:
        """Forget a waiting delivery (its outcome was reported); no error if it is gone."""


class CounterStore(Protocol):
    """The hourly counters (``STATS#``): added per batch, summed per hour."""

    def add_counts(self, hour: int, counts: Mapping[str, int]) -> None:
        """Add to one hour's counters (``hour``: its start, unix seconds) in one write; kept a few weeks."""

    def get_counts(self, hours: Sequence[int]) -> dict[int, dict[str, int]]:
        """The counters of these hours; an hour nothing was counted in is absent."""


class CheckpointStore(Protocol):
    """Where a scheduled job stopped (``CHECKPOINT#``)."""

    def get_checkpoint(self, name: str) -> str | None:
        """Where the scheduled job ``name`` stopped (what it saved), or None."""

    def put_checkpoint(self, name: str, value: str) -> None:
        """Save where the scheduled job ``name`` stopped, for its next run."""


class IdempotencyStore(Protocol):
    """Publish idempotency keys (``IDEM#``)."""

    def remember_idempotency_key(
        self, key: str, body_sha256: str, message_id: str, now: float, ttl: int
    ) -> tuple[str, str]:
        """Store a publish key unless a live one exists; returns the (message_id, body_sha256) that holds it."""


class JobStore(Protocol):
    """Background jobs (``JOB#``, ``chalicelib.jobs``): read by id, every change conditional on the revision it read."""

    def create_job(self, job: Job) -> None:
        """Store a new job."""

    def get_job(self, job_id: str) -> Job:
        """The job (a consistent read), or NotFoundError ``job_not_found`` (also once it expired)."""

    def save_job(self, job: Job, *, expected_rev: int) -> bool:
        """Replace a job if its stored ``rev`` is still ``expected_rev``; False if another write won."""


class Store(
    Reachable,
    SourceStore,
    RejectionStore,
    MessageStore,
    FanoutStore,
    AttemptStore,
    EndpointStore,
    EndpointHealthStore,
    CircuitStore,
    ThrottleStore,
    ParkStore,
    FifoStore,
    SubscriptionStore,
    ApplicationStore,
    EventTypeStore,
    SessionStore,
    ListenStore,
    CounterStore,
    CheckpointStore,
    IdempotencyStore,
    JobStore,
    Protocol,
):
    """Every port of the table at once: what one adapter (and one fake) implements, for wiring only.

    Services are typed against the narrow ports above (or a small union of them, declared beside the
    service), never against ``Store``.
    """


# What one consumer needs when its use case spans aggregates: a union of the ports above, nothing more.


class EndpointAdminStore(EndpointStore, AttemptStore, Protocol):
    """The endpoint service: endpoints, and an endpoint's attempts for its health page."""


class SourceAdminStore(SourceStore, RejectionStore, Protocol):
    """The source service: sources, and the rejections shown beside them."""


class SubscriptionReader(EndpointStore, SubscriptionStore, Protocol):
    """The subscription cache: an owner's pages and version, and the endpoints they name."""


class DeliveryHistory(MessageStore, FanoutStore, AttemptStore, Protocol):
    """Message queries and recovery: messages, their fan-out pages and their attempts."""


class AttemptLedger(MessageStore, AttemptStore, Protocol):
    """The dead-letter handler: a message and the attempt that ends its delivery."""


class SenderStore(MessageStore, AttemptStore, EndpointHealthStore, ListenStore, Protocol):
    """The sender: the message, the claim and outcome of each attempt, the endpoint's health, listen queues."""


class ListenDeliveries(MessageStore, ListenStore, Protocol):
    """Listen sessions: the waiting deliveries and the messages they carry."""


class BackfillStore(SubscriptionStore, CheckpointStore, ApplicationStore, Protocol):
    """The subscription backfill: every owner (the applications), its pages, and where it stopped."""


class StatsStore(CounterStore, EndpointHealthStore, Protocol):
    """``GET /v1/stats``: the hourly counters and the endpoints that need attention."""


class ReleaseStore(ParkStore, CheckpointStore, Protocol):
    """The release step: the parked tasks and where it stopped."""


class SweepStore(EndpointHealthStore, CheckpointStore, Protocol):
    """The sweep: endpoints that came due for auto-disable, and where it stopped."""


class EndpointSource(Protocol):
    """Where the router and the sender look endpoints up (a short-lived cache over the store)."""

    def of(self, application_id: str | None) -> list[Endpoint]:
        """The endpoints of one owner: an application, or None for the operator's own."""

    def get(self, endpoint_id: str) -> Endpoint:
        """One endpoint, or NotFoundError."""

    def get_many(self, endpoint_ids: Sequence[str]) -> dict[str, Endpoint]:
        """The endpoints found among these ids, by id (as old as ``get``'s), in batched reads."""


class EventPublisher(Protocol):
    """Where the sender publishes Hookway's operational events (``endpoint.disabled``, ...)."""

    def operational(
        self, event_type: str, data: dict[str, Any], dedupe: str, *, application_id: str | None = None
    ) -> str:
        """Publish one operational event; ``dedupe`` names the fact so a retried task emits it once."""


# ------------------------------------------------------------------------------------------------------
# Named needs between services: each is one or two methods a service implements and another takes, so a
# reader follows a dependency by its name (never a lambda) and a test hands in a small fake.


class ApplicationResolver(Protocol):
    """Names an application by id or uid, as the caller may (``ApplicationService``)."""

    def resolve(self, ref: str, scope: Scope) -> str:
        """The application's id; NotFoundError, or ForbiddenError for another tenant's."""


class CachedApplicationResolver(Protocol):
    """As ``ApplicationResolver``, from a short-lived cache: publishing makes no consistent read."""

    def resolve_cached(self, ref: str, scope: Scope) -> str:
        """The application's id (possibly up to the cache's TTL old)."""


class EndpointLookup(Protocol):
    """One endpoint the caller may see (``EndpointService``); another tenant's answers NotFoundError."""

    def get(self, endpoint_id: str, scope: Scope) -> Endpoint:
        """The endpoint, or NotFoundError."""


class NewEndpoints(Protocol):
    """Adding an endpoint made elsewhere (a listen session's) under the endpoint rules (``EndpointService``)."""

    def get(self, endpoint_id: str, scope: Scope) -> Endpoint:
        """The endpoint, or NotFoundError (another tenant's included)."""

    def add(
        self, endpoint: Endpoint, application: str | None, fields: EndpointFields, scope: Scope
    ) -> Endpoint:
        """Store it with ``fields`` applied for the caller's application (or the one the operator names);
        the fields' checks and a portal token's quota as for any new endpoint."""


class MessageLookup(Protocol):
    """One message the caller may see (``MessageService``)."""

    def message(self, message_id: str, scope: Scope) -> Message:
        """The message, or NotFoundError."""


class PayloadCheck(Protocol):
    """Checks a payload against its event type's schema (``EventTypeService``)."""

    def check_payload(self, event_type: str, payload: Any) -> None:
        """Nothing if the payload fits; a 4xx HookwayError if it does not."""


class JobStarter(Protocol):
    """Starts a background job (``chalicelib.jobs.Jobs``)."""

    def start(self, plan: JobPlan) -> Job:
        """The queued job; StorageError if its first step cannot be queued."""


class RejectionSettler(Protocol):
    """Writes the rejections this container still holds (``RejectionLog``), before a read of them."""

    def settle(self) -> None:
        """Write what is pending now, on this thread."""


class EndpointChanges(Protocol):
    """Told when an endpoint changed in this process, so caches reload (``chalicelib.caches``)."""

    def endpoints_changed(self) -> None:
        """Forget cached endpoints."""


class AdminKey(Protocol):
    """The deployment's admin key (``chalicelib.aws.parameters``): fixed, or read from a parameter."""

    def current(self) -> str:
        """The key now in force."""


class SignedRequest(Protocol):
    """What a listen session's CLI is handed for one attempt (``egress.OutboundRequest``)."""

    @property
    def headers(self) -> Mapping[str, str]:
        """The request's headers, signature included."""

    @property
    def body(self) -> bytes:
        """The original body."""


class PulledDeliveries(Protocol):
    """What a listen session needs of the sender (``Sender``): requests signed now, reports recorded."""

    def request_for(self, message: Message, endpoint: Endpoint, now: float) -> SignedRequest:
        """The signed request this endpoint gets for this message."""

    def complete_pulled(self, pulled: Pulled, outcome: PulledOutcome) -> str:
        """Record a reported answer as for a POST of ours; ``stale`` if the claim moved on."""
