"""Managing endpoints: validate API input into ``Endpoint`` models, check URLs, keep signing secrets."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from chalicelib.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from chalicelib.ids import new_id
from chalicelib.jobs import StepResult
from chalicelib.models import Attempt, Endpoint, Secret, SigningMode, signing_mode
from chalicelib.outbound import egress
from chalicelib.outbound.client_certs import parse_reference, public_reference
from chalicelib.outbound.retry import validate_schedule
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

MAX_FILTERS = 50  # entries of filter.sources, and patterns of filter.event_types
MAX_PATTERN_CHARS = 200
MAX_PATTERN_STARS = 8  # real patterns use one or two; each one is another segment to scan for
MAX_HEADERS = 20
MAX_LIVE_SECRETS = 5
DEFAULT_MAX_ENDPOINTS = 100  # per application, for portal tokens (HOOKWAY_MAX_ENDPOINTS_PER_APPLICATION)
MIN_TOKEN_RETRY_STEP = 5  # seconds between attempts, at least, in a schedule a portal token sets
MAX_TIMEOUT = 30.0
# Headers Hookway sets itself, or that would let an endpoint forge a signature or break the request.
RESERVED_HEADERS = frozenset(
    {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "svix-id",
        "svix-timestamp",
        "svix-signature",
        "content-type",
        "content-length",
        "host",
        "connection",
        "transfer-encoding",
        "te",
        "upgrade",
        "expect",
        "authorization",
        "proxy-authorization",
        "cookie",
        "user-agent",
        "x-hub-signature",
        "x-hub-signature-256",
        "keep-alive",
        "trailer",
    }
)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")
_PATTERN = re.compile(rf"[A-Za-z0-9_.:*/-]{{1,{MAX_PATTERN_CHARS}}}")


def _strings(
    value: Any, field: str, *, limit: int = MAX_FILTERS, pattern: re.Pattern[str] | None = None
) -> tuple[str, ...]:
    if value is None:
        return ()
    valid = isinstance(value, list) and len(value) <= limit
    if not valid or not all(isinstance(v, str) and 0 < len(v) <= 200 for v in value):
        raise ValidationError(
            f"{field} must be a list of at most {limit} strings of 1 to 200 characters", field=field
        )
    if pattern is not None:
        for v in value:
            if not pattern.fullmatch(v):
                raise ValidationError(f"{field} has an invalid entry {v!r}", field=field)
    return tuple(value)


def _patterns(value: Any) -> tuple[str, ...]:
    """Event-type patterns, bounded so matching one message stays cheap (see ``routing.glob_match``)."""
    patterns = _strings(value, "filter.event_types", pattern=_PATTERN)
    for p in patterns:
        if p.count("*") > MAX_PATTERN_STARS:
            raise ValidationError(
                f"filter.event_types: a pattern holds at most {MAX_PATTERN_STARS} '*' wildcards",
                field="filter.event_types",
                code="pattern_too_complex",
            )
    return patterns


def _headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_HEADERS:
        raise ValidationError(f"headers must be an object of at most {MAX_HEADERS} entries", field="headers")
    out: dict[str, str] = {}
    for name, text in value.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ValidationError(f"header name {name!r} is not a valid HTTP token", field="headers")
        if name.lower() in RESERVED_HEADERS or name.lower().startswith("hookway-"):
            raise ValidationError(f"header {name!r} is reserved", field="headers", code="reserved_header")
        if not isinstance(text, str) or len(text) > 4096 or any(c in text for c in "\r\n\x00"):
            raise ValidationError(f"header {name!r} needs a single-line string value", field="headers")
        out[name] = text
    return out


def _auth(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if isinstance(value, dict) and value.get("type") == "basic":
        user, password = value.get("username"), value.get("password")
        if isinstance(user, str) and isinstance(password, str) and user and ":" not in user:
            return {"type": "basic", "username": user, "password": password}
    if isinstance(value, dict) and value.get("type") == "bearer":
        token = value.get("token")
        if isinstance(token, str) and token and not any(c in token for c in "\r\n "):
            return {"type": "bearer", "token": token}
    raise ValidationError(
        'auth is {"type": "basic", "username", "password"} or {"type": "bearer", "token"}', field="auth"
    )


def _new_signing_secret(signing: str, given: Any, now: float) -> tuple[Secret, str | None]:
    """A secret for the signing mode: (the stored secret, the public key to show for ed25519)."""
    mode = signing_mode_named(signing)
    if mode is None:
        raise ValidationError(f"signing is one of {', '.join(m.name for m in MODES)}", field="signing")
    if given is None:
        value, public = mode.new_key()
        return Secret(new_id("sec"), value, now), public
    if mode.generated_only:
        raise ValidationError(str(mode.key_problem("")), field="secret")
    if not isinstance(given, str):
        raise ValidationError("secret must be a string", field="secret")
    problem = mode.key_problem(given)
    if problem:
        raise ValidationError(problem, field="secret")
    return Secret(new_id("sec"), given, now), None


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


def public_endpoint(endpoint: Endpoint) -> dict[str, Any]:
    """An endpoint as the API shows it: never a secret value, never the receiver's credentials."""
    auth = None
    if endpoint.auth is not None:
        auth = {"type": endpoint.auth["type"]}
        if endpoint.auth["type"] == "basic":
            auth["username"] = endpoint.auth["username"]
    return {
        "id": endpoint.id,
        "application_id": endpoint.application_id,
        "url": endpoint.url,
        "description": endpoint.description,
        "filter": {
            "sources": list(endpoint.filter_sources),
            "event_types": list(endpoint.filter_event_types),
        },
        "signing": endpoint.signing,
        "headers": dict.fromkeys(endpoint.headers, "***"),  # values are often credentials
        "auth": auth,
        "timeout": endpoint.timeout,
        "retry_schedule": list(endpoint.retry_schedule) if endpoint.retry_schedule else None,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": endpoint.failing_since,
        "client_certificate": public_reference(endpoint.client_certificate),
        "secrets": [s.public() | {"hint": "…"} for s in endpoint.secrets],
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
        "kind": endpoint.kind,
        "expires_at": endpoint.expires_at,
    }


DEFAULT_SESSION_SECONDS = 3600
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
    ) -> None:
        self._max_endpoints = max_endpoints_per_application
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

    def _owner(self, ref: Any, scope: Scope) -> str | None:
        """The application an endpoint belongs to: the token's own, or the one the operator names."""
        if ref is not None and not isinstance(ref, str):
            raise ValidationError("application is an application id or uid", field="application")
        named = self._applications.resolve(ref, scope) if ref is not None else None
        if scope.is_operator:
            return named
        if named is not None and named != scope.application_id:
            raise ForbiddenError("a token reaches its own application's endpoints only")
        return scope.application_id

    def check_url(self, url: Any) -> str:
        """Validate a destination URL now (scheme, parser tricks, every resolved address public)."""
        if not isinstance(url, str) or not url:
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

    def _fields(
        self, doc: dict[str, Any], out: dict[str, Any], owner: str | None, scope: Scope
    ) -> dict[str, Any]:
        if "url" in doc:
            out["url"] = self.check_url(doc["url"])
        if "description" in doc:
            description = doc["description"] or ""
            if not isinstance(description, str) or len(description) > 2000:
                raise ValidationError(
                    "description must be a string of at most 2000 characters", field="description"
                )
            out["description"] = description
        if "filter" in doc:
            flt = doc["filter"] or {}
            if not isinstance(flt, dict) or set(flt) - {"sources", "event_types"}:
                raise ValidationError('filter is {"sources": [...], "event_types": [...]}', field="filter")
            out["filter_sources"] = _strings(flt.get("sources"), "filter.sources")
            out["filter_event_types"] = _patterns(flt.get("event_types"))
        if "headers" in doc:
            out["headers"] = _headers(doc["headers"])
        if "auth" in doc:
            out["auth"] = _auth(doc["auth"])
        if "timeout" in doc:
            timeout = doc["timeout"]
            if (
                isinstance(timeout, bool)
                or not isinstance(timeout, int | float)
                or not 1 <= timeout <= MAX_TIMEOUT
            ):
                raise ValidationError(f"timeout must be 1 to {MAX_TIMEOUT:g} seconds", field="timeout")
            out["timeout"] = float(timeout)
        if "retry_schedule" in doc:
            if doc["retry_schedule"] is None:
                out["retry_schedule"] = None
            else:
                try:
                    schedule = validate_schedule(doc["retry_schedule"])
                except ValueError as exc:
                    raise ValidationError(str(exc), field="retry_schedule") from None
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
        if "client_certificate" in doc:
            try:
                out["client_certificate"] = parse_reference(
                    doc["client_certificate"], self._certificate_prefixes, owner
                )
            except ValueError as exc:
                raise ValidationError(str(exc), field="client_certificate") from None
        if "enabled" in doc:
            if not isinstance(doc["enabled"], bool):
                raise ValidationError("enabled must be true or false", field="enabled")
            out["enabled"] = doc["enabled"]
        return out

    def create(self, doc: Any, scope: Scope) -> tuple[Endpoint, str, str | None]:
        """Validate and store a new endpoint; returns it, its secret (shown once here) and any public key."""
        scope.require_write()
        if not isinstance(doc, dict):
            raise ValidationError("the body must be a JSON object")
        owner = self._owner(doc.get("application"), scope)
        if "url" not in doc:
            raise ValidationError("url is required", field="url")
        signing = doc.get("signing", "standard")
        if signing_mode_named(signing) is None:
            raise ValidationError(f"signing is one of {', '.join(m.name for m in MODES)}", field="signing")
        now = self._clock()
        secret, public_key = _new_signing_secret(signing, doc.get("secret"), now)
        fields = self._fields(doc, {}, owner, scope)
        self._check_quota(owner, scope)
        endpoint = Endpoint(
            id=new_id("ep"),
            created_at=now,
            updated_at=now,
            secrets=(secret,),
            signing=_mode(signing),
            application_id=owner,
            **fields,
        )
        self._store.put_endpoint(endpoint)
        self._changes.endpoints_changed()
        return endpoint, secret.value if public_key is None else "", public_key

    def open_session(self, doc: Any, scope: Scope) -> tuple[Endpoint, str]:
        """A listen session: a temporary endpoint of kind ``listen`` whose deliveries wait to be pulled.

        ``{"application"?, "filter"?, "description"?, "expires_in"?}`` (seconds, 60 to 86400, default
        3600); returns the endpoint and its Standard Webhooks secret (for the local receiver to verify).
        """
        scope.require_write()
        if not isinstance(doc, dict):
            raise ValidationError("the body must be a JSON object")
        unknown = sorted(set(doc) - {"application", "filter", "description", "expires_in"})
        if unknown:
            raise ValidationError(f"unknown field {unknown[0]!r}", field=unknown[0])
        expires_in = doc.get("expires_in", DEFAULT_SESSION_SECONDS)
        if isinstance(expires_in, bool) or not isinstance(expires_in, int) or not 60 <= expires_in <= 86400:
            raise ValidationError("expires_in must be 60 to 86400 seconds", field="expires_in")
        owner = self._owner(doc.get("application"), scope)
        now = self._clock()
        secret, _ = _new_signing_secret("standard", None, now)
        fields = self._fields(
            {k: v for k, v in doc.items() if k in ("filter", "description")}, {}, owner, scope
        )
        self._check_quota(owner, scope)
        endpoint_id = new_id("ep")
        endpoint = Endpoint(
            id=endpoint_id,
            url=f"listen:{endpoint_id}",
            created_at=now,
            updated_at=now,
            secrets=(secret,),
            application_id=owner,
            kind="listen",
            expires_at=now + expires_in,
            **fields,
        )
        self._store.put_endpoint(endpoint)
        self._changes.endpoints_changed()
        return endpoint, secret.value

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

    def list(self, params: Mapping[str, str], scope: Scope, page: PageRequest) -> Page[Endpoint]:
        """A page of one owner's endpoints: the token's application, ``?application=``, or the operator's."""
        owner = self._owner(params.get("application"), scope)
        return self._store.list_endpoints(application_id=owner, limit=page.limit, cursor=page.cursor)

    def attempts(self, endpoint_id: str, scope: Scope, page: PageRequest) -> Page[Attempt]:
        """Attempts to an endpoint, newest first."""
        self.get(endpoint_id, scope)
        return self._store.list_endpoint_attempts(endpoint_id, limit=page.limit, cursor=page.cursor)

    def health(self, endpoint_id: str, scope: Scope) -> dict[str, Any]:
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
            last_error = {
                "at": failed.started_at,
                "status_code": failed.response_status,
                "error_class": failed.error_class,
                "error": failed.error
                or failed.error_class
                or (f"HTTP {failed.response_status}" if failed.response_status else None),
                "response_excerpt": (failed.response_body or "")[:RESPONSE_EXCERPT] or None,
            }
        return {
            "endpoint_id": endpoint.id,
            "window": len(recent),
            "attempts": len(ended),
            "succeeded": len(succeeded),
            "success_rate": round(len(succeeded) / len(ended), 4) if ended else None,
            "last_attempt_at": ended[0].started_at if ended else None,
            "last_success_at": succeeded[0].started_at if succeeded else None,
            "last_error": last_error,
            "enabled": endpoint.enabled,
            "disabled_reason": endpoint.disabled_reason,
            "failing_since": endpoint.failing_since,
        }

    def set_enabled(self, endpoint_id: str, enabled: bool, scope: Scope) -> Endpoint:
        """Enable (clearing the failure clock) or disable an endpoint."""
        return self.update(endpoint_id, {"enabled": enabled}, scope)

    def update(self, endpoint_id: str, doc: Any, scope: Scope) -> Endpoint:
        """Change the given fields; enabling clears the disabled reason and the failure clock."""
        scope.require_write()
        if not isinstance(doc, dict):
            raise ValidationError("the body must be a JSON object")
        if "secret" in doc or "signing" in doc:
            raise ValidationError(
                "rotate secrets with POST /v1/endpoints/{id}/secret/rotate; signing is fixed",
                field="secret" if "secret" in doc else "signing",
            )
        if "application" in doc:
            raise ValidationError(
                "an endpoint's application is fixed when it is created", field="application"
            )
        endpoint = self.get(endpoint_id, scope)
        changes = self._fields(doc, {}, endpoint.application_id, scope)
        if changes.get("enabled") is True:
            changes.update(disabled_reason=None, failing_since=None)
        elif changes.get("enabled") is False:
            changes.setdefault("disabled_reason", "disabled by an operator")
        updated = endpoint.with_changes(updated_at=self._clock(), **changes)
        self._store.put_endpoint(updated)
        self._changes.endpoints_changed()
        return updated

    def delete(self, endpoint_id: str, scope: Scope) -> None:
        """Delete an endpoint; deliveries still queued for it end as skipped."""
        scope.require_write()
        self.get(endpoint_id, scope)
        self._store.delete_endpoint(endpoint_id)
        self._changes.endpoints_changed()

    def secret(self, endpoint_id: str, scope: Scope) -> dict[str, Any]:
        """The newest live signing secret (or public key), on an explicit call only."""
        endpoint = self.get(endpoint_id, scope)
        live = [s for s in endpoint.secrets if s.live(self._clock())]
        newest = live[-1]  # secrets are kept in the order they were added
        key = public_key_of(newest.value)
        return {"id": newest.id, "public_key": key} if key else {"id": newest.id, "secret": newest.value}

    def rotate_secret(self, endpoint_id: str, doc: Any, scope: Scope) -> tuple[Endpoint, dict[str, Any]]:
        """Add a new signing secret; the old ones keep signing for ``retire_old_after`` seconds (default 1 day)."""
        scope.require_write()
        if not isinstance(doc, dict):
            raise ValidationError("the body must be a JSON object")
        endpoint = self.get(endpoint_id, scope)
        now = self._clock()
        grace = doc.get("retire_old_after", 86400)
        if isinstance(grace, bool) or not isinstance(grace, int) or not 0 <= grace <= 30 * 86400:
            raise ValidationError(
                "retire_old_after must be 0 to 30 days in seconds", field="retire_old_after"
            )
        ed25519 = any(s.value.startswith("whsk_") for s in endpoint.secrets)
        signing = ED25519.name if ed25519 else endpoint.signing
        secret, public_key = _new_signing_secret(signing, doc.get("secret"), now)
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
            {"id": secret.id, "public_key": public_key}
            if public_key
            else {"id": secret.id, "secret": secret.value}
        )
        return updated, shown


DELETE_PAGE = 100  # endpoints listed per read while deleting an application's


class ApplicationEndpointsDeletion:
    """The step of an ``application.delete`` job: delete at most ``limit`` of the application's endpoints
    from ``cursor`` (the application itself is gone already: nothing new can be added meanwhile).

    Deliveries still queued for them end ``skipped``; an endpoint deleted by an earlier run of the same step
    is simply not there any more, so a step that runs again deletes nothing twice.
    """

    def __init__(self, store: EndpointStore, changes: EndpointChanges | None = None) -> None:
        self._store = store
        self._changes = changes or _NO_CACHES

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
            cursor = page.cursor
            if cursor is None:
                break
        if deleted:
            self._changes.endpoints_changed()
        return StepResult(deleted, cursor)
