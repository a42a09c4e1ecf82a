"""DynamoDB throttling end to end: nothing is lost, and the pipeline recovers within seconds of its end.

The workers (who play the router and sender Lambdas) reach the AWS emulator through a proxy on loopback that
answers every DynamoDB write ``ProvisionedThroughputExceededException`` while it throttles, as a hot index
partition's back-pressure does to the table's writes. The queues keep a visibility timeout of 360 s (the
template's ingest value): a failed record held for it would come back long after the test's bound, so the
bound proves the handlers' short backoff (``chalicelib.aws.batch``).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from testkit.receivers import Receivers
from testkit.stack import Stack, github_headers, wait_until

THROTTLED_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
# The throttling lasts until a record has failed back to its queue, which takes longer than a background
# client's own retries (5 attempts, up to 15 s of backoff), and at most this long.
THROTTLE_SECONDS = 40.0
RECOVERY_BOUND = 20.0  # seconds after the throttling ends; the visibility timeout is 360 s


class ThrottlingProxy:
    """An HTTP proxy to the emulator that can answer DynamoDB writes with a throttling error."""

    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        self.throttling = threading.Event()
        self.throttled = 0
        self.forwarded = 0
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                target_op = self.headers.get("X-Amz-Target", "")
                if (
                    outer.throttling.is_set()
                    and target_op.split(".")[-1] in THROTTLED_WRITES
                    and target_op.startswith("DynamoDB_20120810.")
                ):
                    with outer._lock:
                        outer.throttled += 1
                    self._answer(
                        400,
                        {"Content-Type": "application/x-amz-json-1.0"},
                        json.dumps(
                            {
                                "__type": "com.amazonaws.dynamodb.v20120810#"
                                "ProvisionedThroughputExceededException",
                                "message": "The level of configured provisioned throughput for the table "
                                "was exceeded.",
                            }
                        ).encode(),
                    )
                    return
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    payload = resp.read()
                except (OSError, http.client.HTTPException):
                    self._answer(502, {}, b"")  # the emulator is stopping (the stack closes)
                    return
                else:
                    skip = {"connection", "transfer-encoding", "content-length"}
                    self._answer(
                        resp.status, {k: v for k, v in resp.getheaders() if k.lower() not in skip}, payload
                    )
                finally:
                    conn.close()
                with outer._lock:
                    outer.forwarded += 1

            def _answer(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a worker stopped mid-call

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def throttled(tmp_path: Path) -> Iterator[tuple[Stack, ThrottlingProxy]]:
    stack = Stack(tmp_path, visibility_timeout=360)
    proxy = ThrottlingProxy(stack.endpoint)
    try:
        # The API talks to the emulator directly (it keeps answering 202); the workers through the proxy.
        for queue in ("ingest", "deliveries"):
            stack.start_worker(queue, env={"HOOKWAY_AWS_ENDPOINT_URL": proxy.url})
        yield stack, proxy
    finally:
        stack.close()
        proxy.close()


def _send(stack: Stack, source_id: str, run: str, n: int) -> None:
    body = json.dumps({"run": run, "n": n}).encode()
    resp = stack.request("POST", f"/in/{source_id}", body=body, headers=github_headers(body, f"{run}-{n}"))
    assert resp.status == 202, resp.body


def test_throttled_writes_lose_nothing_and_recover_within_seconds(
    throttled: tuple[Stack, ThrottlingProxy], receivers: Receivers, tmp_path: Path
) -> None:
    stack, proxy = throttled
    run = uuid.uuid4().hex[:8]
    path = f"/throttle/{run}"
    source_id = stack.github_source()
    created = stack.request("POST", "/v1/endpoints", admin=True, json_body={"url": receivers.url(path)})
    assert created.status == 201, created.body

    def delivered() -> set[int]:
        return {json.loads(r.body)["n"] for r in receivers.at(path)}

    # GIVEN a pipeline that works: one webhook goes all the way through
    _send(stack, source_id, run, 0)
    wait_until(lambda: delivered() == {0}, timeout=60)

    # WHEN every DynamoDB write of the workers is throttled, while 30 webhooks arrive, until the client's
    # own retries gave up and records went back to their queue
    proxy.throttling.set()
    started = time.monotonic()
    sent = set(range(1, 31))
    for n in sorted(sent):
        _send(stack, source_id, run, n)
        time.sleep(0.2)
    wait_until(
        lambda: "record failed" in (tmp_path / "worker-ingest.log").read_text(),
        timeout=THROTTLE_SECONDS - (time.monotonic() - started),
        interval=0.2,
    )
    # ... nothing got through meanwhile (the throttle bit)
    assert delivered() == {0}
    assert proxy.throttled > 0
    proxy.throttling.clear()
    ended = time.monotonic()
    throttled_for = ended - started

    # THEN every webhook is delivered, within seconds of the end (not the 360 s visibility timeout)
    wait_until(lambda: delivered() >= sent | {0}, timeout=RECOVERY_BOUND, interval=0.1)
    recovery = time.monotonic() - ended
    print(
        f"\nthrottled {proxy.throttled} writes for {throttled_for:.0f} s; all delivered {recovery:.1f} s after"
    )
    # ... the queues drain (nothing left in flight) and nothing went to a dead-letter queue
    wait_until(
        lambda: stack.queue_depth() == 0 and stack.queue_depth("HOOKWAY_DELIVERIES_QUEUE_URL") == 0,
        timeout=20,
    )
    for dlq in ("HOOKWAY_INGEST_DLQ_URL", "HOOKWAY_DELIVERIES_DLQ_URL"):
        assert stack.queue_depth(dlq) == 0, dlq
