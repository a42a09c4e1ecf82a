"""``make dev``'s log: one line a person can follow per webhook received, rejected, stored and delivered.

The services log with ids in ``extra`` (never bodies, headers or secrets); this formatter turns those
records into short lines. Other warnings and errors keep their logger name. The CloudWatch metric lines
appear only with ``--verbose`` (``HOOKWAY_METRICS``).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any


def _get(record: logging.LogRecord, name: str, default: Any = "-") -> Any:
    value = getattr(record, name, None)
    return default if value is None else value


# Ids and reasons a record may carry in ``extra``, shown on any line that has no wording of its own.
_IDS = ("message_id", "source_id", "application_id", "endpoint_id", "attempt", "reason")
# The sender's outcomes, said as a person would.
_OUTCOMES = {"failed, retries exhausted": "failed: that was the last attempt"}


def describe(record: logging.LogRecord) -> str | None:
    """The line for one record; None for a record another line already says (it is not shown)."""
    name, event = record.name, record.getMessage()
    if name == "hookway.delivery" and event == "attempt failed":
        return None  # the "attempt" record of the same attempt says it, with its answer and what follows
    if name == "hookway.ingest" and event == "accepted":
        return f"received   {_get(record, 'message_id')}  from {_get(record, 'source_id')} ({_get(record, 'size')} bytes)"
    if name == "hookway.ingest" and event == "rejected":
        return f"rejected   a webhook to {_get(record, 'source_id')}: {_get(record, 'reason')}"
    if name == "hookway.routing" and event == "stored":
        deliveries = _get(record, "deliveries")
        deliveries = "1 delivery" if deliveries == 1 else f"{deliveries} deliveries"
        return f"stored     {_get(record, 'message_id')}  from {_get(record, 'source_id')}, {deliveries}"
    if name == "hookway.routing" and event == "duplicate":
        return f"duplicate  {_get(record, 'message_id')}  from {_get(record, 'source_id')} (already stored)"
    if name == "hookway.delivery" and event == "attempt":
        answer = _get(record, "response_status", None) or _get(record, "error_class")
        outcome = str(_get(record, "outcome"))
        outcome = _OUTCOMES.get(outcome, outcome)
        word = "delivered " if outcome == "delivered" else "attempt   "
        return (
            f"{word} {_get(record, 'message_id')} -> {_get(record, 'endpoint_id')}  "
            f"#{_get(record, 'attempt')}: {answer} in {_get(record, 'duration_ms')} ms"
            + ("" if outcome == "delivered" else f", {outcome}")
        )
    ids = ", ".join(f"{key} {getattr(record, key)}" for key in _IDS if getattr(record, key, None) is not None)
    return f"{record.levelname.lower():<10} {name}: {event}" + (f" ({ids})" if ids else "")


class DevFormatter(logging.Formatter):
    """``HH:MM:SS line``."""

    def format(self, record: logging.LogRecord) -> str:
        return time.strftime("%H:%M:%S", time.localtime(record.created)) + " " + (describe(record) or "")


def _shown(record: logging.LogRecord) -> bool:
    return describe(record) is not None


def install(*, verbose: bool) -> None:
    """Send Hookway's records through the formatter (debug records too with ``--verbose``)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(DevFormatter())
    handler.addFilter(_shown)
    handler.keep_format = True  # type: ignore[attr-defined]  # the composition root's JSON logs pass it by
    root = logging.getLogger("hookway")
    root.addHandler(handler)
    root.propagate = False
    # The services log each webhook accepted, stored and attempted at debug level (silent in a Lambda at
    # INFO, where a line per webhook is paid for); this log shows them.
    for name in ("hookway.ingest", "hookway.routing", "hookway.delivery"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    if verbose:
        root.setLevel(logging.DEBUG)
