"""Managing sources: parse and validate API input into ``Source`` models, and the operations on them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from chalicelib.addresses import AddressError, parse_networks
from chalicelib.caches import SourceCache
from chalicelib.errors import ConflictError, NotFoundError, ValidationError
from chalicelib.ids import new_id
from chalicelib.models import MtlsRule, Secret, Source, Verification
from chalicelib.ports import ApplicationResolver, Page, PageRequest, RejectionSettler, SourceAdminStore
from chalicelib.schemes import INGEST_OPTIONS
from chalicelib.scope import OPERATOR
from chalicelib.verification import (
    SCHEMES,
    OptionError,
    VerificationError,
    canonical_scheme,
    check_options,
    signature_window,
    verify,
)

MAX_SECRETS = 10
MAX_STRING = 1000
MAX_OPTIONS_BYTES = 8192
MAX_BODY_LIMIT = 10 * 1024 * 1024  # API Gateway's payload limit: no source can accept more
MAX_SECRET_LENGTH = 4096
_REDACTED_OPTION_WORDS = ("token", "secret", "password", "key")


def _require(
    doc: dict[str, Any], name: str, kind: type | tuple[type, ...], *, field: str | None = None
) -> Any:
    value = doc.get(name)
    if value is None:
        raise ValidationError(f"{field or name} is required", field=field or name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValidationError(f"{field or name} has the wrong type", field=field or name)
    return value


def _optional(
    doc: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any, *, field: str | None = None
) -> Any:
    if doc.get(name) is None:
        return default
    return _require(doc, name, kind, field=field)


def _str_list(value: Any, field: str, *, limit: int = 100) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(f"{field} must be a list of strings", field=field)
    if len(value) > limit:
        raise ValidationError(f"{field} has more than {limit} entries", field=field)
    if any(len(v) > MAX_STRING for v in value):
        raise ValidationError(f"{field} entries are at most {MAX_STRING} characters", field=field)
    return tuple(value)


def _new_secret(value: Any, now: float, field: str) -> Secret:
    if not isinstance(value, str) or not value or len(value) > MAX_SECRET_LENGTH or value != value.strip():
        raise ValidationError(f"{field} must be a non-empty string without surrounding spaces", field=field)
    return Secret(id=new_id("sec"), value=value, created_at=now)


#: An HTTP header name (RFC 9110 token).
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,200}")
#: An RFC 6901 JSON pointer to a member, not the whole document: "/" then tokens, "~" only as ~0 or ~1.
_POINTER = re.compile(r"(/([^~/]|~[01])+)+")
_VERIFICATION_FIELDS = frozenset({"scheme", "secrets", "tolerance", "options"})
_MTLS_FIELDS = frozenset({"subjects", "issuers"})


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError(message, field=field, code="invalid_options")


def parse_dedupe(value: Any) -> str | None:
    """Validate a dedupe rule: null, "body", "none", "header:NAME" or "json:/pointer" (RFC 6901)."""
    if value is None:
        return None
    valid = (
        isinstance(value, str)
        and len(value) <= 500
        and (
            value in ("body", "none")
            or (
                value.startswith("header:")
                and _HEADER_NAME.fullmatch(value.removeprefix("header:")) is not None
            )
            or (value.startswith("json:") and _POINTER.fullmatch(value.removeprefix("json:")) is not None)
        )
    )
    if not valid:
        raise _invalid(
            "dedupe",
            'dedupe must be null, "body", "none", "header:NAME" (a header name) or "json:/pointer" '
            "(an RFC 6901 pointer to a member, such as json:/id)",
        )
    return str(value)


def parse_verification(doc: Any, now: float, *, existing: Verification | None = None) -> Verification:
    """Validate the ``verification`` object of a source."""
    if not isinstance(doc, dict):
        raise ValidationError("verification must be an object", field="verification")
    for key in doc:
        if key not in _VERIFICATION_FIELDS:
            raise _invalid(f"verification.{key}", f"verification has no field {key!r}")
    scheme = _require(doc, "scheme", str, field="verification.scheme")
    if scheme not in SCHEMES:
        raise ValidationError(
            f"unknown scheme {scheme!r}; known: {', '.join(sorted(SCHEMES))}",
            field="verification.scheme",
            code="unsupported_scheme",
        )
    if "secrets" in doc or existing is None:
        raw = _require(doc, "secrets", list, field="verification.secrets")
        if not raw or len(raw) > MAX_SECRETS:
            raise ValidationError(f"give 1 to {MAX_SECRETS} secrets", field="verification.secrets")
        secrets = tuple(_new_secret(v, now, "verification.secrets") for v in raw)
    else:
        secrets = existing.secrets
    tolerance = _optional(doc, "tolerance", int, None, field="verification.tolerance")
    if tolerance is not None and not 0 < tolerance <= 86400:
        raise ValidationError("tolerance must be 1 to 86400 seconds", field="verification.tolerance")
    options = _optional(doc, "options", dict, {}, field="verification.options")
    if len(json.dumps(options)) > MAX_OPTIONS_BYTES:
        raise ValidationError(
            f"options are at most {MAX_OPTIONS_BYTES} bytes of JSON", field="verification.options"
        )
    canonical = canonical_scheme(scheme)
    try:
        check_options(canonical, options, extra=INGEST_OPTIONS.get(canonical))
    except OptionError as exc:
        raise _invalid(f"verification.options.{exc.option}", str(exc)) from None
    if scheme == "basic" and not all(":" in s.value for s in secrets):
        raise ValidationError('basic secrets are "user:password"', field="verification.secrets")
    _dry_run(scheme, [s.value for s in secrets], tolerance, options)
    return Verification(scheme=scheme, secrets=secrets, tolerance=tolerance, options=options)


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


def _apply_fields(doc: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Validate the optional fields shared by create and update into keyword arguments for Source."""
    out = dict(base)
    if "name" in doc:
        name = _require(doc, "name", str)
        if not 0 < len(name) <= 200:
            raise ValidationError("name must be 1 to 200 characters", field="name")
        out["name"] = name
    if "description" in doc:
        description = _optional(doc, "description", str, "")
        if len(description) > 2000:
            raise ValidationError("description must be at most 2000 characters", field="description")
        out["description"] = description
    if "ip_allowlist" in doc:
        cidrs = _str_list(doc["ip_allowlist"] or [], "ip_allowlist")
        try:
            parse_networks(cidrs)
        except AddressError as exc:
            raise ValidationError(str(exc), field="ip_allowlist") from None
        out["ip_allowlist"] = cidrs
    if "basic_auth" in doc:
        creds = _str_list(doc["basic_auth"] or [], "basic_auth", limit=MAX_SECRETS)
        if not all(":" in c for c in creds):
            raise ValidationError('basic_auth entries are "user:password"', field="basic_auth")
        if not all(all(part for part in c.partition(":")[::2]) for c in creds):
            raise _invalid(
                "basic_auth", "basic_auth entries need a user and a password on either side of the colon"
            )
        out["basic_auth"] = creds
    if "mtls" in doc:
        rule = doc["mtls"]
        if rule is None:
            out["mtls"] = None
        elif isinstance(rule, dict):
            for key in rule:
                if key not in _MTLS_FIELDS:
                    # A misspelt "subject" would leave a rule that accepts any client certificate.
                    raise _invalid(
                        f"mtls.{key}", f"mtls has no field {key!r} (it takes subjects and issuers)"
                    )
            for key in _MTLS_FIELDS:
                values = rule.get(key)
                if isinstance(values, list) and any(not isinstance(v, str) or not v.strip() for v in values):
                    raise _invalid(f"mtls.{key}", f"mtls.{key} entries must be non-empty strings")
            mtls = MtlsRule(
                subjects=_str_list(rule.get("subjects") or [], "mtls.subjects"),
                issuers=_str_list(rule.get("issuers") or [], "mtls.issuers"),
            )
            if not mtls.subjects and not mtls.issuers:
                # An empty rule would accept any certificate the domain's truststore accepts.
                raise _invalid(
                    "mtls",
                    "mtls needs subjects, issuers or both (a rule naming neither accepts any certificate)",
                )
            out["mtls"] = mtls
        else:
            raise ValidationError("mtls must be an object with subjects and issuers", field="mtls")
    if "rejection_status" in doc:
        status = _require(doc, "rejection_status", int)
        if not 400 <= status <= 499:
            raise ValidationError("rejection_status must be a 4xx status", field="rejection_status")
        out["rejection_status"] = status
    if "dedupe" in doc:
        out["dedupe"] = parse_dedupe(doc["dedupe"])
    if "replay_window" in doc:
        window = _require(doc, "replay_window", int)
        if not 60 <= window <= 14 * 86400:
            raise ValidationError("replay_window must be 60 s to 14 days", field="replay_window")
        out["replay_window"] = window
    if "max_body_bytes" in doc:
        size = _optional(doc, "max_body_bytes", int, None)
        if size is not None and not 1 <= size <= MAX_BODY_LIMIT:
            raise ValidationError(f"max_body_bytes must be 1 to {MAX_BODY_LIMIT}", field="max_body_bytes")
        out["max_body_bytes"] = size
    if "enabled" in doc:
        out["enabled"] = _require(doc, "enabled", bool)
    return out


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


def public_source(source: Source, ingest_base: str) -> dict[str, Any]:
    """A source as the API shows it: secret values and secret-like options never appear."""
    v = source.verification
    options = {
        k: ("***" if any(w in k.lower() for w in _REDACTED_OPTION_WORDS) and k != "header" else val)
        for k, val in v.options.items()
    }
    return {
        "id": source.id,
        "name": source.name,
        "application_id": source.application_id,
        "description": source.description,
        "ingest_url": f"{ingest_base}/in/{source.id}",
        "verification": {
            "scheme": v.scheme,
            "tolerance": v.tolerance,
            "options": options,
            "secrets": [s.public() for s in v.secrets],
        },
        "ip_allowlist": list(source.ip_allowlist),
        "basic_auth": [c.split(":", 1)[0] + ":***" for c in source.basic_auth],
        "mtls": None
        if source.mtls is None
        else {"subjects": list(source.mtls.subjects), "issuers": list(source.mtls.issuers)},
        "rejection_status": source.rejection_status,
        "dedupe": source.dedupe,
        "replay_window": source.replay_window,
        "max_body_bytes": source.max_body_bytes,
        "enabled": source.enabled,
        "created_at": source.created_at,
        "updated_at": source.updated_at,
    }


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

    def _application(self, doc: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
        """``application`` (id or uid, null for none): inbound webhooks then reach its endpoints only."""
        if "application" in doc:
            ref = doc["application"]
            if ref is None:
                out["application_id"] = None
            elif not isinstance(ref, str) or self._applications is None:
                raise ValidationError("application is an application id or uid", field="application")
            else:
                out["application_id"] = self._applications.resolve(ref, OPERATOR)
        return out

    def create(self, doc: Any) -> Source:
        """Validate and store a new source."""
        if not isinstance(doc, dict):
            raise ValidationError("the body must be a JSON object")
        now = self._clock()
        _require(doc, "name", str)
        verification = parse_verification(doc.get("verification"), now)
        fields = self._application(doc, _apply_fields(doc, {"replay_window": self._default_window}))
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

    def rejections(self, source_id: str) -> dict[str, Any]:
        """The source's recent rejected requests (newest first, sampled: about one a second per API
        container) and its rejection counts (every rejection, written in aggregate)."""
        self._store.get_source(source_id)
        if self._rejections is not None:
            self._rejections.settle()  # what this container still holds in memory, written first
        return {
            "data": [r.public() for r in self._store.list_rejections(source_id)],
            "counts": self._store.rejection_counts(source_id),
        }

    def update(self, source_id: str, doc: Any) -> Source:
        """Change the given fields of a source (verification secrets are replaced only if given)."""
        if not isinstance(doc, dict):
            raise ValidationError("the body must be a JSON object")
        source = self._store.get_source(source_id)
        now = self._clock()
        changes = self._application(doc, _apply_fields(doc, {}))
        if "verification" in doc:
            changes["verification"] = parse_verification(
                doc["verification"], now, existing=source.verification
            )
        updated = source.with_changes(updated_at=now, **changes)
        check_replay_window(updated)
        self._store.put_source(updated)
        self._cache.invalidate(source_id)
        return updated

    def delete(self, source_id: str) -> None:
        """Delete a source; its stored messages stay until their retention ends."""
        self._store.delete_source(source_id)
        self._cache.invalidate(source_id)

    def add_secret(self, source_id: str, doc: Any) -> tuple[Source, Secret]:
        """Add a secret; ``retire_others_after`` (seconds) schedules the end of the older ones."""
        if not isinstance(doc, dict):
            raise ValidationError("the body must be a JSON object")
        source = self._store.get_source(source_id)
        now = self._clock()
        secret = _new_secret(doc.get("secret"), now, "secret")
        if source.verification.scheme == "basic" and ":" not in secret.value:
            raise ValidationError('basic secrets are "user:password"', field="secret")
        retire_after = _optional(doc, "retire_others_after", int, None)
        if retire_after is not None and not 0 <= retire_after <= 30 * 86400:
            raise ValidationError("retire_others_after must be 0 to 30 days", field="retire_others_after")
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
