"""Rejected requests cost no write on the request path: aggregated per container, at most one write a
second per source, written off the request's thread, right in aggregate, sampled in the ring."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from chalicelib.api.sources import rejections_of
from chalicelib.errors import RejectedError, StorageError
from chalicelib.inbound.rejections import RejectionLog
from chalicelib.models import Rejection
from chalicelib.tally import Tally, hour_of
from tests.conftest import Services, github_headers, inbound, make_services

BODY = b'{"zen": "Keep it logically awesome."}'


def _reject(services: Services, sid: str, n: int, *, step: float = 0.0) -> None:
    """Send ``n`` requests with a bad signature, moving the virtual clock ``step`` seconds after each."""
    headers = github_headers(BODY, secret="wrong")
    for _ in range(n):
        with pytest.raises(RejectedError):
            services.ingest.receive(inbound(sid, BODY, headers))
        services.clock.advance(step)


def test_a_burst_of_rejections_makes_about_one_write_a_second_per_source(services: Services) -> None:
    # GIVEN two sources, one of them under a burst of bad signatures: 5,000 requests over 3 virtual seconds
    hot = services.github_source()
    quiet = services.github_source()
    hours_before = services.store.writes
    # WHEN the burst arrives, with one bad request to the quiet source in the middle of it
    _reject(services, hot, 2500, step=3.0 / 5000)
    _reject(services, quiet, 1)
    _reject(services, hot, 2500, step=3.0 / 5000)
    services.api.rejection_log.settle()
    # THEN the store saw about one rejection write a second per source (never one per request):
    # the first at once, then at most one per elapsed second, plus the final settle; 2 for the quiet source
    assert services.store.rejection_writes <= 4 + 1 + 2
    # ... and the counters are right in aggregate, every rejection counted
    assert rejections_of(services.sources.rejections(hot))["counts"] == {
        "total": 5000,
        "signature_mismatch": 5000,
    }
    assert rejections_of(services.sources.rejections(quiet))["counts"] == {
        "total": 1,
        "signature_mismatch": 1,
    }
    # ... the ring holds samples (one per write), the newest first
    kept = rejections_of(services.sources.rejections(hot))["data"]
    assert 1 <= len(kept) <= services.store.rejection_writes
    assert kept[0]["code"] == "signature_mismatch"
    # ... the hourly counter has all 5,001, in a handful of writes (one per flush, not per request)
    assert (
        services.store.get_counts([hour_of(services.clock())])[hour_of(services.clock())]["rejected"] == 5001
    )
    assert services.store.writes - hours_before <= 10


def test_a_store_that_hangs_never_delays_a_rejection_or_another_source(services: Services) -> None:
    # GIVEN rejections written on a real background thread to a store whose rejection write hangs
    release = threading.Event()
    calls: list[str] = []

    class Hanging:
        def __getattr__(self, name: str) -> Any:
            return getattr(services.store, name)

        def record_rejections(self, sample: Rejection, *args: Any, **kwargs: Any) -> None:
            calls.append(sample.source_id)
            release.wait(30)

    log_ = RejectionLog(Hanging(), services.clock, ring_size=50)  # type: ignore[arg-type]
    services.api.use(rejection_log=log_)
    services.api.__dict__.pop("ingest", None)
    bad = services.github_source()
    good = services.github_source()
    try:
        # WHEN 200 bad requests arrive over 4 virtual seconds, and a good one to another source
        started = time.monotonic()
        _reject(services, bad, 200, step=0.02)
        reply = services.ingest.receive(inbound(good, BODY, github_headers(BODY)))
        elapsed = time.monotonic() - started
        # THEN every reply came at once (the write that hangs holds only the background thread) ...
        assert elapsed < 5.0
        assert reply.status == 202
        # ... and one write is in progress: the rest wait in memory, never queued up as more writes
        time.sleep(0.05)
        assert calls == [bad]
    finally:
        release.set()
    # WHEN the store answers again THEN the rejections that waited are written with the next flush
    log_.settle()
    assert len(calls) == 2


def test_a_failing_rejection_write_is_one_log_line_per_flush_and_no_traceback(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a store that refuses every rejection write (throttled), and handlers on the loggers involved
    sid = services.github_source()

    def throttled(*args: Any, **kwargs: Any) -> None:
        raise StorageError("DynamoDB update_item failed: ProvisionedThroughputExceededException")

    monkeypatch.setattr(services.store, "record_rejections", throttled)
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[method-assign]
    loggers = [logging.getLogger(name) for name in ("hookway.ingest", "hookway.rejections", "hookway.tally")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        # WHEN 100 bad requests arrive within one second
        _reject(services, sid, 100, step=0.005)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
    # THEN each got its 401, and the failure was logged once (one flush), without a traceback
    assert not any(r.exc_info for r in records)
    failures = [r for r in records if r.getMessage().startswith("recording rejections failed (best effort")]
    assert len(failures) == 1
    per_request = [r for r in records if r.name == "hookway.ingest" and r.getMessage() == "rejected"]
    assert len(per_request) == 100 and all(r.levelno < logging.WARNING for r in per_request)


def test_the_metric_has_no_source_dimension(services: Services) -> None:
    # GIVEN a source WHEN a request to it is rejected
    sid = services.github_source()
    _reject(services, sid, 1)
    # THEN the metric is counted by reason only: a source id is a tenant id, kept to the log lines
    assert services.counted == [("Rejected", {"reason": "signature_mismatch"})]


def test_sources_beyond_the_bound_are_still_counted_by_the_hour() -> None:
    # GIVEN a rejection log that keeps 2 sources apart, flushing by hand
    services = make_services()
    runs: list[Any] = []
    log_ = RejectionLog(
        services.store,
        services.clock,
        ring_size=5,
        tally=Tally(services.store, services.clock),
        run=runs.append,
        max_sources=2,
    )

    def rejection(source_id: str) -> Rejection:
        return Rejection(source_id, services.clock(), "ip_not_allowed", "m", None, "POST", "", 0, "")

    # WHEN 5 sources are rejected within one flush interval
    for source_id in ("s1", "s2", "s3", "s4", "s5"):
        log_.record(rejection(source_id))
    [flush] = runs  # one flush started (the first), the others wait for the interval
    flush()
    log_.settle()
    # THEN two sources got their ring write, and the hour counts all five
    assert services.store.rejection_counts("s1") == {"total": 1, "ip_not_allowed": 1}
    assert services.store.rejection_counts("s2") == {"total": 1, "ip_not_allowed": 1}
    assert services.store.rejection_counts("s4") == {}
    hour = hour_of(services.clock())
    assert services.store.get_counts([hour])[hour]["rejected"] == 5
