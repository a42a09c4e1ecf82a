"""Figure 19: payload-filter matching in the router, per message, for 1, 100 and 10,000 candidate endpoints.

The router's own loop (``routing.matches`` over an owner's endpoints, the message's document built once
per message by ``MessageDocument``) runs twice on the same endpoints and the same published messages: once
with a payload pattern on every endpoint (ours: five shapes of pattern, numeric, prefix, anything-but,
``$or`` and a nested array of objects, each endpoint its own thresholds), once with the same endpoints
without one (reference: event types and sources only, as before payload filters). Patterns are compiled
before timing, as a loaded router holds them (compiling is a row of its own). Each message's time is one
sample; p50 and p99 are over the messages, in µs per message, ours and the reference interleaved.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import replace
from typing import Any

from bench.report import Row, say

COUNTS = (1, 100, 10_000)


def _pattern(i: int) -> dict[str, Any]:
    """One of five shapes, with this endpoint's own thresholds."""
    shape = i % 5
    if shape == 0:
        return {"payload": {"total": [{"numeric": [">", i % 1000]}]}}
    if shape == 1:
        return {
            "payload": {"customer": {"country": [{"prefix": "D"}, "FR"]}},
            "event_type": [{"prefix": "order."}],
        }
    if shape == 2:
        return {"payload": {"status": [{"anything-but": ["cancelled", "refunded"]}]}}
    if shape == 3:
        return {
            "$or": [{"payload": {"total": [{"numeric": [">=", 500]}]}}, {"headers": {"x-tier": ["gold"]}}]
        }
    return {"payload": {"items": {"sku": [{"wildcard": f"SKU-{i % 10}*"}], "qty": [{"numeric": [">", 1]}]}}}


def _messages(n: int) -> list[Any]:
    from chalicelib.models import API_SOURCE, Message

    out = []
    for k in range(n):
        payload = {
            "total": (k * 37) % 1500,
            "status": ("paid", "cancelled", "shipped")[k % 3],
            "customer": {"id": f"cus_{k}", "country": ("DE", "FR", "US")[k % 3]},
            "items": [{"sku": f"SKU-{(k + j) % 10}{j}", "qty": j} for j in range(5)],
        }
        body = json.dumps(
            {"type": "order.created", "timestamp": "2026-01-01T00:00:00Z", "data": payload}
        ).encode()
        out.append(
            Message(
                id=f"msg_{k}", source_id=API_SOURCE, event_type="order.created", status="stored",
                received_at=1.0, size=len(body), body_sha256="", content_type="application/json",
                receipt_id="r", body=body, headers={"x-tier": ("gold", "silver")[k % 2]},
            )
        )  # fmt: skip
    return out


def _endpoints(n: int) -> tuple[list[Any], list[Any]]:
    from chalicelib.models import Endpoint

    plain = [
        Endpoint(id=f"ep_{i}", url="https://h.example.com", created_at=0, updated_at=0, filter_event_types=("order.*",))
        for i in range(n)
    ]  # fmt: skip
    filtered = [replace(e, filter_payload=_pattern(i)) for i, e in enumerate(plain)]
    return filtered, plain


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(quick: bool) -> list[Row]:
    """Measure and print figure 19; return its table rows."""
    from chalicelib.filters.message import MessageDocument
    from chalicelib.outbound.routing import matches

    say("== 19. Payload-filter matching per message in the router (same run: no payload filter as reference)")
    rows: list[Row] = []
    filtered, plain = _endpoints(max(COUNTS))
    started = time.perf_counter()
    for endpoint in filtered:
        assert endpoint.payload_pattern is not None  # compiled once per loaded endpoint, as in the router
    compile_us = (time.perf_counter() - started) / len(filtered) * 1e6
    for count in COUNTS:
        messages = _messages(
            (30 if count == 10_000 else 200) if quick else (100 if count == 10_000 else 1000)
        )
        ours_e, ref_e = filtered[:count], plain[:count]
        ours: list[float] = []
        ref: list[float] = []
        matched = 0
        for message in messages:
            t0 = time.perf_counter()
            doc = MessageDocument(message)
            got = [e.id for e in ours_e if matches(e, message, doc)]
            t1 = time.perf_counter()
            doc = MessageDocument(message)
            [e.id for e in ref_e if matches(e, message, doc)]
            t2 = time.perf_counter()
            ours.append((t1 - t0) * 1e6)
            ref.append((t2 - t1) * 1e6)
            matched += len(got)
        share = matched / (len(messages) * count)
        for label, q in (("p50", 0.5), ("p99", 0.99)):
            a, b = _percentile(ours, q), _percentile(ref, q)
            say(f"  {count:>6} endpoints {label}: {a:,.1f} µs with payload filters, {b:,.1f} µs without")
            rows.append(
                Row(
                    f"filter match {count:,} endpoints {label}",
                    a,
                    b,
                    "µs",
                    note=f"per message, {len(messages)} messages; {share:.0%} of (message, endpoint) pairs matched"
                    if label == "p50"
                    else "",
                )
            )
        say(
            f"    mean per endpoint: {statistics.mean(ours) / count:.2f} µs (without: {statistics.mean(ref) / count:.2f})"
        )
    rows.append(Row("filter compile per pattern", compile_us, None, "µs", note="once per loaded endpoint"))
    return rows
