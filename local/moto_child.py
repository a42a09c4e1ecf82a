"""moto's server for the local stack, with the emulator's SQS index (``local/moto_speedups.py``) installed.

``--held`` (``make dev``): deaf to Ctrl-C and SIGTERM, so ``make dev`` can save its state first.

A Ctrl-C in the terminal (or a SIGTERM to the process group) reaches every process of ``make dev`` at
once; were the emulator to exit with it, there would be nothing left to save. Here those signals stay
blocked, ``make dev`` stops the server with SIGKILL once it has saved, and a watchdog ends the server if
``make dev`` itself dies without that (``kill -9``), so no emulator is left behind.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--held"]:
        args = args[1:]
        # Blocked rather than ignored: moto installs its own handlers, and a blocked signal is never delivered.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        threading.Thread(target=_watch, args=(os.getppid(),), daemon=True).start()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from local import moto_speedups, profiling

    profiling.install("moto")

    moto_speedups.install()
    from moto.server import main

    main(args)
