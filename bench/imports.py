"""Figure 3: what importing ``app.py`` costs a cold Lambda, against ``import boto3, chalice`` alone.

Each import runs in a fresh interpreter (cwd = the repository root, as Lambda imports the handler) and is
timed inside it with ``perf_counter`` around the import statement, so interpreter start-up, common to both,
is left out. The two commands alternate, after one untimed run of each that writes the bytecode caches.

For information, a fresh interpreter also times its first request against the warm ones: the extra time
is what the cold path imports (chalicelib, powertools) and builds on first use. The AWS adapters are the
in-memory fakes here (``bench.aws_calls`` measures the same with real boto3 clients against moto).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from bench.fixtures import BENCH_ENV, child_env
from bench.report import ROOT, Row, median, say

TARGET = 1.05
_TIMED_IMPORT = "import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"


def _time_import(stmt: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _TIMED_IMPORT.format(stmt=stmt)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env=child_env(),
    )
    return float(out.stdout.strip().splitlines()[-1])


def cold_first_request() -> dict[str, Any]:
    """In this (fresh) interpreter: import app, then time the first request and the warm ones (ms)."""
    import time

    from bench.fixtures import GITHUB_SECRET, ingest_event, json_body, lambda_context, use_bench_environment
    from bench.report import quiet

    use_bench_environment()
    import app as app_module

    body = json_body(1024)
    context = lambda_context()  # imports chalice.local, which is no part of a Lambda's cold path
    source_id = "src_bench"
    events = [ingest_event(source_id, body, f"d-{i}") for i in range(21)]
    before = set(sys.modules)
    with quiet():
        start = time.perf_counter()
        # Everything from here to the answer is the cold path: the container, the fakes, the first request.
        from chalicelib import wiring
        from chalicelib.models import Secret, Source, Verification
        from testkit.fakes import MemoryBlobs, MemoryQueue, MemoryStore

        container = wiring.api_root()
        store = MemoryStore(container.clock)
        store.put_source(
            Source(
                id=source_id,
                name="bench",
                created_at=0.0,
                updated_at=0.0,
                verification=(Verification("github", (Secret("sec_1", GITHUB_SECRET, 0.0),))),
            )
        )
        container.use(store=store, ingest_queue=MemoryQueue(), blobs=MemoryBlobs())
        first = app_module.app(events[0], context)
        first_s = time.perf_counter() - start
        warm = []
        for event in events[1:]:
            start = time.perf_counter()
            app_module.app(event, context)
            warm.append(time.perf_counter() - start)
    if first["statusCode"] != 202:
        raise AssertionError(f"the first request was not accepted: {first}")
    new = sorted(set(sys.modules) - before)
    packages: dict[str, int] = {}
    for name in new:
        top = name.split(".")[0]
        packages[top] = packages.get(top, 0) + 1
    return {
        "first_ms": first_s * 1000,
        "warm_ms": median(warm) * 1000,
        "modules": len(new),
        "packages": packages,
    }


def _cold_child() -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.imports"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env=child_env(**BENCH_ENV),
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run(quick: bool) -> list[Row]:
    """Measure and print figure 3; return its table rows."""
    say("== 3. import time in a fresh interpreter (ms, median of alternating runs)")
    runs = 5 if quick else 15
    commands = {"app": "import app", "boto3+chalice": "import boto3, chalice", "chalice": "import chalice"}
    for stmt in commands.values():
        _time_import(stmt)  # bytecode caches
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, stmt in commands.items():
            times[name].append(_time_import(stmt) * 1000)
    med = {name: median(values) for name, values in times.items()}
    say(
        "   "
        + ", ".join(
            f"import {commands[name].removeprefix('import ')}: {value:.1f} ms "
            f"(min {min(times[name]):.1f}, max {max(times[name]):.1f})"
            for name, value in med.items()
        )
    )

    colds = [_cold_child() for _ in range(3 if quick else 4)][1:]  # the first one writes bytecode caches
    first = median([c["first_ms"] for c in colds])
    warm = median([c["warm_ms"] for c in colds])
    sample = colds[0]
    say(
        f"   first request {first:.1f} ms vs warm {warm:.2f} ms (median of {len(colds)} fresh interpreters); "
        f"it imported {sample['modules']} modules: {sample['packages']}"
    )
    return [
        Row(
            "import app",
            med["app"],
            med["boto3+chalice"],
            "ms",
            TARGET,
            note=f"median of {runs} fresh interpreters each, alternating; reference: import boto3, chalice "
            f"(import chalice alone: {med['chalice']:.1f} ms); app.py imports only chalice at module level, "
            "boto3 and chalicelib wait for the first request (rows 'cold first ...')",
        ),
        Row(
            "cold first request extra (fakes)",
            first - warm,
            None,
            "ms",
            note="first request minus a warm one in a fresh interpreter after import app: chalicelib, "
            "powertools and the container built on first use; AWS adapters are in-memory fakes",
        ),
    ]


if __name__ == "__main__":
    print(json.dumps(cold_first_request()))
