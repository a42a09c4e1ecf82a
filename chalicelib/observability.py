"""Observability: metrics as CloudWatch EMF lines, JSON logs through the Powertools formatter, and tracing.

Nothing here makes an AWS call: metrics are counted in memory and written to stdout once per invocation,
where CloudWatch turns them into metrics; the log formatter and the tracer are imported only when set up.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any


class Metrics:
    """Counters and timings, kept in memory and written once per invocation as CloudWatch EMF lines.

    Counting is a dictionary update (no AWS call, no I/O on the request path); ``flush()`` at the end of an
    invocation writes one embedded-metric-format line for every count without a finer dimension and every
    timing (milliseconds, every value observed), summed per name: one line per invocation, as a rule. A
    count with a reason goes on a line of that reason's, declaring two dimension sets: ``[stage]`` (what
    alarms and the dashboard read) and ``[stage, reason]``, so one line serves both.

    Only ``DIMENSIONS`` (values from a small fixed set) become dimensions: every distinct value is a custom
    metric billed per month, so a tenant id (source, application, endpoint) as a dimension would be a bill
    that grows with tenants (10^5 sources: ~$18k a month). Any other keyword is dropped; ids belong in the
    JSON log lines, where Logs Insights and Contributor Insights find them.
    """

    DIMENSIONS = frozenset({"reason"})

    def __init__(
        self,
        namespace: str,
        stage: str,
        write: Callable[[str], Any] | None = None,
        enabled: bool = True,
        level: str = "INFO",
    ) -> None:
        self._namespace = namespace
        # Lambda's log-level filter reads a line without "level" as INFO: at a stage's WARN it would drop
        # every metric. The lines carry the stage's own level, so the filter always lets them through.
        self._level = LAMBDA_LEVEL_NAMES.get(level.upper(), level.upper())
        self._stage = stage
        self._enabled = enabled
        self._counts: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        self._timings: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self._write = write or _stdout_line

    def count(self, name: str, **dimensions: str) -> None:
        """Add one to ``name`` with the given dimensions (those outside ``DIMENSIONS`` are dropped)."""
        kept = sorted((k, v) for k, v in dimensions.items() if k in self.DIMENSIONS)
        key = (name, tuple(kept))
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1

    def observe(self, name: str, milliseconds: float) -> None:
        """Record one timing of ``name``."""
        with self._lock:
            self._timings.setdefault(name, []).append(round(float(milliseconds), 3))

    def flush(self) -> None:
        """Write what was counted and timed since the last flush."""
        with self._lock:
            counts, self._counts = self._counts, {}
            timings, self._timings = self._timings, {}
        if not self._enabled:
            return  # HOOKWAY_METRICS=false: counted, never written (the local stack's quiet log)
        stamp = int(time.time() * 1000)
        # One document per set of dimension values: every count without a finer dimension and every timing
        # share the first (the usual invocation writes that one line only); each reason its own.
        groups: dict[tuple[tuple[str, str], ...], dict[str, tuple[str, Any]]] = {(): {}}
        for (name, dimensions), value in counts.items():
            groups.setdefault(dimensions, {})[name] = ("Count", value)
        extra: dict[str, tuple[str, Any]] = {}
        for name, values in timings.items():
            (extra if name in groups[()] else groups[()])[name] = ("Milliseconds", values)
        for dimensions, metrics in [*groups.items(), ((), extra)]:
            if not metrics:
                continue
            finer = [k for k, _ in dimensions]
            sets = [["stage"], ["stage", *finer]] if finer else [["stage"]]
            self._write(self._line(stamp, metrics, sets, dict(dimensions)))

    def _line(
        self, stamp: int, metrics: dict[str, tuple[str, Any]], sets: list[list[str]], dims: dict[str, str]
    ) -> str:
        doc = {
            "_aws": {
                "Timestamp": stamp,
                "CloudWatchMetrics": [
                    {
                        "Namespace": self._namespace,
                        "Dimensions": sets,
                        "Metrics": [{"Name": name, "Unit": unit} for name, (unit, _) in metrics.items()],
                    }
                ],
            },
            "level": self._level,
            "stage": self._stage,
            **dims,
            **{name: value for name, (_, value) in metrics.items()},
        }
        return json.dumps(doc, separators=(",", ":"))


def _stdout_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# Python's level names that Lambda's log-level filter spells otherwise: it reads a name it does not know
# as INFO, so a stage filtering at WARN would drop its own warnings.
LAMBDA_LEVEL_NAMES = {"WARNING": "WARN", "CRITICAL": "FATAL"}


def _lambda_level_name(record: logging.LogRecord) -> bool:
    record.levelname = LAMBDA_LEVEL_NAMES.get(record.levelname, record.levelname)
    return True


class LazyJsonFormatter(logging.Formatter):
    """The Powertools JSON formatter, imported and built on the first line actually written.

    At a stage's default level the accept path writes no line, so a cold start never pays for the
    Powertools import (about 15 ms on python3.13) before its first ``202``; the first line that is
    written pays once, in that container.
    """

    def __init__(self) -> None:
        super().__init__()
        self._inner: logging.Formatter | None = None

    def inner(self) -> logging.Formatter:
        """The Powertools formatter (RFC 3339 UTC timestamps: Lambda's JSON log filter reads a line whose
        timestamp it cannot parse as INFO)."""
        if self._inner is None:
            from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

            self._inner = LambdaPowertoolsFormatter(service="hookway", use_rfc3339=True, utc=True)
        return self._inner

    def format(self, record: logging.LogRecord) -> str:
        return self.inner().format(record)


def configure_logging(level: str) -> None:
    """JSON log lines through the Powertools formatter on the ``hookway`` logger, once per process.

    Every module logs to ``logging.getLogger("hookway.<module>")`` with ``extra=`` correlation fields
    (message_id, source_id, application_id, endpoint_id, attempt, reason): the formatter renders them as
    keys of one JSON object per line, which CloudWatch Logs Insights queries directly. Chalice has already
    put a plain stdout handler on this logger (its ``app.log``); that handler gets the formatter too. A
    handler that asks to keep its own format (``keep_format = True``: the local stack's readable log) is
    left as it is. The formatter is built on the first line written (``LazyJsonFormatter``): nothing
    here imports Powertools.
    """
    logger = logging.getLogger("hookway")
    logger.setLevel(level)
    logger.propagate = False
    formatter = LazyJsonFormatter()
    streams = [h for h in logger.handlers if isinstance(h, logging.StreamHandler)]
    if not streams:
        handler = logging.StreamHandler(sys.stdout)
        logger.addHandler(handler)
        streams = [handler]
    for handler in streams:
        if not getattr(handler, "keep_format", False):
            handler.setFormatter(formatter)
            if _lambda_level_name not in handler.filters:
                handler.addFilter(_lambda_level_name)


def start_tracing() -> Any:
    """The Powertools Tracer (X-Ray), made before any client so botocore is patched; only when the stage
    turns tracing on, so it is never imported otherwise."""
    from aws_lambda_powertools import Tracer

    return Tracer(service="hookway")
