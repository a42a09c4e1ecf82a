"""Best-effort writes (counters, rejection logs): one attempt on a client of their own, dropped on failure,
logged at most once a minute."""

from __future__ import annotations

import json
import logging
import time

import pytest

from chalicelib.config import Settings
from chalicelib.errors import RejectedError, StorageError
from chalicelib.wiring import roots
from chalicelib.wiring.base import CLIENT_PROFILES
from testkit.fakes import FakeClock, MemoryStore
from tests.conftest import github_headers, inbound, make_services
from tests.unit._servers import Recorded, http_server

BODY = b'{"zen": "throttled"}'
THROTTLED = json.dumps(
    {
        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": "Rate of requests exceeds the allowed throughput.",
    }
).encode()


def _throttling(_: Recorded) -> tuple[int, dict[str, str], bytes]:
    return 400, {"Content-Type": "application/x-amz-json-1.0"}, THROTTLED


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")


def test_the_best_effort_profile_tries_once_with_short_timeouts() -> None:
    profile = CLIENT_PROFILES["best_effort"]
    assert profile["retries"]["total_max_attempts"] == 1
    assert profile["connect_timeout"] <= 1 and profile["read_timeout"] <= 1


@pytest.mark.usefixtures("aws_env")
def test_every_counter_and_rejection_write_goes_through_its_own_client() -> None:
    api, worker = roots(Settings(endpoint_url="http://127.0.0.1:9"))
    # GIVEN each role's root THEN its best-effort store has a client of its own (its own retry budget) ...
    for c in (api, worker):
        assert c.best_effort_store._db is not c.store._db  # type: ignore[attr-defined]
        assert c.best_effort_store._db.meta.config.retries["total_max_attempts"] == 1  # type: ignore[attr-defined]
    # ... and every best-effort write uses it: each consumer's counters, the listen reports', and the
    # ingest path's rejection records and counts (the sweep counts nothing of its own any more)
    for c, tally_of in (
        (worker, worker.router),
        (worker, worker.sender),
        (api, api.sender),
        (worker, worker.dead_letters),
        (api, api.rejection_log),
    ):
        assert tally_of._tally._store is c.best_effort_store, type(tally_of).__name__  # type: ignore[attr-defined]
    assert api.rejection_log._store is api.best_effort_store  # type: ignore[attr-defined]


@pytest.mark.usefixtures("aws_env")
def test_a_throttled_counter_flush_is_one_request_and_never_raises() -> None:
    # GIVEN a table that throttles every write
    with http_server(_throttling) as (port, seen):
        _, c = roots(Settings(endpoint_url=f"http://127.0.0.1:{port}"))
        # WHEN the router flushes its counters at the end of a batch
        c.router._tally.add("received")  # type: ignore[attr-defined]
        started = time.monotonic()
        c.router._tally.flush()  # type: ignore[attr-defined]
        # THEN one request, no retry inside the batch (the background profile would make 5, ~15 s)
        assert len(seen.requests) == 1
        assert time.monotonic() - started < 1.0


def test_rejections_are_dropped_quietly_when_their_writes_fail(logged: list[logging.LogRecord]) -> None:
    # GIVEN a best-effort store that fails every write (the state store itself is fine)
    clock = FakeClock()
    failing = MemoryStore(clock)
    failing.fail_with = StorageError("DynamoDB put_item failed: ProvisionedThroughputExceededException")
    services = make_services({"best_effort_store": failing})
    sid = services.github_source()
    # WHEN 100 requests with a bad signature come in
    for _ in range(100):
        with pytest.raises(RejectedError) as err:
            services.ingest.receive(inbound(sid, BODY, github_headers(BODY, secret="wrong")))
        # THEN each is still a clean 401 with its reason code
        assert err.value.status == 401 and err.value.code == "signature_mismatch"
    # ... and the failed writes are logged once each, without a traceback, not 100 times
    dropped = [r for r in logged if "best effort, dropped" in r.getMessage()]
    assert len(dropped) == 2 and not any(r.exc_info for r in dropped)
    # ... until a minute has passed
    services.clock.advance(61)
    with pytest.raises(RejectedError):
        services.ingest.receive(inbound(sid, BODY, github_headers(BODY, secret="wrong")))
    assert len([r for r in logged if "best effort, dropped" in r.getMessage()]) == 4


def test_a_fake_store_stands_for_every_profile() -> None:
    fake = MemoryStore(FakeClock())
    api, worker = roots(Settings(), store=fake)
    assert api.store is fake and worker.store is fake and api.best_effort_store is fake
    assert worker.best_effort_store is fake
