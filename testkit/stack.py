"""The local stack as a user runs it, for end-to-end tests: moto server, API server, queue workers.

Each part is its own process, started with ``python -m local``, so a test can kill a worker mid-batch.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from local import emulator
from testkit import aws

GITHUB_SECRET = "It's a Secret to Everybody"  # the demo source's secret (tests.conftest uses the same)

ROOT = Path(__file__).resolve().parent.parent
ADMIN_KEY = "hk_e2e_admin_key_0123456789"
SCHEDULE_SECONDS = 5.0  # the tests' stack runs the sweep and release step this often (deployed: 5 minutes)


class Response:
    """An HTTP response as the tests read it."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


class Stack:
    """A running local stack; ``close()`` stops every process."""

    def __init__(
        self,
        log_dir: Path,
        *,
        visibility_timeout: int = 3,
        env: dict[str, str] | None = None,
        max_receives: int | None = None,
    ) -> None:
        self.log_dir = log_dir
        # Every server binds port 0 and reports the port it got: a port picked here and bound later
        # could be taken meanwhile by another suite on the same machine.
        self._moto = emulator.start_moto(0, log_dir / "moto.log")
        self.endpoint = f"http://127.0.0.1:{emulator.moto_port(self._moto)}"
        self.env = emulator.deploy(self.endpoint)
        emulator.start_release_here(self.env)  # its first release run reads from now, not a day back
        self.env.update(
            {
                "HOOKWAY_STAGE": "local",
                "HOOKWAY_ADMIN_KEY": ADMIN_KEY,
                # The local stack's exceptions, explicitly (make dev sets the same): receivers on loopback.
                "HOOKWAY_ALLOW_PRIVATE_DESTINATIONS": "true",
                "HOOKWAY_ALLOW_HTTP": "true",
                "HOOKWAY_INSECURE_COOKIES": "true",
                "HOOKWAY_LOG_LEVEL": "WARNING",
                # Workers are separate processes: let them see endpoints the moment a test creates them.
                "HOOKWAY_ENDPOINT_CACHE_SECONDS": "0",
                # Job steps of 100 items: a job test crosses steps with a few hundred items, not thousands.
                "HOOKWAY_JOB_STEP_ITEMS": "100",
                # SIGKILLed senders' claims must expire within a test (Lambda's is 150 s, past its timeout).
                "HOOKWAY_DELIVERY_LEASE_SECONDS": "20",
                **(env or {}),  # a test's own settings, for the API and the workers alike
            }
        )
        self.sqs = aws.client("sqs", self.endpoint)
        self.dynamodb = aws.client("dynamodb", self.endpoint)
        self.s3 = aws.client("s3", self.endpoint)
        # Short visibility so a killed worker's batch comes back within the test, not in 6 minutes.
        for name in ("HOOKWAY_INGEST_QUEUE_URL", "HOOKWAY_DELIVERIES_QUEUE_URL"):
            attributes = {"VisibilityTimeout": str(visibility_timeout)}
            if max_receives is not None:  # a test that drives records into a DLQ within its time
                url = self.env[name]
                policy = json.loads(
                    self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])[
                        "Attributes"
                    ]["RedrivePolicy"]
                )
                attributes["RedrivePolicy"] = json.dumps({**policy, "maxReceiveCount": max_receives})
            self.sqs.set_queue_attributes(QueueUrl=self.env[name], Attributes=attributes)
        self.workers: dict[str, list[subprocess.Popen[bytes]]] = {}
        self._api = self._spawn("api", ["api", "--port", "0"])
        self.port = self._announced_port(log_dir / "api.log")
        self.base = f"http://127.0.0.1:{self.port}"
        self.env["HOOKWAY_PUBLIC_URL"] = self.base
        self._wait_healthy()

    def _announced_port(self, log: Path) -> int:
        """The port the API process says it listens on (it binds port 0)."""

        def announced() -> int | None:
            if self._api.poll() is not None:
                raise RuntimeError(f"the API exited with {self._api.returncode}: see {log}")
            found = re.search(
                r"api listening on http://127\.0\.0\.1:([0-9]+)", log.read_text(errors="replace")
            )
            return int(found.group(1)) if found else None

        return int(wait_until(announced, timeout=30, interval=0.05))

    def _spawn(
        self, name: str, args: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
        return subprocess.Popen(
            [sys.executable, "-m", "local", *args],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env, **(env or {})},
        )

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.request("GET", "/v1/health").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the API did not become healthy")

    def start_worker(
        self, queue: str = "ingest", env: dict[str, str] | None = None, *, slow_lane: bool = True
    ) -> subprocess.Popen[bytes]:
        """Start one more worker process for a queue (``env``: its own settings, e.g. another AWS endpoint).
        A deliveries worker polls the slow lane too, unless ``slow_lane`` is False."""
        extra = [] if slow_lane or queue != "deliveries" else ["--no-slow-lane"]
        proc = self._spawn(f"worker-{queue}", ["worker", "--queue", queue, *extra], env)
        self.workers.setdefault(queue, []).append(proc)
        return proc

    def start_scheduler(self, every: float = SCHEDULE_SECONDS) -> subprocess.Popen[bytes]:
        """Start the scheduled handlers (the sweep, with the release of parked deliveries) every ``every``
        seconds: the deployed rule's handler, run more often so a test needs not wait 5 minutes."""
        proc = self._spawn("schedule", ["schedule", "--every", str(every)])
        self.workers.setdefault("schedule", []).append(proc)
        return proc

    def kill_workers(self, queue: str = "ingest") -> None:
        """SIGKILL every worker of a queue, wherever it is in its batch."""
        for proc in self.workers.pop(queue, []):
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

    @contextlib.contextmanager
    def emulator_stalled(self) -> Iterator[None]:
        """SIGSTOP the AWS emulator for the block: it keeps accepting connections and answers nothing."""
        self._moto.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self._moto.send_signal(signal.SIGCONT)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        admin: bool = False,
        json_body: Any = None,
        timeout: float = 30,
    ) -> Response:
        """One HTTP request to the API."""
        all_headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        if admin:
            all_headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Response(resp.status, dict(resp.headers), resp.read())
        except urllib.error.HTTPError as err:
            return Response(err.code, dict(err.headers), err.read())

    def create_source(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Create a source through the API."""
        resp = self.request("POST", "/v1/sources", json_body=doc, admin=True)
        assert resp.status == 201, resp.body
        return dict(resp.json())

    def github_source(self) -> str:
        """Create a GitHub source with the docs' secret; returns its id."""
        return str(
            self.create_source(
                {"name": "gh", "verification": {"scheme": "github", "secrets": [GITHUB_SECRET]}}
            )["id"]
        )

    def messages(self, source_id: str) -> list[dict[str, Any]]:
        """Every stored message of a source, through the API."""
        out: list[dict[str, Any]] = []
        cursor = ""
        while True:
            resp = self.request("GET", f"/v1/messages?source={source_id}&limit=200{cursor}", admin=True)
            assert resp.status == 200, resp.body
            page = resp.json()
            out.extend(page["data"])
            if not page["next_cursor"]:
                return out
            cursor = f"&cursor={page['next_cursor']}"

    def queue_depth(self, name: str = "HOOKWAY_INGEST_QUEUE_URL") -> int:
        """Visible plus in-flight messages of a queue."""
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.env[name], AttributeNames=["All"])["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def close(self) -> None:
        """Stop every process of the stack: SIGKILL, as the workers, since nothing of a test's stack is kept
        (a SIGTERM cost ~1 s for the API's shutdown poll and ~3 s for the emulator's interpreter exit)."""
        for queue in list(self.workers):
            self.kill_workers(queue)
        for proc in (self._api, self._moto):
            proc.kill()
        for proc in (self._api, self._moto):
            proc.wait(timeout=10)


def github_headers(
    body: bytes, delivery: str, secret: str = GITHUB_SECRET, event: str = "push"
) -> dict[str, str]:
    """The headers GitHub sends with a webhook, signed with the source's secret."""
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }


def wait_until(predicate: Callable[[], Any], timeout: float = 30, interval: float = 0.1) -> Any:
    """Poll until the predicate is truthy; fail with the last value after the timeout."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value: {value!r})")
        time.sleep(interval)
        value = predicate()
    return value


@contextlib.contextmanager
def running(log_dir: Path) -> Iterator[Stack]:
    """A stack with one ingest and one deliveries worker and the scheduled handlers (the sweep and the
    release of parked deliveries), stopped on the way out (the suites' fixture)."""
    stack = Stack(log_dir)
    try:
        stack.start_worker("ingest")
        stack.start_worker("deliveries")
        stack.start_scheduler()
        yield stack
    finally:
        stack.close()
