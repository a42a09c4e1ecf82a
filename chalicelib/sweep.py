"""The scheduled sweep (hourly): what must happen even when no traffic arrives to trigger it.

* **Endpoint health.** The sender disables an endpoint when a failure arrives after it has failed for
  ``disable_after`` (5 days) without a success. An endpoint whose retries stopped coming (every delivery
  exhausted, nothing new published) would never see that failure, so the sweep disables it, with the
  same ``endpoint.disabled`` operational event, deduplicated on the endpoint's enabled state.
* **Expired claims.** An attempt stays ``in_flight`` if its holder died and its task never came back (a
  task can only come back for ``5 x visibility``, and the dead-letter handler ends the rest). A claim whose
  lease ended more than ``orphan_after`` ago is ended ``failed`` with ``error_class = "claim_expired"``, so
  the delivery shows up as failed (and ``/recover`` can send it again) instead of pending forever, and
  is counted as failed in the hourly counters.
* **The report.** One log line and metrics (``SweepDisabled``, ``SweepClaimsEnded``) per run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib.models import Endpoint
from chalicelib.ports import EventPublisher, Store
from chalicelib.tally import Tally

log = logging.getLogger("hookway.sweep")

CLAIM_EXPIRED = "claim_expired"


@dataclass
class SweepReport:
    """What one run of the sweep did."""

    endpoints_checked: int = 0
    endpoints_disabled: list[str] = field(default_factory=list)
    claims_ended: int = 0

    def public(self) -> dict[str, Any]:
        """The report as logged."""
        return {
            "endpoints_checked": self.endpoints_checked,
            "endpoints_disabled": self.endpoints_disabled,
            "claims_ended": self.claims_ended,
        }


class Sweep:
    """See the module docstring."""

    def __init__(
        self,
        *,
        store: Store,
        publisher: EventPublisher | None,
        clock: Callable[[], float],
        disable_after: float,
        orphan_after: float = 3600.0,
        lookback: float = 2 * 86400.0,
        count: Callable[..., None] | None = None,
        tally: Tally | None = None,
    ) -> None:
        self._store = store
        self._tally = tally
        self._publisher = publisher
        self._clock = clock
        self._disable_after = disable_after
        self._orphan_after = orphan_after
        self._lookback = lookback  # the sweep runs hourly: two days back covers missed runs
        self._count = count or (lambda *a, **k: None)

    def run(self) -> SweepReport:
        """One sweep over every endpoint."""
        report = SweepReport()
        now = self._clock()
        for endpoint in self._endpoints():
            report.endpoints_checked += 1
            report.claims_ended += self._end_expired_claims(endpoint.id, now)
            if (
                endpoint.enabled
                and endpoint.failing_since is not None
                and now - endpoint.failing_since >= self._disable_after
            ):
                days = self._disable_after / 86400
                reason = f"every attempt failed for {days:g} days (found by the sweep)"
                if self._publisher is not None:
                    self._publisher.operational(
                        "endpoint.disabled",
                        {
                            "endpoint_id": endpoint.id,
                            "application_id": endpoint.application_id,
                            "url": endpoint.url,
                            "reason": reason,
                        },
                        dedupe=f"endpoint.disabled:{endpoint.id}:{endpoint.updated_at!r}",
                        application_id=endpoint.application_id,
                    )
                if self._store.disable_endpoint(endpoint.id, reason, now):
                    report.endpoints_disabled.append(endpoint.id)
                    self._count("SweepDisabled")
        if report.claims_ended:
            self._count("SweepClaimsEnded")
            if self._tally is not None:
                self._tally.add("failed", now, report.claims_ended)  # those deliveries ended failed
                self._tally.flush()
        log.info("sweep", extra=report.public())
        return report

    def _endpoints(self) -> Iterator[Endpoint]:
        """Every endpoint: the operator's own, then each application's."""
        yield from self._store.endpoints_of(None)
        cursor: str | None = None
        while True:
            page = self._store.list_applications(limit=100, cursor=cursor)
            for application in page.items:
                yield from self._store.endpoints_of(application.id)
            cursor = page.cursor
            if cursor is None:
                return

    def _end_expired_claims(self, endpoint_id: str, now: float) -> int:
        ended = 0
        cursor: str | None = None
        while True:
            page = self._store.list_endpoint_attempts(endpoint_id, limit=100, cursor=cursor)
            for attempt in page.items:
                if attempt.started_at < now - self._lookback:
                    return ended
                if attempt.status == "in_flight" and attempt.lease_until < now - self._orphan_after:
                    finished = replace(
                        attempt,
                        status="failed",
                        delivery_status="failed",
                        error_class=CLAIM_EXPIRED,
                        error="the attempt's holder stopped and its task did not come back",
                    )
                    if self._store.finish_attempt(finished):
                        ended += 1
                        log.warning(
                            "claim ended",
                            extra={
                                "message_id": attempt.message_id,
                                "endpoint_id": endpoint_id,
                                "attempt": attempt.number,
                                "reason": CLAIM_EXPIRED,
                            },
                        )
            cursor = page.cursor
            if cursor is None:
                return ended
