"""The event-type catalog: the operator edits it, every caller reads it."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from chalice.app import Response

from chalicelib.api.resource import Resource, container, json_reply, listing, no_content

if TYPE_CHECKING:
    from chalicelib.commands import CreateEventType, EventTypeChanges
    from chalicelib.models import EventType

routes = Resource(__name__)

# Like a published event type, less "/": a catalog name is one segment of /v1/event-types/{name}.
NAME = r"[A-Za-z0-9_.:-]{1,200}"  # compiled on first use (re's cache), not on cold start


@routes.operation("/v1/event-types", ["POST"], access="operator")
def create_event_type() -> Response:
    """Add an event type to the catalog: ``{"name", "description", "schema"?, "deprecated"?}``."""
    event_type = container().event_types.create(parse_create(routes.json_body()), routes.scope())
    return json_reply(public_event_type(event_type), 201)


@routes.operation("/v1/event-types", ["GET"], access="read")
def list_event_types() -> Response:
    """The catalog, by name (readable with a portal token)."""
    page = container().event_types.list(routes.scope(), routes.page_request())
    return listing(page, public_event_type)


@routes.operation("/v1/event-types/{name}", ["GET"], access="read")
def get_event_type(name: str) -> Response:
    """One event type."""
    return json_reply(public_event_type(container().event_types.get(name, routes.scope())))


@routes.operation("/v1/event-types/{name}", ["PATCH", "PUT"], access="operator")
def update_event_type(name: str) -> Response:
    """Change an event type's description, schema or deprecation."""
    changes = parse_update(name, routes.json_body())
    return json_reply(public_event_type(container().event_types.update(name, changes, routes.scope())))


@routes.operation("/v1/event-types/{name}", ["DELETE"], access="operator")
def delete_event_type(name: str) -> Response:
    """Remove an event type from the catalog."""
    container().event_types.delete(name, routes.scope())
    return no_content()


# ------------------------------------------------------------------------------------------------ shape


def public_event_type(event_type: EventType) -> dict[str, Any]:
    """The event type as the API shows it."""
    return {
        "name": event_type.name,
        "description": event_type.description,
        "schema": event_type.schema,
        "deprecated": event_type.deprecated,
        "created_at": event_type.created_at,
        "updated_at": event_type.updated_at,
    }


# ------------------------------------------------------------------------------------------------ parse


def parse_create(doc: Any) -> CreateEventType:
    """``{"name", "description"?, "schema"?, "deprecated"?}``."""
    from chalicelib.commands import CreateEventType
    from chalicelib.errors import ValidationError

    if not isinstance(doc, dict):
        raise ValidationError("the body must be a JSON object")
    name = doc.get("name")
    if not isinstance(name, str) or not re.fullmatch(NAME, name):
        raise ValidationError("name is 1 to 200 characters of A-Z a-z 0-9 _ . : -", field="name")
    return CreateEventType(name=name, changes=_changes(doc))


def parse_update(name: str, doc: Any) -> EventTypeChanges:
    """``{"description"?, "schema"?, "deprecated"?}`` (``name``, if given, is the entry's own)."""
    from chalicelib.errors import ValidationError

    if not isinstance(doc, dict):
        raise ValidationError("the body must be a JSON object")
    if "name" in doc and doc["name"] != name:
        raise ValidationError("an event type's name is fixed", field="name")
    return _changes(doc)


def _changes(doc: dict[str, Any]) -> EventTypeChanges:
    from chalicelib import json_schema
    from chalicelib.commands import EventTypeChanges
    from chalicelib.errors import ValidationError

    given: dict[str, Any] = {}
    if "description" in doc:
        description = doc["description"] or ""
        if not isinstance(description, str) or len(description) > 2000:
            raise ValidationError("description is at most 2000 characters", field="description")
        given["description"] = description
    if "schema" in doc:
        given["schema"] = json_schema.check_schema(doc["schema"])
    if "deprecated" in doc:
        if not isinstance(doc["deprecated"], bool):
            raise ValidationError("deprecated is true or false", field="deprecated")
        given["deprecated"] = doc["deprecated"]
    return EventTypeChanges(**given)
