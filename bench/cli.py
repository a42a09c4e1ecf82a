"""Figure 12: ``hookway --help`` start-up against ``python -c pass`` (target: under 150 ms more).

Both run as fresh processes, alternating, after one untimed run each that writes the bytecode caches;
wall time from spawn to exit, median of the runs. The CLI imports argparse and its verb declarations
only: rich, the HTTP client and ``chalicelib.verification`` are imported by the commands that use them.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.fixtures import child_env
from bench.report import ROOT, Row, median, say

TARGET_MS = 150.0


def _wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, capture_output=True, env=child_env())
    return (time.perf_counter() - start) * 1000


def run(quick: bool) -> list[Row]:
    """Time both commands."""
    hookway = Path(sys.executable).with_name("hookway")
    cli = [str(hookway), "--help"] if hookway.exists() else [sys.executable, "-m", "hookway_cli", "--help"]
    bare = [sys.executable, "-c", "pass"]
    _wall(cli), _wall(bare)
    rounds = 5 if quick else 30
    ours, reference = [], []
    for _ in range(rounds):
        ours.append(_wall(cli))
        reference.append(_wall(bare))
    o, r = median(ours), median(reference)
    say(
        f"12. hookway --help {o:.1f} ms, python -c pass {r:.1f} ms: {o - r:.1f} ms more (target < {TARGET_MS:.0f})"
    )
    return [
        Row(
            "`hookway --help` start-up",
            o,
            r,
            "ms",
            note=f"reference `python -c pass`; {o - r:.1f} ms more, target under {TARGET_MS:.0f} ms more",
        )
    ]
