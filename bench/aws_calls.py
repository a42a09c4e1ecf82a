"""Figure 4: AWS calls per accepted webhook on the ingest path, against moto's server over HTTP.

moto runs as a child process on loopback with the stack deployed from ``infra/stack.py``
(``local.emulator``); the app is pointed at it through the environment exactly as ``testkit/stack.py`` does.
Every boto3 client the container makes gets botocore ``before-call`` (API calls) and ``before-send`` (HTTP
attempts, retries included) hooks. After one warm-up webhook, N GitHub-signed webhooks go through the app
in-process (``app(event, context)``); then the router consumes them as the SQS trigger would.

For information, a fresh interpreter also times its first webhook against moto against its warm ones: the
cold path with real adapters (boto3 import, three clients, the source read).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench.fixtures import (
    ADMIN_KEY,
    GITHUB_SECRET,
    child_env,
    emulated_env,
    ingest_event,
    json_body,
    lambda_context,
    proxy_event,
)
from bench.report import ROOT, Row, median, quiet, say


class CallCounter:
    """Counts botocore API calls and HTTP attempts by ``service.Operation``."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.sends: Counter[str] = Counter()

    def watch(self, client: Any) -> Any:
        """Register the hooks on one client; returns it."""
        client.meta.events.register("before-call", self._on_call)
        client.meta.events.register("before-send", self._on_send)
        return client

    def _on_call(self, event_name: str, **_: Any) -> None:
        self.calls[event_name.removeprefix("before-call.")] += 1

    def _on_send(self, event_name: str, **_: Any) -> None:
        # Must return None: a value returned from before-send would replace the HTTP response.
        self.sends[event_name.removeprefix("before-send.")] += 1

    def reset(self) -> None:
        """Forget what was counted."""
        self.calls.clear()
        self.sends.clear()


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _wired_app(counter: CallCounter) -> tuple[Any, Any]:
    """The app module with a fresh container whose every boto3 client is watched by ``counter``."""
    import app as app_module
    from chalicelib import wiring

    wiring.reset()
    shared = wiring.shared()
    make_client: Callable[[str, Any], Any] = shared.client
    # The composition roots make every client through their Shared: watching its output watches them all.
    shared.client = lambda service, profile: counter.watch(make_client(service, profile))  # type: ignore[method-assign]
    return app_module, wiring.api_root()


def _create_source(app: Any, context: Any) -> str:
    body = json.dumps(
        {
            "name": "bench",
            "dedupe": "header:X-GitHub-Delivery",
            "verification": {"scheme": "github", "secrets": [GITHUB_SECRET]},
        }
    )
    event = proxy_event(
        "POST",
        "/v1/sources",
        "/v1/sources",
        body=body.encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {ADMIN_KEY}",
            "Host": "localhost",
        },
    )
    reply = app(event, context)
    if reply["statusCode"] != 201:
        raise AssertionError(f"could not create a source: {reply}")
    return str(json.loads(reply["body"])["id"])


def _sqs_records(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def _per_message(counter: Counter[str], n: int) -> str:
    return ", ".join(f"{op} {count / n:.2f}" for op, count in sorted(counter.items())) or "none"


def cold_child(source_id: str) -> dict[str, Any]:
    """In this fresh interpreter (environment pointing at moto): the first webhook vs warm ones (ms)."""
    import app as app_module

    body = json_body(1024)
    context = lambda_context()
    events = [ingest_event(source_id, body, str(uuid.uuid4())) for _ in range(11)]
    clients: dict[str, float] = {}
    with quiet():
        start = time.perf_counter()
        from chalicelib import wiring

        shared = wiring.shared()
        make_client: Callable[[str, Any], Any] = shared.client

        def timed_client(service: str, profile: Any) -> Any:
            begin = time.perf_counter()
            client = make_client(service, profile)
            clients[service] = clients.get(service, 0.0) + (time.perf_counter() - begin) * 1000
            return client

        shared.client = timed_client  # type: ignore[method-assign]
        first = app_module.app(events[0], context)
        first_s = time.perf_counter() - start
        warm = []
        for event in events[1:]:
            start = time.perf_counter()
            app_module.app(event, context)
            warm.append(time.perf_counter() - start)
    if first["statusCode"] != 202:
        raise AssertionError(f"the first webhook was not accepted: {first}")
    return {"first_ms": first_s * 1000, "warm_ms": median(warm) * 1000, "clients_ms": clients}


def run(quick: bool) -> list[Row]:
    """Measure and print figure 4; return its table rows."""
    from local import emulator

    say("== 4. AWS calls per accepted webhook (moto server over HTTP on loopback)")
    n = 10 if quick else 50
    port = emulator.free_port()
    started = time.perf_counter()
    moto = emulator.start_moto(port)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        env = emulated_env(endpoint)
        say(f"   moto on {endpoint}, stack deployed in {time.perf_counter() - started:.1f} s")
        with _environment(env):
            rows = _measure(env, n, endpoint)
    finally:
        moto.terminate()
        try:
            moto.wait(timeout=10)
        except subprocess.TimeoutExpired:
            moto.kill()
    return rows


def _measure(env: dict[str, str], n: int, endpoint: str) -> list[Row]:
    import boto3

    counter = CallCounter()
    app_module, _ = _wired_app(counter)
    app, context = app_module.app, lambda_context()
    body = json_body(1024)
    with quiet():
        source_id = _create_source(app, context)
        warmup = app(ingest_event(source_id, body, "warm-up"), context)
        counter.reset()
        events = [ingest_event(source_id, body, str(uuid.uuid4())) for _ in range(n)]
        replies = [app(event, context) for event in events]
    if warmup["statusCode"] != 202 or any(r["statusCode"] != 202 for r in replies):
        raise AssertionError(f"not every webhook was accepted: {[r['statusCode'] for r in replies]}")
    ingest_calls, ingest_sends = Counter(counter.calls), Counter(counter.sends)
    say(
        f"   ingest, warm, per webhook (N={n}): API calls: {_per_message(ingest_calls, n)}; "
        f"HTTP attempts: {_per_message(ingest_sends, n)}"
    )

    # The router, fed as the SQS trigger feeds it: receiving and deleting are the trigger's calls.
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    url = env["HOOKWAY_INGEST_QUEUE_URL"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    counter.reset()
    routed = 0
    deadline = time.monotonic() + 30
    while routed < n + 1 and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if not messages:
            continue
        with quiet():
            app_module.route_ingest(_sqs_records(messages, arn), context)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
        routed += len(messages)
    if routed != n + 1:
        raise AssertionError(f"the router saw {routed} messages, expected {n + 1}")
    router_calls = Counter(counter.calls)
    say(f"   router per message (N={routed}): API calls: {_per_message(router_calls, routed)}")

    colds = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-m", "bench.aws_calls", source_id],
            cwd=ROOT,
            env=child_env(),
            check=True,
            capture_output=True,
            text=True,
        )
        colds.append(json.loads(out.stdout.strip().splitlines()[-1]))
    colds = colds[1:]  # the first one wrote the bytecode caches
    first = median([c["first_ms"] for c in colds])
    warm = median([c["warm_ms"] for c in colds])
    say(
        f"   fresh interpreter against moto: first webhook {first:.1f} ms, warm {warm:.1f} ms "
        f"(median of {len(colds)}); boto3 clients made by the first webhook: "
        + ", ".join(f"{service} {ms:.0f} ms" for service, ms in colds[0]["clients_ms"].items())
        + " (the first one includes import boto3)"
    )

    total = sum(ingest_calls.values()) / n
    breakdown = _per_message(ingest_calls, n)
    router_total = sum(router_calls.values()) / routed
    router_breakdown = _per_message(router_calls, routed)
    return [
        Row(
            "AWS calls per accepted webhook",
            total,
            None,
            "",
            1,
            exact=True,
            note=f"warm ingest path, N={n} after one warm-up: {breakdown} (target: sqs.SendMessage only)",
        ),
        Row(
            "router AWS calls per message",
            router_total,
            None,
            "",
            note=f"per message, N={routed}: {router_breakdown} (cache refills included; the SQS trigger's "
            "receive/delete are not the router's calls)",
        ),
        Row(
            "cold first webhook extra (moto)",
            first - warm,
            None,
            "ms",
            note=f"first webhook minus a warm one ({warm:.1f} ms) in a fresh interpreter after import app, "
            "real boto3 clients against moto on loopback: boto3 import, three clients, the source read",
        ),
    ]


if __name__ == "__main__":
    print(json.dumps(cold_child(sys.argv[1])))
