"""A client (or an adapter) made on its first use, optionally started early on a thread of its own."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class LazyClient:
    """A boto3 client (or an adapter of one) made on its first use (an attribute read), then used as itself.

    ``early=True`` starts making it at once on a thread of its own: making a client is mostly loading its
    service model, which then overlaps the first request's network waits (the source's read, its data
    key's decryption) instead of following them. The first use waits for it; an error making it is
    raised there.
    """

    def __init__(self, make: Callable[[], Any], *, early: bool = False) -> None:
        self._make = make
        self._client: Any = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if early:
            self.start()

    def start(self) -> None:
        """Start making the client on a thread of its own (once; nothing if it is made already)."""
        with self._lock:
            if self._thread is not None or self._client is not None:
                return
            self._thread = threading.Thread(target=self._build, name="hookway-client", daemon=True)
            self._thread.start()

    def _build(self) -> None:
        with self._lock:
            if self._client is None and self._error is None:
                try:
                    self._client = self._make()
                except Exception as exc:  # raised on the first use, where the caller handles it
                    self._error = exc

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            if self._thread is not None:
                self._thread.join()
            self._build()
            if self._error is not None:
                error, self._error = self._error, None  # the next use tries again
                raise error
        return getattr(self._client, name)
