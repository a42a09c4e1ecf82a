"""Figure 13: ``hookway listen`` latency, publish to the local receiver, against a plain endpoint's.

The local stack of the end-to-end tests (moto server, API server, one worker per queue, each its own
process), a real receiver on loopback (``testkit.receivers``) and the installed ``hookway listen --forward``
as its own process. Events are published one at a time; a latency is from just before ``POST
/v1/messages`` to the moment the receiver starts reading the request. The reference is the same, to an
ordinary endpoint at the same receiver (the sender POSTs it directly), measured in the same run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.report import ROOT, Row, say


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _latencies(stack: Any, receivers: Any, path: str, event_type: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        already = len(receivers.at(path))
        start = time.time()
        resp = stack.request(
            "POST", "/v1/messages", admin=True, json_body={"event_type": event_type, "payload": {}}
        )
        assert resp.status == 202, resp.body
        deadline = time.monotonic() + 30
        while len(receivers.at(path)) <= already:
            if time.monotonic() > deadline:
                raise AssertionError(f"no delivery to {path} within 30 s")
            time.sleep(0.002)
        out.append((receivers.at(path)[already].started - start) * 1000)
    return out


def run(quick: bool) -> list[Row]:
    """Measure both paths on one stack."""
    from testkit.receivers import Receivers
    from testkit.stack import ADMIN_KEY, Stack

    n = 10 if quick else 40
    with tempfile.TemporaryDirectory() as logs:
        stack = Stack(Path(logs))
        receivers = Receivers()
        cli = None
        try:
            stack.start_worker("ingest")
            stack.start_worker("deliveries")
            tag = uuid.uuid4().hex[:8]
            direct_type, listen_type = f"bench.direct.{tag}", f"bench.listen.{tag}"
            resp = stack.request(
                "POST",
                "/v1/endpoints",
                admin=True,
                json_body={"url": receivers.url("/direct"), "filter": {"event_types": [direct_type]}},
            )
            assert resp.status == 201, resp.body
            hookway = Path(sys.executable).with_name("hookway")
            env = {
                **os.environ,
                "HOOKWAY_URL": stack.base,
                "HOOKWAY_ADMIN_KEY": ADMIN_KEY,
                "PYTHONPATH": str(ROOT),
            }
            cli = subprocess.Popen(
                [str(hookway), "listen", "--forward", receivers.url("/listen"), "--events", listen_type],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            time.sleep(1.5)  # the session opens and the CLI's first long poll starts
            _latencies(stack, receivers, "/direct", direct_type, 2)  # warm both paths
            _latencies(stack, receivers, "/listen", listen_type, 2)
            direct = _latencies(stack, receivers, "/direct", direct_type, n)
            listened = _latencies(stack, receivers, "/listen", listen_type, n)
        finally:
            if cli is not None:
                cli.send_signal(signal.SIGTERM)
                cli.wait(timeout=10)
            receivers.close()
            stack.close()
    p50, p99 = _percentile(listened, 0.5), _percentile(listened, 0.99)
    r50, r99 = _percentile(direct, 0.5), _percentile(direct, 0.99)
    say(
        f"13. listen publish->receiver p50 {p50:.0f} ms p99 {p99:.0f} ms; plain endpoint p50 {r50:.0f} ms p99 {r99:.0f} ms"
    )
    return [
        Row(
            "`hookway listen` latency p50, publish to local receiver",
            p50,
            r50,
            "ms",
            note="reference: the same event to an ordinary endpoint at the same receiver",
        ),
        Row("`hookway listen` latency p99", p99, r99, "ms"),
    ]
