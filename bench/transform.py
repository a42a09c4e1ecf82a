"""Figure 20: a transformation's cost per request (p50/p99) and its cold start, against none."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from bench.report import ROOT, Row, median, say

SLACK = """
function handler(webhook) {
  const push = webhook.payload;
  webhook.payload = {
    text: `${push.pusher.name} pushed ${push.commits.length} commit(s) to ${push.repository.full_name}`,
    blocks: push.commits.map(c => ({type: 'section', text: {type: 'mrkdwn', text: c.message}})),
  };
  webhook.headers['X-Slack-Style'] = 'yes';
  return webhook;
}
"""
PUSH = {
    "ref": "refs/heads/main",
    "pusher": {"name": "alice"},
    "repository": {"full_name": "acme/shop", "description": "x" * 400},
    "commits": [{"id": f"{n:040d}", "message": f"commit number {n}"} for n in range(5)],
}
_COLD = """
import time
t = time.perf_counter()
from chalicelib.transform.convention import Request
from chalicelib.transform.engine import Engine
request = Request("POST", "https://hooks.example.com/in", {{"Content-Type": "application/json"}}, {body!r})
engine = Engine()
{run}
print((time.perf_counter() - t) * 1000)
"""


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _cold(run: str, body: bytes) -> float:
    code = _COLD.format(body=body, run=run)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    return float(done.stdout.strip())


def run(quick: bool) -> list[Row]:
    """Per request: the unsigned request, signed, with and without the transformation; then a fresh
    interpreter to its first transformed request, against one that meets no transformation."""
    from chalicelib.models import Endpoint, Message, Secret, Transformation
    from chalicelib.outbound.delivery import unsigned_request
    from chalicelib.outbound.signing import SIGNERS
    from chalicelib.transform.engine import Engine

    say("== 20. transformations: run time per request (p50/p99) and cold start, against none")
    body = json.dumps(PUSH).encode()
    endpoint = Endpoint(
        id="ep_bench",
        url="https://hooks.example.com/in",
        created_at=0.0,
        updated_at=0.0,
        secrets=(Secret("sec_1", "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 0.0),),
        transformation=Transformation(SLACK),
    )
    message = Message(
        id="msg_bench",
        source_id="src_bench",
        event_type="push",
        status="stored",
        received_at=0.0,
        size=len(body),
        body_sha256="",
        content_type="application/json",
        receipt_id="r",
        body=body,
    )
    engine = Engine()
    sign = SIGNERS["standard"]

    def plain() -> Any:
        unsigned = unsigned_request(message, endpoint, body)
        return sign(message, endpoint, unsigned.body, 1.0)

    def transformed() -> Any:
        unsigned = engine.run(endpoint.id, SLACK, unsigned_request(message, endpoint, body))
        assert not hasattr(unsigned, "reason"), unsigned
        return sign(message, endpoint, unsigned.body, 1.0)  # type: ignore[union-attr]

    n = 300 if quick else 3000
    transformed()  # compiled once, as a sender thread does on the first request
    samples: dict[str, list[float]] = {"plain": [], "transformed": []}
    for _ in range(n):
        for name, fn in (("plain", plain), ("transformed", transformed)):
            t = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - t) * 1e6)
    p = {name: (_percentile(v, 0.5), _percentile(v, 0.99)) for name, v in samples.items()}
    runs = 3 if quick else 7
    cold = {"none": [], "first": []}  # type: dict[str, list[float]]
    for _ in range(runs):
        cold["none"].append(_cold("", body))
        cold["first"].append(_cold("engine.run('ep', " + repr(SLACK) + ", request)", body))
    c = {name: median(v) for name, v in cold.items()}
    say(
        f"   per request: transformed p50 {p['transformed'][0]:.0f} µs p99 {p['transformed'][1]:.0f} µs; "
        f"none p50 {p['plain'][0]:.0f} µs p99 {p['plain'][1]:.0f} µs ({n} each, 1.4 KB GitHub push)"
    )
    say(f"   cold start to the first transformed request {c['first']:.1f} ms; without one {c['none']:.1f} ms")
    return [
        Row(
            "transformation per request, p50",
            p["transformed"][0],
            p["plain"][0],
            "µs",
            note="a Slack-style reshaping of a 1.4 KB GitHub push, compiled (warm), then signed; reference: "
            "the same request signed without a transformation",
        ),
        Row("transformation per request, p99", p["transformed"][1], p["plain"][1], "µs"),
        Row(
            "transformation cold start",
            c["first"],
            c["none"],
            "ms",
            note=f"a fresh interpreter to its first transformed request (import quickjs, compile, run); "
            f"reference: the same interpreter importing the transformation modules without meeting one; median "
            f"of {runs}",
        ),
    ]
