"""The event type catalog (``ET#``): item layout and the DynamoDB adapter of ``EventTypeStore``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib.aws.dynamodb.core import Table
from chalicelib.aws.dynamodb.keys import (
    Item,
    KeyKind,
    n,
    opt_s,
    s,
)
from chalicelib.errors import NotFoundError
from chalicelib.models import (
    EventType,
)
from chalicelib.ports import Page

if TYPE_CHECKING:
    pass


def event_type_key(name: str) -> Item:
    """The primary key of an event type item."""
    return {"pk": s(f"ET#{name}"), "sk": s("META")}


def event_type_to_item(event_type: EventType) -> Item:
    """Encode an event type."""
    item: Item = {
        **event_type_key(event_type.name),
        "gsi1pk": s("EVENT_TYPES"),
        "gsi1sk": s(event_type.name),
        "description": s(event_type.description),
        "deprecated": {"BOOL": event_type.deprecated},
        "created_at": n(event_type.created_at),
        "updated_at": n(event_type.updated_at),
    }
    if event_type.schema is not None:
        item["schema"] = s(json.dumps(event_type.schema))
    return item


def item_to_event_type(item: Item) -> EventType:
    """Decode an event type."""
    schema = opt_s(item, "schema")
    return EventType(
        name=item["pk"]["S"].removeprefix("ET#"),
        created_at=float(item["created_at"]["N"]),
        updated_at=float(item["updated_at"]["N"]),
        description=item["description"]["S"],
        schema=json.loads(schema) if schema is not None else None,
        deprecated=item["deprecated"]["BOOL"],
    )


def _event_type_not_found(name: str) -> NotFoundError:
    return NotFoundError(f"no event type {name!r}", code="event_type_not_found")


KEYS = (KeyKind("event type", "ET#{name}", "META", gsi1="EVENT_TYPES / {name}"),)


class CatalogTable(Table):
    """The catalog of the table (see the module docstring)."""

    def put_event_type(self, event_type: EventType) -> None:
        """Create or replace a catalog entry."""
        self._call("put_item", Item=event_type_to_item(event_type))

    def get_event_type(self, name: str) -> EventType:
        """A catalog entry, or NotFoundError ``event_type_not_found``."""
        item = self._call("get_item", Key=event_type_key(name), ConsistentRead=True).get("Item")
        if not item:
            raise _event_type_not_found(name)
        return item_to_event_type(item)

    def list_event_types(self, *, limit: int, cursor: str | None) -> Page[EventType]:
        """The catalog, by name."""
        return self._query_index("EVENT_TYPES", limit, cursor, item_to_event_type, forward=True)

    def delete_event_type(self, name: str) -> None:
        """Delete a catalog entry, or NotFoundError."""
        try:
            self._call("delete_item", Key=event_type_key(name), ConditionExpression="attribute_exists(pk)")
        except ClientError:
            raise _event_type_not_found(name) from None
