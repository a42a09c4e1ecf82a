"""Shared fixtures: a virtual clock and services wired to in-memory fakes."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from chalicelib.api.sources import parse_create as parse_create_source
from chalicelib.caches import SourceCache
from chalicelib.config import Settings
from chalicelib.inbound.ingest import IngestService
from chalicelib.inbound.rejections import RejectionLog
from chalicelib.inbound.request import InboundRequest
from chalicelib.outbound.routing import Router
from chalicelib.sources import SourceService
from chalicelib.tally import Tally
from chalicelib.wiring import roots
from chalicelib.wiring.api import ApiRoot
from chalicelib.wiring.worker import WorkerRoot
from testkit.fakes import FakeClock, MemoryBlobs, MemoryQueue, MemoryStore
from testkit.stack import GITHUB_SECRET

# Property tests judge outcomes, never speed: hypothesis's default 200 ms deadline per example (and its
# too_slow health check) fail on a loaded two-core machine for reasons that have nothing to do with the code.
settings.register_profile("hookway", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("hookway")

ADMIN_KEY = "hk_test_admin_key"


def github_headers(
    body: bytes, secret: str = GITHUB_SECRET, delivery: str = "d-1", event: str = "push"
) -> dict[str, list[str]]:
    """Headers GitHub would send for this body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "x-hub-signature-256": [f"sha256={digest}"],
        "x-github-delivery": [delivery],
        "x-github-event": [event],
        "content-type": ["application/json"],
    }


def inbound(
    source_id: str,
    body: bytes,
    headers: dict[str, list[str]],
    *,
    method: str = "POST",
    source_ip: str | None = "203.0.113.7",
    query: dict[str, str] | None = None,
    client_cert: dict[str, Any] | None = None,
) -> InboundRequest:
    """An InboundRequest as the app would build it."""
    return InboundRequest(
        source_id=source_id,
        method=method,
        url=f"https://hooks.example.com/in/{source_id}",
        path=f"/in/{source_id}",
        query=query or {},
        query_string="",
        headers=headers,
        body=body,
        source_ip=source_ip,
        client_cert=client_cert,
    )


@dataclass
class Services:
    """Every service, built by the composition roots (``api``, ``worker``) with fakes for the adapters."""

    clock: FakeClock
    store: MemoryStore
    queue: MemoryQueue
    blobs: MemoryBlobs
    deliveries: MemoryQueue
    api: ApiRoot
    worker: WorkerRoot
    counted: list[tuple[str, dict[str, str]]]

    @property
    def cache(self) -> SourceCache:
        return self.api.source_cache

    @property
    def ingest(self) -> IngestService:
        return self.api.ingest

    @property
    def router(self) -> Router:
        return self.worker.router

    @property
    def sources(self) -> SourceService:
        return self.api.sources

    def github_source(self, **fields: Any) -> str:
        """Create a GitHub source and return its id."""
        doc = {"name": "gh", "verification": {"scheme": "github", "secrets": [GITHUB_SECRET]}, **fields}
        return self.sources.create(parse_create_source(doc)).id

    def drain(self) -> list[str]:
        """Route everything the ingest queue holds, as the worker would (job steps to the job runner, and
        the steps they queue in turn); returns the outcomes."""
        from chalicelib.jobs import is_step_task

        outcomes = []
        while self.queue.sent:
            body = self.queue.sent.pop(0)
            runner = self.worker.job_runner
            outcomes.append(runner.run(body) if is_step_task(body) else self.router.route(body))
        return outcomes


def make_services(parts: dict[str, Any] | None = None, **settings: Any) -> Services:
    """Services on fakes through the composition roots, with ``Settings`` fields and root ``parts``
    (a transport, a resolver, ...) overridden."""
    clock = FakeClock()
    store = MemoryStore(clock)
    queue = MemoryQueue()
    deliveries = MemoryQueue()
    blobs = MemoryBlobs()
    counted: list[tuple[str, dict[str, str]]] = []
    adapters: dict[str, Any] = {
        "store": store,
        "ingest_queue": queue,
        "deliveries_queue": deliveries,
        "blobs": blobs,
        "count": lambda name, **dims: counted.append((name, dims)),
    }
    api, worker = roots(
        Settings(**{"admin_key": ADMIN_KEY, "endpoint_cache_seconds": 0, **settings}),
        clock,
        **{**adapters, **(parts or {})},
    )
    if "rejection_log" not in (parts or {}):
        # Rejections flushed on the test's own thread (not the background one), so tests are deterministic.
        api.use(
            rejection_log=RejectionLog(
                api.best_effort_store,
                clock,
                ring_size=api.settings.rejections_kept,
                tally=Tally(api.best_effort_store, clock),
                run=lambda flush: flush(),
            )
        )
    return Services(clock, store, queue, blobs, deliveries, api, worker, counted)


@pytest.fixture
def services() -> Services:
    return make_services()


class _Records(logging.Handler):
    """Collects the records of the ``hookway`` logger (which may not propagate to pytest's handler)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logged() -> Iterator[list[logging.LogRecord]]:
    """The WARNING and higher records of the ``hookway`` loggers during the test."""
    logger = logging.getLogger("hookway")
    handler, level = _Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
