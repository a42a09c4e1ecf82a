"""cProfile for a local process and all its threads, switched on by ``HOOKWAY_PROFILE_DIR``.

Every local process (the emulator, the API, each worker) calls ``install(name)`` first. With the
variable set, every thread is profiled (Python 3.11: each under a profiler of its own; 3.12 and later:
one profiler sees them all), in wall time (a wait shows as the call that
waited; a thread's CPU clock would be read by the writing thread for the calls still running); a
finished thread's figures join the process's total, and the total (running threads included) is
written every few seconds to
``$HOOKWAY_PROFILE_DIR/<name>-<pid>.prof`` (read it with ``python -m pstats``). Unset: nothing happens.
``HOOKWAY_PROFILE_ONLY`` (``worker,api``): only the processes whose name starts with one of these (the
emulator's thread per request makes its own profile costly).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import threading
import time
from pathlib import Path
from typing import Any

DUMP_SECONDS = 5.0


class _Collector:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.running: set[cProfile.Profile] = set()
        self.total: pstats.Stats | None = None

    def finished(self, profile: cProfile.Profile) -> None:
        profile.disable()
        with self.lock:
            self.running.discard(profile)
            self._add(profile)

    def _add(self, profile: cProfile.Profile) -> None:
        profile.snapshot_stats()
        if not getattr(profile, "stats", None):
            return
        if self.total is None:
            self.total = pstats.Stats(profile)
        else:
            self.total.add(profile)

    def dump(self) -> None:
        with self.lock:
            snapshot = pstats.Stats()
            if self.total is not None:
                snapshot.add(self.total)
            for profile in list(self.running):
                profile.snapshot_stats()
                if getattr(profile, "stats", None):
                    snapshot.add(profile)
        if snapshot.stats:  # type: ignore[attr-defined]
            snapshot.dump_stats(str(self.path) + ".tmp")
            os.replace(str(self.path) + ".tmp", self.path)


def install(name: str) -> None:
    """Profile this process's threads when ``HOOKWAY_PROFILE_DIR`` is set."""
    directory = os.environ.get("HOOKWAY_PROFILE_DIR")
    only = [n for n in os.environ.get("HOOKWAY_PROFILE_ONLY", "").split(",") if n]
    if not directory or (only and not any(name.startswith(n) for n in only)):
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    collector = _Collector(Path(directory) / f"{name}-{os.getpid()}.prof")
    if sys.version_info < (3, 12):
        _profile_each_thread(collector)
    # From 3.12 cProfile rests on sys.monitoring: this one profiler sees every thread (and no second one
    # may start); before, it sees this thread only and each other thread runs under its own.
    main = cProfile.Profile()
    collector.running.add(main)
    main.enable()

    def dump_forever() -> None:
        while True:
            time.sleep(DUMP_SECONDS)
            collector.dump()

    threading.Thread(target=dump_forever, name="hookway-profile-dump", daemon=True).start()


def _profile_each_thread(collector: _Collector) -> None:
    """Run every thread started from now on under a profiler of its own (Python 3.11)."""
    original_run = threading.Thread.run

    def profiled_run(self: threading.Thread, *args: Any, **kwargs: Any) -> None:
        if self.name == "hookway-profile-dump":
            original_run(self, *args, **kwargs)
            return
        profile = cProfile.Profile()
        with collector.lock:
            collector.running.add(profile)
        profile.enable()
        try:
            original_run(self, *args, **kwargs)
        finally:
            collector.finished(profile)

    threading.Thread.run = profiled_run  # type: ignore[method-assign]
