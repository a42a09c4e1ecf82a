"""A local stand-in for the deployed schedule (EventBridge's rule on ``app.sweep``).

On AWS the sweep, and with it the release of parked delivery tasks (``chalicelib.outbound.parking``), runs
on the rate ``app.py`` declares (``@app.schedule``). The local stack runs the same handler on the same
rate with a scheduled event shaped as EventBridge sends it, so a parked task is released locally exactly
as it is deployed. ``every`` overrides the rate (the tests' stack runs it every few seconds).

Run it alone (``python -m local schedule``) so a test can start it late or kill it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

log = logging.getLogger("hookway.local.schedule")

UNIT_SECONDS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def scheduled_rules(app: Any) -> list[tuple[str, float]]:
    """Each ``@app.schedule`` handler of the Chalice app and its period in seconds (rates only)."""
    rules: list[tuple[str, float]] = []
    for source in getattr(app, "event_sources", []):
        expression = getattr(source, "schedule_expression", None)
        value, unit = getattr(expression, "value", None), getattr(expression, "unit", None)
        unit = str(unit).lower()
        if value is None or unit not in UNIT_SECONDS:
            continue
        rules.append((str(source.name), float(value) * UNIT_SECONDS[unit]))
    return rules


def scheduled_event(region: str, rule: str) -> dict[str, Any]:
    """The event EventBridge hands a scheduled Lambda."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": region,
        "resources": [f"arn:aws:events:{region}:123456789012:rule/{rule}"],
        "detail": {},
    }


class Scheduler:
    """Invokes one scheduled handler every ``every`` seconds (first run at once), until stopped."""

    def __init__(
        self,
        handler: Callable[[dict[str, Any], Any], Any],
        every: float,
        *,
        rule: str = "sweep",
        region: str = "us-east-1",
        on_run: Callable[[Any], None] | None = None,
    ) -> None:
        self._handler = handler
        self._every = every
        self._rule = rule
        self._region = region
        self._on_run = on_run
        self._stop = threading.Event()

    def stop(self) -> None:
        """Stop after the current run."""
        self._stop.set()

    def run_once(self) -> Any:
        """One invocation, as the deployed rule makes it."""
        from chalice.local import LambdaContext

        return self._handler(
            scheduled_event(self._region, self._rule),
            LambdaContext(self._rule, 512, max_runtime_ms=300_000),
        )

    def run(self) -> None:
        """Run every ``every`` seconds; a failed run (the emulator restarting) is logged and the next goes on."""
        while not self._stop.is_set():
            try:
                result = self.run_once()
                if self._on_run:
                    self._on_run(result)
                log.info("scheduled %s ran: %s", self._rule, result)
            except Exception:
                log.exception("scheduled %s failed", self._rule)
            self._stop.wait(self._every)
