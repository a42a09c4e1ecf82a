"""Managing endpoints: validate API input into ``Endpoint`` models, check URLs, keep signing secrets."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.commands import UNSET, CreateEndpoint, EndpointFields, RotateSecret
from chalicelib.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from chalicelib.ids import new_id
from chalicelib.jobs import StepResult
from chalicelib.models import Attempt, Circuit, Endpoint, Secret, SigningMode, Transformation, signing_mode
from chalicelib.outbound import egress
from chalicelib.outbound.client_certs import check_reference
from chalicelib.outbound.signing import ED25519, MODES, signing_mode_named
from chalicelib.ports import (
    ApplicationResolver,
    EndpointAdminStore,
    EndpointChanges,
    EndpointStore,
    Page,
    PageRequest,
)
from chalicelib.scope import Scope
from chalicelib.transform.convention import RESERVED_HEADERS as TRANSFORM_RESERVED_HEADERS
from chalicelib.transform.engine import Engine

MAX_FILTERS = 50  # entries of filter.sources, and patterns of filter.event_types
MAX_PATTERN_CHARS = 200
MAX_PATTERN_STARS = 8  # real patterns use one or two; each one is another segment to scan for
MAX_HEADERS = 20
MAX_LIVE_SECRETS = 5
DEFAULT_MAX_ENDPOINTS = 100  # per application, for portal tokens (HOOKWAY_MAX_ENDPOINTS_PER_APPLICATION)
MIN_TOKEN_RETRY_STEP = 5  # seconds between attempts, at least, in a schedule a portal token sets
MAX_TIMEOUT = 30.0
# Headers Hookway sets itself, or that would let an endpoint forge a signature or break the request.
RESERVED_HEADERS = TRANSFORM_RESERVED_HEADERS | {"content-type"}  # a transformation may set its body's type
# A header name, and an event-type pattern (checked in chalicelib.api.endpoints).
HEADER_NAME = r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}"
EVENT_TYPE_PATTERN = rf"[A-Za-z0-9_.:*/-]{{1,{MAX_PATTERN_CHARS}}}"


def _new_signing_secret(signing: str, given: str | None, now: float) -> tuple[Secret, str | None]:
    """A secret for the signing mode: (the stored secret, the public key to show for ed25519)."""
    mode = signing_mode_named(signing)
    if mode is None:
        raise ValidationError(f"signing is one of {', '.join(m.name for m in MODES)}", field="signing")
    if given is None:
        value, public = mode.new_key()
        return Secret(new_id("sec"), value, now), public
    if mode.generated_only:
        raise ValidationError(str(mode.key_problem("")), field="secret")
    problem = mode.key_problem(given)
    if problem:
        raise ValidationError(problem, field="secret")
    return Secret(new_id("sec"), given, now), None


def _check_signing(endpoint: Endpoint) -> None:
    """A mode that forwards the provider's own signature (passthrough) cannot carry a transformation."""
    if endpoint.transformation is None:
        return
    if any(m.keeps_provider_signature for m in MODES if m.stored == endpoint.signing):
        raise ValidationError(
            f"an endpoint with signing {endpoint.signing} cannot have a transformation (the provider's "
            "signature would no longer match the body)",
            field="transformation",
            code="transformation_with_passthrough",
        )


class _NoApplications:
    """A deployment without applications: every reference is unknown."""

    def resolve(self, ref: str, scope: Scope) -> str:
        raise NotFoundError(f"no application {ref!r}", code="application_not_found")


class _NoCaches:
    """Nothing cached to forget."""

    def endpoints_changed(self) -> None:
        return None


_NO_APPLICATIONS = _NoApplications()
_NO_CACHES = _NoCaches()


def _mode(signing: str) -> SigningMode:
    """The stored signing mode of a create request's ``signing`` (ed25519 is standard with a whsk_ key)."""
    mode = signing_mode_named(signing)
    return signing_mode(mode.stored if mode else "standard")


def public_key_of(secret: str) -> str | None:
    """The whpk_ public key of a whsk_ signing key (what an ed25519 endpoint's receiver verifies with)."""
    if not secret.startswith("whsk_"):
        return None
    import base64

    return "whpk_" + base64.b64encode(base64.b64decode(secret.removeprefix("whsk_"))[32:]).decode()


@dataclass(frozen=True)
class SecretShown:
    """A signing secret as shown on an explicit call: its value, or an ed25519 endpoint's public key."""

    id: str
    secret: str | None = None
    public_key: str | None = None


@dataclass(frozen=True)
class FailedAttempt:
    """The most recent failed attempt, as an endpoint's health shows it."""

    at: float
    status_code: int | None
    error_class: str | None
    error: str | None
    response_excerpt: str | None


@dataclass(frozen=True)
class EndpointHealth:
    """How an endpoint is doing, from its most recent attempts (``window`` of them examined)."""

    endpoint: Endpoint
    window: int
    attempts: int
    succeeded: int
    success_rate: float | None
    last_attempt_at: float | None
    last_success_at: float | None
    last_error: FailedAttempt | None


HEALTH_WINDOW = 50  # the most recent attempts an endpoint's health is judged on
RESPONSE_EXCERPT = 200


class EndpointService:
    """Create, read, update, delete, enable and disable endpoints; rotate their signing secrets."""

    def __init__(
        self,
        store: EndpointAdminStore,
        clock: Callable[[], float],
        *,
        allow_private: bool,
        https_only: bool,
        resolver: egress.Resolver | None = None,
        changes: EndpointChanges | None = None,
        retention_seconds: int = 30 * 86400,
        certificate_prefixes: Mapping[str, str] | None = None,
        applications: ApplicationResolver | None = None,
        refused: Sequence[tuple[str, int]] = (),
        max_endpoints_per_application: int = DEFAULT_MAX_ENDPOINTS,
        release: Callable[[Endpoint], None] | None = None,
        transformer: Engine | None = None,
    ) -> None:
        self._transformer = transformer or Engine()
        self._max_endpoints = max_endpoints_per_application
        # Starts the release of the tasks an open circuit held (parking on), when an operator's change
        # ends the circuit without a probe: disabled or deleted.
        self._release = release
        self._store = store
        self._clock = clock
        self._allow_private = allow_private
        self._https_only = https_only
        self._resolver = resolver
        self._changes = changes or _NO_CACHES
        self._retention = retention_seconds
        self._certificate_prefixes = certificate_prefixes
        self._applications = applications or _NO_APPLICATIONS
        self._refused = tuple(refused)  # never a destination (the local stack's AWS emulator)

    def _owner(self, ref: str | None, scope: Scope) -> str | None:
        """The application an endpoint belongs to: the token's own, or the one the operator names."""
        named = self._applications.resolve(ref, scope) if ref is not None else None
        if scope.is_operator:
            return named
        if named is not None and named != scope.application_id:
            raise ForbiddenError("a token reaches its own application's endpoints only")
        return scope.application_id

    def check_url(self, url: str) -> str:
        """Validate a destination URL now (scheme, parser tricks, every resolved address public)."""
        if not url:
            raise ValidationError("url is required", field="url")
        try:
            return egress.validate_url(
                url,
                allow_private=self._allow_private,
                https_only=self._https_only,
                resolver=self._resolver,
                refused=self._refused,
            ).url
        except egress.BlockedDestinationError as exc:
            raise ValidationError(
                f"destination not allowed: {exc}", field="url", code="destination_not_allowed"
            ) from None
        except egress.DNSError:
            raise ValidationError("the URL's host does not resolve", field="url", code="dns_error") from None
        except egress.EgressError as exc:
            raise ValidationError(f"invalid URL: {exc}", field="url", code="invalid_url") from None

    def _apply(self, fields: EndpointFields, owner: str | None, scope: Scope) -> dict[str, Any]:
        """The fields given, as ``Endpoint`` keyword arguments, after the rules of the deployment and the
        caller: the URL's destination, a token's fastest retry, the schedule against retention, the
        client certificate's reference."""
        out: dict[str, Any] = {}
        if fields.url is not UNSET:
            out["url"] = self.check_url(fields.url)
        for name in (
            "description",
            "filter_sources",
            "filter_event_types",
            "headers",
            "auth",
            "timeout",
            "throttle_rate",
            "ordering",
            "circuit_breaker",
        ):
            value = getattr(fields, name)
            if value is not UNSET:
                out[name] = value
        if fields.filter_payload is not UNSET:
            out["filter_payload"] = fields.filter_payload
        schedule = fields.retry_schedule
        if schedule is None:
            out["retry_schedule"] = None
        elif schedule is not UNSET:
            # A tenant may not make Hookway hammer a URL: no retry sooner than the default's shortest.
            if not scope.is_operator and any(step < MIN_TOKEN_RETRY_STEP for step in schedule[1:]):
                raise ValidationError(
                    f"retry_schedule: each retry waits at least {MIN_TOKEN_RETRY_STEP} s "
                    "(every step after the first)",
                    field="retry_schedule",
                    code="retry_schedule_too_fast",
                )
            # Every attempt must happen while the message is still kept (jitter adds up to 20 %).
            if sum(schedule) * 1.2 > self._retention - 86400:
                raise ValidationError(
                    "the retry schedule must end well within the message retention "
                    f"({self._retention // 86400} days)",
                    field="retry_schedule",
                )
            out["retry_schedule"] = schedule
        if fields.client_certificate is not UNSET:
            try:
                reference = fields.client_certificate
                out["client_certificate"] = (
                    None
                    if reference is None
                    else check_reference(reference, self._certificate_prefixes, owner)
                )
            except ValueError as exc:
                raise ValidationError(str(exc), field="client_certificate") from None
        if fields.enabled is not UNSET:
            out["enabled"] = fields.enabled
        if fields.transformation is not UNSET:
            out["transformation"] = self._checked(fields.transformation)
        return out

    def _checked(self, transformation: Transformation | None) -> Transformation | None:
        """The transformation if its code compiles (the engine loads here, on a save that has one)."""
        if transformation is None:
            return None
        from chalicelib.transform.engine import CompileError

        try:
            self._transformer.check(transformation.code)
        except CompileError as exc:
            raise ValidationError(
                f"the transformation's code is refused: {exc}",
                field="transformation.code",
                code="invalid_transformation",
            ) from None
        return transformation

    def create(self, command: CreateEndpoint, scope: Scope) -> tuple[Endpoint, str, str | None]:
        """Store a new endpoint; returns it, its secret (shown once here) and any public key."""
        owner = self._owner(command.application, scope)
        signing = command.signing
        now = self._clock()
        secret, public_key = _new_signing_secret(signing, command.secret, now)
        endpoint = Endpoint(
            id=new_id("ep"),
            url="",
            created_at=now,
            updated_at=now,
            secrets=(secret,),
            signing=_mode(signing),
            application_id=owner,
        )
        endpoint = self._admit(endpoint, command.fields, scope)
        return endpoint, secret.value if public_key is None else "", public_key

    def add(
        self, endpoint: Endpoint, application: str | None, fields: EndpointFields, scope: Scope
    ) -> Endpoint:
        """Store a new endpoint made elsewhere (a listen session's), with the fields given, under the same
        rules as ``create``: the caller's application (or the one the operator names), the fields'
        checks, a portal token's quota."""
        owner = self._owner(application, scope)
        return self._admit(endpoint.with_changes(application_id=owner), fields, scope)

    def _admit(self, endpoint: Endpoint, fields: EndpointFields, scope: Scope) -> Endpoint:
        """The new endpoint with ``fields`` applied for its owner, stored if within the quota."""
        changes = self._apply(fields, endpoint.application_id, scope)
        self._check_quota(endpoint.application_id, scope)
        endpoint = endpoint.with_changes(**changes)
        _check_signing(endpoint)
        self._store.put_endpoint(endpoint)
        self._changes.endpoints_changed()
        return endpoint

    def _check_quota(self, owner: str | None, scope: Scope) -> None:
        """Refuse (409) a portal token's new endpoint once its application holds the maximum.

        One page of at most ``max + 1`` items is read, whatever the application holds (the operator may
        give one application 50,000 endpoints: its own calls are not capped). Listen sessions count while
        they exist. Two creations at the same instant may both pass the check: the cap is a quota, not
        an invariant.
        """
        if scope.is_operator or owner is None:
            return
        held = self._store.list_endpoints(application_id=owner, limit=self._max_endpoints + 1, cursor=None)
        if len(held.items) >= self._max_endpoints:
            raise ConflictError(
                f"this application holds {self._max_endpoints} endpoints, the most a portal token may "
                "create; delete one, or ask the operator",
                code="endpoint_quota_exceeded",
            )

    def get(self, endpoint_id: str, scope: Scope) -> Endpoint:
        """One endpoint the caller may see; another application's answers as if it did not exist."""
        endpoint = self._store.get_endpoint(endpoint_id)
        if not scope.sees(endpoint.application_id):
            raise NotFoundError(f"no endpoint {endpoint_id!r}", code="endpoint_not_found")
        return endpoint

    def list(self, application: str | None, scope: Scope, page: PageRequest) -> Page[Endpoint]:
        """A page of one owner's endpoints: the token's application, the one named, or the operator's."""
        owner = self._owner(application, scope)
        return self._store.list_endpoints(application_id=owner, limit=page.limit, cursor=page.cursor)

    def attempts(self, endpoint_id: str, scope: Scope, page: PageRequest) -> Page[Attempt]:
        """Attempts to an endpoint, newest first."""
        self.get(endpoint_id, scope)
        return self._store.list_endpoint_attempts(endpoint_id, limit=page.limit, cursor=page.cursor)

    def health(self, endpoint_id: str, scope: Scope) -> EndpointHealth:
        """How an endpoint is doing, from its most recent attempts (one page of its attempts index).

        ``attempts`` counts those that ended (``succeeded`` or ``failed``); in-flight and ``skipped`` ones
        are in the ``window`` examined but not in the rate.
        """
        endpoint = self.get(endpoint_id, scope)
        recent = self._store.list_endpoint_attempts(endpoint_id, limit=HEALTH_WINDOW, cursor=None).items
        ended = [a for a in recent if a.status in ("succeeded", "failed")]
        succeeded = [a for a in ended if a.status == "succeeded"]
        failed = next((a for a in ended if a.status == "failed"), None)
        last_error = None
        if failed is not None:
            last_error = FailedAttempt(
                at=failed.started_at,
                status_code=failed.response_status,
                error_class=failed.error_class,
                error=failed.error
                or failed.error_class
                or (f"HTTP {failed.response_status}" if failed.response_status else None),
                response_excerpt=(failed.response_body or "")[:RESPONSE_EXCERPT] or None,
            )
        return EndpointHealth(
            endpoint=endpoint,
            window=len(recent),
            attempts=len(ended),
            succeeded=len(succeeded),
            success_rate=round(len(succeeded) / len(ended), 4) if ended else None,
            last_attempt_at=ended[0].started_at if ended else None,
            last_success_at=succeeded[0].started_at if succeeded else None,
            last_error=last_error,
        )

    def set_enabled(self, endpoint_id: str, enabled: bool, scope: Scope) -> Endpoint:
        """Enable (clearing the failure clock) or disable an endpoint."""
        return self.update(endpoint_id, EndpointFields(enabled=enabled), scope)

    def update(self, endpoint_id: str, fields: EndpointFields, scope: Scope) -> Endpoint:
        """Change the given fields; enabling clears the disabled reason and the failure clock."""
        endpoint = self.get(endpoint_id, scope)
        changes = self._apply(fields, endpoint.application_id, scope)
        if changes.get("enabled") is True:
            changes.update(disabled_reason=None, failing_since=None)
            if not endpoint.enabled:  # a fresh start: the circuit closes too (its cycle goes on)
                changes.update(circuit=Circuit(cycle=endpoint.circuit.cycle))
        elif changes.get("enabled") is False:
            changes.setdefault("disabled_reason", "disabled by an operator")
        updated = endpoint.with_changes(updated_at=self._clock(), **changes)
        _check_signing(updated)
        self._store.put_endpoint(updated)
        self._changes.endpoints_changed()
        if endpoint.enabled and not updated.enabled:
            # (enabling again resets the circuit, but what it held went back when it was disabled)
            self._release_held(endpoint)
        return updated

    def delete(self, endpoint_id: str, scope: Scope) -> None:
        """Delete an endpoint; deliveries still queued for it end as skipped."""
        endpoint = self.get(endpoint_id, scope)
        self._store.delete_endpoint(endpoint_id)
        self._changes.endpoints_changed()
        self._release_held(endpoint)

    def _release_held(self, endpoint: Endpoint) -> None:
        """Release what the endpoint's circuit held, as it stood before the change (``may_hold``)."""
        from chalicelib.outbound.parking import may_hold

        if self._release is not None and may_hold(endpoint):
            self._release(endpoint)

    def secret(self, endpoint_id: str, scope: Scope) -> SecretShown:
        """The newest live signing secret (or public key), on an explicit call only."""
        endpoint = self.get(endpoint_id, scope)
        live = [s for s in endpoint.secrets if s.live(self._clock())]
        newest = live[-1]  # secrets are kept in the order they were added
        key = public_key_of(newest.value)
        return SecretShown(newest.id, public_key=key) if key else SecretShown(newest.id, secret=newest.value)

    def rotate_secret(
        self, endpoint_id: str, command: RotateSecret, scope: Scope
    ) -> tuple[Endpoint, SecretShown]:
        """Add a new signing secret; the old ones keep signing for ``retire_old_after`` seconds."""
        endpoint = self.get(endpoint_id, scope)
        now = self._clock()
        grace = command.retire_old_after
        ed25519 = any(s.value.startswith("whsk_") for s in endpoint.secrets)
        signing = ED25519.name if ed25519 else endpoint.signing
        secret, public_key = _new_signing_secret(signing, command.secret, now)
        until = now + grace
        old = tuple(
            s
            if s.expires_at is not None and s.expires_at <= until
            else Secret(s.id, s.value, s.created_at, until)
            for s in endpoint.secrets
            if s.live(now)
        )
        if len(old) + 1 > MAX_LIVE_SECRETS:
            raise ConflictError(
                f"an endpoint holds at most {MAX_LIVE_SECRETS} live secrets", code="too_many_secrets"
            )
        updated = endpoint.with_changes(secrets=(*old, secret), updated_at=now)
        self._store.put_endpoint(updated)
        self._changes.endpoints_changed()
        shown = (
            SecretShown(secret.id, public_key=public_key)
            if public_key
            else SecretShown(secret.id, secret=secret.value)
        )
        return updated, shown


DELETE_PAGE = 100  # endpoints listed per read while deleting an application's


class ApplicationEndpointsDeletion:
    """The step of an ``application.delete`` job: delete at most ``limit`` of the application's endpoints
    from ``cursor`` (the application itself is gone already: nothing new can be added meanwhile).

    Deliveries still queued for them end ``skipped``; an endpoint deleted by an earlier run of the same step
    is simply not there any more, so a step that runs again deletes nothing twice.
    """

    def __init__(
        self,
        store: EndpointStore,
        changes: EndpointChanges | None = None,
        release: Callable[[Endpoint], None] | None = None,
    ) -> None:
        self._store = store
        self._changes = changes or _NO_CACHES
        self._release = release  # what a deleted endpoint's open circuit held goes back and ends skipped

    def __call__(self, params: Mapping[str, Any], cursor: str | None, limit: int) -> StepResult:
        """Delete the next endpoints; the count and the cursor after them (None: none left)."""
        application_id = str(params["application_id"])
        deleted = seen = 0
        while seen < limit:
            page = self._store.list_endpoints(
                application_id=application_id, limit=min(DELETE_PAGE, limit - seen), cursor=cursor
            )
            seen += len(page.items)
            for endpoint in page.items:
                with contextlib.suppress(NotFoundError):  # deleted meanwhile
                    self._store.delete_endpoint(endpoint.id)
                    deleted += 1
                    if self._release is not None and endpoint.circuit.state != "closed":
                        self._release(endpoint)
            cursor = page.cursor
            if cursor is None:
                break
        if deleted:
            self._changes.endpoints_changed()
        return StepResult(deleted, cursor)
