"""Figure 2: CPU time of the ingest handler per request, against a bare Chalice route.

Both apps are called as Lambda calls them, ``app(event, context)`` with an API Gateway proxy event for
``POST /in/{source_id}`` (a 1 KB GitHub-signed JSON body). Hookway's container is the real one with its
AWS adapters (state store, ingest queue, blob store) replaced by the in-memory fakes of ``tests/fakes.py``,
so the figure is Hookway's own CPU on the warm path: Chalice routing and middleware, verification, the
envelope, the metric line. The bare app has one POST route answering ``{"id": "x"}`` with 202.
CPU time is ``time.process_time`` over a batch of requests, best of several alternating batches.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from bench.fixtures import app_on_fakes, bare_app, ingest_event, json_body, lambda_context
from bench.report import Row, quiet, say

TARGET = 1.3


def _batch_cpu(call: Callable[[], Any], n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - start) / n


def run(quick: bool) -> list[Row]:
    """Measure and print figure 2; return its table rows."""
    say("== 2. ingest handler CPU per request (app(event, context), AWS adapters on in-memory fakes)")
    app, container, source_id = app_on_fakes()
    bare = bare_app()
    body = json_body(1024)
    event = ingest_event(source_id, body)
    context = lambda_context()
    queue = container.ingest_queue

    with quiet():
        reply = app(event, context)
        bare_reply = bare(event, context)
    if reply["statusCode"] != 202 or len(queue.sent) != 1:
        raise AssertionError(f"Hookway did not accept the webhook: {reply}")
    if bare_reply["statusCode"] != 202:
        raise AssertionError(f"the bare app did not answer 202: {bare_reply}")
    say(f"   hookway reply: {reply['statusCode']} {json.loads(reply['body'])}; bare reply: "
        f"{bare_reply['statusCode']} {bare_reply['body']}")

    n = 300 if quick else 2000
    rounds = 2 if quick else 6
    best = {"hookway": float("inf"), "bare": float("inf")}
    with quiet():
        for _ in range(rounds):
            queue.sent.clear()
            best["hookway"] = min(best["hookway"], _batch_cpu(lambda: app(event, context), n))
            best["bare"] = min(best["bare"], _batch_cpu(lambda: bare(event, context), n))
    ours, ref = best["hookway"] * 1e6, best["bare"] * 1e6
    say(f"   hookway {ours:.1f} µs CPU/request, bare Chalice route {ref:.1f} µs ({ours / ref:.2f}x; "
        f"best of {rounds} batches of {n})")
    return [Row("ingest handler CPU/request", ours, ref, "µs", TARGET,
                note="Hookway's POST /in/{id} (1 KB GitHub body) with in-memory fakes for DynamoDB/SQS/S3 "
                "vs a bare Chalice POST route returning 202 {\"id\": \"x\"}; both via app(event, context)")]
