"""Figure 21: flow control on a virtual clock, with the real sender on the in-memory fakes.

**A receiver down for a day** (``reference/scale.md`` section 3): deliveries to one endpoint arrive
evenly over 24 hours and every attempt fails (503). A sample of them goes through the real router and
sender, the clock jumping to each queued task's due time as SQS would hand it over; every SendMessage,
attempt, circuit write and operational event is counted, then scaled to 100 webhooks/s (8.64 M
deliveries) and priced. The same sample delivered to a healthy receiver is the reference ("delivering the
same webhooks normally"). Three runs: the breaker off (``failures`` past the schedule: what Hookway did
before), the deployment's default breaker (10 failures, a probe a minute), and the healthy reference.

**A throttled endpoint's achieved rate**: a burst to an endpoint with ``throttle_rate`` 50 on the same
virtual clock; the figure is the rate its POSTs went out at against the setting.

**Isolation** (``bench.isolation``, on the local stack with real loopback receivers, not the virtual clock):
healthy endpoints' publish-to-delivery p50 and p99 with and without one hanging endpoint beside them, in
the same run, as ratios.

With the breaker, the probes (one a minute) and the circuit's writes (at most one per sender container and
minute while it is open, ``CONTAINERS`` of them assumed) do not grow with the volume, so they are added
apart rather than scaled with the sample.

Prices (us-east-1, on demand, stated so the figure can be checked): SQS $0.40 per million requests;
DynamoDB $0.625 per million write units, 3 per attempt (claim with its index entry, result); Lambda $0.20
per million invocations (a batch of ten tasks) and 0.0025 GB-s per task at $0.0000133334; CloudWatch Logs
$0.50 per GB, 450 bytes per failed attempt; an operational event ~$3.3 per million (a stored message
fanned out). Receives and deletes are a tenth of the sends each (batches of ten).
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass
from typing import Any

from bench import isolation
from bench.report import Row, say

DAY = 86400.0
AT_SCALE = 100 * DAY  # deliveries in a day at 100 webhooks/s
PROBES = int(DAY / 60)  # the default breaker's probes in a day: one a minute, each one failed attempt
# While the circuit is open, each sender container makes at most one losing probe write a minute: the
# sample's one container's writes, times this many containers (an assumption, stated).
CONTAINERS = 100
PRICE = {
    "sqs": 0.40e-6,
    "wru": 0.625e-6,
    "invocation": 0.20e-6,
    "gb_s": 0.0000133334,
    "log_gb": 0.50,
    "ops_event": 3.3e-6,
}


@dataclass
class Counts:
    """What a run cost, for its sample."""

    deliveries: int
    sends: int = 0
    attempts: int = 0
    failed_attempts: int = 0
    tasks: int = 0
    circuit_writes: int = 0
    ops_events: int = 0
    delivered: int = 0
    extra: int = 0  # attempts that do not grow with the volume (the breaker's probes), at scale
    fixed_writes: bool = False  # the circuit writes are per container and minute, not per delivery
    park_writes: int = (
        0  # parked and held tasks' PutItems and their deletes (one write unit each: under 1 KB)
    )
    fixed_sends: int = 0  # at scale: the probes' carrier tasks (per container and probe) and job steps
    fixed_park_writes: int = 0  # at scale: the release jobs' own writes

    def dollars(self, scale: float) -> dict[str, float]:
        """The line items at scale, in dollars."""
        sqs_requests = self.sends * 1.2  # each send, and a tenth of a receive and of a delete
        return {
            "SQS": (sqs_requests * scale + self.fixed_sends * 1.2) * PRICE["sqs"],
            "DynamoDB": (
                (self.attempts * 3 + (0 if self.fixed_writes else self.circuit_writes)) * scale
                + self.extra * 5
                + (self.circuit_writes * CONTAINERS if self.fixed_writes else 0)
            )
            * PRICE["wru"],
            "DynamoDB parking": (self.park_writes * scale + self.fixed_park_writes) * PRICE["wru"],
            "Lambda": self.tasks * scale * (PRICE["invocation"] / 10 + 0.0025 * PRICE["gb_s"]),
            "Logs": (self.failed_attempts * scale + self.extra) * 450 / 1e9 * PRICE["log_gb"],
            "operational events": self.ops_events * scale * PRICE["ops_event"],
        }


def _world(status: int, endpoint_doc: dict[str, Any], down_until: float = 0.0) -> tuple[Any, ...]:
    from chalicelib.api.endpoints import parse_create as parse_create_endpoint
    from chalicelib.config import Settings
    from chalicelib.outbound import egress
    from chalicelib.scope import OPERATOR
    from chalicelib.wiring import roots
    from testkit.fakes import FakeClock, MemoryBlobs, MemoryQueue, MemoryStore

    clock = FakeClock(1_800_000_000.0)
    store, ingest, deliveries = MemoryStore(clock), MemoryQueue(), MemoryQueue()
    attempts: list[int] = []

    def receiver(request: egress.OutboundRequest) -> egress.OutboundResponse:
        answer = status if clock.now < down_until else 200
        attempts.append(answer)
        return egress.OutboundResponse(
            status=answer, headers={}, body=b"x", duration=0.01, address="203.0.113.1"
        )

    rng = random.Random(17)
    api, worker = roots(
        Settings(stage="bench", admin_key="k", endpoint_cache_seconds=10),
        clock,
        store=store,
        ingest_queue=ingest,
        deliveries_queue=deliveries,
        blobs=MemoryBlobs(),
        transport=egress.FunctionTransport(receiver),
        rand=rng.random,
        resolver=lambda host, port: ["93.184.215.14"],
    )
    api.endpoints.create(
        parse_create_endpoint(
            {"url": "https://hooks.example.com/in", "filter": {"event_types": ["order.*"]}, **endpoint_doc}
        ),
        OPERATOR,
    )
    return clock, store, ingest, deliveries, attempts, api, worker


def _run(
    sample: int, status: int, endpoint_doc: dict[str, Any], horizon: float, *, held: bool = False
) -> Counts:
    """Deliveries arriving evenly over a day to one endpoint answering ``status`` until the day ends (then
    200), run until ``horizon``. ``held``: the endpoint's circuit is open all day (opened by its first
    failures) and closes at the end of it; the probes, one a minute whatever the volume, are added apart
    (``PROBES``), since a sample of deliveries cannot stand for them."""
    from chalicelib.api.messages import parse_publish
    from chalicelib.models import Circuit
    from chalicelib.scope import OPERATOR

    clock, store, ingest, deliveries, attempts, api, worker = _world(status, endpoint_doc, down_until=0.0)
    start = clock.now
    counts = Counts(sample)
    due: list[tuple[float, int, str]] = []
    seq = 0
    circuit_calls = [0]
    [endpoint] = store.endpoints.values()
    # The receiver is down for the first day.
    down_until = start + DAY if status != 200 else start
    worker.sender._transport = _Down(worker.sender._transport, clock, down_until, attempts)
    first = worker.router._first
    if first is not None:  # the router's own first attempts (router_first_attempt) meet the same outage
        first._sender._transport = _Down(first._sender._transport, clock, down_until, attempts)
    if held:
        store.put_endpoint(endpoint.with_changes(circuit=Circuit("open", 10, start, start + 60, 1)))

        real_probe = store.circuit_probe

        def lost_probe(endpoint_id: str, policy: Any, now: float) -> Any:
            # Another worker's probe (the minute's one, counted in PROBES) is in flight, until the day ends;
            # then this sample's task takes the probe for real: it succeeds, the circuit closes, and the
            # endpoint's release jobs send what the circuit held.
            current = store.endpoints[endpoint_id].circuit
            if now >= down_until and current.state != "closed":
                store.endpoints[endpoint_id] = store.endpoints[endpoint_id].with_changes(
                    circuit=Circuit("open", 10, start, now, 1)
                )
                return real_probe(endpoint_id, policy, now)
            # That worker took it at the minute: the item says so, and its next probe is the next minute.
            taken = Circuit("half_open", 10, start, start + 60 * (1 + (now - start) // 60), 1)
            store.endpoints[endpoint_id] = store.endpoints[endpoint_id].with_changes(circuit=taken)
            return taken

        store.circuit_probe = lost_probe
        holding = worker.sender._holding
        if holding is not None:
            # At 100/s each container's carrier of a probe is one task of the ~6,000 a minute: the sample's
            # tasks are all held, and the carriers are added apart (CONTAINERS a probe).
            holding.wants_carrier = lambda endpoint_id, probe_due: False
            counts.fixed_sends = CONTAINERS * PROBES
    parked = {"writes": 0}
    for name in ("hold", "unhold", "park", "unpark"):
        original_park = getattr(store, name)

        def park_counted(*a: Any, _original: Any = original_park, _name: str = name, **k: Any) -> Any:
            parked["writes"] += 1 if _name in ("hold", "park") else len(a[2])
            return _original(*a, **k)

        setattr(store, name, park_counted)
    real_send = deliveries.send

    def send(body: str, *, delay_seconds: int = 0) -> str:
        counts.sends += 1
        return str(real_send(body, delay_seconds=delay_seconds))

    def send_batch(bodies: Any, *, delay_seconds: int = 0) -> None:
        counts.sends += (len(bodies) + 9) // 10  # SendMessageBatch: ten a request
        for body in bodies:
            real_send(body, delay_seconds=delay_seconds)

    deliveries.send, deliveries.send_batch = send, send_batch
    for name in ("circuit_failed", "circuit_probe", "circuit_succeeded"):
        original = getattr(store, name)

        def counted(*a: Any, _original: Any = original, **k: Any) -> Any:
            circuit_calls[0] += 1
            return _original(*a, **k)

        setattr(store, name, counted)

    def collect() -> None:
        nonlocal seq
        from chalicelib.jobs import is_step_task

        while ingest.sent:
            body = ingest.sent.pop(0)
            ingest.delays.pop(0)
            if is_step_task(body):
                worker.job_runner.run(body)  # the release jobs, on the ingest queue's consumer
            else:
                worker.router.route(body)
        for body, delay in zip(deliveries.sent, deliveries.delays, strict=True):
            seq += 1
            heapq.heappush(due, (clock.now + delay, seq, body))
        deliveries.sent.clear()
        deliveries.delays.clear()

    arrivals = [start + DAY * (i + 0.5) / sample for i in range(sample)]
    next_arrival = 0
    # The scheduled release of parked tasks (parking is on by default), every 5 minutes as deployed.
    from chalicelib.outbound.parking import Release

    release = Release(store=store, queue=deliveries, clock=clock)
    next_release = start

    def parked_any() -> bool:
        return any(store.parked_tasks.values())

    # With the circuit held open all day, the probe at the day's end is carried by a held task (a
    # carrier, one of those added apart): it takes the probe, succeeds, and the circuit closes.
    carrier = {"due": held and worker.sender._holding is not None}
    while due or next_arrival < len(arrivals) or parked_any() or carrier["due"]:
        first = min(
            arrivals[next_arrival] if next_arrival < len(arrivals) else float("inf"),
            due[0][0] if due else float("inf"),
        )
        if carrier["due"] and next_arrival >= len(arrivals) and first > down_until:
            carrier["due"] = False
            shard_tasks = next((t for t in store.held_tasks.values() if t), None)
            if shard_tasks:
                key = min(shard_tasks)
                seq += 1
                heapq.heappush(due, (down_until, seq, shard_tasks.pop(key)))
            continue
        if parked_any() and next_release <= first:
            if next_release > start + horizon:
                break
            clock.now = max(clock.now, next_release)
            release.run()
            next_release += 300
            collect()
            continue
        if not parked_any():
            next_release = max(next_release, first - first % 300)
        if next_arrival < len(arrivals) and (not due or arrivals[next_arrival] <= due[0][0]):
            clock.now = arrivals[next_arrival]
            api.publisher.publish(
                parse_publish({"event_type": "order.paid", "payload": {"n": next_arrival}}), OPERATOR
            )
            next_arrival += 1
            collect()
            continue
        at, _, body = heapq.heappop(due)
        if at > start + horizon:
            break
        clock.now = max(clock.now, at)
        counts.tasks += 1
        worker.sender.handle(body)
        collect()
    counts.attempts = len(attempts)
    counts.failed_attempts = sum(1 for s in attempts if not 200 <= s < 300)
    counts.extra = PROBES if held else 0
    counts.fixed_writes = held
    counts.delivered = len(attempts) - counts.failed_attempts
    counts.circuit_writes = circuit_calls[0]
    counts.ops_events = sum(1 for m in store.messages.values() if m.source_id == "hookway")
    counts.park_writes = parked["writes"]
    if held:
        from chalicelib.outbound.parking import HOLD_SHARDS, RELEASE_STEP_ITEMS

        # The release jobs at scale: 16 jobs of 250-task steps, each step ~3 job writes and one SendMessage.
        steps = AT_SCALE / RELEASE_STEP_ITEMS + 2 * HOLD_SHARDS
        counts.fixed_park_writes = int(steps * 3)
        counts.fixed_sends += int(steps)
    return counts


def _throttle_rate(burst: int, rate: int) -> float:
    from chalicelib.api.messages import parse_publish
    from chalicelib.scope import OPERATOR

    clock, _store, ingest, deliveries, _attempts, api, worker = _world(200, {"throttle_rate": rate})  # type: ignore[misc]
    posts: list[float] = []
    worker.sender._transport = _Timed(worker.sender._transport, clock, posts)
    for n in range(burst):
        api.publisher.publish(parse_publish({"event_type": "order.paid", "payload": {"n": n}}), OPERATOR)
    due: list[tuple[float, int, str]] = []
    seq = 0
    while ingest.sent:
        ingest.delays.pop(0)
        worker.router.route(ingest.sent.pop(0))
    while True:
        for body, delay in zip(deliveries.sent, deliveries.delays, strict=True):
            seq += 1
            heapq.heappush(due, (clock.now + delay, seq, body))
        deliveries.sent.clear()
        deliveries.delays.clear()
        if not due:
            break
        at, _, body = heapq.heappop(due)
        clock.now = max(clock.now, at)
        worker.sender.handle(body)
    return round((len(posts) - 1) / (max(posts) - min(posts)), 3)


class _Down:
    """A transport whose receiver answers 503 until ``until``, then 200 (one outage)."""

    def __init__(self, inner: Any, clock: Any, until: float, attempts: list[int]) -> None:
        self._inner, self._clock, self._until, self._attempts = inner, clock, until, attempts

    def send(self, request: Any) -> Any:
        from chalicelib.outbound import egress

        status = 503 if self._clock() < self._until else 200
        self._attempts.append(status)
        return egress.OutboundResponse(
            status=status, headers={}, body=b"x", duration=0.01, address="203.0.113.1"
        )


class _Timed:
    def __init__(self, inner: Any, clock: Any, posts: list[float]) -> None:
        self._inner, self._clock, self._posts = inner, clock, posts

    def send(self, request: Any) -> Any:
        self._posts.append(self._clock())
        return self._inner.send(request)


def run(quick: bool) -> list[Row]:
    """The outage's cost with and without the breaker against delivering normally; the throttle's rate."""
    import logging

    logging.getLogger("hookway").setLevel(logging.ERROR)  # a failed attempt's WARNING line per attempt
    sample = 60 if quick else 240
    scale = AT_SCALE / sample
    # Retries of the default schedule reach past the day (27.6 h); the day and its drain are counted.
    horizon = 2 * DAY
    never = {"circuit_breaker": {"failures": 1000, "probe_seconds": 60}}
    runs = {
        "breaker off (before)": _run(sample, 503, never, horizon),
        "default breaker": _run(sample, 503, {}, horizon, held=True),
        "delivered normally": _run(sample, 200, never, horizon),
    }
    say("Figure 21: a receiver down for a day at 100 webhooks/s (8.64 M deliveries), virtual clock")
    totals: dict[str, float] = {}
    for name, counts in runs.items():
        items = counts.dollars(scale)
        totals[name] = sum(items.values())
        per = counts.sends / counts.deliveries
        say(
            f"  {name}: ${totals[name]:,.0f}  (SendMessage {per:.1f}/delivery, attempts "
            f"{counts.attempts / counts.deliveries:.2f}/delivery, circuit writes {counts.circuit_writes}, "
            f"operational events {counts.ops_events / counts.deliveries:.2f}/delivery)"
        )
        say("    " + ", ".join(f"{k} ${v:,.0f}" for k, v in items.items()))
    rate = _throttle_rate(200 if quick else 1000, 50)
    say(f"  throttle_rate 50: a burst went out at {rate:.1f} POSTs/s")
    normal = totals["delivered normally"]
    outage = totals["default breaker"] - normal
    say(
        f"  the outage's own cost with the default breaker and parking (its total less delivering the same "
        f"webhooks once): ${outage:,.0f}, {outage / normal:.2f}x delivering them normally"
    )
    return [
        Row(
            "outage day, default breaker + parking: the outage's own $ vs delivering normally",
            outage,
            normal,
            "$",
            target=1.0,
            note="issue 17: below 1.0; the total less the deliveries themselves",
        ),
        Row(
            "outage day, default breaker: $ vs delivering normally",
            totals["default breaker"],
            normal,
            "$",
            note="the total, deliveries included; see docs/flow-control.md",
        ),
        Row(
            "outage day, breaker off (before): $ vs delivering normally",
            totals["breaker off (before)"],
            normal,
            "$",
        ),
        Row("throttled endpoint: achieved POSTs/s vs throttle_rate 50", rate, 50.0, "POSTs/s", target=1.0),
        *isolation.run(quick),
    ]
