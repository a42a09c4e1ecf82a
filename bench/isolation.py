"""Figure 21, isolation: healthy endpoints' publish-to-delivery latency with and without a hanging endpoint.

The local stack of the end-to-end tests (``testkit.stack.Stack``: moto server, the API and the queue workers,
each its own process; one ingest and one deliveries worker, as the e2e suites run it; the deliveries worker
runs several batches at once, as the event source mapping does: ``local.worker.concurrency``) with
``HEALTHY`` endpoints at a real receiver on loopback (``testkit.receivers``) and one more endpoint at a receiver that
accepts the connection and never answers (``HangingReceiver``: no status line, no byte, until the figure
ends), left at the default timeout (15 s) and the default circuit breaker.

One stack, one run, two phases of the same trickle (a message every ``1 / RATE`` s, published one at a time
with ``POST /v1/messages``, each going to every healthy endpoint):

* **alone**: event type ``iso.alone``, which only the healthy endpoints subscribe to;
* **beside**: event type ``iso.beside``, which the hanging endpoint subscribes to as well, so every message
  of this phase also leaves one attempt hanging on a sender.

Every endpoint exists before the first phase (nothing changes between them but the event type), and
``WARM`` messages of the same trickle go all the way before the alone phase (imports, connections, caches).
The alone phase runs first because a hanging attempt outlives its phase (up to its timeout, then its
retries); the beside phase is the one that would be slowed. A delivery's latency is from just before its publish request to the moment the
healthy receiver starts reading it; the percentiles are over every (message, healthy endpoint) pair of a
phase (``nearest_rank``). Noise: the same percentiles of the alone phase's first and second halves.

Benchmarks never fail on time: a ratio above ``TARGET`` prints MISSED, nothing more.
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.report import Row, nearest_rank, say

HEALTHY = 3  # healthy endpoints, each subscribed to both phases' event types
RATE = 5.0  # messages published per second, one at a time
WARM = 10  # messages of the same trickle before the first phase (imports, connections, caches)
TARGET = 1.2  # beside / alone, for p50 and for p99: "within noise" (issue 17)


class HangingReceiver:
    """A TCP listener on loopback that accepts every connection and never reads or answers on it."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, name="hanging-receiver", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self._held.append(conn)
            self.accepted += 1

    def url(self, path: str) -> str:
        """The URL of a path on this receiver (every path hangs)."""
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        """Stop accepting and drop every held connection."""
        self._closed = True
        self._server.close()
        for conn in self._held:
            conn.close()


@dataclass(frozen=True)
class Phase:
    """A phase's latencies (ms), one per (message, healthy endpoint) delivery, in publish order."""

    name: str
    latencies: list[float]

    @property
    def p50(self) -> float:
        return nearest_rank(self.latencies, 0.50)

    @property
    def p99(self) -> float:
        return nearest_rank(self.latencies, 0.99)

    def halves(self) -> tuple[Phase, Phase]:
        """The first and the second half of the phase (for the noise between two runs of the same thing)."""
        middle = len(self.latencies) // 2
        return Phase(f"{self.name} 1st half", self.latencies[:middle]), Phase(
            f"{self.name} 2nd half", self.latencies[middle:]
        )


def latencies(
    sent: dict[str, float], received: dict[tuple[str, str], float], paths: list[str]
) -> list[float]:
    """Milliseconds from each message's publish to its first arrival at each path, in publish order.

    ``sent``: message id -> publish time; ``received``: (path, message id) -> first arrival. A pair with no
    arrival is an error (the figure waits for every delivery before it computes anything)."""
    missing = [(path, m) for m in sent for path in paths if (path, m) not in received]
    if missing:
        raise AssertionError(f"{len(missing)} healthy deliveries never arrived, e.g. {missing[:3]}")
    ordered = sorted(sent, key=lambda m: sent[m])
    return [(received[(path, m)] - sent[m]) * 1000 for m in ordered for path in paths]


def ratio_rows(alone: Phase, beside: Phase, *, note: str) -> list[Row]:
    """The two ratio rows: beside / alone for p50 and p99 (target ``TARGET``, information on time only)."""
    return [
        Row(
            "healthy endpoints' p50 publish-to-delivery, beside a hanging endpoint",
            beside.p50,
            alone.p50,
            "ms",
            TARGET,
            note=note,
        ),
        Row(
            "healthy endpoints' p99 publish-to-delivery, beside a hanging endpoint",
            beside.p99,
            alone.p99,
            "ms",
            TARGET,
            note=f"same run as the p50 row; p99 of {len(beside.latencies)} vs {len(alone.latencies)} deliveries "
            "(nearest rank: with fewer than 100, the p99 is one of the few slowest deliveries)",
        ),
    ]


def _publish(stack: Any, event_type: str, n: int) -> str:
    reply = stack.request(
        "POST", "/v1/messages", admin=True, json_body={"event_type": event_type, "payload": {"n": n}}
    )
    if reply.status != 202:
        raise AssertionError(f"POST /v1/messages answered {reply.status}: {reply.body[:200]!r}")
    return str(reply.json()["id"])


def _trickle(stack: Any, receivers: Any, paths: list[str], event_type: str, n: int) -> Phase:
    """Publish ``n`` messages at ``RATE``; wait for every healthy delivery; the phase's latencies."""
    sent: dict[str, float] = {}
    start = time.monotonic()
    for i in range(n):
        wait = start + i / RATE - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        begin = time.time()
        sent[_publish(stack, event_type, i)] = begin
    deadline = time.monotonic() + 60
    received: dict[tuple[str, str], float] = {}
    while time.monotonic() < deadline:
        for path in paths:
            for record in receivers.at(path):
                key = (path, record.headers.get("webhook-id", ""))
                received.setdefault(key, record.started)
        if all((path, m) in received for m in sent for path in paths):
            break
        time.sleep(0.05)
    return Phase(event_type, latencies(sent, received, paths))


def _endpoint(stack: Any, url: str, event_types: list[str]) -> None:
    reply = stack.request(
        "POST", "/v1/endpoints", admin=True, json_body={"url": url, "filter": {"event_types": event_types}}
    )
    if reply.status != 201:
        raise AssertionError(f"could not create an endpoint: {reply.status} {reply.body[:200]!r}")


def run(quick: bool) -> list[Row]:
    """Measure both phases on one local stack; the ratio rows."""
    from local.worker import concurrency
    from testkit.receivers import Receivers
    from testkit.stack import Stack

    n = 30 if quick else 100
    say(
        f"   isolation: {n} messages per phase at {RATE:g}/s to {HEALTHY} healthy endpoints (loopback), "
        "alone, then beside one hanging endpoint (accepts, never answers; default timeout and breaker)"
    )
    with tempfile.TemporaryDirectory(prefix="hookway-bench-isolation-") as logs:
        started = time.perf_counter()
        stack = Stack(Path(logs), visibility_timeout=30)
        receivers = Receivers()
        # A worker's keep-alive connection reset when the stack stops is not an error of the figure.
        receivers._server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        hanging = HangingReceiver()
        try:
            stack.env["HOOKWAY_ENDPOINT_CACHE_SECONDS"] = "10"  # the production default; all exist before
            paths = [f"/healthy/{i}/{uuid.uuid4().hex[:8]}" for i in range(HEALTHY)]
            for path in paths:
                _endpoint(stack, receivers.url(path), ["iso.alone", "iso.beside", "iso.warm"])
            _endpoint(stack, hanging.url("/hang"), ["iso.beside"])
            stack.start_worker("ingest")
            stack.start_worker("deliveries")
            _trickle(stack, receivers, paths, "iso.warm", WARM)
            say(f"   stack up and warm in {time.perf_counter() - started:.1f} s")
            alone = _trickle(stack, receivers, paths, "iso.alone", n)
            beside = _trickle(stack, receivers, paths, "iso.beside", n)
            hung = hanging.accepted
        finally:
            hanging.close()
            receivers.close()
            stack.close()
    first, second = alone.halves()
    for phase in (alone, beside):
        say(
            f"   {phase.name:<11} p50 {phase.p50:6.0f} ms  p99 {phase.p99:6.0f} ms  "
            f"({len(phase.latencies)} deliveries)"
        )
    say(
        f"   beside/alone: p50 {beside.p50 / alone.p50:.2f}x, p99 {beside.p99 / alone.p99:.2f}x (target <= "
        f"{TARGET:g}x); noise, the alone phase's halves: p50 {first.p50:.0f} vs {second.p50:.0f} ms, p99 "
        f"{first.p99:.0f} vs {second.p99:.0f} ms; the hanging receiver held {hung} connection(s)"
    )
    note = (
        "same run, one local stack (1 ingest + 1 deliveries worker, processes; the deliveries worker runs up "
        f"to {concurrency('deliveries')} batches at once, as Lambda's mapping does), real loopback receivers: "
        f"{n} messages published one at a time at {RATE:g}/s to {HEALTHY} healthy endpoints, first alone "
        f"(reference), then with one more endpoint subscribed whose receiver accepts and never answers "
        f"(default 15 s timeout and breaker; it held {hung} connection(s)); each percentile rests on "
        f"{len(alone.latencies)} deliveries per phase ({n} messages x {HEALTHY} endpoints); noise (the alone "
        f"phase's halves, {len(first.latencies)} and {len(second.latencies)} deliveries): p50 {first.p50:.0f} "
        f"vs {second.p50:.0f} ms, p99 {first.p99:.0f} vs {second.p99:.0f} ms. Target <= {TARGET:g}x "
        "(issue 17: within noise); reported, never failed on"
    )
    return ratio_rows(alone, beside, note=note)
