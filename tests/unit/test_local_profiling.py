"""local/profiling.py: HOOKWAY_PROFILE_DIR profiles every thread of a local process, and nothing when unset."""

from __future__ import annotations

import os
import pstats
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from local import profiling

ROOT = Path(__file__).resolve().parents[2]

# A process as the local ones start: install first, then work in a thread of its own.
SCRIPT = """
import threading, time
from local import profiling
profiling.DUMP_SECONDS = 0.05
profiling.install("worker-deliveries")
def work_in_a_thread():
    sum(range(200_000))
thread = threading.Thread(target=work_in_a_thread)
thread.start()
thread.join()
time.sleep(0.3)
"""


def _run(tmp_path: Path, **env: str) -> list[Path]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOOKWAY_PROFILE")}
    subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env={**clean, **env}, check=True, timeout=60)
    return sorted(tmp_path.glob("*.prof"))


def test_a_thread_of_a_profiled_process_is_in_its_profile(tmp_path: Path) -> None:
    written = _run(tmp_path, HOOKWAY_PROFILE_DIR=str(tmp_path))
    assert [p.name.rsplit("-", 1)[0] for p in written] == ["worker-deliveries"]
    functions = {name for _, _, name in pstats.Stats(str(written[0])).stats}  # type: ignore[attr-defined]
    assert "work_in_a_thread" in functions


def test_nothing_is_profiled_unless_asked_or_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = threading.Thread.run
    monkeypatch.delenv("HOOKWAY_PROFILE_DIR", raising=False)
    profiling.install("worker-deliveries")
    monkeypatch.setenv("HOOKWAY_PROFILE_DIR", str(tmp_path))
    monkeypatch.setenv("HOOKWAY_PROFILE_ONLY", "api,moto")
    profiling.install("worker-deliveries")
    assert threading.Thread.run is run and list(tmp_path.iterdir()) == []
