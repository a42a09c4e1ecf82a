"""``python -m bench [--quick] [--only 1,2,...] [--out FILE]``: run the benchmarks, print the table."""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import (
    aws_calls,
    cli,
    coldstart,
    console,
    cost,
    delivery_calls,
    filters,
    flow,
    handler,
    imports,
    listen,
    load,
    memory,
    outbound,
    pipeline,
    scale,
    search,
    transform,
    verification,
)
from bench.report import ROOT, Row, machine_context, render_markdown, render_text, say

FIGURES: dict[int, Callable[[bool], list[Row]]] = {
    1: verification.run,
    2: handler.run,
    3: imports.run,
    4: aws_calls.run,
    5: load.run,
    6: outbound.run_batch,
    7: outbound.run_cpu,
    8: delivery_calls.run,
    9: cost.run,
    10: pipeline.run,
    11: search.run,
    12: coldstart.package_size,
    13: coldstart.cold_start,
    14: cli.run,
    15: listen.run,
    16: console.run,
    17: scale.run,
    18: memory.run,
    19: filters.run,
    20: transform.run,
    21: flow.run,
}
RESULTS = ROOT / "bench" / "results.md"


def main(argv: list[str] | None = None) -> int:
    """Run the chosen figures; 0 unless one of them broke."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a shortened run, for a smoke test")
    parser.add_argument("--only", default="", help="comma-separated figure numbers (default: all)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"write the Markdown table here (default: {RESULTS.relative_to(ROOT)} after a "
        "full run of every figure; nothing otherwise)",
    )
    args = parser.parse_args(argv)
    chosen = sorted({int(x) for x in args.only.split(",") if x.strip()} or FIGURES)
    unknown = [n for n in chosen if n not in FIGURES]
    if unknown:
        parser.error(f"no figure {unknown}; choose from {sorted(FIGURES)}")

    started = time.perf_counter()
    rows: list[Row] = []
    broken: list[int] = []
    for number in chosen:
        begin = time.perf_counter()
        try:
            rows += FIGURES[number](args.quick)
        except Exception:
            broken.append(number)
            say(f"!! figure {number} broke:")
            traceback.print_exc(file=sys.stdout)
        say(f"   ({time.perf_counter() - begin:.1f} s)")
        say()
    elapsed = time.perf_counter() - started

    say(render_text(rows))
    out = args.out or (RESULTS if not args.quick and chosen == sorted(FIGURES) and not broken else None)
    if out is not None:
        context = machine_context("quick" if args.quick else "full", elapsed)
        out.write_text(render_markdown(rows, context=context))
        say(f"\nwrote {out}")
    say(f"\n{len(rows)} figures in {elapsed:.0f} s" + (f"; BROKEN: figure(s) {broken}" if broken else ""))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
