"""The in-memory fake of EventTypeStore (see ``testkit.fakes``)."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import NotFoundError
from chalicelib.models import (
    EventType,
)
from chalicelib.ports import Page
from testkit.memory.base import MemoryTable


class MemoryCatalog(MemoryTable):
    """EventTypeStore, in dicts, keyed and paged like the DynamoDB layout."""

    def __init__(self, clock: Any, **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        self.event_types: dict[str, EventType] = {}

    def put_event_type(self, event_type: EventType) -> None:
        self._maybe_fail()
        self.event_types[event_type.name] = event_type

    def get_event_type(self, name: str) -> EventType:
        self._maybe_fail()
        try:
            return self.event_types[name]
        except KeyError:
            raise NotFoundError(f"no event type {name!r}", code="event_type_not_found") from None

    def list_event_types(self, *, limit: int, cursor: str | None) -> Page[EventType]:
        self._maybe_fail()
        entries = [(e.name, f"ET#{e.name}", "META", e) for e in self.event_types.values()]
        return self._page(entries, limit, cursor, forward=True)

    def delete_event_type(self, name: str) -> None:
        self._maybe_fail()
        if self.event_types.pop(name, None) is None:
            raise NotFoundError(f"no event type {name!r}", code="event_type_not_found")
