"""The composition roots: each role picks its client profile once; both share one process's parts."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from chalicelib.api.endpoints import parse_create as parse_create_endpoint
from chalicelib.config import Settings
from chalicelib.scope import OPERATOR
from chalicelib.wiring import roots
from chalicelib.wiring.api import ApiRoot
from chalicelib.wiring.base import Shared
from chalicelib.wiring.worker import WorkerRoot
from testkit.fakes import FakeClock, MemoryStore

ROOT = Path(__file__).resolve().parents[2]
LOCAL = Settings(endpoint_url="http://127.0.0.1:9")


def _config(client: object) -> object:
    return client.meta.config  # type: ignore[attr-defined]


def test_the_api_roots_clients_have_tight_timeouts_and_a_retry_budget() -> None:
    # GIVEN the API's root WHEN it makes its clients THEN one stalled call costs about 3 s at most
    api = ApiRoot(Shared(LOCAL))
    for client in (api.store._db, api.ingest_queue._sqs, api.ssm):  # type: ignore[attr-defined]
        config = _config(client)
        assert (config.connect_timeout, config.read_timeout) == (1, 1)  # type: ignore[attr-defined]
        assert config.retries["total_max_attempts"] == 2  # type: ignore[attr-defined]


def test_the_workers_root_keeps_generous_timeouts() -> None:
    worker = WorkerRoot(Shared(LOCAL))
    for client in (worker.store._db, worker.deliveries_queue._sqs, worker.deliveries_dlq._sqs):  # type: ignore[attr-defined]
        config = _config(client)
        assert config.read_timeout >= 30  # type: ignore[attr-defined]
        assert config.retries["total_max_attempts"] >= 5  # type: ignore[attr-defined]


def test_one_process_playing_both_roles_has_one_client_per_role_and_one_session() -> None:
    # GIVEN both roots in one process, as the local stack runs the API and the workers
    api, worker = roots(LOCAL)
    # THEN each role's adapters are its own, on one boto3 session, and the queues share the role's client
    assert api.store is not worker.store and api.shared is worker.shared
    assert api.ingest_queue._sqs is api.deliveries_queue._sqs  # type: ignore[attr-defined]
    assert api.ingest_queue._sqs is not worker.ingest_queue._sqs  # type: ignore[attr-defined]


def test_a_change_made_through_the_api_reaches_the_workers_caches_at_once() -> None:
    # GIVEN both roots on one fake store, with caches that would keep an endpoint for a minute
    clock = FakeClock()
    store = MemoryStore(clock)
    settings = Settings(endpoint_cache_seconds=60, allow_private_destinations=True, allow_http=True)
    api, worker = roots(settings, clock, store=store, resolver=lambda host, port: ["10.0.0.1"])
    endpoint, _, _ = api.endpoints.create(parse_create_endpoint({"url": "http://10.0.0.1/in"}), OPERATOR)
    assert worker.endpoint_cache.get(endpoint.id).enabled
    assert worker.routing_endpoint_cache.of(None)[0].enabled
    # WHEN the API disables it
    api.endpoints.set_enabled(endpoint.id, False, OPERATOR)
    # THEN the sender's and the router's cached copies are gone, without waiting for the TTL
    assert not worker.endpoint_cache.get(endpoint.id).enabled
    assert not worker.routing_endpoint_cache.of(None)[0].enabled


def test_a_fake_stands_for_the_role_and_its_best_effort_writes_and_unknown_parts_are_refused() -> None:
    fake = MemoryStore(FakeClock())
    api, worker = roots(Settings(), store=fake)
    assert api.store is fake and api.best_effort_store is fake and worker.plain_store is fake
    with pytest.raises(TypeError):
        roots(Settings(), background_store=fake)
    with pytest.raises(TypeError):
        ApiRoot(Shared(Settings()), router=object())


def test_the_roots_are_small_and_services_never_import_them() -> None:
    # Each root stays readable; no service module reaches up into the composition roots.
    for name in ("api", "worker", "base", "__init__"):
        assert len((ROOT / "chalicelib" / "wiring" / f"{name}.py").read_text().splitlines()) <= 350
    allowed = {"sealing.py", "backfill.py"}  # operator commands (python -m), which build a root to run
    for path in (ROOT / "chalicelib").rglob("*.py"):
        # chalicelib/api is a front door, as app.py is: its views reach the API's root
        if "wiring" in path.parts or "api" in path.parts or path.name in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("chalicelib.wiring"), path


def test_the_ingest_path_makes_no_client_it_does_not_need_and_overlaps_the_ones_it_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the API's root with a sealing key, recording every client it makes (cold start, issue 16)
    made: list[tuple[str, str]] = []

    def client(self: Shared, service: str, profile: str) -> object:
        made.append((service, profile))
        return f"{service}-{profile}-client"

    monkeypatch.setattr(Shared, "client", client)
    api = ApiRoot(Shared(Settings(endpoint_url="http://127.0.0.1:9", kms_key_id="alias/k")))
    # WHEN the ingest service is wired, as the first POST /in/{source} does
    assert api.ingest is not None
    api.sqs._thread.join()  # type: ignore[attr-defined]
    api.kms._thread.join()  # type: ignore[attr-defined]
    # THEN the request clients it needs are made (SQS and KMS on threads of their own, overlapping the
    # source's read) and the best-effort client of rejections is not: was made before the first 202
    assert sorted(made) == [("dynamodb", "request"), ("kms", "request"), ("sqs", "request")]
    # ... the DynamoDB one first, on the request's own thread: the source's read is the first call, and a
    # client making on a thread first would hold up the read (one session makes clients one at a time)
    assert made[0] == ("dynamodb", "request")
    # AND a rejection's first write makes it
    assert api.best_effort_store._db.upper() == "DYNAMODB-BEST_EFFORT-CLIENT"  # type: ignore[attr-defined]
    assert ("dynamodb", "best_effort") in made


def test_a_client_made_early_that_failed_raises_on_its_first_use_and_is_tried_again() -> None:
    from chalicelib.wiring.base import LazyClient

    calls: list[int] = []

    def make() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("no region")
        return "client"

    lazy = LazyClient(make, early=True)
    with pytest.raises(RuntimeError, match="no region"):
        lazy.upper()
    assert lazy.upper() == "CLIENT" and len(calls) == 2


def test_a_cold_start_imports_the_route_modules_and_no_service() -> None:
    # Importing app.py (what a cold Lambda does before its first request) loads, of chalicelib, only the
    # Blueprint modules and the names: a view imports the service it calls when it is called.
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, app; print(' '.join(m for m in sys.modules if m.startswith('chalicelib')))",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert "chalicelib.api.endpoints" in out
    assert [
        m for m in out if m not in ("chalicelib", "chalicelib.names") and not m.startswith("chalicelib.api")
    ] == []
