"""``make dev``'s log lines and the switch that keeps metric lines out of it."""

from __future__ import annotations

import logging

import pytest

from chalicelib.config import Settings
from chalicelib.observability import Metrics
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
            record("hookway.routing", "stored", source_id="src_1", message_id="msg_1", deliveries=1),
            "stored     msg_1  from src_1, 1 delivery",
        ),
        (
            record(
                "hookway.delivery",
                "attempt",
                message_id="msg_1",
                endpoint_id="ep_1",
                attempt=8,
                outcome="failed, retries exhausted",
                response_status=503,
                error_class=None,
                duration_ms=4,
            ),
            "attempt    msg_1 -> ep_1  #8: 503 in 4 ms, failed: that was the last attempt",
        ),
        (
            record("hookway.delivery", "message gone", logging.WARNING, message_id="msg_9"),
            "warning    hookway.delivery: message gone (message_id msg_9)",
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


def test_a_failed_attempt_is_one_line_with_its_ids_and_answer(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN make dev's log WHEN the sender logs a failed attempt (a warning, then the attempt's record)
    from local import devlog

    root, log = logging.getLogger("hookway"), logging.getLogger("hookway.delivery")
    before = (list(root.handlers), root.propagate, root.level)
    kept = (list(log.handlers), log.propagate, log.level, log.disabled)
    # Other tests configure these loggers (the composition root's JSON logs): start from make dev's setup.
    log.handlers[:], log.propagate, log.disabled = [], True, False
    log.setLevel(logging.NOTSET)
    try:
        devlog.install(verbose=False)
        root.setLevel(logging.INFO)
        ids = {"message_id": "msg_1", "endpoint_id": "ep_1"}
        log.warning("attempt failed", extra={**ids, "attempt": 1, "reason": "http_500", "outcome": "retry"})
        log.warning(
            "attempt",
            extra={
                **ids,
                "attempt": 1,
                "outcome": "failed, next attempt in 5 s",
                "response_status": 500,
                "duration_ms": 3,
            },
        )
        # THEN one line says it, with the ids and the answer; no bare "attempt failed"
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 1, lines
        assert lines[0].endswith("attempt    msg_1 -> ep_1  #1: 500 in 3 ms, failed, next attempt in 5 s")
    finally:
        root.handlers[:] = before[0]
        root.propagate, root.level = before[1], before[2]
        log.handlers[:], log.propagate, log.level, log.disabled = kept


def test_a_client_that_goes_away_mid_answer_leaves_no_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    import socket
    import struct
    import time

    from chalice import Chalice, Response

    from local.gateway import serve

    # GIVEN the local API, whose answer comes after a while (as a listen session's long poll)
    app = Chalice(app_name="slow")

    @app.route("/poll")
    def poll() -> Response:
        time.sleep(0.3)
        return Response(body="x" * 4_000_000, status_code=200)

    server = serve(app, port=0)
    try:
        # WHEN the client (a listener stopped with Ctrl-C) goes away before the answer
        client = socket.create_connection(("127.0.0.1", server.server_port))
        client.sendall(b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n")
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # a reset, as when the process dies
        time.sleep(1.0)
    finally:
        server.shutdown()
        server.server_close()
    # THEN nothing is printed: no "Exception occurred during processing", no traceback
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "Exception occurred" not in out + err, err
