"""Figure 8: AWS calls per delivered webhook, inbound request to the sender's success, against moto's server.

moto runs as a child process on loopback with the stack deployed from ``infra/stack.py``
(``local.emulator``); the app is pointed at it through the environment as ``testkit/stack.py`` does, and one
endpoint (no filter) points at a real receiver on loopback (``testkit.receivers``). Every boto3 client the
container makes is watched (``bench.aws_calls.CallCounter`` plus DynamoDB capacity and SQS payload hooks).
After one warm-up webhook end to end (caches filled, connections open), N GitHub-signed 1 KB webhooks go:

1. through the app in-process, ``app(event, context)``: the API Lambda;
2. through ``route_ingest`` and then ``deliver``, each fed by ``local.worker.Worker.poll_once`` (the local
   stand-in for Lambda's SQS event source mapping) with its own, separately counted SQS client: its
   ReceiveMessage and DeleteMessageBatch are not made by Hookway's code, and are modelled as one receive
   and one delete per batch of 10, per queue.

DynamoDB capacity is computed from the items written and read (DynamoDB's item-size rules, approximated for
numbers), including the writes to ``gsi1`` (its projection read from the template). The bytes each stage writes to stdout/stderr
(the powertools metric lines and log lines CloudWatch Logs would ingest) are counted too. Figure 9 prices
these counts; ``measure`` keeps the last result so figure 9 does not measure twice.
"""

from __future__ import annotations

import contextlib
import math
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.aws_calls import CallCounter, _create_source, _environment, _wired_app
from bench.fixtures import emulated_env, ingest_event, json_body, lambda_context
from bench.report import Row, _stream_handlers, say
from chalicelib.api.applications import parse_create as parse_create_application
from chalicelib.api.endpoints import parse_create as parse_create_endpoint
from chalicelib.api.sources import parse_update as parse_update_source
from chalicelib.scope import OPERATOR
from chalicelib.tally import FLUSH_INTERVAL

STAGES = ("api", "router", "sender")
DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
WRITE_TARGET = 3
KB = 1024


def _gsi_projections() -> dict[str, str]:
    from infra.stack import infrastructure

    table = infrastructure("local")["Resources"]["StateTable"]["Properties"]
    return {
        gsi["IndexName"]: str(gsi["Projection"]["ProjectionType"]) for gsi in table["GlobalSecondaryIndexes"]
    }


GSI_PROJECTIONS = _gsi_projections()
GSI_PROJECTION = ", ".join(f"{name} {kind}" for name, kind in GSI_PROJECTIONS.items())
SQS_CHUNK = 64 * KB
ESM_BATCH = 10


# --------------------------------------------------------------------------------- DynamoDB item sizes


def _value_size(value: dict[str, Any]) -> int:
    """Bytes of one attribute value by DynamoDB's sizing rules (numbers approximated)."""
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = inner.lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in inner)
    if kind == "SS":
        return sum(len(x.encode()) for x in inner)
    if kind == "BS":
        return sum(len(x) for x in inner)
    if kind == "NS":
        return sum(_value_size({"N": x}) for x in inner)
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: dict[str, Any]) -> int:
    """Bytes of an item: attribute names plus values."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


CONFIG_KINDS = frozenset({"EP", "SRC", "APP", "APPUID", "ET"})  # item kinds that are configuration
ITEM_OVERHEAD = 100  # bytes DynamoDB adds to each item and each index entry for storage


class CapacityCounter(CallCounter):
    """Also counts DynamoDB capacity units (table + gsi1), SQS 64 KB request chunks and item sizes."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        # (pk, sk) -> (size, {index: its key}) of what the table holds, to price an overwrite
        self._known: dict[tuple[str, str], tuple[int, dict[str, str]]] = {}
        self.wcu = Counter[str]()  # by "table" / index name
        self.rcu = Counter[str]()
        self.sqs_chunks = Counter[str]()
        self.sizes: dict[str, list[int]] = {}

    def watch(self, client: Any) -> Any:
        super().watch(client)
        client.meta.events.register("provide-client-params", self._on_params)
        client.meta.events.register("after-call", self._on_after)
        return client

    def _on_call(self, event_name: str, **kwargs: Any) -> None:
        with self._lock:
            super()._on_call(event_name, **kwargs)

    def _on_send(self, event_name: str, **kwargs: Any) -> None:
        with self._lock:
            super()._on_send(event_name, **kwargs)

    def _on_params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_params"] = params  # returns None: the parameters are not replaced

    def reset(self) -> None:
        """Forget the counts (the item sizes are kept: ``sizes.clear()`` for those)."""
        super().reset()
        self.wcu.clear()
        self.rcu.clear()
        self.sqs_chunks.clear()

    def _note_size(self, what: str, size: int) -> None:
        self.sizes.setdefault(what, []).append(size)

    def stored(self) -> dict[str, int]:
        """What the table holds of the pipeline's own data (configuration left out: endpoints, sources,
        applications, event types), as DynamoDB bills storage: each item's size + 100 B, each index entry's
        keys (its own and the table's) + 100 B (the indexes are keys-only)."""
        out = {"items": 0, "index entries": 0}
        for (pk, sk), (size, indexes) in self._known.items():
            if pk.split("#")[0] in CONFIG_KINDS:
                continue
            out["items"] += size + ITEM_OVERHEAD
            for key in indexes.values():
                out["index entries"] += len(key) - 1 + len(pk) + len(sk) + 2 * len("pk") + ITEM_OVERHEAD
        return out

    def _on_after(
        self, event_name: str, parsed: dict[str, Any], context: dict[str, Any], http_response: Any, **_: Any
    ) -> None:
        if http_response.status_code >= 300:
            return
        _, service, op = event_name.split(".", 2)
        params = context.get("bench_params") or {}
        with self._lock:
            if service == "dynamodb":
                self._dynamodb(op, params, parsed)
            elif service == "sqs":
                self._sqs(op, params)

    def _dynamodb(self, op: str, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        eventual = 0.5 if not params.get("ConsistentRead") else 1.0
        if op == "PutItem":
            self._put(params["Item"])
        elif op == "BatchGetItem":
            for items in (parsed.get("Responses") or {}).values():
                self.rcu["table"] += sum(max(1, math.ceil(item_size(i) / (4 * KB))) for i in items) * 0.5
        elif op == "BatchWriteItem":  # the packed listings (and result items) of a batch
            for requests in params.get("RequestItems", {}).values():
                for request in requests:
                    if "PutRequest" in request:
                        self._put(request["PutRequest"]["Item"])
                    else:
                        self.wcu["table"] += 1
        elif op == "TransactWriteItems":  # two units per KB; not on the happy path
            for entry in params.get("TransactItems", []):
                if "Put" in entry:
                    self._put(entry["Put"]["Item"])
                    self.wcu["table"] += math.ceil(item_size(entry["Put"]["Item"]) / KB)
                else:
                    self.wcu["table"] += 2
        elif op in ("UpdateItem", "DeleteItem"):
            self.wcu["table"] += 1  # not on the happy path; at least one unit each
        elif op == "GetItem":
            item = parsed.get("Item") or {}
            self.rcu["table"] += max(1, math.ceil(item_size(item) / (4 * KB))) * eventual
        elif op == "Query":
            total = sum(item_size(i) for i in parsed.get("Items", []))
            target = params.get("IndexName") or "table"
            consistent = 1.0 if params.get("ConsistentRead") and target == "table" else 0.5
            self.rcu[target] += max(1, math.ceil(total / (4 * KB))) * consistent

    def _put(self, item: dict[str, Any]) -> None:
        key = (item["pk"]["S"], item["sk"]["S"])
        size = item_size(item)
        indexes = {
            name: item[f"{name}pk"]["S"] + "|" + item[f"{name}sk"]["S"]
            for name in GSI_PROJECTIONS
            if f"{name}pk" in item
        }
        old_size, old_indexes = self._known.get(key, (0, {}))
        self._known[key] = (size, indexes)
        kind = {"MSG": "message item", "EP": "endpoint item", "SRC": "source item"}.get(
            key[0].split("#")[0], "other item"
        )
        self._note_size("attempt item" if key[1].startswith("ATT#") else kind, size)
        self.wcu["table"] += math.ceil(max(size, old_size) / KB)
        for name, projection in GSI_PROJECTIONS.items():
            new, old = indexes.get(name), old_indexes.get(name)
            if new is not None and projection == "ALL":  # the index holds the whole item
                self.wcu[name] += math.ceil(size / KB) * (2 if old not in (None, new) else 1)
            elif new is not None:
                # KEYS_ONLY: a small entry, written when it is new (1) or its key moves (delete + put);
                # an overwrite that keeps the index key changes nothing projected, so no index write.
                self.wcu[name] += 0 if old == new else (1 if old is None else 2)
            elif old is not None:
                self.wcu[name] += 1  # the index entry is deleted

    def _sqs(self, op: str, params: dict[str, Any]) -> None:
        if op == "SendMessage":
            size = len(params["MessageBody"].encode())
            self._note_size("ingest envelope" if "DelaySeconds" in params else "sqs message", size)
            self.sqs_chunks[op] += math.ceil(size / SQS_CHUNK)
        elif op == "SendMessageBatch":
            sizes = [len(e["MessageBody"].encode()) for e in params["Entries"]]
            for size in sizes:
                self._note_size("delivery task", size)
            self.sqs_chunks[op] += max(1, math.ceil(sum(sizes) / SQS_CHUNK))
        else:
            self.sqs_chunks[op] += 1


# ------------------------------------------------------------------------------------ output bytes


class _CountingSink:
    def __init__(self) -> None:
        self.bytes = 0
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self.bytes += len(text.encode("utf-8", "replace"))
        return len(text)

    def flush(self) -> None:
        pass


@contextlib.contextmanager
def counted_output() -> Iterator[dict[str, _CountingSink]]:
    """Like ``report.quiet``, but counts the bytes: ``stdout`` (powertools metric lines) and ``logs``."""
    sinks = {"stdout": _CountingSink(), "logs": _CountingSink()}
    with contextlib.redirect_stdout(sinks["stdout"]), contextlib.redirect_stderr(sinks["logs"]):  # type: ignore[type-var]
        handlers = _stream_handlers()
        previous = [handler.stream for handler in handlers]
        for handler in handlers:
            handler.setStream(sinks["logs"])  # type: ignore[arg-type]
        try:
            yield sinks
        finally:
            for handler, stream in zip(handlers, previous, strict=True):
                handler.setStream(stream)


# --------------------------------------------------------------------------------------- measuring


@dataclass
class Stage:
    """What one Lambda function of the pipeline did for the N measured webhooks."""

    calls: Counter[str] = field(default_factory=Counter)
    wcu: Counter[str] = field(default_factory=Counter)
    rcu: Counter[str] = field(default_factory=Counter)
    sqs_chunks: Counter[str] = field(default_factory=Counter)
    stdout_bytes: int = 0
    log_bytes: int = 0
    invocations: int = 0
    seconds: float = 0.0


@dataclass
class Counts:
    """The measured counts of figure 8, for N webhooks."""

    n: int
    stages: dict[str, Stage]
    esm_calls: Counter[str]
    sizes: dict[str, list[int]]
    # Bytes the table holds per webhook once it is delivered (items and keys-only index entries)
    stored: dict[str, float] = field(default_factory=dict)

    def per_webhook(self, counter: Counter[str]) -> dict[str, float]:
        """Each entry divided by N."""
        return {key: value / self.n for key, value in sorted(counter.items())}

    def total(self, attr: str) -> Counter[str]:
        """One counter summed over the stages."""
        out: Counter[str] = Counter()
        for stage in self.stages.values():
            out.update(getattr(stage, attr))
        return out

    @property
    def writes(self) -> float:
        """DynamoDB write requests per delivered webhook."""
        calls = self.total("calls")
        return sum(v for k, v in calls.items() if k.split(".")[-1] in DYNAMODB_WRITES) / self.n


_LAST: dict[bool, dict[bool, Counts]] = {}
_LAST_FIRST: dict[bool, tuple[Counts, dict[str, float]]] = {}
FIRST_ATTEMPT_ENDPOINTS = 10  # the router batch with one hanging receiver among ten, and with none
HANG_SECONDS = 2.0  # how long the hanging receiver takes (well under the endpoint's 15 s timeout)
RUN_BATCHES = 6  # router batches in each run (all healthy, then with the hanging receiver subscribed)


def measure_first(quick: bool) -> tuple[Counts, dict[str, float]]:
    """Figure 8's pipeline with the router making first attempts (``HOOKWAY_ROUTER_FIRST_ATTEMPT``), in
    its own emulator: its counts, and the router batch durations (seconds, median of a few batches) of
    one message to ten endpoints, one of whose receivers hangs, and to ten healthy ones."""
    if quick not in _LAST_FIRST:
        _LAST_FIRST[quick] = _measure_first_on_moto(10 if quick else 30)
    return _LAST_FIRST[quick]


def _measure_first_on_moto(n: int) -> tuple[Counts, dict[str, float]]:
    from local import emulator
    from testkit.receivers import Receivers

    port = emulator.free_port()
    moto = emulator.start_moto(port)
    receivers = Receivers()
    receivers._server.RequestHandlerClass.disable_nagle_algorithm = True
    try:
        endpoint = f"http://127.0.0.1:{port}"
        env = emulated_env(endpoint, HOOKWAY_LOG_LEVEL="INFO", HOOKWAY_ROUTER_FIRST_ATTEMPT="true")
        with _environment(env):
            timings: dict[str, float] = {}
            counts = _pipeline(env, endpoint, receivers, n, tenant=False, first_attempt=timings)
            return counts, timings
    finally:
        receivers.close()
        moto.terminate()
        try:
            moto.wait(timeout=10)
        except subprocess.TimeoutExpired:
            moto.kill()


def measure(quick: bool, *, tenant: bool = False) -> Counts:
    """The counts of figure 8: measured now, or the ones this process measured last for ``quick``.

    ``tenant``: the same pipeline with the source and the endpoint belonging to an application.
    """
    if quick not in _LAST:
        _LAST[quick] = _measure_on_moto(10 if quick else 30)
    return _LAST[quick][tenant]


def measure_operator(n: int) -> Counts:
    """The operator's own pipeline alone (no application's beside it), in its own emulator: what a test
    of one figure needs, in half the time of ``measure``."""
    return _measure_on_moto(n, tenants=(False,))[False]


def _measure_on_moto(n: int, tenants: tuple[bool, ...] = (False, True)) -> dict[bool, Counts]:
    from local import emulator
    from testkit.receivers import Receivers

    port = emulator.free_port()
    started = time.perf_counter()
    moto = emulator.start_moto(port)
    receivers = Receivers()
    receivers._server.RequestHandlerClass.disable_nagle_algorithm = True
    try:
        endpoint = f"http://127.0.0.1:{port}"
        # .chalice/config.json's log level (prod sets WARNING); the router's first attempts off (the
        # default is on: measure_first), so every attempt goes through the sender.
        env = emulated_env(endpoint, HOOKWAY_LOG_LEVEL="INFO", HOOKWAY_ROUTER_FIRST_ATTEMPT="false")
        say(f"   moto on {endpoint}, stack deployed in {time.perf_counter() - started:.1f} s")
        with _environment(env):
            # Side by side in one emulator: the operator's own source and endpoint, then an application's.
            return {tenant: _pipeline(env, endpoint, receivers, n, tenant=tenant) for tenant in tenants}
    finally:
        receivers.close()
        moto.kill()  # nothing in it to keep; moto's server takes seconds to stop on SIGTERM
        moto.wait(timeout=10)


def _pipeline(
    env: dict[str, str],
    endpoint: str,
    receivers: Any,
    n: int,
    *,
    tenant: bool,
    first_attempt: dict[str, float] | None = None,
) -> Counts:
    """Figure 8's run; ``first_attempt`` (the router makes first attempts): filled with the hanging and
    healthy router batch durations, measured after the counts."""
    from local.worker import Worker
    from testkit import aws

    counter = CapacityCounter()
    app_module, container = _wired_app(counter)
    app, context = app_module.app, lambda_context()
    body = json_body(1024)
    path = "/hook-tenant" if tenant else "/hook"
    url = receivers.url(path)
    esm = CallCounter()
    esm_sqs = esm.watch(aws.client("sqs", endpoint))
    failures: list[int] = []

    def on_invoke(size: int, ok: bool) -> None:
        if not ok:
            failures.append(size)

    workers = {
        "router": Worker(
            esm_sqs, env["HOOKWAY_INGEST_QUEUE_URL"], app_module.route_ingest, on_invoke=on_invoke
        ),
        "sender": Worker(
            esm_sqs, env["HOOKWAY_DELIVERIES_QUEUE_URL"], app_module.deliver, on_invoke=on_invoke
        ),
    }

    def drain(stage: str, expected: int) -> tuple[int, int, float]:
        """Poll until ``expected`` messages went through; (invocations, messages, seconds in handlers)."""
        seen = invocations = 0
        seconds = 0.0
        deadline = time.monotonic() + 60
        while seen < expected and time.monotonic() < deadline and not failures:
            begin = time.perf_counter()
            got = workers[stage].poll_once()
            if got:
                seconds += time.perf_counter() - begin
                invocations += 1
            seen += got
        if failures or seen != expected:
            raise AssertionError(f"{stage}: {seen} of {expected} messages went through, failures {failures}")
        return invocations, seen, seconds

    with counted_output():
        source_id = _create_source(app, context)
        owner: dict[str, str] = {}
        if tenant:
            application = container.applications.create(parse_create_application({"name": "bench"}), OPERATOR)
            container.sources.update(source_id, parse_update_source({"application": application.id}))
            owner = {"application": application.id}
        container.endpoints.create(parse_create_endpoint({"url": url, **owner}), OPERATOR)
        # Warm-up: one webhook all the way (clients, caches, the transport's connection).
        if app(ingest_event(source_id, body, "warm-up"), context)["statusCode"] != 202:
            raise AssertionError("the warm-up webhook was not accepted")
        drain("router", 1)
        drain("sender", 0 if first_attempt is not None else 1)
    # A container writes its hourly counters at most once a second (chalicelib.tally): wait past that, so
    # each measured batch pays its counter write, as a trickle of batches does (at volume it is ~0 per
    # webhook), and the figure does not depend on how fast this machine runs the batches.
    time.sleep(2 * FLUSH_INTERVAL + 0.1)
    counter.reset()
    counter.sizes.clear()
    esm.reset()

    stages: dict[str, Stage] = {}
    events = [ingest_event(source_id, body, str(uuid.uuid4())) for _ in range(n)]
    with counted_output() as sinks:
        begin = time.perf_counter()
        replies = [app(event, context) for event in events]
        api_seconds = time.perf_counter() - begin
    if any(r["statusCode"] != 202 for r in replies):
        raise AssertionError(f"not every webhook was accepted: {[r['statusCode'] for r in replies]}")
    stages["api"] = _stage(counter, sinks, n, api_seconds)
    for stage in ("router", "sender"):
        counter.reset()
        with counted_output() as sinks:
            expected = 0 if stage == "sender" and first_attempt is not None else n
            invocations, _, seconds = drain(stage, expected)
        stages[stage] = _stage(counter, sinks, invocations, seconds)
    got = len(receivers.at(path))
    if got != n + 1:
        raise AssertionError(f"the receiver got {got} deliveries, expected {n + 1}")
    # The warm-up webhook is stored too: n + 1 webhooks' data.
    stored = {kind: size / (n + 1) for kind, size in counter.stored().items()}
    sizes = {kind: list(values) for kind, values in counter.sizes.items()}  # not what follows
    counts = Counts(n=n, stages=stages, esm_calls=Counter(esm.calls), sizes=sizes, stored=stored)
    if first_attempt is not None:
        with counted_output():
            first_attempt.update(
                _router_batches(app, context, container, source_id, receivers, workers["router"])
            )
    return counts


def _router_batches(
    app: Any, context: Any, container: Any, source_id: str, receivers: Any, router: Any
) -> dict[str, float]:
    """Router batch durations (seconds) of one webhook to ten endpoints, in the same emulator: a run of
    ``RUN_BATCHES`` all healthy, then a run of as many with one receiver hanging ``HANG_SECONDS`` on every
    request. ``healthy`` and ``hanging``: each run's mean; ``first``: the hanging run's first batch (the one
    that meets the receiver turning slow and waits the straggler grace); ``rest``: the mean of the others
    (the router queues that endpoint's attempts once its sender saw it slow)."""
    from testkit.receivers import Step

    paths = [f"/ten-{i}" for i in range(FIRST_ATTEMPT_ENDPOINTS - 1)]  # with figure 8's own endpoint: ten
    for path in paths:
        container.endpoints.create(parse_create_endpoint({"url": receivers.url(path)}), OPERATOR)
    body = json_body(1024)

    def batch() -> float:
        if app(ingest_event(source_id, body, str(uuid.uuid4())), context)["statusCode"] != 202:
            raise AssertionError("a webhook was not accepted")
        begin = time.perf_counter()
        deadline = time.monotonic() + 30
        while not router.poll_once() and time.monotonic() < deadline:
            begin = time.perf_counter()  # the long poll's empty answers are not the batch's
        return time.perf_counter() - begin

    batch()  # warms the nine new endpoints' connections
    healthy = [batch() for _ in range(RUN_BATCHES)]
    receivers.script(paths[0], *[Step(delay=HANG_SECONDS)] * RUN_BATCHES)
    hanging = [batch() for _ in range(RUN_BATCHES)]
    time.sleep(HANG_SECONDS)  # let the straggler finish before the emulator stops
    return {
        "healthy": sum(healthy) / len(healthy),
        "hanging": sum(hanging) / len(hanging),
        "first": hanging[0],
        "rest": sum(hanging[1:]) / len(hanging[1:]),
    }


def _stage(counter: CapacityCounter, sinks: dict[str, Any], invocations: int, seconds: float) -> Stage:
    return Stage(
        calls=Counter(counter.calls),
        wcu=Counter(counter.wcu),
        rcu=Counter(counter.rcu),
        sqs_chunks=Counter(counter.sqs_chunks),
        stdout_bytes=sinks["stdout"].bytes,
        log_bytes=sinks["logs"].bytes,
        invocations=invocations,
        seconds=seconds,
    )


def _fmt(values: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in values.items()) or "none"


def run(quick: bool) -> list[Row]:
    """Measure and print figure 8; return its table rows."""
    say("== 8. AWS calls per delivered webhook, POST /in to the sender's success (moto server over HTTP)")
    counts = measure(quick)
    tenant = measure(quick, tenant=True)
    n = counts.n
    for name in STAGES:
        stage = counts.stages[name]
        say(
            f"   {name:<6} ({stage.invocations} invocation(s) for N={n}): "
            f"{_fmt(counts.per_webhook(stage.calls))} per webhook"
        )
    esm = counts.per_webhook(counts.esm_calls)
    say(
        f"   made by the event source mapping (local.worker here), measured: {_fmt(esm)} per webhook; "
        f"modelled as 1 ReceiveMessage + 1 DeleteMessageBatch per batch of {ESM_BATCH}, per queue: "
        f"{4 / ESM_BATCH:.1f} per webhook"
    )
    calls = counts.total("calls")
    ours = sum(calls.values()) / n
    wcu, rcu = counts.total("wcu"), counts.total("rcu")
    wcu_total, rcu_total = sum(wcu.values()) / n, sum(rcu.values()) / n
    sizes = {what: sum(v) / len(v) for what, v in sorted(counts.sizes.items())}
    say(
        f"   DynamoDB per webhook: {counts.writes:.2f} write requests = {wcu_total:.2f} write units "
        f"({_fmt(counts.per_webhook(wcu))}); read units {rcu_total:.2f} ({_fmt(counts.per_webhook(rcu))})"
    )
    say("   mean sizes (bytes): " + ", ".join(f"{k} {v:.0f}" for k, v in sizes.items()))
    by_stage = "; ".join(f"{s}: {_fmt(counts.per_webhook(counts.stages[s].calls))}" for s in STAGES)
    tenant_calls = sum(tenant.total("calls").values()) / tenant.n
    tenant_wcu = sum(tenant.total("wcu").values()) / tenant.n
    say(
        f"   with an application's source and endpoint: {tenant_calls:.2f} calls, {tenant_wcu:.2f} write units "
        f"per webhook (operator's own: {ours:.2f}, {wcu_total:.2f})"
    )
    first, batches = measure_first(quick)
    first_calls = sum(first.total("calls").values()) / first.n
    first_wcu = sum(first.total("wcu").values()) / first.n
    first_sqs = sum(sum(s.sqs_chunks.values()) for s in first.stages.values()) / first.n
    base_sqs = sum(sum(s.sqs_chunks.values()) for s in counts.stages.values()) / n
    first_invocations = sum(s.invocations for k, s in first.stages.items() if k != "api") / first.n
    base_invocations = sum(s.invocations for k, s in counts.stages.items() if k != "api") / n
    ratio = batches["hanging"] / batches["healthy"] if batches["healthy"] else float("nan")
    say(
        f"   router_first_attempt on: {first_calls:.2f} calls ({_fmt(first.per_webhook(first.total('calls')))}), "
        f"{first_wcu:.2f} write units, {first_sqs:.2f} SQS requests by our code, "
        f"{first_invocations:.2f} router+sender invocations per webhook (off: {ours:.2f}, {wcu_total:.2f}, "
        f"{base_sqs:.2f}, {base_invocations:.2f})"
    )
    say(
        f"   router batches of one webhook to ten endpoints, runs of {RUN_BATCHES}: mean "
        f"{batches['healthy'] * 1000:.0f} ms all healthy, {batches['hanging'] * 1000:.0f} ms with one receiver "
        f"hanging {HANG_SECONDS:g} s: ratio {ratio:.2f} (its first batch {batches['first'] * 1000:.0f} ms: "
        f"the straggler grace; the {RUN_BATCHES - 1} after it {batches['rest'] * 1000:.0f} ms: queued as slow)"
    )
    first_rows = [
        Row(
            "AWS calls per delivered webhook, router first attempt",
            first_calls,
            ours,
            "",
            note="stage setting router_first_attempt (on by default): the router claims the first attempt in "
            "the message's own PutItem, POSTs through the sender's code and records a success "
            "in the router batch's result item and packed endpoint listing (others on the attempt item); nothing on the deliveries queue for a first-try success; per webhook: "
            + "; ".join(f"{s}: {_fmt(first.per_webhook(first.stages[s].calls))}" for s in STAGES)
            + ". Reference: the same pipeline with the setting off (this figure's first row)",
        ),
        Row(
            "DynamoDB write units per delivered webhook, router first attempt",
            first_wcu,
            wcu_total,
            "WRU",
            note=f"{_fmt(first.per_webhook(first.total('wcu')))}; mean item sizes: "
            + ", ".join(
                f"{k} {sum(v) / len(v):.0f} B" for k, v in sorted(first.sizes.items()) if k.endswith(" item")
            )
            + ". Reference: the setting off",
        ),
        Row(
            "SQS requests by our code per delivered webhook, router first attempt",
            first_sqs,
            base_sqs,
            "",
            note="billed 64 KB chunks of SendMessage(Batch) made by Hookway's code (the trigger's own Receive/"
            "Delete come on top: the deliveries queue's disappear with the setting on). Reference: off",
        ),
        Row(
            "router + sender invocations per delivered webhook, router first attempt",
            first_invocations,
            base_invocations,
            "",
            note=f"measured batches as local.worker formed them (N={first.n}); with full batches of "
            f"{ESM_BATCH}: 0.10 against 0.20. Reference: the setting off",
        ),
        Row(
            "router batches over a run with one hanging receiver among ten, router first attempt",
            ratio,
            1.0,
            "x",
            note=f"one webhook per batch to ten endpoints, {RUN_BATCHES} batches a run, same emulator: mean "
            f"{batches['hanging'] * 1000:.0f} ms with one receiver taking {HANG_SECONDS:g} s on every request "
            f"against {batches['healthy'] * 1000:.0f} ms with ten healthy; the first batch of the hanging run "
            f"{batches['first'] * 1000:.0f} ms (the straggler, handed off {0.25:g} s after the others finish, "
            f"marks its endpoint slow), the {RUN_BATCHES - 1} after it {batches['rest'] * 1000:.0f} ms (the "
            "router queues a slow endpoint's first attempts: Sender.is_unhealthy); reference: 1.0 (no effect)",
        ),
    ]
    rows = [
        Row(
            "AWS calls per delivered webhook",
            ours,
            None,
            "",
            note=f"made by Hookway's code, one endpoint, first-try success, N={n} 1 KB GitHub webhooks after "
            f"one warm-up, real adapters on moto over HTTP, per webhook: {by_stage}",
        ),
        Row(
            "+ calls by the event source mapping",
            4 / ESM_BATCH,
            None,
            "",
            note=f"not made by Hookway's code: Lambda's SQS trigger makes 1 ReceiveMessage + 1 "
            f"DeleteMessageBatch per batch of {ESM_BATCH} on each of the two queues, amortised over the batch "
            f"size (measured with local.worker: {_fmt(esm)}); its empty long polls while idle are not counted",
        ),
        Row(
            "DynamoDB writes per delivered webhook",
            counts.writes,
            None,
            "",
            WRITE_TARGET,
            at_most=True,
            note="write requests (PutItem/UpdateItem/DeleteItem/BatchWriteItem; the UpdateItems are the hourly "
            "counters, at most one a second per container: the run waits for that, so each batch pays one, as a "
            "trickle does (at volume ~0 per webhook); the BatchWriteItems the packed listings of a router batch "
            "and the result and endpoint listing of a sender batch): "
            + _fmt(
                {k: v for k, v in counts.per_webhook(calls).items() if k.split(".")[-1] in DYNAMODB_WRITES}
            ),
        ),
        Row(
            "DynamoDB write units per delivered webhook",
            wcu_total,
            None,
            "WRU",
            note=f"what those writes cost on-demand: {_fmt(counts.per_webhook(wcu))} (1 unit per started KB of "
            f"the larger of the old and new item; indexes ({GSI_PROJECTION}, read from infra/stack.py): "
            "a new index entry costs 1 unit, an overwrite that keeps the index key none); mean item sizes: "
            + ", ".join(f"{k} {v:.0f} B" for k, v in sizes.items() if k.endswith(" item")),
        ),
        Row(
            "AWS calls per delivered webhook, application's",
            tenant_calls,
            ours,
            "",
            1.0,
            note="the same pipeline with the source and the endpoint belonging to an application, measured "
            "in the same emulator right after; against the operator's own (target: no more calls): "
            + "; ".join(f"{s}: {_fmt(tenant.per_webhook(tenant.stages[s].calls))}" for s in STAGES),
        ),
        Row(
            "DynamoDB write units per delivered webhook, application's",
            tenant_wcu,
            wcu_total,
            "WRU",
            note=f"{_fmt(tenant.per_webhook(tenant.total('wcu')))}: the application's packed listing item "
            "(`LIST#APP#`, one per router batch) is the difference",
        ),
    ]
    return rows + first_rows
