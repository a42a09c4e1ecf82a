"""The console's overview (``GET /v1/stats``): what went through per hour, and what needs attention.

Hours are read from the hourly counters the pipeline keeps (``chalicelib.tally``: one small item per
hour, written once per batch), one ``BatchGetItem`` for the window; endpoints that need attention
(failing or disabled, of every owner) from their sparse index entry, never a scan. Operator only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.commands import Overview
from chalicelib.models import Endpoint
from chalicelib.ports import StatsStore
from chalicelib.scope import Scope
from chalicelib.tally import hour_of

COUNTERS = ("received", "delivered", "failed", "rejected")
DEFAULT_HOURS = 24
MAX_HOURS = 168
MAX_ATTENTION = 50


@dataclass(frozen=True)
class HourCounts:
    """What went through in one hour (``start``: the hour's first second)."""

    start: int
    counts: dict[str, int]


@dataclass(frozen=True)
class OverviewResult:
    """The overview: the hours oldest first (the current one last), their totals, and the endpoints that
    need attention (failing or disabled, of every owner)."""

    hours: list[HourCounts]
    totals: dict[str, int]
    attention: list[Endpoint]


class StatsService:
    """The overview: hourly counts and the endpoints that need attention."""

    def __init__(self, store: StatsStore, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock

    def overview(self, query: Overview, scope: Scope) -> OverviewResult:
        """The last ``query.hours`` hours, their totals, and what needs attention."""
        count = query.hours
        now = self._clock()
        current = hour_of(now)
        starts = [current - 3600 * back for back in range(count - 1, -1, -1)]
        stored = self._store.get_counts(starts)
        hours = [
            HourCounts(start, {c: int(stored.get(start, {}).get(c, 0)) for c in COUNTERS}) for start in starts
        ]
        totals = {c: sum(hour.counts[c] for hour in hours) for c in COUNTERS}
        attention = [
            e
            for e in self._store.attention_endpoints(limit=MAX_ATTENTION)
            if not e.session_over(now)  # a listen session that has ended needs nobody's attention
        ]
        return OverviewResult(hours, totals, attention)
