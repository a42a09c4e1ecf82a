"""Shared fixtures: a virtual clock and services wired to in-memory fakes."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from chalicelib.ingest import InboundRequest, IngestService, SourceCache
from chalicelib.routing import NoFanout, Router
from chalicelib.sources import SourceService
from tests.fakes import FakeClock, MemoryBlobs, MemoryQueue, MemoryStore

# Property tests judge outcomes, never speed: hypothesis's default 200 ms deadline per example (and its
# too_slow health check) fail on a loaded two-core machine for reasons that have nothing to do with the code.
settings.register_profile("hookway", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("hookway")

GITHUB_SECRET = "It's a Secret to Everybody"


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
    """Every service of the inbound path, wired to fakes."""

    clock: FakeClock
    store: MemoryStore
    queue: MemoryQueue
    blobs: MemoryBlobs
    cache: SourceCache
    ingest: IngestService
    router: Router
    sources: SourceService
    counted: list[tuple[str, dict[str, str]]]

    def github_source(self, **fields: Any) -> str:
        """Create a GitHub source and return its id."""
        doc = {"name": "gh", "verification": {"scheme": "github", "secrets": [GITHUB_SECRET]}, **fields}
        return self.sources.create(doc).id

    def drain(self) -> list[str]:
        """Route everything the ingest queue holds, as the worker would; returns the outcomes."""
        outcomes = [self.router.route(body) for body in self.queue.sent]
        self.queue.sent.clear()
        return outcomes


@pytest.fixture
def services() -> Services:
    clock = FakeClock()
    store = MemoryStore(clock)
    queue = MemoryQueue()
    blobs = MemoryBlobs()
    counted: list[tuple[str, dict[str, str]]] = []
    cache = SourceCache(store, clock, ttl=10)
    ingest = IngestService(
        sources=cache,
        store=store,
        queue=queue,
        blobs=blobs,
        clock=clock,
        max_body_bytes=4 * 1024 * 1024,
        claim_check_bytes=900 * 1024,
        rejections_kept=50,
        count=lambda name, **dims: counted.append((name, dims)),
    )
    router = Router(
        store=store,
        blobs=blobs,
        fanout=NoFanout(),
        clock=clock,
        retention_seconds=30 * 86400,
        inline_body_bytes=256 * 1024,
    )
    sources = SourceService(store, cache, clock, default_replay_window=3 * 86400)
    return Services(clock, store, queue, blobs, cache, ingest, router, sources, counted)
