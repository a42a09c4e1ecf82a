"""Figures 6 and 7: the sender (``chalicelib.delivery.Sender``) on the real egress transport.

Both use the workers' own sender (``chalicelib.wiring.worker.WorkerRoot.sender``: real ``egress.Transport`` with
private destinations allowed, as the local stage has them; the metric line per delivery), with the AWS side
replaced by the in-memory fakes of ``testkit/fakes.py``. Delivery tasks are made the way production makes them:
``Publisher.publish`` onto the (fake) ingest queue, ``Router.route`` into the (fake) deliveries queue.

6. A batch of 10 deliveries to a real loopback receiver (``testkit.receivers.Receivers``) that answers each
   POST after 200 ms: ``Sender.handle_many`` (the thread pool the ``deliver`` handler uses) against the same
   10 tasks handled one after another, wall time, alternating rounds.
7. Sender CPU per delivery (``time.process_time``) to a fast receiver in a separate process (so its CPU is
   not counted) against a bare ``urllib3.HTTPConnectionPool`` POSTing the same body with the same headers,
   interleaved in alternating rounds; plus a breakdown: the transport alone, and the sender without its
   metric line.

``python -m bench.outbound receiver`` is that separate receiver: it prints its port and serves until killed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.fixtures import BENCH_ENV, json_body
from bench.report import ROOT, Row, quiet, say
from chalicelib.api.endpoints import parse_create as parse_create_endpoint
from chalicelib.api.messages import parse_publish
from chalicelib.scope import OPERATOR

BATCH = 10
SLOW_SECONDS = 0.2
TARGET_SPEEDUP = 8.0
CPU_TARGET = 1.3


class Outbound:
    """The container's sender and the services that feed it, on in-memory fakes."""

    def __init__(self) -> None:
        from chalicelib.config import Settings
        from chalicelib.wiring import roots
        from testkit.fakes import MemoryBlobs, MemoryQueue, MemoryStore

        env = {
            **os.environ,
            **BENCH_ENV,
            "HOOKWAY_ALLOW_PRIVATE_DESTINATIONS": "true",
            "HOOKWAY_ALLOW_HTTP": "true",
        }
        self.store = MemoryStore(time.time)
        self.ingest = MemoryQueue()
        self.deliveries = MemoryQueue()
        self.api, self.worker = roots(
            Settings.from_env(env),
            store=self.store,
            ingest_queue=self.ingest,
            deliveries_queue=self.deliveries,
            blobs=MemoryBlobs(),
        )
        self.payload = json.loads(json_body(1024))

    def endpoint(self, url: str) -> Any:
        """Create an endpoint (no filter: it gets every message)."""
        endpoint, _secret, _ = self.api.endpoints.create(parse_create_endpoint({"url": url}), OPERATOR)
        return endpoint

    def tasks(self, n: int) -> list[str]:
        """``n`` first-attempt delivery tasks, each for a new published message, as the router queues them."""
        publisher, router = self.api.publisher, self.worker.router
        with quiet():
            for _ in range(n):
                publisher.publish(
                    parse_publish({"event_type": "invoice.paid", "payload": self.payload}), OPERATOR
                )
            while self.ingest.sent:
                router.route(self.ingest.sent.pop(0))
        out = list(self.deliveries.sent)
        self.deliveries.sent.clear()
        self.deliveries.delays.clear()
        if len(out) != n:
            raise AssertionError(f"the router queued {len(out)} tasks for {n} messages")
        return out

    @property
    def sender(self) -> Any:
        """The container's sender."""
        return self.worker.sender

    def close(self) -> None:
        """Close the transport's pools and the sender's thread pool."""
        self.worker.transport.close()
        self.sender._pool.shutdown(wait=True)


def _check(outcomes: list[Any], what: str) -> None:
    bad = [o for o in outcomes if o not in ("succeeded", None)]
    if bad:
        raise AssertionError(f"{what}: not every delivery succeeded: {bad[:3]}")


# -------------------------------------------------------------------------- figure 6: batch concurrency


def run_batch(quick: bool) -> list[Row]:
    """Measure and print figure 6; return its table rows."""
    from testkit.receivers import Receivers, Step

    say(
        f"== 6. a batch of {BATCH} deliveries to a loopback receiver answering after "
        f"{SLOW_SECONDS * 1000:.0f} ms: handle_many vs one after another"
    )
    rounds = 1 if quick else 3
    receivers = Receivers()
    world = Outbound()
    try:
        # Nagle off, as any production HTTP server has it: the receiver writes headers and body in two
        # sends, and with Nagle on each answer would also wait ~40 ms for the client's delayed ACK.
        receivers._server.RequestHandlerClass.disable_nagle_algorithm = True
        url = receivers.script("/slow", *[Step(delay=SLOW_SECONDS)] * (BATCH * (2 * rounds + 1)))
        world.endpoint(url)
        with quiet():
            _check(world.sender.handle_many(world.tasks(BATCH)), "warm-up")  # opens the pool's connections
        serial: list[float] = []
        concurrent: list[float] = []
        for _ in range(rounds):
            tasks = world.tasks(BATCH)
            with quiet():
                start = time.perf_counter()
                outcomes: list[Any] = [world.sender.handle(body) for body in tasks]
                serial.append(time.perf_counter() - start)
            _check(outcomes, "serial")
            tasks = world.tasks(BATCH)
            with quiet():
                start = time.perf_counter()
                outcomes = world.sender.handle_many(tasks)
                concurrent.append(time.perf_counter() - start)
            _check(outcomes, "handle_many")
        received = len(receivers.at("/slow"))
    finally:
        world.close()
        receivers.close()
    if received != BATCH * (2 * rounds + 1):
        raise AssertionError(f"the receiver saw {received} requests, expected {BATCH * (2 * rounds + 1)}")
    best_serial, best_concurrent = min(serial), min(concurrent)
    speedup = best_serial / best_concurrent
    say(
        f"   serial {best_serial * 1000:7.0f} ms   handle_many {best_concurrent * 1000:7.0f} ms   "
        f"speedup {speedup:.1f}x (target >= {TARGET_SPEEDUP:g}x; best of {rounds} alternating rounds; "
        f"floor {SLOW_SECONDS * 1000:.0f} ms vs {BATCH * SLOW_SECONDS * 1000:.0f} ms)"
    )
    return [
        Row(
            f"sender batch of {BATCH}, {SLOW_SECONDS * 1000:.0f} ms receiver",
            best_concurrent * 1000,
            best_serial * 1000,
            "ms",
            1 / TARGET_SPEEDUP,
            note=f"wall time of Sender.handle_many on {BATCH} tasks vs the same {BATCH} handled one after "
            f"another (reference), {speedup:.1f}x faster (target: at least {TARGET_SPEEDUP:g}x, i.e. ratio "
            f"<= {1 / TARGET_SPEEDUP:g}); real egress.Transport to a loopback receiver that answers after "
            f"{SLOW_SECONDS * 1000:.0f} ms (testkit.receivers), AWS side on in-memory fakes; best of {rounds} "
            "alternating rounds",
        )
    ]


# ----------------------------------------------------------------------------- figure 7: sender CPU


class _FastHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    reply = b'{"received": true}'

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.reply)))
        self.end_headers()
        self.wfile.write(self.reply)


def serve_receiver() -> None:
    """The fast receiver (child process): print the port, serve until killed."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FastHandler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


@contextmanager
def _receiver_process() -> Iterator[int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.outbound", "receiver"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.isdigit():
            raise RuntimeError(f"the receiver process did not start (said {line!r})")
        yield int(line)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _cpu(fn: Callable[[Any], Any], items: list[Any]) -> float:
    start = time.process_time()
    for item in items:
        fn(item)
    return (time.process_time() - start) / len(items)


def run_cpu(quick: bool) -> list[Row]:
    """Measure and print figure 7; return its table rows."""
    import urllib3

    from chalicelib.outbound.tasks import Task

    say("== 7. sender CPU per delivery (fast receiver in another process) vs a bare urllib3 pool")
    rounds, n = (2, 50) if quick else (5, 100)
    world = Outbound()
    with _receiver_process() as port:
        url = f"http://127.0.0.1:{port}/hook"
        endpoint = world.endpoint(url)
        sender = world.sender
        transport = world.worker.transport
        # The very request the sender makes, for the bare pool and the transport alone.
        sample = world.tasks(1)[0]
        message = world.store.get_message(Task.decode(sample).message_id)
        request = sender._request(message, endpoint, time.time())
        bare_headers = {**request.headers, "Host": f"127.0.0.1:{port}", "User-Agent": "Hookway-Webhooks/1"}
        pool = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=BATCH, retries=False)

        def bare(_: Any) -> None:
            response = pool.urlopen("POST", "/hook", body=request.body, headers=bare_headers, redirect=False)
            if response.status != 200:
                raise AssertionError(f"bare pool got {response.status}")

        def handle(body: str) -> None:
            if sender.handle(body) != "succeeded":
                raise AssertionError("a delivery did not succeed")

        def transport_only(_: Any) -> None:
            transport.send(request)

        def batches(bodies: list[str]) -> None:
            _check(sender.handle_many(bodies), "handle_many")

        results: dict[str, list[float]] = {
            "sender": [],
            "bare": [],
            "transport": [],
            "no metric": [],
            "many": [],
        }
        metrics = world.api.metrics
        silent = type("NoMetrics", (), {"count": staticmethod(lambda *a, **k: None)})()
        with quiet():
            handle(world.tasks(1)[0])  # warm: connection, caches
            bare(None)
            for _ in range(rounds):
                results["sender"].append(_cpu(handle, world.tasks(n)))
                results["bare"].append(_cpu(bare, [None] * n))
                results["transport"].append(_cpu(transport_only, [None] * n))
                groups = world.tasks(n)
                per_batch = _cpu(batches, [groups[i : i + BATCH] for i in range(0, n, BATCH)])
                results["many"].append(per_batch / BATCH)
                sender._count = silent.count
                try:
                    results["no metric"].append(_cpu(handle, world.tasks(n)))
                finally:
                    sender._count = metrics.count
        pool.close()
        world.close()
    best = {name: min(values) * 1e6 for name, values in results.items()}
    say(
        f"   sender.handle {best['sender']:7.0f} µs   bare pool {best['bare']:7.0f} µs   "
        f"ratio {best['sender'] / best['bare']:.2f}x (target <= {CPU_TARGET:g}x; best of {rounds} "
        f"interleaved rounds of {n})"
    )
    transport_extra = best["transport"] - best["bare"]
    metric = best["sender"] - best["no metric"]
    rest = best["no metric"] - best["transport"]
    say(
        f"   where it goes: egress.Transport.send alone {best['transport']:.0f} µs (+{transport_extra:.0f} µs "
        f"over the bare pool: parse, resolve, pin, deadline sockets, capped read); the metric line "
        f"~{metric:.0f} µs; the rest of handle() ~{rest:.0f} µs (task, store, claim, sign, record); "
        f"handle_many in batches of {BATCH}: {best['many']:.0f} µs per delivery"
    )
    scope = (
        f"time.process_time of this process, best of {rounds} interleaved rounds of {n} deliveries; the fast "
        "receiver runs in a separate process; AWS side on in-memory fakes"
    )
    return [
        Row(
            "sender CPU/delivery",
            best["sender"],
            best["bare"],
            "µs",
            CPU_TARGET,
            note=f"Sender.handle (the container's sender, real egress.Transport) vs a bare "
            f"urllib3.HTTPConnectionPool POSTing the same {len(request.body)}-byte body with the same headers "
            f"(reference); {scope}. Of it: transport alone {best['transport']:.0f} µs, metric line "
            f"~{metric:.0f} µs, rest of handle() ~{rest:.0f} µs",
        ),
        Row(
            "egress.Transport CPU/request",
            best["transport"],
            best["bare"],
            "µs",
            note="Transport.send of the sender's request alone (parse, resolve, pinned pool, deadline "
            "sockets, capped read) vs the bare pool",
        ),
        Row(
            f"sender CPU/delivery, handle_many x{BATCH}",
            best["many"],
            best["bare"],
            "µs",
            note=f"the deliver handler's path: batches of {BATCH} on the sender's thread pool",
        ),
    ]


if __name__ == "__main__":
    if sys.argv[1:] == ["receiver"]:
        serve_receiver()
    else:
        sys.exit("usage: python -m bench.outbound receiver")
