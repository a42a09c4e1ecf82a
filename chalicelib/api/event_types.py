"""The event-type catalog: the operator edits it, every caller reads it."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.api.resource import Resource, container, json_reply, listing, no_content

routes = Resource(__name__)


@routes.operation("/v1/event-types", ["POST"], access="operator")
def create_event_type() -> Response:
    """Add an event type to the catalog: ``{"name", "description", "schema"?, "deprecated"?}``."""
    return json_reply(container().event_types.create(routes.json_body(), routes.scope()).public(), 201)


@routes.operation("/v1/event-types", ["GET"], access="read")
def list_event_types() -> Response:
    """The catalog, by name (readable with a portal token)."""
    page = container().event_types.list(routes.scope(), routes.page_request())
    return listing(page, lambda event_type: event_type.public())


@routes.operation("/v1/event-types/{name}", ["GET"], access="read")
def get_event_type(name: str) -> Response:
    """One event type."""
    return json_reply(container().event_types.get(name, routes.scope()).public())


@routes.operation("/v1/event-types/{name}", ["PATCH", "PUT"], access="operator")
def update_event_type(name: str) -> Response:
    """Change an event type's description, schema or deprecation."""
    return json_reply(container().event_types.update(name, routes.json_body(), routes.scope()).public())


@routes.operation("/v1/event-types/{name}", ["DELETE"], access="operator")
def delete_event_type(name: str) -> Response:
    """Remove an event type from the catalog."""
    container().event_types.delete(name, routes.scope())
    return no_content()
