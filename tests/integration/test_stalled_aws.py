"""A stalled AWS endpoint (it accepts connections and never answers) makes the ingest route 503 fast.

The stall is a real TCP server on loopback that reads requests and never writes, as a SIGSTOPped
emulator or a black-holed VPC endpoint behaves; the container is the production composition root.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from chalicelib.config import Settings
from chalicelib.errors import StorageError
from chalicelib.models import Secret, Source, Verification
from chalicelib.wiring.api import ApiRoot
from chalicelib.wiring.base import Shared
from testkit.fakes import MemoryStore
from tests.conftest import GITHUB_SECRET, github_headers, inbound


class Stalled(str):
    """The stalled endpoint's URL; ``connections`` counts what reached it."""

    connections: list[socket.socket]


@pytest.fixture
def stalled(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stalled]:
    """An HTTP endpoint that accepts every connection, reads, and never answers."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        url = Stalled(f"http://127.0.0.1:{server.getsockname()[1]}")
        url.connections = held
        yield url
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        server.close()


def _container(endpoint: str) -> ApiRoot:
    return ApiRoot(
        Shared(
            Settings(
                endpoint_url=endpoint,
                ingest_queue_url=f"{endpoint}/123456789012/hookway-ingest",
                bucket_name="b",
                source_cache_seconds=0,
            )
        )
    )


def _receive(container: ApiRoot, source_id: str) -> tuple[StorageError, float]:
    body = b'{"zen": "stall"}'
    started = time.monotonic()
    with pytest.raises(StorageError) as err:
        container.ingest.receive(inbound(source_id, body, github_headers(body)))
    return err.value, time.monotonic() - started


def test_a_stalled_dynamodb_on_a_source_lookup_is_a_503_within_5_seconds(stalled: Stalled) -> None:
    # GIVEN the production wiring, every AWS endpoint stalled, and no source cached
    container = _container(stalled)
    # WHEN a webhook arrives (the source lookup is a DynamoDB GetItem that never answers)
    error, seconds = _receive(container, "src_1")
    # THEN 503 storage_unavailable, within 5 s (about 3 s: 1 s read timeout, two attempts, one backoff)
    assert (error.status, error.code) == (503, "storage_unavailable")
    assert seconds < 5, f"{seconds:.2f} s"
    # AND it really waited on the stalled endpoint (twice: the retry budget), not on a local error
    assert len(stalled.connections) == 2
    assert seconds >= 2


def test_a_stalled_sqs_on_the_enqueue_is_a_503_within_5_seconds(stalled: Stalled) -> None:
    # GIVEN a source that is known (served from memory) and SQS stalled
    container = _container(stalled)
    store = MemoryStore(container.clock)
    store.put_source(
        Source(
            id="src_1",
            name="gh",
            created_at=0.0,
            updated_at=0.0,
            verification=Verification("github", (Secret("sec_1", GITHUB_SECRET, 0.0),)),
        )
    )
    container.use(store=store)
    # WHEN a valid webhook arrives (its SendMessage never answers)
    error, seconds = _receive(container, "src_1")
    # THEN 503 storage_unavailable within 5 s
    assert (error.status, error.code) == (503, "storage_unavailable")
    assert seconds < 5, f"{seconds:.2f} s"
    # AND it really waited on the stalled endpoint (twice: the retry budget), not on a local error
    assert len(stalled.connections) == 2
    assert seconds >= 2
