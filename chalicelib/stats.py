"""The console's overview (``GET /v1/stats``): what went through per hour, and what needs attention.

Hours are read from the hourly counters the pipeline keeps (``chalicelib.tally``: one small item per
hour, written once per batch), one ``BatchGetItem`` for the window; endpoints that need attention
(failing or disabled, of every owner) from their sparse index entry, never a scan. Operator only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.commands import Overview
from chalicelib.models import Endpoint
from chalicelib.ports import Store
from chalicelib.scope import Scope
from chalicelib.tally import hour_of

COUNTERS = ("received", "delivered", "failed", "rejected")
DEFAULT_HOURS = 24
MAX_HOURS = 168
MAX_ATTENTION = 50


def attention_entry(endpoint: Endpoint) -> dict[str, Any]:
    """An endpoint that needs attention, as the overview lists it."""
    return {
        "id": endpoint.id,
        "application_id": endpoint.application_id,
        "url": endpoint.url,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": endpoint.failing_since,
        "updated_at": endpoint.updated_at,
        "kind": endpoint.kind,
    }


class StatsService:
    """The overview: hourly counts and the endpoints that need attention."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock

    def overview(self, query: Overview, scope: Scope) -> dict[str, Any]:
        """``{"hours": [...oldest first, the current hour last], "totals", "attention"}``."""
        count = query.hours
        now = self._clock()
        current = hour_of(now)
        starts = [current - 3600 * back for back in range(count - 1, -1, -1)]
        stored = self._store.get_counts(starts)
        hours = [
            {"start": start, **{c: stored.get(start, {}).get(c, 0) for c in COUNTERS}} for start in starts
        ]
        totals = {c: sum(int(hour[c]) for hour in hours) for c in COUNTERS}
        attention = [
            attention_entry(e)
            for e in self._store.attention_endpoints(limit=MAX_ATTENTION)
            if not e.session_over(now)  # a listen session that has ended needs nobody's attention
        ]
        return {"hours": hours, "totals": totals, "attention": attention}
