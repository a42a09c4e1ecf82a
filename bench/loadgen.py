"""The load generator of figure 5, run as its own process: ``python -m bench.loadgen < spec.json``.

The spec names host, port, method, path, headers, body (latin-1 text), threads and seconds. Every thread
opens its own keep-alive ``http.client.HTTPConnection`` (TCP_NODELAY, so the client adds no Nagle delay of
its own), sends a few warm-up requests, waits for the others, then sends requests back to back until the
time is up. It prints one JSON line: requests, errors, statuses, seconds, rps, p50/p90/p99 latency in ms.
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
import threading
import time
from typing import Any

WARMUP_REQUESTS = 3


def _connect(spec: dict[str, Any]) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection(spec["host"], spec["port"], timeout=30)
    conn.connect()
    assert conn.sock is not None
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Drive the server as the spec says and return the figures."""
    threads = int(spec["threads"])
    body = spec["body"].encode("latin-1") if spec.get("body") is not None else None
    headers = dict(spec.get("headers") or {})
    method, path = spec["method"], spec["path"]
    start_line = threading.Barrier(threads + 1)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    statuses: list[dict[int, int]] = [{} for _ in range(threads)]
    errors = [0] * threads
    window: dict[str, float] = {}

    def one(conn: http.client.HTTPConnection) -> int:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status

    def worker(i: int) -> None:
        conn = _connect(spec)
        for _ in range(WARMUP_REQUESTS):
            one(conn)
        start_line.wait()
        mine, seen = latencies[i], statuses[i]
        while True:
            begin = time.perf_counter()
            if begin >= window["end"]:
                break
            try:
                status = one(conn)
            except (http.client.HTTPException, OSError):
                errors[i] += 1
                conn.close()
                conn = _connect(spec)
                continue
            mine.append(time.perf_counter() - begin)
            seen[status] = seen.get(status, 0) + 1
        conn.close()

    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in workers:
        thread.start()
    window["end"] = float("inf")
    start_line.wait()
    begin = time.perf_counter()
    window["end"] = begin + float(spec["seconds"])
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - begin
    ordered = sorted(x * 1000 for per_thread in latencies for x in per_thread)
    merged: dict[str, int] = {}
    for per_thread in statuses:
        for status, count in per_thread.items():
            merged[str(status)] = merged.get(str(status), 0) + count
    return {
        "requests": len(ordered),
        "errors": sum(errors),
        "statuses": merged,
        "seconds": elapsed,
        "rps": len(ordered) / elapsed,
        "p50_ms": _percentile(ordered, 0.50),
        "p90_ms": _percentile(ordered, 0.90),
        "p99_ms": _percentile(ordered, 0.99),
    }


if __name__ == "__main__":
    print(json.dumps(run(json.load(sys.stdin))))
