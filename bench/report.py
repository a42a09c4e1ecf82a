"""Rows of the results table, how they are printed and written, and the small timing helpers.

A row compares one measured figure of Hookway (``ours``) with a reference measured in the same run
(``reference``); the ratio is ours / reference and is checked against ``target`` only to print a verdict.
Benchmarks never fail on a timing: a missed target is reported, not raised.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Row:
    """One line of the table: a figure of Hookway against a reference measured side by side."""

    figure: str
    ours: float
    reference: float | None
    unit: str
    target: float | None = None  # the ratio ours/reference must not exceed this (unless a flag below says
    # otherwise); None: information only
    exact: bool = False  # the target is an exact value of ``ours`` (call counts), not a ratio
    at_most: bool = False  # the target is an upper bound on ``ours`` itself (a count), not a ratio
    at_least: bool = False  # the target is a lower bound on the ratio (a throughput), not an upper one
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """ours / reference, or None when there is no reference."""
        if self.reference is None or self.reference == 0:
            return None
        return self.ours / self.reference

    @property
    def verdict(self) -> str:
        """'met', 'MISSED' or '' (information only)."""
        if self.target is None:
            return ""
        if self.exact:
            return "met" if abs(self.ours - self.target) < 1e-9 else "MISSED"
        if self.at_most:
            return "met" if self.ours <= self.target + 1e-9 else "MISSED"
        ratio = self.ratio
        if ratio is None:
            return ""
        if self.at_least:
            return "met" if ratio >= self.target else "MISSED"
        return "met" if ratio <= self.target else "MISSED"

    def target_text(self) -> str:
        """The target as printed."""
        if self.target is None:
            return "info"
        if self.exact:
            return f"= {_number(self.target)}"
        if self.at_most:
            return f"<= {_number(self.target)}"
        return f"{'>=' if self.at_least else '<='} {self.target:g}x"

    def cells(self) -> list[str]:
        """The row's cells as printed."""
        ratio = self.ratio
        return [
            self.figure,
            f"{_number(self.ours)} {self.unit}".strip(),
            "" if self.reference is None else f"{_number(self.reference)} {self.unit}".strip(),
            "" if ratio is None or self.exact or self.at_most else f"{ratio:.2f}x",
            self.target_text(),
            self.verdict,
        ]


HEADER = ["figure", "ours", "reference", "ratio", "target", ""]


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render_text(rows: Sequence[Row]) -> str:
    """The table for a terminal, columns aligned."""
    table = [HEADER, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in table
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    notes = [f"  [{i}] {row.note}" for i, row in enumerate(rows, 1) if row.note]
    return "\n".join(lines + (["", "notes:", *notes] if notes else []))


def render_markdown(rows: Sequence[Row], *, context: str) -> str:
    """The table as Markdown, with the notes and the machine it was measured on."""
    out = ["| # | figure | ours | reference | ratio | target | |", "|---|---|---:|---:|---:|---|---|"]
    for i, row in enumerate(rows, 1):
        cells = [cell.replace("|", "\\|") for cell in row.cells()]
        out.append(f"| {i} | " + " | ".join(cells) + " |")
    notes = [f"{i}. {row.note}" for i, row in enumerate(rows, 1) if row.note]
    parts = ["# Hookway benchmarks", "", context, "", *out]
    if notes:
        parts += ["", "Notes (by row number):", "", *notes]
    return "\n".join(parts) + "\n"


def machine_context(mode: str, seconds: float) -> str:
    """One paragraph: when, where and how the table was measured."""
    commit = "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    return (
        f"Measured by `python -m bench{' --quick' if mode == 'quick' else ''}` on "
        f"{time.strftime('%Y-%m-%d')}, commit `{commit}` (plus any uncommitted changes), "
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs, in {seconds:.0f} s. Every ratio compares two figures measured side by side "
        "in that one run; absolute numbers depend on the machine, ratios much less."
    )


# ------------------------------------------------------------------------------------------ timing


def best_per_call(
    runs: dict[str, Callable[[], object]], *, number: dict[str, int], repeat: int
) -> dict[str, float]:
    """Seconds per call of each function, best of ``repeat`` rounds; the functions alternate within a round.

    Alternating keeps a slow drift of the machine (frequency, another process) from favouring one side.
    """
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for name, fn in runs.items():
            n = number[name]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            best[name] = min(best[name], (time.perf_counter() - start) / n)
    return best


def calibrate(fn: Callable[[], object], budget: float = 0.02, cap: int = 20_000) -> int:
    """How many calls of ``fn`` take about ``budget`` seconds (at least 1)."""
    fn()
    n = 1
    while n < cap:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= budget / 4:
            return max(1, min(cap, int(n * budget / elapsed)))
        n *= 4
    return cap


def median(values: Sequence[float]) -> float:
    """The median."""
    return statistics.median(values)


def nearest_rank(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0 to 1) of ``values`` by nearest rank: the sorted value at ``round(q * (n - 1))``.

    No interpolation: a p99 of 90 values is the second largest, a value that was measured."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _stream_handlers() -> list[logging.StreamHandler[Any]]:
    loggers = [
        logging.getLogger(),
        *(
            logger
            for logger in logging.Logger.manager.loggerDict.values()
            if isinstance(logger, logging.Logger)
        ),
    ]
    return [
        handler for logger in loggers for handler in logger.handlers if type(handler) is logging.StreamHandler
    ]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Send stdout, stderr and console log handlers to /dev/null while the code under test runs.

    The writes still happen (powertools prints one EMF line per metric, Chalice's ``hookway`` logger writes
    each INFO line, servers log requests): they are part of the cost, only their text is thrown away.
    """
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        handlers = _stream_handlers()
        previous = [handler.stream for handler in handlers]
        for handler in handlers:
            handler.setStream(sink)
        try:
            yield
        finally:
            for handler, stream in zip(handlers, previous, strict=True):
                handler.setStream(stream)


def say(text: str = "") -> None:
    """Print a line now (sections print their detail as they go; the table comes at the end)."""
    print(text, file=sys.stdout, flush=True)
