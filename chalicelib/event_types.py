"""The event-type catalog: names, descriptions and the JSON Schemas (draft 2020-12) payloads must match.

Publishing an event type that has a schema validates the payload first: the first error answers
``422 schema_mismatch`` with its JSON pointer and reason, and nothing is stored. Types not in the catalog
stay allowed unless the deployment is strict. ``jsonschema`` is imported only when a schema is used, and
the catalog is read through a short-lived cache, so publishing costs no extra AWS call per message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from chalicelib import json_schema
from chalicelib.commands import UNSET, CreateEventType, EventTypeChanges
from chalicelib.errors import HookwayError, NotFoundError, UnprocessableError, ValidationError
from chalicelib.models import EventType
from chalicelib.ports import EventTypeStore, Page, PageRequest
from chalicelib.scope import Scope
from chalicelib.ttlcache import TtlCache

MAX_SCHEMA_BYTES = json_schema.MAX_SCHEMA_BYTES


def schema_errors(
    schema: dict[str, Any], payload: Any, *, budget: float = json_schema.DEFAULT_BUDGET
) -> tuple[str, str] | None:
    """The JSON pointer and reason of the first way ``payload`` breaks ``schema``, or None (bounded:
    see ``chalicelib.json_schema``)."""
    return json_schema.first_error(schema, payload, budget=budget)


def _given(changes: EventTypeChanges) -> dict[str, Any]:
    """The fields a command sets, for ``EventType``'s constructor or ``replace``."""
    fields = {"description": changes.description, "schema": changes.schema, "deprecated": changes.deprecated}
    return {name: value for name, value in fields.items() if value is not UNSET}


class EventTypeService:
    """The catalog: the operator edits it; every caller may read it; publishing checks payloads."""

    def __init__(
        self,
        store: EventTypeStore,
        clock: Callable[[], float],
        *,
        ttl: float = 10.0,
        strict: bool = False,
        budget: float = json_schema.DEFAULT_BUDGET,
    ) -> None:
        self._store = store
        self._budget = budget
        # Schemas saved before the save-time checks existed are checked once before their first use.
        self._vetted: dict[tuple[str, float], HookwayError | None] = {}
        self._clock = clock
        self._strict = strict
        self._cache: TtlCache[str, EventType | None] = TtlCache(clock, ttl)

    def create(self, command: CreateEventType, scope: Scope) -> EventType:
        """Add a catalog entry (the operator's: ``chalicelib.api.event_types``)."""
        name = command.name
        try:
            self._store.get_event_type(name)
        except NotFoundError:
            pass
        else:
            from chalicelib.errors import ConflictError

            raise ConflictError(f"event type {name!r} exists; PATCH it", code="event_type_exists")
        now = self._clock()
        event_type = EventType(name=name, created_at=now, updated_at=now, **_given(command.changes))
        self._store.put_event_type(event_type)
        self._cache.pop(name)
        return event_type

    def get(self, name: str, scope: Scope) -> EventType:
        """One catalog entry (any caller)."""
        return self._store.get_event_type(name)

    def list(self, scope: Scope, page: PageRequest) -> Page[EventType]:
        """The catalog by name (any caller)."""
        return self._store.list_event_types(limit=page.limit, cursor=page.cursor)

    def update(self, name: str, changes: EventTypeChanges, scope: Scope) -> EventType:
        """Change description, schema or deprecation."""
        updated = replace(self._store.get_event_type(name), **_given(changes), updated_at=self._clock())
        self._store.put_event_type(updated)
        self._cache.pop(name)
        return updated

    def delete(self, name: str, scope: Scope) -> None:
        """Remove a catalog entry."""
        self._store.delete_event_type(name)
        self._cache.pop(name)

    def _cached(self, name: str) -> EventType | None:
        return self._cache.get(name, self._load)

    def _load(self, name: str) -> EventType | None:
        try:
            return self._store.get_event_type(name)
        except NotFoundError:
            return None

    def _vet(self, entry: EventType) -> None:
        key = (entry.name, entry.updated_at)
        if key not in self._vetted:
            if len(self._vetted) > 1000:
                self._vetted.clear()
            try:
                json_schema.check_schema(entry.schema)
                self._vetted[key] = None
            except ValidationError as exc:
                self._vetted[key] = UnprocessableError(
                    f"the schema of {entry.name!r} is refused by this version ({exc.message}): save it again",
                    code="schema_refused",
                )
        refused = self._vetted[key]
        if refused is not None:
            raise refused

    def check_payload(self, event_type: str, payload: Any) -> None:
        """Refuse a payload that breaks its type's schema (422 ``schema_mismatch``), or an unknown type
        when the deployment is strict (422 ``unknown_event_type``). Bounded (``chalicelib.json_schema``):
        413 ``schema_payload_too_large``, 422 ``schema_budget_exceeded``, ``schema_unresolvable``, and
        ``schema_refused`` for a schema saved before today's save-time checks that fails them."""
        entry = self._cached(event_type)
        if entry is None:
            if self._strict:
                raise UnprocessableError(
                    f"event type {event_type!r} is not in the catalog", code="unknown_event_type"
                )
            return
        if entry.schema is None:
            return
        self._vet(entry)
        found = schema_errors(entry.schema, payload, budget=self._budget)
        if found is not None:
            pointer, reason = found
            raise UnprocessableError(
                f"the payload does not match the schema of {event_type!r} at {pointer or '(root)'}: {reason}",
                code="schema_mismatch",
                details={"pointer": pointer, "reason": reason},
            )
