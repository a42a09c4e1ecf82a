"""Figure 10: the local pipeline end to end, against the emulator's own raw SQS rate measured the same way.

The local stack of the end-to-end tests (``testkit.stack.Stack``: moto server, the API server and queue workers,
each its own process) with 2 ingest workers and 2 deliveries workers, one endpoint (no filter) at a real
receiver on loopback (``testkit.receivers``, in this process). ``THREADS`` client threads, each with one
keep-alive connection, POST N GitHub-signed 1 KB webhooks to ``/in/{source_id}``; a message's latency is from
just before its POST to the moment the receiver starts reading its delivery, the throughput is N over the
time from the first POST to the last delivery.

The reference, measured first on a new queue of the same emulator: ``THREADS`` threads send N messages of
the ingest envelope's size with SendMessage while 2 consumer processes (``python -m bench.pipeline
consume``, as many as the pipeline has per queue) receive batches of 10 and delete them; latency from
before the send to after the delete. That is one queue hop per message; the pipeline makes two hops plus
the DynamoDB calls, so the emulator requests per message are counted for both from moto's access log, and
the emulator's request rate is compared as well (like with like: the emulator is the shared bottleneck).

The workers get ``HOOKWAY_ENDPOINT_CACHE_SECONDS=10`` (the production default; the test stack sets 0 so tests
see new endpoints at once, which would add a DynamoDB Query per message to each worker).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.fixtures import GITHUB_SECRET, github_headers, json_body
from bench.report import ROOT, Row, nearest_rank, say

THREADS = 8
WORKERS = 2  # per queue
TARGET = 0.8
_REQUEST_LINE = re.compile(r'"[A-Z]+ \S+ HTTP/1\.[01]" \d{3}')


_percentile = nearest_rank


def _emulator_requests(log: Path) -> int:
    return sum(1 for line in log.read_text(errors="replace").splitlines() if _REQUEST_LINE.search(line))


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of processes so far (Linux /proc; 0 elsewhere)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


class _CpuMeter:
    """CPU seconds used by named groups of processes (and this one) between start() and stop()."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self._start: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def start(self) -> None:
        self._start = {name: _cpu_seconds(pids) for name, pids in self.groups.items()}
        self._start["this process"] = time.process_time()

    def stop(self) -> None:
        self.used = {name: _cpu_seconds(pids) - self._start[name] for name, pids in self.groups.items()}
        self.used["this process"] = time.process_time() - self._start["this process"]

    def text(self, n: int) -> str:
        return ", ".join(f"{name} {seconds * 1000 / n:.1f}" for name, seconds in self.used.items())


def _in_threads(n: int, work: Callable[[int, list[int]], None]) -> None:
    """Split indexes 0..n-1 over THREADS threads; ``work(thread, indexes)``; re-raise the first error."""
    errors: list[BaseException] = []

    def run(thread: int) -> None:
        try:
            work(thread, list(range(thread, n, THREADS)))
        except BaseException as exc:  # reported in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


# ------------------------------------------------------------------------------- the raw SQS rate


def consume(endpoint: str, queue_url: str) -> None:
    """Consumer process: receive batches of 10, delete them, print ``{"ids", "t"}`` per batch; until killed."""
    import boto3

    sqs = boto3.session.Session().client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # the emulator's dummy credential
    )
    print("ready", flush=True)
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if not messages:
            continue
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
        done = time.time()
        print(json.dumps({"ids": [json.loads(m["Body"])["i"] for m in messages], "t": done}), flush=True)


def _raw(stack: Any, n: int, size: int, probes: int) -> dict[str, Any]:
    from testkit import aws

    sqs = stack.sqs
    url = sqs.create_queue(QueueName=f"bench-raw-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    consumers = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.pipeline", "consume", stack.endpoint, url],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    done: dict[int, float] = {}
    lock = threading.Lock()

    def read(proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("{"):
                batch = json.loads(line)
                with lock:
                    for i in batch["ids"]:
                        done.setdefault(i, batch["t"])

    try:
        for proc in consumers:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError("a consumer process did not start")
            threading.Thread(target=read, args=(proc,), daemon=True).start()
        clients = [aws.client("sqs", stack.endpoint) for _ in range(THREADS)]
        pad = "x" * max(0, size - 40)
        sent: dict[int, float] = {}
        log = stack.log_dir / "moto.log"
        meter = _CpuMeter({"moto": [stack._moto.pid], "consumers": [p.pid for p in consumers]})
        before = _emulator_requests(log)
        meter.start()

        def send(thread: int, indexes: list[int]) -> None:
            for i in indexes:
                body = json.dumps({"i": i, "pad": pad})
                sent[i] = time.time()
                clients[thread].send_message(QueueUrl=url, MessageBody=body)

        _in_threads(n, send)
        deadline = time.monotonic() + 120
        while len(done) < n and time.monotonic() < deadline:
            time.sleep(0.005)
        meter.stop()
        requests = _emulator_requests(log) - before
        # Unloaded: one message at a time.
        alone: list[float] = []
        for i in range(n, n + probes):
            begin = time.time()
            clients[0].send_message(QueueUrl=url, MessageBody=json.dumps({"i": i, "pad": pad}))
            while i not in done and time.time() - begin < 10:
                time.sleep(0.002)
            alone.append((done.get(i, time.time()) - begin) * 1000)
    finally:
        for proc in consumers:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    if len(done) < n + probes:
        raise AssertionError(f"raw SQS: {len(done)} of {n + probes} messages were received and deleted")
    return {**_result(sent, done, requests), "cpu": meter.text(n), "alone_ms": _percentile(alone, 0.5)}


def _result(sent: dict[Any, float], done: dict[Any, float], requests: int) -> dict[str, Any]:
    start, end = min(sent.values()), max(done[k] for k in sent)
    latencies = [(done[k] - sent[k]) * 1000 for k in sent]
    n = len(sent)
    return {
        "n": n,
        "seconds": end - start,
        "rate": n / (end - start),
        "p50_ms": _percentile(latencies, 0.5),
        "p99_ms": _percentile(latencies, 0.99),
        "requests": requests,
        "requests_per_message": requests / n,
        "request_rate": requests / (end - start),
    }


# ----------------------------------------------------------------------------------- the pipeline


class _Client:
    """One keep-alive connection to the local API."""

    def __init__(self, port: int) -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        self._conn.request("POST", path, body=body, headers=headers)
        response = self._conn.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self._conn.close()


def _webhooks(
    stack: Any, receivers: Any, source_id: str, n: int, body: bytes, path: str
) -> tuple[dict[str, float], dict[str, float]]:
    """POST n webhooks from THREADS threads; wait for their deliveries; (sent, received) by message id."""
    sent: dict[str, float] = {}
    clients = [_Client(stack.port) for _ in range(THREADS)]
    already = len(receivers.at(path))

    def post(thread: int, indexes: list[int]) -> None:
        for _ in indexes:
            headers = {"Content-Type": "application/json", **github_headers(body, str(uuid.uuid4()))}
            start = time.time()
            status, reply = clients[thread].post(f"/in/{source_id}", body, headers)
            if status != 202:
                raise AssertionError(f"POST /in answered {status}: {reply[:200]!r}")
            sent[json.loads(reply)["id"]] = start

    try:
        _in_threads(n, post)
    finally:
        for client in clients:
            client.close()
    deadline = time.monotonic() + 180
    while len(receivers.at(path)) < already + n and time.monotonic() < deadline:
        time.sleep(0.005)
    received: dict[str, float] = {}
    for record in receivers.at(path)[already:]:
        received.setdefault(record.headers.get("webhook-id", ""), record.started)
    missing = [m for m in sent if m not in received]
    if missing:
        raise AssertionError(f"pipeline: {len(missing)} of {n} webhooks were not delivered within 180 s")
    return sent, received


def _one_at_a_time(stack: Any, receivers: Any, source_id: str, probes: int, body: bytes, path: str) -> float:
    """Median latency of webhooks sent one at a time, each after the previous one was delivered (ms)."""
    client = _Client(stack.port)
    latencies: list[float] = []
    try:
        for _ in range(probes):
            already = len(receivers.at(path))
            headers = {"Content-Type": "application/json", **github_headers(body, str(uuid.uuid4()))}
            begin = time.time()
            status, reply = client.post(f"/in/{source_id}", body, headers)
            if status != 202:
                raise AssertionError(f"POST /in answered {status}: {reply[:200]!r}")
            while len(receivers.at(path)) <= already and time.time() - begin < 30:
                time.sleep(0.002)
            got = receivers.at(path)[already:]
            if not got:
                raise AssertionError("a webhook sent alone was not delivered within 30 s")
            latencies.append((got[0].started - begin) * 1000)
    finally:
        client.close()
    return _percentile(latencies, 0.5)


def _show(name: str, r: dict[str, Any]) -> None:
    say(
        f"   {name:<40} {r['rate']:7.1f} msg/s  p50 {r['p50_ms']:7.0f} ms  p99 {r['p99_ms']:7.0f} ms  "
        f"({r['n']} in {r['seconds']:.1f} s; emulator: {r['requests_per_message']:.1f} requests/msg, "
        f"{r['request_rate']:.0f} req/s)"
    )
    say(f"      CPU ms per message: {r['cpu']}; one message at a time: p50 {r['alone_ms']:.0f} ms")


def run(quick: bool) -> list[Row]:
    """Measure and print figure 10; return its table rows."""
    from testkit.receivers import Receivers
    from testkit.stack import Stack

    n, probes = (100, 10) if quick else (300, 20)
    say(
        f"== 10. local pipeline end to end (POST /in -> delivery at a loopback receiver), {n} webhooks from "
        f"{THREADS} clients, {WORKERS} ingest + {WORKERS} deliveries workers, vs raw SQS on the same emulator"
    )
    body = json_body(1024)
    path = "/hook"
    with tempfile.TemporaryDirectory(prefix="hookway-bench-stack-") as logs:
        started = time.perf_counter()
        stack = Stack(Path(logs), visibility_timeout=120)
        receivers = Receivers()
        receivers._server.RequestHandlerClass.disable_nagle_algorithm = True
        try:
            source_id = stack.create_source(
                {
                    "name": "bench",
                    "dedupe": "header:X-GitHub-Delivery",
                    "verification": {"scheme": "github", "secrets": [GITHUB_SECRET]},
                }
            )["id"]
            reply = stack.request("POST", "/v1/endpoints", admin=True, json_body={"url": receivers.url(path)})
            if reply.status != 201:
                raise AssertionError(f"could not create the endpoint: {reply.status} {reply.body[:200]!r}")
            say(f"   stack up in {time.perf_counter() - started:.1f} s")
            # An ingest envelope of this body, for the raw messages' size (figure 8 measures ~2.1 KB).
            envelope = 2 * len(body)
            raw = _raw(stack, n, envelope, probes)
            _show("raw SQS: send, receive + delete (1 hop)", raw)

            stack.env["HOOKWAY_ENDPOINT_CACHE_SECONDS"] = "10"
            for _ in range(WORKERS):
                stack.start_worker("ingest")
                stack.start_worker("deliveries")
            warm = 4 * WORKERS
            _webhooks(stack, receivers, source_id, warm, body, path)  # imports, containers, connections
            log = stack.log_dir / "moto.log"
            meter = _CpuMeter(
                {
                    "moto": [stack._moto.pid],
                    "api": [stack._api.pid],
                    "ingest workers": [p.pid for p in stack.workers["ingest"]],
                    "deliveries workers": [p.pid for p in stack.workers["deliveries"]],
                }
            )
            before = _emulator_requests(log)
            meter.start()
            sent, received = _webhooks(stack, receivers, source_id, n, body, path)
            meter.stop()
            pipe = _result(sent, received, _emulator_requests(log) - before)
            pipe["cpu"] = meter.text(n)
            pipe["alone_ms"] = _one_at_a_time(stack, receivers, source_id, probes, body, path)
            _show("pipeline: POST /in -> delivered", pipe)
        finally:
            receivers.close()
            stack.close()
    ratio = pipe["rate"] / raw["rate"]
    hops = pipe["requests_per_message"] / raw["requests_per_message"]
    say(
        f"   throughput ratio {ratio:.2f}x (target >= {TARGET:g}x); the pipeline needs {hops:.1f}x the emulator "
        f"requests per message; emulator request rate {pipe['request_rate']:.0f} vs {raw['request_rate']:.0f} "
        f"req/s ({pipe['request_rate'] / raw['request_rate']:.2f}x)"
    )
    scope = (
        f"{n} webhooks (1 KB, GitHub-signed) from {THREADS} keep-alive clients; {WORKERS} workers per queue "
        f"(processes); reference: {n} SendMessage of {envelope} B from {THREADS} threads to a queue of the same "
        f"moto server, {WORKERS} consumer processes receiving 10 at a time and deleting"
    )
    return [
        Row(
            "local pipeline throughput",
            pipe["rate"],
            raw["rate"],
            "msg/s",
            TARGET,
            at_least=True,
            note=f"POST /in -> delivery received, vs the emulator's raw SQS send -> receive+delete rate; {scope}. "
            f"CPU ms per message, pipeline: {pipe['cpu']}; reference: {raw['cpu']}",
        ),
        Row(
            "local pipeline p50 latency",
            pipe["p50_ms"],
            raw["p50_ms"],
            "ms",
            note=f"under that load: the {THREADS} clients enqueue faster than the pipeline delivers, so these "
            "include the wait in the backlog",
        ),
        Row("local pipeline p99 latency", pipe["p99_ms"], raw["p99_ms"], "ms"),
        Row(
            "local pipeline p50 latency, one at a time",
            pipe["alone_ms"],
            raw["alone_ms"],
            "ms",
            note=f"{probes} messages each sent after the previous one arrived: the latency without a backlog",
        ),
        Row(
            "emulator requests per message",
            pipe["requests_per_message"],
            raw["requests_per_message"],
            "",
            note="from moto's access log: the pipeline makes 2 queue hops and the DynamoDB calls per message "
            "(plus the workers' empty long polls), the reference 1 hop",
        ),
        Row(
            "emulator request rate",
            pipe["request_rate"],
            raw["request_rate"],
            "req/s",
            note="like with like: how busy each run kept the one emulator process",
        ),
    ]


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "consume":
        consume(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: python -m bench.pipeline consume ENDPOINT QUEUE_URL")
