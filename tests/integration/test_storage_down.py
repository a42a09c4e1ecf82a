"""When SQS cannot be reached, the ingest route answers 503 (the provider retries), never 2xx."""

from __future__ import annotations

import socket
import time

import pytest

from chalicelib.aws.sqs import SqsQueue
from chalicelib.errors import StorageError
from testkit import aws
from tests.conftest import github_headers, inbound, make_services


def test_ingest_answers_503_quickly_when_sqs_is_unreachable() -> None:
    # GIVEN the real SQS adapter pointed at an address where nothing listens (bound, never listening,
    # so no other process can start listening there during the test)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        _ingest_answers_503(f"http://127.0.0.1:{held.getsockname()[1]}")


def _ingest_answers_503(dead: str) -> None:
    queue = SqsQueue(aws.client("sqs", dead), f"{dead}/123456789012/hookway-ingest")
    services = make_services({"ingest_queue": queue})
    ingest = services.ingest
    sid = services.github_source()
    body = b"{}"
    started = time.monotonic()
    # WHEN a valid webhook arrives THEN it is a 503 with a stable code, well inside API Gateway's 29 s
    with pytest.raises(StorageError) as err:
        ingest.receive(inbound(sid, body, github_headers(body)))
    assert err.value.status == 503 and err.value.code == "storage_unavailable"
    assert time.monotonic() - started < 10
