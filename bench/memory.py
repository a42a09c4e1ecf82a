"""Figure 18: memory per function from measurements: peak RSS and CPU time per batch of each function.

Each function runs in a fresh python3.13 process as Lambda runs it: the staged package (``vendor/`` and
the app), boto3 from the interpreter, real clients against moto's server. The process imports the app,
takes its first invocation (cold: clients, caches) and then warm ones, and reports its peak resident set
(``ru_maxrss``, what Lambda's "Max Memory Used" counts for the function's own process) and the CPU time and
wall time of each invocation. The events are real: the api gets signed 1 KB GitHub webhooks, the router
the ingest queue's records the api wrote, the sender the delivery tasks the router wrote (to a loopback
receiver), the sweep its hourly schedule event, the dead-letter handler an empty batch.

Lambda gives a function CPU in proportion to its memory (one vCPU at 1,769 MB). For each size the figure
estimates an invocation's duration as CPU time / share + the time spent waiting (wall - CPU, which memory
does not shorten), and its cost in GB-seconds. CPU time here is this machine's core; a Graviton core is
about as fast for this code (pure Python, hashing, TLS), which is an assumption, stated.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.report import ROOT, Row, say

BUILD = ROOT / "build" / "bench"
FULL_VCPU_MB = 1769
SIZES = (128, 256, 512, 1024, 1769)
BATCH = 10
HABIT_MB = 512  # the one size every function had before
SHARE_PER_WEBHOOK = {"api": 1.0, "router": 1 / BATCH, "sender": 1 / BATCH}  # invocations per webhook

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
calls = []
for event in events:
    cpu, wall = time.process_time(), time.perf_counter()
    reply = handler(event, Context())
    calls.append({{"cpu_ms": (time.process_time() - cpu) * 1000, "wall_ms": (time.perf_counter() - wall) * 1000}})
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
            vendor=str(project / "vendor"), project=str(project), events=handle.name, role=role
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


def warm_durations() -> dict[str, float]:
    """Seconds per warm invocation of the api (per request), the router and the sender (per batch of 10)
    at the memory each is given (``infra.stack.MEMORY``), estimated as ``estimate`` does."""
    from infra.stack import MEMORY

    keys = {"api": "api_handler", "router": "route_ingest", "sender": "deliver"}
    out = {}
    for role, key in keys.items():
        found = measure()[role]
        warm = found["calls"][1:] or found["calls"]
        cpu = sum(c["cpu_ms"] for c in warm) / len(warm)
        wall = sum(c["wall_ms"] for c in warm) / len(warm)
        out[role] = estimate(cpu, wall, MEMORY[key])[0] / 1000
    return out


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
                "HOOKWAY_ALLOW_PRIVATE_DESTINATIONS": "true",
                "HOOKWAY_ALLOW_HTTP": "true",
                "PYTHONDONTWRITEBYTECODE": "1",
            }
            source_id = _create_source(env, GITHUB_SECRET)
            _create_endpoint(env, receivers.url("/memory"))
            sqs = aws.client("sqs", endpoint)
            results: dict[str, dict[str, Any]] = {}
            body = json_body(1024)
            # the api: one cold request, then 2 x 10 warm ones (they feed the router's two batches)
            api_events = [ingest_event(source_id, body, f"d-{uuid.uuid4()}") for _ in range(1 + 2 * BATCH)]
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
            if got < 2 * BATCH:
                raise RuntimeError(f"the receiver got {got} deliveries, expected at least {2 * BATCH}")
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


def run(quick: bool) -> list[Row]:
    """Measure and print figure 18; return its table rows."""
    from infra.stack import MEMORY

    say(
        "== 18. memory per function: peak RSS and CPU per invocation (fresh python3.13 each, real clients on moto)"
    )
    results = measure()
    keys = {
        "api": "api_handler",
        "router": "route_ingest",
        "sender": "deliver",
        "sweep": "sweep",
        "dead_letters": "dead_letters",
    }
    rows = []
    per_webhook = {"chosen": 0.0, "habit": 0.0}
    for role, found in results.items():
        warm = found["calls"][1:] or found["calls"]
        cpu = sum(c["cpu_ms"] for c in warm) / len(warm)
        wall = sum(c["wall_ms"] for c in warm) / len(warm)
        cold = found["calls"][0]
        chosen = MEMORY[keys[role]]
        per = "request" if role == "api" else "invocation"
        if role in SHARE_PER_WEBHOOK:
            per_webhook["chosen"] += estimate(cpu, wall, chosen)[1] * 1000 * SHARE_PER_WEBHOOK[role]
            per_webhook["habit"] += estimate(cpu, wall, HABIT_MB)[1] * 1000 * SHARE_PER_WEBHOOK[role]
        estimates = ", ".join(
            f"{size} MB {estimate(cpu, wall, size)[0]:.0f} ms = {estimate(cpu, wall, size)[1] * 1000:.1f} GB-ms"
            for size in SIZES
        )
        # The cold start's CPU at the chosen share (its waits on moto's first calls say little about AWS).
        cold_cpu_at = (found["init"]["cpu_ms"] + cold["cpu_ms"]) / min(1.0, chosen / FULL_VCPU_MB)
        say(
            f"   {role:<12} peak RSS {found['rss_mb']:.0f} MB; init {found['init']['cpu_ms']:.0f} ms CPU; "
            f"first {per} {cold['cpu_ms']:.0f} ms CPU (init + first: {cold_cpu_at:.0f} ms of CPU at "
            f"{chosen} MB's share); warm {cpu:.1f} ms CPU / {wall:.1f} ms wall per {per}"
        )
        say(f"   {'':<12} warm {per} at each size: {estimates}")
        rows.append(
            Row(
                f"peak RSS, {role} ({chosen} MB chosen)",
                found["rss_mb"],
                chosen,
                "MB",
                note=f"reference: the memory chosen (infra/stack.py MEMORY); warm {per}: {cpu:.1f} ms CPU, "
                f"{wall:.1f} ms wall; init {found['init']['cpu_ms']:.0f} ms CPU, first {per} "
                f"{cold['cpu_ms']:.0f} ms CPU; estimated at each size (CPU / share of a vCPU + waiting): "
                f"{estimates}",
            )
        )
    say(
        f"   per delivered webhook (api + a tenth of a router and of a sender batch): {per_webhook['chosen']:.1f} "
        f"GB-ms at the chosen sizes, {per_webhook['habit']:.1f} GB-ms at {HABIT_MB} MB each"
    )
    rows.append(
        Row(
            "Lambda GB-ms per delivered webhook, chosen memory",
            per_webhook["chosen"],
            per_webhook["habit"],
            "GB-ms",
            note=f"reference: every function at {HABIT_MB} MB (the old single setting); estimated from the "
            "warm invocations measured above, waits on moto included (slower than DynamoDB and SQS)",
        )
    )
    return rows
