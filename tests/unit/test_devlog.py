"""``make dev``'s log lines and the switch that keeps metric lines out of it."""

from __future__ import annotations

import logging

import pytest

from chalicelib.config import Settings
from chalicelib.wiring import Metrics
from local.devlog import describe


def record(name: str, msg: str, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord(name, level, __file__, 1, msg, None, None)
    rec.__dict__.update(extra)
    return rec


@pytest.mark.parametrize(
    ("rec", "line"),
    [
        (
            record(
                "hookway.ingest", "accepted", logging.DEBUG, source_id="src_1", message_id="msg_1", size=13
            ),
            "received   msg_1  from src_1 (13 bytes)",
        ),
        (
            record(
                "hookway.ingest", "rejected", logging.WARNING, source_id="src_1", reason="signature_mismatch"
            ),
            "rejected   a webhook to src_1: signature_mismatch",
        ),
        (
            record("hookway.routing", "stored", source_id="src_1", message_id="msg_1", deliveries=2),
            "stored     msg_1  from src_1, 2 deliveries",
        ),
        (
            record(
                "hookway.delivery",
                "attempt",
                message_id="msg_1",
                endpoint_id="ep_1",
                attempt=1,
                outcome="delivered",
                response_status=200,
                error_class=None,
                duration_ms=12,
            ),
            "delivered  msg_1 -> ep_1  #1: 200 in 12 ms",
        ),
        (
            record(
                "hookway.delivery",
                "attempt",
                message_id="msg_1",
                endpoint_id="ep_1",
                attempt=2,
                outcome="failed, next attempt in 300 s",
                response_status=None,
                error_class="connect_error",
                duration_ms=3,
            ),
            "attempt    msg_1 -> ep_1  #2: connect_error in 3 ms, failed, next attempt in 300 s",
        ),
        (record("hookway.sqs", "batch failed", logging.WARNING), "warning    hookway.sqs: batch failed"),
    ],
)
def test_each_record_becomes_one_readable_line(rec, line):
    # GIVEN a record a service logs / WHEN described / THEN it reads as one short line with its ids
    assert describe(rec) == line


def test_metric_lines_are_written_only_when_enabled(capsys):
    # GIVEN one counter in an enabled and in a disabled emitter
    on, off = Metrics("Hookway", "local"), Metrics("Hookway", "local", enabled=False)
    on.count("Stored", source="src_1")
    off.count("Stored", source="src_1")
    # WHEN the disabled one flushes, nothing is written; the enabled one writes its EMF line
    off.flush()
    assert capsys.readouterr().out == ""
    on.flush()
    assert '"Stored"' in capsys.readouterr().out


def test_hookway_metrics_is_read_as_a_flag():
    assert Settings.from_env({}).metrics is True
    assert Settings.from_env({"HOOKWAY_METRICS": "false"}).metrics is False
