"""Applications (tenants), their portal access (tokens) and the branding their portal wears."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Response

from chalicelib.api.jobs import started
from chalicelib.api.resource import Resource, container, json_reply, listing

if TYPE_CHECKING:
    from chalicelib.branding import Branding
    from chalicelib.commands import CreateApplication, MintToken, UpdateApplication
    from chalicelib.models import Application

routes = Resource(__name__)
MAX_METADATA = 50


@routes.operation("/v1/applications", ["POST"], access="operator")
def create_application() -> Response:
    """Create an application (a tenant): ``{"name", "uid"?, "metadata"?, "branding"?}``."""
    application = container().applications.create(parse_create(routes.json_body()), routes.scope())
    return json_reply(public_application(application), 201)


@routes.operation("/v1/applications", ["GET"], access="operator")
def list_applications() -> Response:
    """List applications, oldest first."""
    page = container().applications.list(routes.scope(), routes.page_request())
    return listing(page, lambda application: public_application(application))


@routes.operation("/v1/applications/{application_id}", ["GET"], access="read")
def get_application(application_id: str) -> Response:
    """One application, by id or uid."""
    return json_reply(public_application(container().applications.get(application_id, routes.scope())))


@routes.operation("/v1/applications/{application_id}", ["PATCH", "PUT"], access="operator")
def update_application(application_id: str) -> Response:
    """Change an application's name, uid, metadata or branding."""
    command = parse_update(routes.json_body())
    return json_reply(
        public_application(container().applications.update(application_id, command, routes.scope()))
    )


@routes.operation("/v1/applications/{application_id}", ["DELETE"], access="operator")
def delete_application(application_id: str) -> Response:
    """Delete an application now and its endpoints in a background job: 202 with the job."""
    return started(container().applications.delete(application_id, routes.scope()))


@routes.operation("/v1/applications/{application_id}/portal-access", ["POST"], access="operator")
def create_portal_access(application_id: str) -> Response:
    """A portal token for one application: ``{"expires_in", "read_only"}``."""
    c = container()
    application = c.applications.get(application_id, routes.scope())
    minted = c.tokens.mint(application, parse_mint(routes.json_body()), routes.scope())
    return json_reply(
        {
            "token": minted.token,
            "url": f"{routes.base_url()}/portal#token={minted.token}",
            "expires_at": minted.expires_at,
        },
        201,
    )


@routes.operation("/v1/applications/{application_id}/portal-access/revoke", ["POST"], access="operator")
def revoke_portal_access(application_id: str) -> Response:
    """Revoke every portal token of an application."""
    c = container()
    application = c.applications.get(application_id, routes.scope())
    revoked_at = c.tokens.revoke(application, routes.scope())
    return json_reply({"application_id": application.id, "revoked_at": revoked_at})


# the portal dresses itself in its application's branding
@routes.operation("/v1/branding", ["GET"], access="read")
def branding() -> Response:
    """The caller's portal branding: its application's own over the deployment's defaults."""
    return json_reply(public_branding(container().applications.branding(routes.scope())))


# ------------------------------------------------------------------------------------------------ shape


def public_application(application: Application) -> dict[str, Any]:
    """The application as the API shows it."""
    return {
        "id": application.id,
        "name": application.name,
        "uid": application.uid,
        "metadata": application.metadata,
        "branding": public_branding(application.branding),
        "created_at": application.created_at,
        "updated_at": application.updated_at,
    }


def public_branding(branding: Branding) -> dict[str, str | None]:
    """A portal's branding as the API shows it (None where not set)."""
    return {"name": branding.name, "logo_url": branding.logo_url, "accent": branding.accent}


# ------------------------------------------------------------------------------------------------ parse


def parse_create(doc: Any) -> CreateApplication:
    """``{"name", "uid"?, "metadata"?, "branding"?}``."""
    from chalicelib.commands import CreateApplication

    body = _object(doc)
    return CreateApplication(
        name=_name(body.get("name")),
        uid=_uid(body.get("uid")),
        metadata=_metadata(body.get("metadata")),
        branding=_branding(body.get("branding")),
    )


def parse_update(doc: Any) -> UpdateApplication:
    """The fields given of ``{"name", "uid", "metadata", "branding"}`` (``branding``: the whole object,
    null clears it)."""
    from chalicelib.commands import UpdateApplication

    body = _object(doc)
    given: dict[str, Any] = {}
    if "name" in body:
        given["name"] = _name(body["name"])
    if "uid" in body:
        given["uid"] = _uid(body["uid"])
    if "metadata" in body:
        given["metadata"] = _metadata(body["metadata"])
    if "branding" in body:
        given["branding"] = _branding(body["branding"])
    return UpdateApplication(**given)


def parse_mint(doc: Any) -> MintToken:
    """``{"expires_in"?: seconds, "read_only"?: bool}`` (an empty body: the defaults)."""
    from chalicelib.commands import MintToken
    from chalicelib.errors import ValidationError
    from chalicelib.tokens import DEFAULT_LIFETIME, MAX_LIFETIME

    body = _object(doc if doc is not None else {})
    lifetime = body.get("expires_in", DEFAULT_LIFETIME)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int) or not 60 <= lifetime <= MAX_LIFETIME:
        raise ValidationError(f"expires_in is 60 to {MAX_LIFETIME} seconds (7 days)", field="expires_in")
    read_only = body.get("read_only", False)
    if not isinstance(read_only, bool):
        raise ValidationError("read_only is true or false", field="read_only")
    return MintToken(expires_in=lifetime, read_only=read_only)


def _object(doc: Any) -> dict[str, Any]:
    from chalicelib.errors import ValidationError

    if not isinstance(doc, dict):
        raise ValidationError("the body must be a JSON object")
    return doc


def _name(value: Any) -> str:
    from chalicelib.errors import ValidationError

    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise ValidationError("name is 1 to 200 characters", field="name")
    return value


def _uid(value: Any) -> str | None:
    from chalicelib.applications import ID, UID
    from chalicelib.errors import ValidationError

    if value is None:
        return None
    if not isinstance(value, str) or not UID.fullmatch(value) or ID.fullmatch(value):
        raise ValidationError(
            "uid is 1 to 200 characters of A-Z a-z 0-9 _ . : @ - and is not an application id", field="uid"
        )
    return value


def _metadata(value: Any) -> dict[str, str]:
    from chalicelib.errors import ValidationError

    if value is None:
        return {}
    valid = isinstance(value, dict) and len(value) <= MAX_METADATA
    if not valid or not all(
        isinstance(k, str) and 0 < len(k) <= 100 and isinstance(v, str) and len(v) <= 1000
        for k, v in value.items()
    ):
        raise ValidationError(
            f"metadata is an object of at most {MAX_METADATA} string values", field="metadata"
        )
    return dict(value)


def _branding(value: Any) -> Branding:
    """``{"name"?, "logo_url"?, "accent"?}``: null (or an empty string) for a field leaves it unset; null
    for the whole object clears it. Each value is checked as the deployment's defaults are."""
    from chalicelib import branding as brand
    from chalicelib.errors import ValidationError

    try:
        if value is None:
            return brand.Branding()
        if not isinstance(value, dict):
            raise brand.BrandingError('branding is {"name"?, "logo_url"?, "accent"?}', "branding")
        unknown = sorted(set(value) - {"name", "logo_url", "accent"})
        if unknown:
            raise brand.BrandingError(f"branding has no field {unknown[0]!r}", unknown[0])
        given = {k: v for k, v in value.items() if v not in (None, "")}
        return brand.Branding(
            name=brand.check_name(given["name"]) if "name" in given else None,
            logo_url=brand.check_logo_url(given["logo_url"]) if "logo_url" in given else None,
            accent=brand.check_accent(given["accent"]) if "accent" in given else None,
        )
    except brand.BrandingError as exc:
        field = "branding" if exc.field == "branding" else f"branding.{exc.field}"
        raise ValidationError(str(exc), field=field, code="invalid_branding") from None
