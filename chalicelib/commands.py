"""The typed requests the use cases take, parsed from HTTP bodies and queries in ``chalicelib.api``.

A service never sees a JSON document: the resource module of ``chalicelib.api`` checks the request
(answering 400 with a stable code for anything malformed) and hands over one of these. A field a partial
update (PATCH) leaves out is ``UNSET``; ``None`` where a field allows it means "clear it".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Union

if TYPE_CHECKING:
    from chalicelib.branding import Branding
    from chalicelib.models import BreakerPolicy, MtlsRule, Ordering, Transformation


class Unset(Enum):
    """The type of ``UNSET``: a field a partial update leaves as it is."""

    UNSET = "unset"


UNSET: Literal[Unset.UNSET] = Unset.UNSET
T = TypeVar("T")
Maybe = Union[T, Literal[Unset.UNSET]]  # noqa: UP007 - a generic alias mypy reads


# ------------------------------------------------------------------------------------------- event types


@dataclass(frozen=True)
class EventTypeChanges:
    """The editable fields of a catalog entry (``UNSET``: as it is, or the default on create)."""

    description: Maybe[str] = UNSET
    schema: Maybe[dict[str, Any] | None] = UNSET
    deprecated: Maybe[bool] = UNSET


@dataclass(frozen=True)
class CreateEventType:
    """``POST /v1/event-types``."""

    name: str
    changes: EventTypeChanges = EventTypeChanges()


# ------------------------------------------------------------------------------------------ applications


@dataclass(frozen=True)
class CreateApplication:
    """``POST /v1/applications``."""

    name: str
    uid: str | None = None
    metadata: dict[str, str] | None = None
    branding: Branding | None = None


@dataclass(frozen=True)
class UpdateApplication:
    """``PATCH /v1/applications/{id}``: ``branding`` is the whole object (an empty one clears it)."""

    name: Maybe[str] = UNSET
    uid: Maybe[str | None] = UNSET
    metadata: Maybe[dict[str, str]] = UNSET
    branding: Maybe[Branding] = UNSET


@dataclass(frozen=True)
class MintToken:
    """``POST /v1/applications/{id}/portal-access``."""

    expires_in: int = 3600  # chalicelib.tokens.DEFAULT_LIFETIME
    read_only: bool = False


# ----------------------------------------------------------------------------------------------- messages

Json = Any  # any JSON value (a payload is the producer's own)


@dataclass(frozen=True)
class Publish:
    """``POST /v1/messages``: ``application`` is an id or uid; the ``Idempotency-Key`` header as given."""

    event_type: str
    payload: Json
    application: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class SendTest:
    """``POST /v1/endpoints/{id}/test``: None is Hookway's own test type, or its default payload."""

    event_type: str | None = None
    payload: Json = None


@dataclass(frozen=True)
class SearchMessages:
    """``GET /v1/messages``: the checked filters (each optional, combined with AND). ``application`` is an
    id or uid as given (the service resolves it for the caller); times are Unix seconds."""

    application: str | None = None
    source_id: str | None = None
    endpoint_id: str | None = None
    event_type: str | None = None  # exact, or a prefix ending in ".*"
    provider_id: str | None = None
    after: float | None = None
    before: float | None = None
    status: str | None = None


@dataclass(frozen=True)
class Resend:
    """``POST /v1/messages/{id}/resend``: to the named endpoints, or (empty) to all of the message's."""

    endpoint_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recover:
    """``POST /v1/endpoints/{id}/recover``."""

    since: float
    include_unmatched: bool = False


@dataclass(frozen=True)
class Replay:
    """``POST /v1/endpoints/{id}/replay``: the owner's messages received in [since, until)."""

    since: float
    until: float | None = None
    source_id: str | None = None


@dataclass(frozen=True)
class Overview:
    """``GET /v1/stats``: the last ``hours`` hours."""

    hours: int = 24


# ------------------------------------------------------------------------------------------------ listen


@dataclass(frozen=True)
class Pull:
    """``GET /v1/listen-sessions/{id}/deliveries``: after ``cursor``, waiting up to ``wait`` seconds."""

    wait: float = 0.0
    cursor: str | None = None


# --------------------------------------------------------------------------------------------- endpoints


@dataclass(frozen=True)
class EndpointFields:
    """An endpoint's settable fields, each checked for shape. The service then applies the rules that
    need the deployment or the caller: the URL's destination (egress), a token's slowest retry step, the
    schedule against retention, the client certificate's reference (``client_certificate``: ``source:name``)."""

    url: Maybe[str] = UNSET
    description: Maybe[str] = UNSET
    filter_sources: Maybe[tuple[str, ...]] = UNSET
    filter_event_types: Maybe[tuple[str, ...]] = UNSET
    filter_payload: Maybe[dict[str, Any] | None] = UNSET  # checked by chalicelib.filters.pattern
    headers: Maybe[dict[str, str]] = UNSET
    auth: Maybe[dict[str, str] | None] = UNSET
    timeout: Maybe[float] = UNSET
    retry_schedule: Maybe[tuple[int, ...] | None] = UNSET
    client_certificate: Maybe[str | None] = UNSET
    enabled: Maybe[bool] = UNSET
    throttle_rate: Maybe[int | None] = UNSET
    ordering: Maybe[Ordering] = UNSET
    circuit_breaker: Maybe[BreakerPolicy | None] = UNSET
    transformation: Maybe[Transformation | None] = UNSET  # compiled by the service before it is kept


@dataclass(frozen=True)
class CreateEndpoint:
    """``POST /v1/endpoints``: ``application`` (id or uid) for the operator; a token's own otherwise."""

    fields: EndpointFields
    signing: str = "standard"
    secret: str | None = None
    application: str | None = None


@dataclass(frozen=True)
class OpenSession:
    """``POST /v1/listen-sessions``: ``fields`` holds only ``filter`` and ``description``."""

    fields: EndpointFields
    expires_in: int = 3600
    application: str | None = None


@dataclass(frozen=True)
class Simulate:
    """``POST /v1/endpoints/{id}/transformation/simulate``: ``code`` (None: the endpoint's own) run on a
    stored message (``message_id``) or on a payload given here."""

    code: str | None = None
    message_id: str | None = None
    payload: Json = None


@dataclass(frozen=True)
class RotateSecret:
    """``POST /v1/endpoints/{id}/secret/rotate``: the old secrets sign on for ``retire_old_after`` s."""

    retire_old_after: int = 86400
    secret: str | None = None


# ----------------------------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class TestFilter:
    """``POST /v1/filters/test``: an endpoint's filter, checked, against a message document or a stored
    message (exactly one of ``message`` and ``message_id``)."""

    __test__ = False  # not a pytest class

    event_types: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    payload: dict[str, Any] | None = None
    message: dict[str, Any] | None = None
    message_id: str | None = None


# ----------------------------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class VerificationSpec:
    """A source's ``verification``, checked against its scheme's options; ``secrets`` UNSET on an update
    keeps the source's own. The service makes the secrets and dry-runs the scheme with them."""

    scheme: str
    secrets: Maybe[tuple[str, ...]] = UNSET
    tolerance: int | None = None
    options: dict[str, Any] | None = None


@dataclass(frozen=True)
class SourceChanges:
    """``POST /v1/sources`` (``name`` and ``verification`` given) and ``PATCH /v1/sources/{id}``."""

    name: Maybe[str] = UNSET
    verification: Maybe[VerificationSpec] = UNSET
    description: Maybe[str] = UNSET
    ip_allowlist: Maybe[tuple[str, ...]] = UNSET
    basic_auth: Maybe[tuple[str, ...]] = UNSET
    mtls: Maybe[MtlsRule | None] = UNSET
    rejection_status: Maybe[int] = UNSET
    dedupe: Maybe[str | None] = UNSET
    replay_window: Maybe[int] = UNSET
    max_body_bytes: Maybe[int | None] = UNSET
    enabled: Maybe[bool] = UNSET
    application: Maybe[str | None] = UNSET  # id or uid; None: no application


@dataclass(frozen=True)
class AddSourceSecret:
    """``POST /v1/sources/{id}/secrets``: the others end after ``retire_others_after`` seconds if given."""

    secret: str
    retire_others_after: int | None = None
