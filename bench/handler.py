"""Figure 2: CPU time of the ingest handler per request, against a bare Chalice route.

Both apps are called as Lambda calls them, ``app(event, context)`` with an API Gateway proxy event for
``POST /in/{source_id}`` (a 1 KB GitHub-signed JSON body). Hookway's container is the real one with its
AWS adapters (state store, ingest queue, blob store) replaced by the in-memory fakes of ``testkit/fakes.py``,
so the figure is Hookway's own CPU on the warm path: Chalice routing and middleware, verification, the
envelope, the metric line. The bare app has one POST route answering ``{"id": "x"}`` with 202.
CPU time is ``time.process_time`` over a batch of requests, best of several alternating batches.
"""

from __future__ import annotations

import json
import logging
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


def _parts(
    container: Any, app: Any, event: dict[str, Any], context: Any, n: int, rounds: int, full: float
) -> str:
    """CPU of the handler with one part stubbed out at a time, to show where the time goes."""
    import chalicelib.inbound.ingest as ingest_module
    from chalicelib.verification import Verified

    def cpu_without(patch: Callable[[], Callable[[], None]]) -> float:
        container.__dict__.pop("ingest", None)  # rebuilt on the next request with the patched part
        undo = patch()
        try:
            with quiet():
                app(event, context)
                best = min(_batch_cpu(lambda: app(event, context), n) for _ in range(max(1, rounds // 2)))
        finally:
            undo()
            container.__dict__.pop("ingest", None)
        return best * 1e6

    def no_metrics() -> Callable[[], None]:
        count = container.count
        container.__dict__["count"] = lambda *a, **k: None
        return lambda: container.__dict__.__setitem__("count", count)

    def no_verify() -> Callable[[], None]:
        original = ingest_module.verify
        ingest_module.verify = lambda *a, **k: Verified(delivery_id="d-1", event_type="push")  # type: ignore[assignment]
        return lambda: setattr(ingest_module, "verify", original)

    def no_log() -> Callable[[], None]:
        logger = logging.getLogger("hookway")
        level = logger.level
        logger.setLevel(logging.WARNING)
        return lambda: logger.setLevel(level)

    parts = {"powertools metric line": no_metrics, "verify()": no_verify, "INFO log line": no_log}
    return ", ".join(f"{name} ~{full - cpu_without(patch):.0f} µs" for name, patch in parts.items())


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
    say(
        f"   hookway reply: {reply['statusCode']} {json.loads(reply['body'])}; bare reply: "
        f"{bare_reply['statusCode']} {bare_reply['body']}"
    )

    n = 300 if quick else 2000
    rounds = 2 if quick else 6
    best = {"hookway": float("inf"), "bare": float("inf")}
    with quiet():
        for _ in range(rounds):
            queue.sent.clear()
            best["hookway"] = min(best["hookway"], _batch_cpu(lambda: app(event, context), n))
            best["bare"] = min(best["bare"], _batch_cpu(lambda: bare(event, context), n))
    ours, ref = best["hookway"] * 1e6, best["bare"] * 1e6
    say(
        f"   hookway {ours:.1f} µs CPU/request, bare Chalice route {ref:.1f} µs ({ours / ref:.2f}x; "
        f"best of {rounds} batches of {n})"
    )
    try:
        parts = _parts(container, app, event, context, n, rounds, ours)
    except Exception as exc:  # a diagnosis only: it leans on names inside the app that may change
        parts = f"unavailable ({type(exc).__name__}: {exc})"
    say(f"   of which (diagnosis, by taking one part away): {parts}")
    return [
        Row(
            "ingest handler CPU/request",
            ours,
            ref,
            "µs",
            TARGET,
            note="Hookway's POST /in/{id} (1 KB GitHub body) with in-memory fakes for DynamoDB/SQS/S3 "
            'vs a bare Chalice POST route returning 202 {"id": "x"}; both via app(event, context)',
        )
    ]
