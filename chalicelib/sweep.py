"""The scheduled sweep (hourly): disable the endpoints that kept failing after their traffic stopped.

The sender disables an endpoint when a failure arrives after it has failed for ``disable_after`` (5
days) without a success. An endpoint whose retries stopped coming (every delivery exhausted, nothing new
published) would never see that failure, so the sweep disables it, with the same ``endpoint.disabled``
operational event, deduplicated on the endpoint's enabled state.

**It reads only what needs attention, once.** A failing (or disabled) endpoint has an entry in the
"needs attention" index (gsi3) whose sort key is the time of its last change into that state, never
earlier than its ``failing_since``. An entry at time ``t`` can be due only once ``t <= now -
disable_after`` (the *cutoff*), and the cutoff only moves forward, so each run reads the entries that
crossed it since the last run: the range ``(done, cutoff]``, where ``done`` is the cutoff the last
complete run reached. An entry that changes is written again at a later time, so it comes into a later
range; a healthy endpoint has no entry. (This holds because an entry is written at the time it names, a
full ``disable_after`` before it can come due: the sender's ``failing_since`` is the failure's time.)
Nothing else is read: 10^6 endpoints with ten failing cost ten
index entries and ten endpoint reads, not 10^6.

**Bounded work and a continuation.** A run examines at most ``max_items`` endpoints and stops after
``max_seconds`` (well inside the function's 300 s timeout); where it stopped (the range and the index
cursor) is saved in a checkpoint item, and the next run carries on from there before it looks at a new
range. A first run (no checkpoint) starts from the oldest entry. Two runs at once (an async retry) do the
same idempotent work: the disable is conditional and the event deduplicated.

**Expired claims are not the sweep's.** It used to page back two days of attempts of every endpoint for
claims whose holder died. Every such claim belongs to a task that either comes back (SQS redelivers it
until ``maxReceiveCount``; a re-check the sender defers is a new copy of it) or reaches the deliveries
DLQ, whose handler (``chalicelib.outbound.dead_letters``) ends the attempt ``failed`` (``dead_lettered``).
What the handler cannot end (it failed on every receive too) is parked, alarmed, and ended by moving it
back to the DLQ once the cause is fixed. So the scan found nothing the pipeline does not already end, at
a cost that grew with every endpoint and attempt; it is gone.

**The report.** One ``sweep`` log line and the ``SweepDisabled`` metric per run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.models import Endpoint
from chalicelib.outbound.disabling import disable, failed_too_long, failing_reason
from chalicelib.ports import EventPublisher, SweepStore

log = logging.getLogger("hookway.sweep")

CHECKPOINT = "sweep"
MAX_ITEMS = 2000  # endpoints one run examines at most
MAX_SECONDS = 240.0  # and the time it may spend (the function's timeout is 300 s)
PAGE = 100


@dataclass
class SweepReport:
    """What one run of the sweep did."""

    endpoints_checked: int = 0
    endpoints_disabled: list[str] = field(default_factory=list)
    caught_up: bool = True  # False: the budget ran out; the next run carries on from the checkpoint

    def public(self) -> dict[str, Any]:
        """The report as logged."""
        return {
            "endpoints_checked": self.endpoints_checked,
            "endpoints_disabled": self.endpoints_disabled,
            "caught_up": self.caught_up,
        }


@dataclass
class _Position:
    """Where the sweep stands: every entry up to ``done`` examined; ``(done, until]`` in progress."""

    done: float | None = None
    until: float | None = None
    cursor: str | None = None

    @classmethod
    def load(cls, text: str | None) -> _Position:
        try:
            doc = json.loads(text) if text else {}
            return cls(doc.get("done"), doc.get("until"), doc.get("cursor"))
        except (ValueError, AttributeError):
            log.warning("sweep checkpoint unreadable: starting over")
            return cls()

    def dump(self) -> str:
        return json.dumps({"done": self.done, "until": self.until, "cursor": self.cursor})


class Sweep:
    """See the module docstring."""

    def __init__(
        self,
        *,
        store: SweepStore,
        publisher: EventPublisher | None,
        clock: Callable[[], float],
        disable_after: float,
        max_items: int = MAX_ITEMS,
        max_seconds: float = MAX_SECONDS,
        count: Callable[..., None] | None = None,
        release: Callable[[Endpoint], None] | None = None,
    ) -> None:
        self._release = release  # starts the release of what an open circuit held (parking on)
        self._store = store
        self._publisher = publisher
        self._clock = clock
        self._disable_after = disable_after
        self._max_items = max_items
        self._max_seconds = max_seconds
        self._count = count or (lambda *a, **k: None)

    def run(self) -> SweepReport:
        """One run: carry on where the last one stopped, within the budget; save where this one stops."""
        report = SweepReport()
        started = now = self._clock()
        saved = self._store.get_checkpoint(CHECKPOINT)
        position = _Position.load(saved)
        if position.cursor is None or position.until is None:
            # A new range: from what is done up to today's cutoff (never backwards, if the period grew).
            cutoff = now - self._disable_after
            position.until = cutoff if position.done is None else max(cutoff, position.done)
            position.cursor = None
        while True:
            budget = self._max_items - report.endpoints_checked
            if budget <= 0 or self._clock() - started >= self._max_seconds:
                report.caught_up = False
                break
            page = self._store.attention_due(
                position.until, after=position.done, limit=min(PAGE, budget), cursor=position.cursor
            )
            for endpoint in page.items:
                report.endpoints_checked += 1
                self._check(endpoint, now, report)
            position.cursor = page.cursor
            if page.cursor is None:
                position.done = position.until  # every entry up to the cutoff examined
                break
        if position.dump() != saved:
            self._store.put_checkpoint(CHECKPOINT, position.dump())
        log.info("sweep", extra=report.public())
        return report

    def _check(self, endpoint: Endpoint, now: float, report: SweepReport) -> None:
        """Disable an enabled endpoint that has failed for ``disable_after`` (a disabled one is skipped)."""
        if not (endpoint.enabled and failed_too_long(endpoint, now, self._disable_after)):
            return
        reason = f"{failing_reason(self._disable_after)} (found by the sweep)"
        if disable(self._store, self._publisher, endpoint, reason, now, release=self._release):
            report.endpoints_disabled.append(endpoint.id)
            self._count("SweepDisabled")
