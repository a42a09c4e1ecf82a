"""Logs as JSON lines with correlation fields, metrics as EMF, and the tracer costing nothing when off."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.errors import RejectedError
from chalicelib.observability import Metrics

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, **env: str) -> str:
    """Run code in a fresh interpreter (logging and imports are process-wide); returns its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "HOOKWAY_STAGE": "local", "AWS_DEFAULT_REGION": "us-east-1", **env},
        check=True,
    )
    return result.stdout


def test_log_lines_are_json_with_the_correlation_fields() -> None:
    # GIVEN the app loaded (Chalice puts its own handler on the "hookway" logger) and the logging configured
    out = _run(
        "import logging, app\n"
        "from chalicelib.observability import configure_logging\n"
        "configure_logging('INFO')\n"
        "logging.getLogger('hookway.delivery').warning('delivery dead-lettered', extra={"
        "'message_id': 'msg_1', 'source_id': 'src_1', 'application_id': 'app_1', 'endpoint_id': 'ep_1',"
        " 'attempt': 3, 'reason': 'dead_lettered'})\n"
        "logging.getLogger('hookway.delivery').debug('not shown at INFO')\n"
    )
    # WHEN a module logs with extra= THEN one JSON object per line carries every field
    [line] = out.splitlines()
    doc = json.loads(line)
    # "WARN" as Lambda's log-level filter reads it (a name it does not know counts as INFO, which a stage
    # filtering at WARN would drop): was "WARNING" before the functions' JSON log configuration
    assert doc["message"] == "delivery dead-lettered" and doc["level"] == "WARN"
    # ... and an RFC 3339 timestamp in UTC (Lambda reads a line with a timestamp it cannot parse as INFO)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", doc["timestamp"]), doc["timestamp"]
    assert doc["service"] == "hookway"
    assert {
        k: doc[k] for k in ("message_id", "source_id", "application_id", "endpoint_id", "attempt", "reason")
    } == {
        "message_id": "msg_1",
        "source_id": "src_1",
        "application_id": "app_1",
        "endpoint_id": "ep_1",
        "attempt": 3,
        "reason": "dead_lettered",
    }


def test_metrics_are_emf_lines_with_a_stage_rollup_and_the_finer_dimensions() -> None:
    # GIVEN counts with and without finer dimensions (one of them a tenant id), and timings
    lines: list[str] = []
    metrics = Metrics("Hookway", "prod", write=lines.append)
    metrics.count("Rejected", source="src_1", reason="signature_mismatch")
    metrics.count("Rejected", source="src_2", reason="signature_mismatch")
    metrics.count("Delivered")
    metrics.observe("AttemptLatency", 12.5)
    metrics.observe("AttemptLatency", 40)
    # WHEN flushed
    metrics.flush()
    docs = [json.loads(line) for line in lines]
    # THEN each is one EMF document; dimension sets include [stage] so alarms read one series per stage
    rejected = next(d for d in docs if "Rejected" in d)
    assert (
        rejected["Rejected"] == 2
        and rejected["stage"] == "prod"
        and rejected["reason"] == "signature_mismatch"
    )
    directive = rejected["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Hookway"
    # ... and no tenant id is a dimension (nor a property of the line): one metric per reason, not per source
    assert directive["Dimensions"] == [["stage"], ["stage", "reason"]]
    assert "source" not in rejected
    delivered = next(d for d in docs if "Delivered" in d)
    assert delivered["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["stage"]]
    latency = next(d for d in docs if "AttemptLatency" in d)
    assert latency["AttemptLatency"] == [12.5, 40.0]
    # ... the counts without a finer dimension and the timings share one line (issue 16: one EMF line per
    # invocation, was one per name)
    assert latency is delivered and len(docs) == 2
    assert latency["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "Delivered", "Unit": "Count"},
        {"Name": "AttemptLatency", "Unit": "Milliseconds"},
    ]
    # WHEN flushed again with nothing new THEN nothing is written
    lines.clear()
    metrics.flush()
    assert lines == []


def test_metric_lines_carry_the_stages_level_so_lambdas_filter_keeps_them() -> None:
    # GIVEN a stage at WARNING (Lambda filters its application lines at WARN, and reads a line without a
    # level as INFO)
    lines: list[str] = []
    metrics = Metrics("Hookway", "prod", write=lines.append, level="WARNING")
    metrics.count("Delivered")
    metrics.observe("AttemptLatency", 3)
    # WHEN flushed THEN every EMF line says WARN, so the filter lets it through
    metrics.flush()
    assert [json.loads(line)["level"] for line in lines] == ["WARN"]
    # AND by default (a stage at INFO) they say INFO
    info: list[str] = []
    default = Metrics("Hookway", "dev", write=info.append)
    default.count("Delivered")
    default.flush()
    assert json.loads(info[0])["level"] == "INFO"


def test_the_container_writes_metric_lines_at_the_configured_level() -> None:
    out = _run(
        "from chalicelib.wiring import api_root\n"
        "c = api_root(); c.metrics.count('Delivered'); c.metrics.flush()\n",
        HOOKWAY_LOG_LEVEL="WARNING",
    )
    assert json.loads(out.splitlines()[-1])["level"] == "WARN"


_CONTAINER = (
    "import sys\n"
    "from chalicelib.wiring import api_root\n"
    "c = api_root()\n"
    "print('aws_xray_sdk' in sys.modules, c.shared.tracer is not None)\n"
)


def test_the_tracer_is_not_even_imported_when_tracing_is_off() -> None:
    # GIVEN a stage without tracing WHEN the composition root is built THEN no X-Ray SDK, no Tracer
    assert _run(_CONTAINER).split() == ["False", "False"]


def test_the_tracer_patches_aws_clients_when_tracing_is_on() -> None:
    # GIVEN a stage with tracing on WHEN the composition root is built THEN the Tracer exists first
    out = _run(_CONTAINER, HOOKWAY_TRACING="true", POWERTOOLS_TRACE_DISABLED="true")
    assert out.split() == ["True", "True"]


def test_a_failed_attempt_is_one_log_line_with_its_correlation_fields(services) -> None:  # type: ignore[no-untyped-def]
    import logging

    from tests.unit.test_delivery import Receiver, World, _publish

    # GIVEN a receiver that answers 500, and a handler on the sender's logger
    world = World(services, Receiver([500]))
    endpoint, secret = world.endpoint()
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("hookway.delivery")
    logger.addHandler(handler)
    # Chalice sets its app logger ("hookway") to ERROR when app.py is imported; wiring resets it to the
    # configured level when the container is built. This test builds no container: set the level here.
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        # WHEN a message is published and its first attempt fails, then the retry succeeds
        message_id = _publish(world, payload={"card": "4242 4242 4242 4242"})
        assert world.run() == ["retrying", "succeeded"]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    # THEN exactly one line, for the failure, carries the message, endpoint, attempt and reason
    [record] = [r for r in records if r.getMessage() == "attempt failed"]
    fields = {k: getattr(record, k) for k in ("message_id", "endpoint_id", "attempt", "reason", "outcome")}
    assert fields == {
        "message_id": message_id,
        "endpoint_id": endpoint.id,
        "attempt": 1,
        "reason": "http_500",
        "outcome": "retry",
    }
    assert record.application_id is None and record.source_id == "api"
    text = repr(record.__dict__)
    assert "4242" not in text and secret not in text  # never a body, never a secret


def test_the_pipeline_counts_with_no_tenant_dimension(services) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import github_headers, inbound

    # GIVEN a source that receives a webhook twice (a provider's retry) and one forged request
    sid = services.github_source()
    body = b'{"n": 1}'
    for _ in range(2):
        services.ingest.receive(inbound(sid, body, github_headers(body)))
    services.drain()
    with pytest.raises(RejectedError):
        services.ingest.receive(inbound(sid, body, github_headers(body, secret="wrong")))
    # THEN no metric names the source (nor any other tenant id): one series per stage (and reason)
    assert services.counted == [
        ("Stored", {}),
        ("Duplicate", {}),
        ("Rejected", {"reason": "signature_mismatch"}),
    ]


def test_the_formatter_is_imported_on_the_first_line_only() -> None:
    # GIVEN the app and the logging configured, as the first request's container does (issue 16: the
    # Powertools formatter built at configuration was most of the cold start's gap to its floor)
    code = (
        "import logging, sys, app\n"
        "from chalicelib.observability import configure_logging\n"
        "configure_logging('INFO')\n"
        "logging.getLogger('hookway.x').debug('below the level: no line')\n"
        "assert 'aws_lambda_powertools' not in sys.modules\n"
        "logging.getLogger('hookway.x').info('one')\n"
        "assert 'aws_lambda_powertools' in sys.modules\n"
    )
    # WHEN one line is written THEN it is the formatter's JSON, and only then was Powertools imported
    assert json.loads(_run(code).splitlines()[-1])["message"] == "one"


def test_an_invocation_writes_one_metric_line_whatever_it_counted() -> None:
    # GIVEN a router's batch: several counts and timings, none with a reason
    lines: list[str] = []
    metrics = Metrics("Hookway", "prod", write=lines.append)
    for _ in range(10):
        metrics.count("Stored")
        metrics.count("TasksSent")
        metrics.observe("RouteLatency", 4)
    metrics.count("Deduplicated")
    # WHEN flushed THEN one EMF line carries them all, each summed, under the [stage] dimension set
    metrics.flush()
    [line] = lines
    doc = json.loads(line)
    assert (doc["Stored"], doc["TasksSent"], doc["Deduplicated"]) == (10, 10, 1)
    assert doc["RouteLatency"] == [4.0] * 10
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    assert directive["Dimensions"] == [["stage"]]
    assert {m["Name"] for m in directive["Metrics"]} == {
        "Stored",
        "TasksSent",
        "Deduplicated",
        "RouteLatency",
    }
    # AND two reasons are two more lines (a dimension has one value per document)
    lines.clear()
    metrics.count("Rejected", reason="signature_mismatch")
    metrics.count("Rejected", reason="timestamp_too_old")
    metrics.count("Accepted")
    metrics.flush()
    assert len(lines) == 3
