"""Log bytes per delivered webhook at the default level, counted on the local pipeline (issue 16): at most
300 B, with no line per message or per attempt at INFO; Lambda's own START/END/REPORT lines are not
written (every function's system log level is WARN: tests/integration/test_package.py)."""

from __future__ import annotations

import pytest

from bench import cost, delivery_calls

pytestmark = pytest.mark.integration


def test_a_delivered_webhook_logs_at_most_300_bytes_at_the_default_level() -> None:
    # GIVEN the api, the router and the sender on moto at the default level (INFO, .chalice/config.json),
    # real adapters, a loopback receiver, full batches of 10 (after one warm-up webhook)
    counts = delivery_calls.measure_operator(10)
    # WHEN 10 webhooks are received, stored and delivered
    written = {name: stage.stdout_bytes + stage.log_bytes for name, stage in counts.stages.items()}
    # THEN no log line was written for a message or an attempt (only the EMF metric lines, on stdout) ...
    assert {name: stage.log_bytes for name, stage in counts.stages.items()} == {
        "api": 0,
        "router": 0,
        "sender": 0,
    }, written
    # ... and all of it, Lambda's own lines included (none: system level WARN), is at most 300 B a webhook
    per_webhook = cost.model(counts).log_bytes
    assert cost.PLATFORM_LOG_BYTES == 0
    assert per_webhook == sum(written.values()) / counts.n
    assert per_webhook <= 300, written
