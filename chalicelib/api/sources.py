"""Sources: where webhooks are received and how their senders are verified (operator only)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from chalice.app import Response

from chalicelib.api.resource import Resource, container, json_reply, listing, no_content

if TYPE_CHECKING:
    from chalicelib.commands import AddSourceSecret, SourceChanges, Unset, VerificationSpec
    from chalicelib.errors import ValidationError
    from chalicelib.models import Rejection, Secret, Source
    from chalicelib.sources import Rejections

routes = Resource(__name__)


@routes.operation("/v1/sources", ["POST"], access="operator")
def create_source() -> Response:
    """Create a source; answers 201 with its id and ingest URL."""
    source = container().sources.create(parse_create(routes.json_body()))
    return json_reply(public_source(source, routes.base_url()), 201)


@routes.operation("/v1/sources", ["GET"], access="operator")
def list_sources() -> Response:
    """List sources (secret values never included)."""
    base = routes.base_url()
    return listing(container().sources.list(routes.page_request()), lambda s: public_source(s, base))


@routes.operation("/v1/sources/{source_id}", ["GET"], access="operator")
def get_source(source_id: str) -> Response:
    """One source."""
    return json_reply(public_source(container().sources.get(source_id), routes.base_url()))


@routes.operation("/v1/sources/{source_id}", ["PATCH", "PUT"], access="operator")
def update_source(source_id: str) -> Response:
    """Change a source's fields."""
    source = container().sources.update(source_id, parse_update(routes.json_body()))
    return json_reply(public_source(source, routes.base_url()))


@routes.operation("/v1/sources/{source_id}", ["DELETE"], access="operator")
def delete_source(source_id: str) -> Response:
    """Delete a source."""
    container().sources.delete(source_id)
    return no_content()


@routes.operation("/v1/sources/{source_id}/secrets", ["POST"], access="operator")
def add_source_secret(source_id: str) -> Response:
    """Add a verification secret (rotation), optionally retiring the others after a grace period."""
    source, secret = container().sources.add_secret(source_id, parse_add_secret(routes.json_body()))
    return json_reply(
        {
            "source_id": source.id,
            "secret": public_secret(secret),
            "secrets": [public_secret(s) for s in source.verification.secrets],
        },
        201,
    )


@routes.operation("/v1/sources/{source_id}/secrets/{secret_id}", ["DELETE"], access="operator")
def retire_source_secret(source_id: str, secret_id: str) -> Response:
    """Retire a verification secret now."""
    container().sources.retire_secret(source_id, secret_id)
    return no_content()


@routes.operation("/v1/sources/{source_id}/rejections", ["GET"], access="operator")
def list_rejections(source_id: str) -> Response:
    """The source's recent rejected requests and its rejection counts."""
    return json_reply(rejections_of(container().sources.rejections(source_id)))


# ------------------------------------------------------------------------------------------------ shape

REDACTED_OPTION_WORDS = ("token", "secret", "password", "key")


def public_secret(secret: Secret) -> dict[str, Any]:
    """What the API shows of a secret: never its value, only a short hint."""
    return {
        "id": secret.id,
        "created_at": secret.created_at,
        "expires_at": secret.expires_at,
        "hint": ("…" + secret.value[-4:]) if len(secret.value) >= 12 else "…",
    }


def public_rejection(rejection: Rejection) -> dict[str, Any]:
    """The rejection as the API shows it."""
    return {
        "header_names": list(rejection.header_names),
        "at": rejection.at,
        "code": rejection.code,
        "message": rejection.message,
        "source_ip": rejection.source_ip,
        "method": rejection.method,
        "content_type": rejection.content_type,
        "size": rejection.size,
        "user_agent": rejection.user_agent,
    }


def public_source(source: Source, ingest_base: str) -> dict[str, Any]:
    """A source as the API shows it: secret values and secret-like options never appear."""
    v = source.verification
    options = {
        k: ("***" if any(w in k.lower() for w in REDACTED_OPTION_WORDS) and k != "header" else val)
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
            "secrets": [public_secret(s) for s in v.secrets],
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


def rejections_of(found: Rejections) -> dict[str, Any]:
    """``{"data": [recent rejections], "counts": {reason: n}}``."""
    return {"data": [public_rejection(r) for r in found.recent], "counts": found.counts}


# ------------------------------------------------------------------------------------------------ parse


def parse_create(doc: Any) -> SourceChanges:
    """``{"name", "verification", ...}`` (see ``_apply_fields`` and ``parse_verification``)."""
    from chalicelib.commands import SourceChanges

    body = _object(doc)
    _require(body, "name", str)
    verification = parse_verification(body.get("verification"))
    return SourceChanges(verification=verification, **_apply_fields(body), **_application(body))


def parse_update(doc: Any) -> SourceChanges:
    """The fields given (``verification`` without ``secrets`` keeps the source's own)."""
    from chalicelib.commands import SourceChanges

    body = _object(doc)
    given = {**_apply_fields(body), **_application(body)}
    if "verification" in body:
        given["verification"] = parse_verification(body["verification"], update=True)
    return SourceChanges(**given)


def parse_add_secret(doc: Any) -> AddSourceSecret:
    """``{"secret", "retire_others_after"?}`` (seconds, 0 to 30 days)."""
    from chalicelib.commands import AddSourceSecret

    body = _object(doc)
    secret = _secret_value(body.get("secret"), "secret")
    retire_after = _optional(body, "retire_others_after", int, None)
    if retire_after is not None and not 0 <= retire_after <= 30 * 86400:
        raise _error("retire_others_after must be 0 to 30 days", field="retire_others_after")
    return AddSourceSecret(secret, retire_after)


def _object(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise _error("the body must be a JSON object")
    return doc


def _application(doc: dict[str, Any]) -> dict[str, Any]:
    """``application`` (id or uid, null for none), if given."""
    if "application" not in doc:
        return {}
    ref = doc["application"]
    if ref is not None and not isinstance(ref, str):
        raise _error("application is an application id or uid", field="application")
    return {"application": ref}


def _error(message: str, **kwargs: Any) -> ValidationError:
    from chalicelib.errors import ValidationError

    return ValidationError(message, **kwargs)


def _require(
    doc: dict[str, Any], name: str, kind: type | tuple[type, ...], *, field: str | None = None
) -> Any:
    value = doc.get(name)
    if value is None:
        raise _error(f"{field or name} is required", field=field or name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _error(f"{field or name} has the wrong type", field=field or name)
    return value


def _optional(
    doc: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any, *, field: str | None = None
) -> Any:
    if doc.get(name) is None:
        return default
    return _require(doc, name, kind, field=field)


def _str_list(value: Any, field: str, *, limit: int = 100) -> tuple[str, ...]:
    from chalicelib.sources import MAX_STRING

    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _error(f"{field} must be a list of strings", field=field)
    if len(value) > limit:
        raise _error(f"{field} has more than {limit} entries", field=field)
    if any(len(v) > MAX_STRING for v in value):
        raise _error(f"{field} entries are at most {MAX_STRING} characters", field=field)
    return tuple(value)


def _secret_value(value: Any, field: str) -> str:
    from chalicelib.sources import MAX_SECRET_LENGTH

    if not isinstance(value, str) or not value or len(value) > MAX_SECRET_LENGTH or value != value.strip():
        raise _error(f"{field} must be a non-empty string without surrounding spaces", field=field)
    return value


#: An HTTP header name (RFC 9110 token); patterns compile on first use (re's cache), not on cold start.
_HEADER_NAME = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,200}"
#: An RFC 6901 JSON pointer to a member, not the whole document: "/" then tokens, "~" only as ~0 or ~1.
_POINTER = r"(/([^~/]|~[01])+)+"
_VERIFICATION_FIELDS = frozenset({"scheme", "secrets", "tolerance", "options"})
_MTLS_FIELDS = frozenset({"subjects", "issuers"})


def _invalid(field: str, message: str) -> ValidationError:
    return _error(message, field=field, code="invalid_options")


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
                and re.fullmatch(_HEADER_NAME, value.removeprefix("header:")) is not None
            )
            or (value.startswith("json:") and re.fullmatch(_POINTER, value.removeprefix("json:")) is not None)
        )
    )
    if not valid:
        raise _invalid(
            "dedupe",
            'dedupe must be null, "body", "none", "header:NAME" (a header name) or "json:/pointer" '
            "(an RFC 6901 pointer to a member, such as json:/id)",
        )
    return str(value)


def parse_verification(doc: Any, *, update: bool = False) -> VerificationSpec:
    """Check the ``verification`` object of a source (on an update, ``secrets`` may be left out)."""
    from chalicelib.commands import UNSET, VerificationSpec
    from chalicelib.schemes import INGEST_OPTIONS
    from chalicelib.sources import MAX_OPTIONS_BYTES, MAX_SECRETS
    from chalicelib.verification import SCHEMES, OptionError, canonical_scheme, check_options

    if not isinstance(doc, dict):
        raise _error("verification must be an object", field="verification")
    for key in doc:
        if key not in _VERIFICATION_FIELDS:
            raise _invalid(f"verification.{key}", f"verification has no field {key!r}")
    scheme = _require(doc, "scheme", str, field="verification.scheme")
    if scheme not in SCHEMES:
        raise _error(
            f"unknown scheme {scheme!r}; known: {', '.join(sorted(SCHEMES))}",
            field="verification.scheme",
            code="unsupported_scheme",
        )
    secrets: tuple[str, ...] | Unset = UNSET
    if "secrets" in doc or not update:
        raw = _require(doc, "secrets", list, field="verification.secrets")
        if not raw or len(raw) > MAX_SECRETS:
            raise _error(f"give 1 to {MAX_SECRETS} secrets", field="verification.secrets")
        secrets = tuple(_secret_value(v, "verification.secrets") for v in raw)
    tolerance = _optional(doc, "tolerance", int, None, field="verification.tolerance")
    if tolerance is not None and not 0 < tolerance <= 86400:
        raise _error("tolerance must be 1 to 86400 seconds", field="verification.tolerance")
    options = _optional(doc, "options", dict, {}, field="verification.options")
    if len(json.dumps(options)) > MAX_OPTIONS_BYTES:
        raise _error(f"options are at most {MAX_OPTIONS_BYTES} bytes of JSON", field="verification.options")
    canonical = canonical_scheme(scheme)
    try:
        check_options(canonical, options, extra=INGEST_OPTIONS.get(canonical))
    except OptionError as exc:
        raise _invalid(f"verification.options.{exc.option}", str(exc)) from None
    return VerificationSpec(scheme=scheme, secrets=secrets, tolerance=tolerance, options=options)


def _apply_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """Check the optional fields shared by create and update, as ``SourceChanges`` keyword arguments."""
    from chalicelib.addresses import AddressError, parse_networks
    from chalicelib.models import MtlsRule
    from chalicelib.sources import MAX_BODY_LIMIT, MAX_SECRETS

    out: dict[str, Any] = {}
    if "name" in doc:
        name = _require(doc, "name", str)
        if not 0 < len(name) <= 200:
            raise _error("name must be 1 to 200 characters", field="name")
        out["name"] = name
    if "description" in doc:
        description = _optional(doc, "description", str, "")
        if len(description) > 2000:
            raise _error("description must be at most 2000 characters", field="description")
        out["description"] = description
    if "ip_allowlist" in doc:
        cidrs = _str_list(doc["ip_allowlist"] or [], "ip_allowlist")
        try:
            parse_networks(cidrs)
        except AddressError as exc:
            raise _error(str(exc), field="ip_allowlist") from None
        out["ip_allowlist"] = cidrs
    if "basic_auth" in doc:
        creds = _str_list(doc["basic_auth"] or [], "basic_auth", limit=MAX_SECRETS)
        if not all(":" in c for c in creds):
            raise _error('basic_auth entries are "user:password"', field="basic_auth")
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
            raise _error("mtls must be an object with subjects and issuers", field="mtls")
    if "rejection_status" in doc:
        status = _require(doc, "rejection_status", int)
        if not 400 <= status <= 499:
            raise _error("rejection_status must be a 4xx status", field="rejection_status")
        out["rejection_status"] = status
    if "dedupe" in doc:
        out["dedupe"] = parse_dedupe(doc["dedupe"])
    if "replay_window" in doc:
        window = _require(doc, "replay_window", int)
        if not 60 <= window <= 14 * 86400:
            raise _error("replay_window must be 60 s to 14 days", field="replay_window")
        out["replay_window"] = window
    if "max_body_bytes" in doc:
        size = _optional(doc, "max_body_bytes", int, None)
        if size is not None and not 1 <= size <= MAX_BODY_LIMIT:
            raise _error(f"max_body_bytes must be 1 to {MAX_BODY_LIMIT}", field="max_body_bytes")
        out["max_body_bytes"] = size
    if "enabled" in doc:
        out["enabled"] = _require(doc, "enabled", bool)
    return out
