"""Figure 18: memory per function from measurements: peak RSS and CPU time per batch of each function.

Each function runs in a fresh python3.13 process as Lambda runs it: the staged package (``vendor/`` and
the app), boto3 from the interpreter, real clients against moto's server. The process imports the app,
takes its first invocation (cold: clients, caches) and then warm ones, and reports its peak resident set
(``ru_maxrss``, what Lambda's "Max Memory Used" counts for the function's own process) and the CPU time and
wall time of each invocation. The events are real: the api gets signed 1 KB GitHub webhooks, the router
the ingest queue's records the api wrote, the sender the delivery tasks the router wrote (to a loopback
receiver), the sweep its hourly schedule event, the dead-letter handler an empty batch.

Lambda gives a function CPU in proportion to its memory (one vCPU at 1,769 MB). What is measured and what
is modelled, for each warm invocation:

* **measured**: its CPU time (the function's own time: Python, hashing, TLS, and botocore building and
  reading its requests; every thread of the process) and wall time; every AWS call it makes (counted by
  operation, and timed: moto over loopback answers in a few to a few hundred ms, far from AWS) and every
  POST to a receiver (counted, timed; the loopback receiver answers at once);
* **raw** duration at a size: CPU / share + the time spent waiting (wall - CPU, moto's waits included);
* **modelled** duration at a size (what the cost rows price): CPU / share + the AWS calls on the
  invocation's critical path x ``AWS_CALL_MS`` + the POSTs on it x ``RECEIVER_MS``. The critical path is
  the calls made by the handler's own thread plus those of its busiest other thread (a batch's tasks run on
  threads side by side, so their calls overlap; the handler's thread reads before and records after them).

``AWS_CALL_MS`` (an assumption, stated): one DynamoDB or SQS request from Lambda in the same region, keep-alive
connection. AWS describes DynamoDB as "consistent, single-digit millisecond latency at any scale" (the
description of the AWS SDK's DynamoDB package, https://www.nuget.org/packages/AWSSDK.DynamoDBv2/, and the
product page); for SQS a latency under 10 ms on publish and receive is the usual figure (secondary source:
https://massipssa.github.io/Docs/docs/cloud/aws/Collection/sqs). 10 ms, the top of single digits, is used for
every call. ``RECEIVER_MS`` (an assumption, stated): a receiver answers a POST in 100 ms (the scale review's
"receivers answer in < 100 ms"); the loopback receiver here answers in about 1 ms, which the raw duration
keeps. CPU time here is this machine's core; a Graviton core is about as fast for this code (pure Python,
hashing, TLS), which is an assumption, stated.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.report import ROOT, Row, say

BUILD = ROOT / "build" / "bench"
FULL_VCPU_MB = 1769
SIZES = (128, 256, 512, 1024, 1769)
BATCH = 10
HABIT_MB = 512  # the one size every function had before
# Invocations per webhook as a stage runs by default: the router makes the first attempts
# (router_first_attempt), so a first-try success costs no sender invocation.
SHARE_PER_WEBHOOK = {"api": 1.0, "router_first": 1 / BATCH}
AWS_CALL_MS = 10.0  # one AWS request in-region (DynamoDB, SQS): assumed, see the module's docstring
RECEIVER_MS = 100.0  # a receiver's answer to a POST: assumed, see the module's docstring

# Run in the measuring process once the app is imported and wired (so the init figure is untouched): time
# and count every AWS call (botocore) and every POST to a receiver (the egress transport), by thread.
_PROBE = r"""
import threading as _threading
import botocore.client as _botocore_client
from chalicelib.outbound import egress as _egress

_RECORDS = []
_RECORDS_LOCK = _threading.Lock()


def _timed(kind, name, fn):
    cpu, wall = time.thread_time(), time.perf_counter()
    try:
        return fn()
    finally:
        record = (_threading.get_ident(), kind, name, (time.perf_counter() - wall) * 1000,
                  (time.thread_time() - cpu) * 1000)
        with _RECORDS_LOCK:
            _RECORDS.append(record)


_api_call = _botocore_client.BaseClient._make_api_call


def _make_api_call(self, operation_name, api_params):
    name = self.meta.service_model.service_name + "." + operation_name
    return _timed("aws", name, lambda: _api_call(self, operation_name, api_params))


_botocore_client.BaseClient._make_api_call = _make_api_call
_send = _egress.Transport.send
_egress.Transport.send = lambda self, request: _timed("post", "POST", lambda: _send(self, request))


def _taken():
    with _RECORDS_LOCK:
        taken = list(_RECORDS)
        del _RECORDS[:]
    return taken
"""

_CHILD = r"""
import json, resource, sys, time
sys.path[:0] = [{vendor!r}, {project!r}]
events = json.load(open({events!r}))
cpu, wall = time.process_time(), time.perf_counter()
import app
from chalicelib import wiring
wiring.api_root() if {role!r} == "api" else wiring.worker_root()
init = {{"cpu_ms": (time.process_time() - cpu) * 1000, "wall_ms": (time.perf_counter() - wall) * 1000}}
class Context:
    function_name = "hookway-bench"; memory_limit_in_mb = 512; aws_request_id = "r-1"
    def get_remaining_time_in_millis(self): return 30000
handler = {{"api": app.app, "router": app.route_ingest, "sender": app.deliver, "sweep": app.sweep,
           "dead_letters": app.dead_letters}}[{role!r}]
exec({probe!r})
calls = []
for event in events:
    _taken()
    cpu, wall = time.process_time(), time.perf_counter()
    reply = handler(event, Context())
    call = {{"cpu_ms": (time.process_time() - cpu) * 1000, "wall_ms": (time.perf_counter() - wall) * 1000}}
    call["records"] = [list(r) for r in _taken()]
    call["main"] = _threading.get_ident()
    calls.append(call)
    if {role!r} == "api":
        assert reply["statusCode"] == 202, reply
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT " + json.dumps({{"init": init, "calls": calls, "rss_mb": rss_mb}}), flush=True)
"""


def _host_architecture() -> str:
    return "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"


def _run_child(
    python: Path, project: Path, env: dict[str, str], role: str, events: list[Any]
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(events, handle)
    try:
        code = _CHILD.format(
            vendor=str(project / "vendor"), project=str(project), events=handle.name, role=role, probe=_PROBE
        )
        done = subprocess.run(
            [str(python), "-c", code], cwd=project, env=env, capture_output=True, text=True, check=False
        )
    finally:
        os.unlink(handle.name)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{role}: the measuring process failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def _batches(sqs: Any, url: str, count: int) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """``count`` SQS events of up to ``BATCH`` records each, as Lambda's mapping builds them (the messages
    stay invisible until ``_delete``)."""
    from local.worker import sqs_event

    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events: list[dict[str, Any]] = []
    received: list[list[dict[str, Any]]] = []
    deadline = time.monotonic() + 60
    while len(events) < count and time.monotonic() < deadline:
        batch: list[dict[str, Any]] = []
        while len(batch) < BATCH and time.monotonic() < deadline:
            got = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=BATCH - len(batch),
                WaitTimeSeconds=1,
                VisibilityTimeout=600,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            batch += got
        events.append(sqs_event(batch, arn, "us-east-1"))
        received.append(batch)
    if len(events) < count or any(len(b) < BATCH for b in received):
        raise RuntimeError(f"{url}: expected {count} full batches, got {[len(b) for b in received]}")
    return events, received


def _delete(sqs: Any, url: str, received: list[list[dict[str, Any]]]) -> None:
    for batch in received:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        sqs.delete_message_batch(QueueUrl=url, Entries=entries)


_LAST: dict[str, dict[str, Any]] = {}


def measure() -> dict[str, dict[str, Any]]:
    """Peak RSS, init and per-invocation CPU and wall time of each function (api per request, router and
    sender per batch of 10), each in its own fresh python3.13 process; measured once per process (figure 9
    prices the durations figure 18 measured)."""
    if not _LAST:
        _LAST.update(_measure())
    return _LAST


# infra.stack.MEMORY keys; ``router_first``: the router with router_first_attempt on (the default), its
# batch making the first attempts; ``router`` and ``sender``: the setting off, each on its own batch.
ROLE_MEMORY = {
    "api": "api_handler",
    "router": "route_ingest",
    "sender": "deliver",
    "router_first": "route_ingest",
}


def warm_durations() -> dict[str, float]:
    """Seconds per warm invocation of the api (per request), the router and the sender (per batch of 10)
    at the memory each is given (``infra.stack.MEMORY``), modelled on AWS (``modelled``): the function's
    own CPU time at that share + its AWS calls and POSTs on the critical path at the stated latencies."""
    from infra.stack import MEMORY

    found = measure()
    return {
        role: modelled(warm_split(found[role]), MEMORY[key])[0] / 1000
        for role, key in ROLE_MEMORY.items()
        if role in found
    }


def raw_warm_durations() -> dict[str, float]:
    """The same, raw: CPU at that share + every wait as measured here (moto over loopback included)."""
    from infra.stack import MEMORY

    out = {}
    found = measure()
    for role, key in ROLE_MEMORY.items():
        if role not in found:
            continue
        split = warm_split(found[role])
        out[role] = estimate(split.cpu_ms, split.wall_ms, MEMORY[key])[0] / 1000
    return out


@dataclass(frozen=True)
class Split:
    """An invocation's time, split: its own CPU, its AWS calls and its POSTs (a mean over warm ones)."""

    cpu_ms: float
    wall_ms: float
    aws_calls: float  # AWS requests made, every thread
    aws_path: float  # of which on the critical path (the handler's thread + its busiest other thread)
    aws_ms: float  # wall time inside the AWS calls, summed over threads (moto's, not AWS's)
    posts: float  # POSTs to receivers
    post_path: float
    post_ms: float
    ops: dict[str, float] = field(default_factory=dict)  # AWS calls by "service.Operation"


def _path(records: list[list[Any]], main: int, kind: str) -> int:
    per_thread: dict[int, int] = {}
    for thread, what, *_ in records:
        if what == kind:
            per_thread[thread] = per_thread.get(thread, 0) + 1
    others = [n for thread, n in per_thread.items() if thread != main]
    return per_thread.get(main, 0) + max(others, default=0)


def split(call: dict[str, Any]) -> Split:
    """One invocation's measured record (the probe's ``records``: thread, kind, name, wall ms, CPU ms)."""
    records: list[list[Any]] = call.get("records", [])
    main = int(call.get("main", 0))
    aws = [r for r in records if r[1] == "aws"]
    posts = [r for r in records if r[1] == "post"]
    ops: dict[str, float] = {}
    for r in aws:
        ops[r[2]] = ops.get(r[2], 0) + 1
    return Split(
        cpu_ms=float(call["cpu_ms"]),
        wall_ms=float(call["wall_ms"]),
        aws_calls=len(aws),
        aws_path=_path(records, main, "aws"),
        aws_ms=sum(float(r[3]) for r in aws),
        posts=len(posts),
        post_path=_path(records, main, "post"),
        post_ms=sum(float(r[3]) for r in posts),
        ops=ops,
    )


def mean_split(splits: list[Split]) -> Split:
    """The mean of several invocations' splits."""
    n = len(splits)
    names = sorted({name for one in splits for name in one.ops})
    return Split(
        **{
            attr: sum(getattr(one, attr) for one in splits) / n
            for attr in (
                "cpu_ms",
                "wall_ms",
                "aws_calls",
                "aws_path",
                "aws_ms",
                "posts",
                "post_path",
                "post_ms",
            )
        },
        ops={name: sum(one.ops.get(name, 0) for one in splits) / n for name in names},
    )


def warm_split(found: dict[str, Any]) -> Split:
    """The mean split of a function's warm invocations (every one but the first)."""
    warm = found["calls"][1:] or found["calls"]
    return mean_split([split(call) for call in warm])


def modelled(one: Split, memory_mb: int) -> tuple[float, float]:
    """(duration ms, GB-seconds) of an invocation on AWS at ``memory_mb``, modelled: its own CPU time at that
    share of a vCPU + its AWS calls on the critical path x ``AWS_CALL_MS`` + its POSTs on it x
    ``RECEIVER_MS``. What it waited for here (moto, the loopback receiver) is left out."""
    share = min(1.0, memory_mb / FULL_VCPU_MB)
    duration = one.cpu_ms / share + one.aws_path * AWS_CALL_MS + one.post_path * RECEIVER_MS
    return duration, duration / 1000 * memory_mb / 1024


def _measure() -> dict[str, dict[str, Any]]:
    from bench.coldstart import _create_source
    from bench.fixtures import GITHUB_SECRET, ingest_event, json_body
    from infra.deploy import runtime_python
    from infra.package import stage_project
    from local import emulator
    from testkit import aws
    from testkit.receivers import Receivers

    python = runtime_python()
    project = BUILD / "memory"
    stage_project(project, architecture=_host_architecture())
    receivers = Receivers()
    try:
        with aws.moto_server() as endpoint:
            env_aws = emulator.deploy(endpoint)
            env = {
                "PATH": os.environ.get("PATH", ""),
                **env_aws,
                "AWS_ENDPOINT_URL": endpoint,
                "HOOKWAY_STAGE": "local",
                "HOOKWAY_ADMIN_KEY": "hk_bench_memory",
                "HOOKWAY_LOG_LEVEL": "INFO",
                # Each role measured on its own batch: the router queues every delivery (the default
                # router's batch is priced as its own time plus the sender's: bench/cost.py).
                "HOOKWAY_ROUTER_FIRST_ATTEMPT": "false",
                "HOOKWAY_ALLOW_PRIVATE_DESTINATIONS": "true",
                "HOOKWAY_ALLOW_HTTP": "true",
                "PYTHONDONTWRITEBYTECODE": "1",
            }
            source_id = _create_source(env, GITHUB_SECRET)
            _create_endpoint(env, receivers.url("/memory"))
            sqs = aws.client("sqs", endpoint)
            results: dict[str, dict[str, Any]] = {}
            body = json_body(1024)
            # the api: one cold request, then 4 x 10 warm ones (they feed the routers' two batches each)
            api_events = [ingest_event(source_id, body, f"d-{uuid.uuid4()}") for _ in range(1 + 4 * BATCH)]
            results["api"] = _run_child(python, project, env, "api", api_events)
            # the router and the sender: a cold batch of 10, then a warm one (the api's 21st record stays)
            for role, queue in (
                ("router", "HOOKWAY_INGEST_QUEUE_URL"),
                ("sender", "HOOKWAY_DELIVERIES_QUEUE_URL"),
            ):
                url = env_aws[queue]
                events, received = _batches(sqs, url, 2)
                results[role] = _run_child(python, project, env, role, events)
                _delete(sqs, url, received)
            # the router as a stage runs it by default: its batches make the first attempts themselves
            url = env_aws["HOOKWAY_INGEST_QUEUE_URL"]
            events, received = _batches(sqs, url, 2)
            first_env = {**env, "HOOKWAY_ROUTER_FIRST_ATTEMPT": "true"}
            results["router_first"] = _run_child(python, project, first_env, "router", events)
            _delete(sqs, url, received)
            schedule = {
                "version": "0",
                "id": "bench",
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "123456789012",
                "time": "2026-12-07T00:00:00Z",
                "region": "us-east-1",
                "resources": [],
                "detail": {},
            }
            results["sweep"] = _run_child(python, project, env, "sweep", [schedule, schedule])
            results["dead_letters"] = _run_child(python, project, env, "dead_letters", [{"Records": []}])
            got = len(receivers.at("/memory"))
            if got < 4 * BATCH:
                raise RuntimeError(f"the receiver got {got} deliveries, expected at least {4 * BATCH}")
            return results
    finally:
        receivers.close()


def _create_endpoint(env: dict[str, str], url: str) -> None:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        from chalicelib import wiring
        from chalicelib.scope import OPERATOR

        wiring.reset()
        from chalicelib.api.endpoints import parse_create

        wiring.api_root().endpoints.create(parse_create({"url": url}), OPERATOR)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        from chalicelib import wiring

        wiring.reset()


def estimate(cpu_ms: float, wall_ms: float, memory_mb: int) -> tuple[float, float]:
    """(duration ms, GB-seconds) of an invocation at ``memory_mb``: its CPU time at that share of a vCPU
    plus the time it waits, which memory does not shorten."""
    share = min(1.0, memory_mb / FULL_VCPU_MB)
    duration = cpu_ms / share + max(0.0, wall_ms - cpu_ms)
    return duration, duration / 1000 * memory_mb / 1024


def _ops(one: Split) -> str:
    return ", ".join(f"{name} {count:g}" for name, count in one.ops.items()) or "none"


def assumptions() -> str:
    """The modelled duration's assumptions, as printed in the notes (figures 9 and 18)."""
    return (
        f"modelled on AWS = own CPU time at the memory's share of a vCPU (measured) + AWS calls on the "
        f"critical path (counted) x {AWS_CALL_MS:g} ms (AWS_CALL_MS, assumed: DynamoDB's single-digit ms, SQS "
        f"under 10 ms, in-region) + POSTs on it x {RECEIVER_MS:g} ms (RECEIVER_MS, assumed receiver answer "
        "time); raw = CPU at that share + every wait measured here, moto over loopback and a loopback "
        "receiver (about 1 ms) included"
    )


def run(quick: bool) -> list[Row]:
    """Measure and print figure 18; return its table rows."""
    from infra.stack import MEMORY

    say(
        "== 18. memory per function: peak RSS and CPU per invocation (fresh python3.13 each, real clients on moto)"
    )
    results = measure()
    keys = {**ROLE_MEMORY, "sweep": "sweep", "dead_letters": "dead_letters"}
    rows = []
    per_webhook = {"chosen": 0.0, "habit": 0.0, "raw": 0.0}
    for role, found in results.items():
        one = warm_split(found)
        cpu, wall = one.cpu_ms, one.wall_ms
        cold = found["calls"][0]
        chosen = MEMORY[keys[role]]
        per = "request" if role == "api" else "invocation"
        if role in SHARE_PER_WEBHOOK:
            per_webhook["chosen"] += modelled(one, chosen)[1] * 1000 * SHARE_PER_WEBHOOK[role]
            per_webhook["habit"] += modelled(one, HABIT_MB)[1] * 1000 * SHARE_PER_WEBHOOK[role]
            per_webhook["raw"] += estimate(cpu, wall, chosen)[1] * 1000 * SHARE_PER_WEBHOOK[role]
        estimates = ", ".join(
            f"{size} MB {modelled(one, size)[0]:.0f} ms = {modelled(one, size)[1] * 1000:.1f} GB-ms"
            for size in SIZES
        )
        raw = estimate(cpu, wall, chosen)[0]
        model = modelled(one, chosen)[0]
        share = min(1.0, chosen / FULL_VCPU_MB)
        split_text = (
            f"own CPU {cpu:.1f} ms (measured); {one.aws_calls:g} AWS calls ({_ops(one)}; counted), "
            f"{one.aws_path:g} on the critical path, {one.aws_ms:.1f} ms inside them on moto; {one.posts:g} "
            f"POSTs to receivers ({one.post_path:g} on the path, {one.post_ms:.1f} ms on loopback); at {chosen} "
            f"MB: modelled {model:.1f} ms = {cpu / share:.1f} CPU + {one.aws_path:g} x {AWS_CALL_MS:g} + "
            f"{one.post_path:g} x {RECEIVER_MS:g}; raw (measured on moto) {raw:.1f} ms"
        )
        # The cold start's CPU at the chosen share (its waits on moto's first calls say little about AWS).
        cold_cpu_at = (found["init"]["cpu_ms"] + cold["cpu_ms"]) / share
        say(
            f"   {role:<12} peak RSS {found['rss_mb']:.0f} MB; init {found['init']['cpu_ms']:.0f} ms CPU; "
            f"first {per} {cold['cpu_ms']:.0f} ms CPU (init + first: {cold_cpu_at:.0f} ms of CPU at "
            f"{chosen} MB's share); warm {cpu:.1f} ms CPU / {wall:.1f} ms wall per {per}"
        )
        say(f"   {'':<12} warm {per} split: {split_text}")
        say(f"   {'':<12} warm {per} modelled at each size: {estimates}")
        rows.append(
            Row(
                f"peak RSS, {role} ({chosen} MB chosen)",
                found["rss_mb"],
                chosen,
                "MB",
                note=f"reference: the memory chosen (infra/stack.py MEMORY); warm {per}: {cpu:.1f} ms CPU, "
                f"{wall:.1f} ms wall; {split_text}; init {found['init']['cpu_ms']:.0f} ms CPU, first {per} "
                f"{cold['cpu_ms']:.0f} ms CPU; modelled at each size: {estimates}",
            )
        )
    say(
        f"   per delivered webhook (api + a tenth of a router batch making the first attempts, the default): "
        f"{per_webhook['chosen']:.1f} "
        f"GB-ms modelled at the chosen sizes, {per_webhook['habit']:.1f} GB-ms at {HABIT_MB} MB each; raw on "
        f"moto {per_webhook['raw']:.1f} GB-ms"
    )
    say(f"   {assumptions()}")
    rows += [
        Row(
            "Lambda GB-ms per delivered webhook, chosen memory",
            per_webhook["chosen"],
            per_webhook["habit"],
            "GB-ms",
            note=f"reference: every function at {HABIT_MB} MB (the old single setting); both modelled on AWS "
            f"from the warm invocations measured above: {assumptions()}",
        ),
        Row(
            "  raw: GB-ms per delivered webhook measured on moto",
            per_webhook["raw"],
            per_webhook["chosen"],
            "GB-ms",
            note="the same invocations at the chosen memory with every wait as measured on the local emulator "
            "(moto's answers over loopback, a loopback receiver), against the modelled figure above: what the "
            "model replaces moto's waits (they follow this machine's load: slower or faster than AWS from run "
            "to run) and the loopback receiver's by the stated latencies, not the function's own work",
        ),
    ]
    return rows
