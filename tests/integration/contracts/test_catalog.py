"""The contract of EventTypeStore: one behavioural suite, run against the in-memory fake and DynamoDB on moto."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from chalicelib.aws.dynamodb.catalog import CatalogTable
from chalicelib.errors import NotFoundError
from chalicelib.models import (
    EventType,
)
from testkit.fakes import FakeClock
from testkit.memory.catalog import MemoryCatalog
from tests.integration.contracts.builders import _pages, contract_store

store = contract_store(MemoryCatalog, CatalogTable)


class TestEventTypes:
    def test_crud(self, store: Any, clock: FakeClock) -> None:
        # GIVEN an event type with a schema and one without
        schema = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
        with_schema = EventType("order.created", clock(), clock(), "An order", schema, False)
        bare = EventType("ping", clock(), clock())
        store.put_event_type(with_schema)
        store.put_event_type(bare)
        # THEN both read back whole
        assert store.get_event_type("order.created") == with_schema
        assert store.get_event_type("ping") == bare
        # WHEN one is replaced
        changed = replace(with_schema, deprecated=True, schema=None, updated_at=clock() + 1)
        store.put_event_type(changed)
        assert store.get_event_type("order.created") == changed
        # WHEN one is deleted, THEN it is gone, and deleting it again is a 404
        store.delete_event_type("ping")
        with pytest.raises(NotFoundError) as err:
            store.get_event_type("ping")
        assert err.value.code == "event_type_not_found"
        with pytest.raises(NotFoundError) as err:
            store.delete_event_type("ping")
        assert err.value.code == "event_type_not_found"

    def test_listed_by_name_page_by_page(self, store: Any, clock: FakeClock) -> None:
        names = ["user.deleted", "order.paid", "a", "order.created", "user.created"]
        for name in names:
            store.put_event_type(EventType(name, clock(), clock()))
        listed, pages = _pages(store, "list_event_types")
        assert [e.name for e in listed] == sorted(names)
        assert pages == 3
