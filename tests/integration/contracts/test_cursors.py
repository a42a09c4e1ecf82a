"""Cursors across every listing of the table: a forged one is a 400 (``invalid_cursor``), never a 500. Run
against the whole in-memory fake and the whole DynamoDB adapter on moto (the ``store`` of ``conftest``)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.errors import BadRequestError


class TestCursors:
    @pytest.mark.parametrize("method", ["list_sources", "list_applications", "list_event_types"])
    def test_forged_cursor_is_a_400_in_every_listing(self, store: Any, method: str) -> None:
        with pytest.raises(BadRequestError) as err:
            getattr(store, method)(limit=3, cursor="e30")
        assert err.value.code == "invalid_cursor"
        with pytest.raises(BadRequestError):
            store.list_endpoints(application_id=None, limit=3, cursor="bm90IGpzb24")
