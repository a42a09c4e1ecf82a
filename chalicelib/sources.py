"""Managing sources: the operations on them, from commands parsed in ``chalicelib.api.sources``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.caches import SourceCache
from chalicelib.commands import UNSET, AddSourceSecret, SourceChanges, VerificationSpec
from chalicelib.errors import ConflictError, NotFoundError, ValidationError
from chalicelib.ids import new_id
from chalicelib.models import Rejection, Secret, Source, Verification
from chalicelib.ports import ApplicationResolver, Page, PageRequest, RejectionSettler, SourceAdminStore
from chalicelib.scope import OPERATOR
from chalicelib.verification import VerificationError, signature_window, verify

MAX_SECRETS = 10
MAX_STRING = 1000
MAX_OPTIONS_BYTES = 8192
MAX_BODY_LIMIT = 10 * 1024 * 1024  # API Gateway's payload limit: no source can accept more
MAX_SECRET_LENGTH = 4096


_CONFIG_REASONS = frozenset({"invalid_options", "invalid_secret", "missing_secret", "unsupported_scheme"})


def _dry_run(scheme: str, secrets: list[str], tolerance: int | None, options: dict[str, Any]) -> None:
    """Run the scheme once on an empty request: it reports an unusable secret or option before it looks
    for headers, so bad configuration is a 400 now rather than a 503 on every webhook later."""
    try:
        verify(
            scheme,
            secrets=secrets,
            method="POST",
            url="https://hookway.invalid/in/dry-run",
            headers={},
            body=b"",
            tolerance=tolerance,
            options=options,
        )
    except VerificationError as exc:
        if exc.reason in _CONFIG_REASONS:
            raise ValidationError(str(exc), field="verification", code=exc.reason) from None


def make_verification(
    spec: VerificationSpec, now: float, existing: Verification | None = None
) -> Verification:
    """A source's verification from a checked spec: new secrets made now (or the existing ones kept),
    then the scheme dry-run with them, so an unusable secret is a 400 now."""
    if spec.secrets is UNSET:
        if existing is None:
            raise ValidationError("verification.secrets is required", field="verification.secrets")
        secrets = existing.secrets
    else:
        secrets = tuple(Secret(id=new_id("sec"), value=value, created_at=now) for value in spec.secrets)
    options = dict(spec.options or {})
    if spec.scheme == "basic" and not all(":" in s.value for s in secrets):
        raise ValidationError('basic secrets are "user:password"', field="verification.secrets")
    _dry_run(spec.scheme, [s.value for s in secrets], spec.tolerance, options)
    return Verification(scheme=spec.scheme, secrets=secrets, tolerance=spec.tolerance, options=options)


_FIELDS = (
    "name",
    "description",
    "ip_allowlist",
    "basic_auth",
    "mtls",
    "rejection_status",
    "dedupe",
    "replay_window",
    "max_body_bytes",
    "enabled",
)


def _given(changes: SourceChanges) -> dict[str, Any]:
    """The plain fields a command sets, as ``Source`` keyword arguments."""
    return {name: getattr(changes, name) for name in _FIELDS if getattr(changes, name) is not UNSET}


def check_replay_window(source: Source) -> None:
    """The replay window must outlast the signature's validity, or a captured request replays after it.

    Deduplication remembers a key for ``replay_window`` seconds; a signed timestamp keeps verifying for
    the scheme's past plus future tolerance. A shorter window lets the same signed request be stored again.
    """
    v = source.verification
    window = signature_window(v.scheme, v.tolerance, v.options)
    if window is not None and source.replay_window < window:
        raise ValidationError(
            f"replay_window ({source.replay_window} s) must be at least the signature's validity "
            f"({int(window)} s: the scheme's tolerance, past plus future); lengthen it or lower the tolerance",
            field="replay_window",
            code="replay_window_too_short",
        )


@dataclass(frozen=True)
class Rejections:
    """A source's recent rejected requests and its rejection counts by reason."""

    recent: list[Rejection]
    counts: dict[str, int]


class SourceService:
    """Create, read, update and delete sources, and rotate their secrets."""

    def __init__(
        self,
        store: SourceAdminStore,
        cache: SourceCache,
        clock: Callable[[], float],
        default_replay_window: int,
        applications: ApplicationResolver | None = None,
        rejections: RejectionSettler | None = None,
    ) -> None:
        self._store = store
        self._rejections = rejections
        self._cache = cache
        self._clock = clock
        self._default_window = default_replay_window
        self._applications = applications

    def _application(self, changes: SourceChanges, out: dict[str, Any]) -> dict[str, Any]:
        """``application`` (id or uid, None for none): inbound webhooks then reach its endpoints only."""
        if changes.application is not UNSET:
            ref = changes.application
            if ref is None:
                out["application_id"] = None
            elif self._applications is None:
                raise ValidationError("application is an application id or uid", field="application")
            else:
                out["application_id"] = self._applications.resolve(ref, OPERATOR)
        return out

    def create(self, changes: SourceChanges) -> Source:
        """Store a new source (``name`` and ``verification`` given: ``chalicelib.api.sources``)."""
        if changes.verification is UNSET:
            raise ValidationError("verification must be an object", field="verification")
        now = self._clock()
        verification = make_verification(changes.verification, now)
        fields = self._application(changes, {"replay_window": self._default_window, **_given(changes)})
        source = Source(id=new_id("src"), verification=verification, created_at=now, updated_at=now, **fields)
        check_replay_window(source)
        self._store.put_source(source)
        return source

    def get(self, source_id: str) -> Source:
        """One source."""
        return self._store.get_source(source_id)

    def list(self, page: PageRequest) -> Page[Source]:
        """A page of sources."""
        return self._store.list_sources(limit=page.limit, cursor=page.cursor)

    def rejections(self, source_id: str) -> Rejections:
        """The source's recent rejected requests (newest first, sampled: about one a second per API
        container) and its rejection counts (every rejection, written in aggregate)."""
        self._store.get_source(source_id)
        if self._rejections is not None:
            self._rejections.settle()  # what this container still holds in memory, written first
        return Rejections(self._store.list_rejections(source_id), self._store.rejection_counts(source_id))

    def update(self, source_id: str, changes: SourceChanges) -> Source:
        """Change the given fields of a source (verification secrets are replaced only if given)."""
        source = self._store.get_source(source_id)
        now = self._clock()
        given = self._application(changes, _given(changes))
        if changes.verification is not UNSET:
            given["verification"] = make_verification(changes.verification, now, existing=source.verification)
        updated = source.with_changes(updated_at=now, **given)
        check_replay_window(updated)
        self._store.put_source(updated)
        self._cache.invalidate(source_id)
        return updated

    def delete(self, source_id: str) -> None:
        """Delete a source; its stored messages stay until their retention ends."""
        self._store.delete_source(source_id)
        self._cache.invalidate(source_id)

    def add_secret(self, source_id: str, command: AddSourceSecret) -> tuple[Source, Secret]:
        """Add a secret; ``retire_others_after`` (seconds) schedules the end of the older ones."""
        source = self._store.get_source(source_id)
        now = self._clock()
        secret = Secret(id=new_id("sec"), value=command.secret, created_at=now)
        if source.verification.scheme == "basic" and ":" not in secret.value:
            raise ValidationError('basic secrets are "user:password"', field="secret")
        retire_after = command.retire_others_after
        old = source.verification.secrets
        if retire_after is not None:
            until = now + retire_after
            old = tuple(
                s
                if s.expires_at is not None and s.expires_at <= until
                else Secret(s.id, s.value, s.created_at, until)
                for s in old
            )
        live_old = tuple(s for s in old if s.live(now))
        if len(live_old) + 1 > MAX_SECRETS:
            raise ConflictError(f"a source holds at most {MAX_SECRETS} live secrets", code="too_many_secrets")
        verification = Verification(
            source.verification.scheme,
            (*live_old, secret),
            source.verification.tolerance,
            source.verification.options,
        )
        updated = source.with_changes(verification=verification, updated_at=now)
        self._store.put_source(updated)
        self._cache.invalidate(source_id)
        return updated, secret

    def retire_secret(self, source_id: str, secret_id: str) -> Source:
        """Remove a secret now; the last live secret cannot be removed."""
        source = self._store.get_source(source_id)
        now = self._clock()
        remaining = tuple(s for s in source.verification.secrets if s.id != secret_id)
        if len(remaining) == len(source.verification.secrets):
            raise NotFoundError(f"no secret {secret_id!r} on source {source_id!r}", code="secret_not_found")
        if not any(s.live(now) for s in remaining):
            raise ConflictError(
                "this is the source's last live secret; add another first", code="last_secret"
            )
        verification = Verification(
            source.verification.scheme, remaining, source.verification.tolerance, source.verification.options
        )
        updated = source.with_changes(verification=verification, updated_at=now)
        self._store.put_source(updated)
        self._cache.invalidate(source_id)
        return updated
