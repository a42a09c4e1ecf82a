"""Applications (tenants), their portal access (tokens) and the branding their portal wears."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.api.jobs import started
from chalicelib.api.resource import Resource, container, json_reply, listing

routes = Resource(__name__)


@routes.operation("/v1/applications", ["POST"], access="operator")
def create_application() -> Response:
    """Create an application (a tenant): ``{"name", "uid"?, "metadata"?}``."""
    return json_reply(container().applications.create(routes.json_body(), routes.scope()).public(), 201)


@routes.operation("/v1/applications", ["GET"], access="operator")
def list_applications() -> Response:
    """List applications, oldest first."""
    return listing(container().applications.list(routes.scope(), routes.page_request()), lambda a: a.public())


@routes.operation("/v1/applications/{application_id}", ["GET"], access="read")
def get_application(application_id: str) -> Response:
    """One application, by id or uid."""
    return json_reply(container().applications.get(application_id, routes.scope()).public())


@routes.operation("/v1/applications/{application_id}", ["PATCH", "PUT"], access="operator")
def update_application(application_id: str) -> Response:
    """Change an application's name, uid or metadata."""
    updated = container().applications.update(application_id, routes.json_body(), routes.scope())
    return json_reply(updated.public())


@routes.operation("/v1/applications/{application_id}", ["DELETE"], access="operator")
def delete_application(application_id: str) -> Response:
    """Delete an application now and its endpoints in a background job: 202 with the job."""
    return started(container().applications.delete(application_id, routes.scope()))


@routes.operation("/v1/applications/{application_id}/portal-access", ["POST"], access="operator")
def create_portal_access(application_id: str) -> Response:
    """A portal token for one application: ``{"expires_in", "read_only"}``."""
    c = container()
    application = c.applications.get(application_id, routes.scope())
    minted = c.tokens.mint(application, routes.json_body(), routes.scope())
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
    return json_reply(container().applications.branding(routes.scope()).public())
