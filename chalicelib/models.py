"""Frozen dataclasses for what Hookway stores, and the typed values (statuses, kinds) they carry."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, get_args

from chalicelib.branding import Branding
from chalicelib.inbound_models import BodyRef, MtlsRule, Rejection, Secret, Source, Verification

if TYPE_CHECKING:
    from chalicelib.filters.pattern import Pattern

# The ingest path's models live in chalicelib.inbound_models; named here as well, where everything finds them.
__all__ = [  # the re-exported names; everything defined here is exported as well
    "BodyRef",
    "MtlsRule",
    "Rejection",
    "Secret",
    "Source",
    "Verification",
]

AttemptStatus = Literal["in_flight", "succeeded", "failed", "skipped"]
DeliveryStatus = Literal["pending", "succeeded", "failed", "skipped"]
SigningMode = Literal["standard", "github", "passthrough"]
MessageKind = Literal["inbound", "published"]
EndpointKind = Literal["http", "listen"]
MessageStatus = Literal["stored"]

ATTEMPT_STATUSES: tuple[AttemptStatus, ...] = get_args(AttemptStatus)
DELIVERY_STATUSES: tuple[DeliveryStatus, ...] = get_args(DeliveryStatus)
SIGNING_MODES: tuple[SigningMode, ...] = get_args(SigningMode)

API_SOURCE = "api"  # the source id of messages published with POST /v1/messages
OPS_SOURCE = "hookway"  # the source id of Hookway's own operational events


def attempt_status(value: str) -> AttemptStatus:
    """A stored attempt status, checked."""
    if value not in ATTEMPT_STATUSES:
        raise ValueError(f"not an attempt status: {value!r}")
    return value  # type: ignore[return-value]


def delivery_status(value: str) -> DeliveryStatus:
    """A stored delivery status, checked."""
    if value not in DELIVERY_STATUSES:
        raise ValueError(f"not a delivery status: {value!r}")
    return value  # type: ignore[return-value]


def signing_mode(value: str) -> SigningMode:
    """A stored signing mode, checked."""
    if value not in SIGNING_MODES:
        raise ValueError(f"not a signing mode: {value!r}")
    return value  # type: ignore[return-value]


@dataclass(frozen=True)
class FirstClaim:
    """The lease a router holds on the first attempt of some inline deliveries of the message it stored:
    until ``lease_until`` no one else claims attempt 1 of those endpoints; after it, the attempt is claimed
    as any other (its attempt item's conditional write), unless its outcome is recorded there already."""

    claim_id: str
    started_at: float
    lease_until: float
    endpoint_ids: tuple[str, ...]

    @property
    def batch(self) -> str:
        """The router batch whose ``RES#`` item records this claim's successes: its id's part before the
        last ``.`` (``{batch}.{n}``); "" for a claim written before, whose outcomes are on attempt items."""
        return self.claim_id.rpartition(".")[0]


@dataclass(frozen=True)
class Message:
    """One accepted webhook (or published event) as the router stored it."""

    id: str
    source_id: str
    event_type: str | None
    status: MessageStatus
    received_at: float
    size: int
    body_sha256: str
    content_type: str
    receipt_id: str
    method: str = "POST"
    path: str = ""
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    source_ip: str | None = None
    delivery_id: str | None = None
    dedupe_key: str | None = None
    signed_timestamp: int | None = None
    body: bytes | None = None
    body_ref: BodyRef | None = None
    payload: Any = None  # for published messages: the JSON payload as given
    endpoints: tuple[str, ...] = ()  # the endpoints the router matched, inline (at most INLINE_ENDPOINTS)
    dedupe_until: float = 0.0
    expires_at: float = 0.0
    application_id: str | None = None  # fans out only to this application's endpoints (None: the operator's)
    # False: the provider's event type came from a header its signature does not cover (a replay may change
    # it); None: no event type from a provider. ``event_type_invalid``: the provider's was refused at ingest.
    event_type_verified: bool | None = None
    event_type_invalid: bool = False
    # A message matched in pages (more than INLINE_ENDPOINTS endpoints, or an owner with more than one
    # subscription page) keeps no ids inline: they are in ``fanout_pages`` FanoutPage items; each page
    # that has been written and counted adds its ids to ``endpoint_count`` and one to ``fanned_pages``.
    fanout_pages: int = 0
    fanned_pages: int = 0
    endpoint_count: int = 0
    # How many partitions the attempts of a message that fanned out in pages are spread over (each
    # endpoint's attempts in one of them, by a hash of its id; ``attempt_shards_for``); 0: every attempt
    # under the message's own key (inline messages, and paged ones stored before attempt shards).
    attempt_shards: int = 0
    # The router's own claim on the first attempt of some of its inline deliveries, written in the same
    # conditional PutItem as the message (``chalicelib.outbound.first_attempts``); None: none.
    first_claim: FirstClaim | None = None

    def holds_first(self, endpoint_id: str) -> FirstClaim | None:
        """The router's claim on this endpoint's first attempt, if the stored message holds one."""
        claim = self.first_claim
        return claim if claim is not None and endpoint_id in claim.endpoint_ids else None

    @property
    def deliveries(self) -> int:
        """How many deliveries the message has (so far, while its fan-out pages are being written)."""
        return self.endpoint_count if self.fanout_pages else len(self.endpoints)


CircuitStateName = Literal["closed", "open", "half_open"]
Ordering = Literal["none", "fifo"]


@dataclass(frozen=True)
class BreakerPolicy:
    """An endpoint's circuit breaker: open after ``failures`` consecutive failed attempts; then one probe
    every ``probe_seconds`` (see ``chalicelib.outbound.breaker``)."""

    failures: int = 10
    probe_seconds: int = 60


@dataclass(frozen=True)
class Circuit:
    """An endpoint's circuit as stored on its item: ``cycle`` counts the times it opened (it names each
    opening's and closing's operational event, so racing workers publish it once)."""

    state: CircuitStateName = "closed"
    failures: int = 0  # consecutive failed attempts while closed
    opened_at: float | None = None
    next_probe_at: float | None = None
    cycle: int = 0


@dataclass(frozen=True)
class Transformation:
    """An endpoint's JavaScript ``handler(webhook)`` (see ``chalicelib.transform``); off unless enabled."""

    code: str
    enabled: bool = True


@dataclass(frozen=True)
class Endpoint:
    """A subscriber URL that messages are delivered to, signed, with retries."""

    id: str
    url: str
    created_at: float
    updated_at: float
    secrets: tuple[Secret, ...] = ()
    description: str = ""
    filter_sources: tuple[str, ...] = ()
    filter_event_types: tuple[str, ...] = ()
    filter_payload: dict[str, Any] | None = None  # an EventBridge event pattern (docs/filters.md)
    signing: SigningMode = "standard"  # passthrough: the provider's original headers and bytes
    headers: dict[str, str] = field(default_factory=dict)
    auth: dict[str, str] | None = (
        None  # {"type": "basic", "username", "password"} | {"type": "bearer", "token"}
    )
    timeout: float = 15.0
    retry_schedule: tuple[int, ...] | None = None
    enabled: bool = True
    disabled_reason: str | None = None
    failing_since: float | None = None
    client_certificate: str | None = None  # "secretsmanager:<name>" or "ssm:<name>" (outbound mTLS)
    application_id: str | None = None  # None: the operator's own endpoint
    # "listen": a listen session's endpoint; its deliveries wait in the store for the CLI to pull them
    kind: EndpointKind = "http"
    expires_at: float | None = None  # a listen session's end
    # Flow control (chalicelib.outbound.flow, breaker): attempts per second across every sender (None: no
    # limit), delivery order, the breaker's policy (None: the deployment's) and its circuit's state.
    throttle_rate: int | None = None
    ordering: Ordering = "none"
    circuit_breaker: BreakerPolicy | None = None
    circuit: Circuit = field(default_factory=Circuit)
    transformation: Transformation | None = None

    def session_over(self, now: float) -> bool:
        """Whether this is a listen session that has ended."""
        return self.kind == "listen" and self.expires_at is not None and now >= self.expires_at

    def with_changes(self, **changes: Any) -> Endpoint:
        """A copy with the given fields replaced."""
        return replace(self, **changes)

    def live_secrets(self, now: float) -> list[str]:
        """The secrets that sign now (during a rotation, the new one and the old one)."""
        return [s.value for s in self.secrets if s.live(now)]

    @cached_property
    def payload_pattern(self) -> Pattern | None:
        """The payload filter compiled, once per loaded endpoint (the router's caches hold them)."""
        if self.filter_payload is None:
            return None
        from chalicelib.filters.pattern import compiled_or_never

        return compiled_or_never(self.filter_payload)


@dataclass(frozen=True)
class Pulled:
    """A delivery waiting for a listen session's CLI to pull it: which attempt, under which claim.

    The request itself is signed when it is pulled (so its ``webhook-timestamp`` is fresh however long
    it waited), from the stored message, exactly as the sender would sign a POST.
    """

    endpoint_id: str
    seq: str  # sorts by the time it was queued: the pull cursor
    message_id: str
    number: int
    generation: str
    claim_id: str
    queued_at: float
    expires_at: float  # the session's end


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt of a message to an endpoint (also the claim that it is in flight)."""

    message_id: str
    endpoint_id: str
    number: int
    claim_id: str
    started_at: float
    status: AttemptStatus
    delivery_status: DeliveryStatus  # what the delivery is after this attempt
    lease_until: float = 0.0
    duration_ms: int | None = None
    response_status: int | None = None
    error_class: str | None = None
    error: str | None = None
    response_body: str | None = None
    next_attempt_at: float | None = None
    expires_at: float = 0.0
    generation: str = ""  # which storing of the message this attempt belongs to (see generation_of)
    shards: int = 0  # its message's ``attempt_shards``: which partition the attempt is kept in
    # A resend or recover of a delivery that had ended: the status it had ended in (its task's
    # ``reopens``), taken off its message's delivery counters when this attempt ends it again.
    reopens: str = ""
    # Its ending is recorded but not counted yet (a message with attempt shards): the transaction that
    # counts it removes the mark, so a retried task counts it exactly once (see the sender).
    count_due: bool = False
    # The sender batch whose one result item records this attempt's outcome (``finish_batch``), named on
    # the claim; "" for an attempt whose outcome is written on its own item.
    batch: str = ""


INLINE_ENDPOINTS = 100  # matched endpoint ids kept in the message item itself (the common case: one write)

# A message that fans out in pages spreads its attempts over one partition per fan-out page (at most 500
# endpoints each, so at most ~1,000 first-attempt writes on any one key in all, whatever the senders'
# speed), up to this many: 50,000 endpoints (100 pages) take 100 partitions (docs/data-model.md).
ATTEMPT_SHARDS_MAX = 128


def attempt_shards_for(fanout_pages: int) -> int:
    """The attempt partitions of a message that fans out over ``fanout_pages`` pages (0: none, inline)."""
    return min(max(fanout_pages, 0), ATTEMPT_SHARDS_MAX)


def kept_attempt_shards(stored: Message, message: Message) -> int:
    """The attempt partitions ``message`` takes when it overwrites ``stored``, the same id's item.

    Its page count may differ (the owner's endpoints changed in between), but never where attempts are:
    a redelivery of the same storing (same receipt) keeps the stored count, since its first run's
    attempts are already in those partitions (a new count would claim a delivery again elsewhere); a
    new storing (after the replay window) takes at least the stored count, so the listing of the id,
    which reads ``MSG#{id}`` and each partition below the count, still finds every earlier attempt.
    """
    if stored.receipt_id == message.receipt_id:
        return stored.attempt_shards
    return max(stored.attempt_shards, message.attempt_shards)


def kept_first_claim(stored: Message, message: Message) -> FirstClaim | None:
    """The router's first-attempt claim ``message`` takes when it overwrites ``stored``: a redelivery of
    the same storing keeps the stored one (its router may still be sending under it, or may have sent and
    recorded: the redelivery must not claim and POST again); a new storing has its own."""
    if stored.receipt_id == message.receipt_id:
        claim = stored.first_claim
        if claim is None:
            return None
        # Only for deliveries the message still has (its endpoints may have changed in between).
        kept = tuple(e for e in claim.endpoint_ids if e in message.endpoints)
        return replace(claim, endpoint_ids=kept) if kept else None
    return message.first_claim


@dataclass(frozen=True)
class FanoutPage:
    """One page of the endpoints a message matched (at most one subscription page's worth, 500)."""

    message_id: str
    number: int
    generation: str
    endpoint_ids: tuple[str, ...]
    expires_at: float


def generation_of(message: Message) -> str:
    """A short name for one storing of a message.

    A message id is derived from its dedupe key, so once the replay window has passed the same id can be
    stored again (a provider's manual resend, a publish key reused after 24 h). Each storing has its own
    receipt; deliveries and attempts carry its generation, so the new storing gets fresh attempts and the
    retries still queued for the old one stop instead of sending the new body under the old attempts.
    """
    return message.receipt_id.rsplit("_", 1)[-1][:12]


def first_tag(endpoint_id: str) -> str:
    """A short stable tag of an endpoint id, unique among one router claim's endpoints (the claim leaves
    out an endpoint whose tag another of its endpoints has): 8 hex digits of its CRC-32."""
    return f"{zlib.crc32(endpoint_id.encode('utf-8', 'surrogateescape')):08x}"


def first_attempt(message: Message, claim: FirstClaim, endpoint_id: str) -> Attempt:
    """Attempt 1 of one endpoint as the router's claim in its message stands for it: in flight, naming
    the router batch (``claim.batch``) whose ``RES#`` item records its success as a sender batch's does.
    Its claim id is the claim's with the endpoint's tag (``first_tag``): the result item holds one outcome
    per attempt claim id, and one router claim stands for up to ten attempts."""
    return Attempt(
        message_id=message.id,
        endpoint_id=endpoint_id,
        number=1,
        claim_id=f"{claim.claim_id}-{first_tag(endpoint_id)}" if claim.batch else claim.claim_id,
        started_at=claim.started_at,
        status="in_flight",
        delivery_status="pending",
        lease_until=claim.lease_until,
        expires_at=message.expires_at,
        generation=generation_of(message),
        shards=message.attempt_shards,
        batch=claim.batch,
    )


@dataclass(frozen=True)
class Application:
    """A tenant: one of the platform's customers, owning endpoints (and optionally sources)."""

    id: str
    name: str
    created_at: float
    updated_at: float
    uid: str | None = None  # the customer's own id, unique in the deployment, usable wherever the id is
    metadata: dict[str, str] = field(default_factory=dict)
    tokens_valid_after: float = 0.0  # portal tokens issued before this instant are revoked
    branding: Branding = field(default_factory=Branding)  # its portal's own name, logo, accent


@dataclass(frozen=True)
class EventType:
    """An entry of the event-type catalog, optionally with the JSON Schema its payloads must match."""

    name: str
    created_at: float
    updated_at: float
    description: str = ""
    schema: dict[str, Any] | None = None
    deprecated: bool = False


JobKind = Literal["application.delete", "endpoint.recover", "endpoint.replay", "endpoint.release"]
JobState = Literal["queued", "running", "succeeded", "failed"]
JOB_KINDS: tuple[JobKind, ...] = get_args(JobKind)
JOB_STATES: tuple[JobState, ...] = get_args(JobState)


@dataclass(frozen=True)
class JobPlan:
    """A job as a request asks for it: what to run, with what, over whose data."""

    kind: JobKind
    params: dict[str, Any]
    application_id: str | None


@dataclass(frozen=True)
class Job:
    """A bulk operation that runs outside the request, in bounded steps (``chalicelib.jobs``).

    ``step`` is the number of the next step to run and ``sent`` the highest step whose task is known to be
    on the queue; ``rev`` is the item's revision (every write is conditional on the one it read), so a
    step that SQS hands out twice commits once. ``cursor`` is where the next step starts (the step's own,
    opaque); ``application_id`` is whose data it touches (None: the operator's), which decides who sees it.
    """

    id: str
    kind: JobKind
    created_at: float
    updated_at: float
    params: dict[str, Any] = field(default_factory=dict)
    application_id: str | None = None
    state: JobState = "queued"
    done: int = 0
    total: int | None = None
    error: dict[str, str] | None = None
    step: int = 1
    sent: int = 0
    tries: int = 0
    cursor: str | None = None
    rev: int = 0
    expires_at: float = 0.0

    @property
    def ended(self) -> bool:
        """True once it succeeded or failed: no step runs any more."""
        return self.state in ("succeeded", "failed")


def job_kind(value: str) -> JobKind:
    """A stored job kind, checked."""
    if value not in JOB_KINDS:
        raise ValueError(f"not a job kind: {value!r}")
    return value  # type: ignore[return-value]


def job_state(value: str) -> JobState:
    """A stored job state, checked."""
    if value not in JOB_STATES:
        raise ValueError(f"not a job state: {value!r}")
    return value  # type: ignore[return-value]


@dataclass(frozen=True)
class PulledOutcome:
    """What a listen session's local receiver answered (status None: it could not be reached)."""

    status: int | None
    duration_ms: int
    body: bytes = b""
    retry_after: str | None = None
    error_class: str | None = None
    error: str | None = None
