"""The composition roots, one per role: the only place that reads Settings and makes boto3 clients.

``api_root()`` is the API's root (request-profile clients: tight timeouts), ``worker_root()`` the queue consumers'
and the sweep's (background profile). A Lambda function plays one role; the local stack plays both in one
process, where the two roots share one ``Shared`` (settings, metrics, the endpoint caches told of a change).
Tests and benchmarks build roots of their own with fakes (``ApiRoot(Shared(settings), store=...)``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.config import Settings
    from chalicelib.wiring.api import ApiRoot
    from chalicelib.wiring.base import Shared
    from chalicelib.wiring.worker import WorkerRoot

_shared: Shared | None = None
_api: ApiRoot | None = None
_worker: WorkerRoot | None = None
_lock = threading.Lock()


def shared() -> Shared:
    """What this process has once: settings from the environment, logging and tracing set up."""
    global _shared  # noqa: PLW0603 - one per Lambda container
    with _lock:
        if _shared is None:
            from chalicelib.config import Settings
            from chalicelib.observability import configure_logging, start_tracing
            from chalicelib.wiring.base import Shared

            settings = Settings.from_env(os.environ)
            configure_logging(settings.log_level)
            made = Shared(settings)
            if settings.tracing:
                made.tracer = start_tracing()  # patches botocore before any client is made
            _shared = made
        return _shared


def api_root() -> ApiRoot:
    """The process-wide API root, built on first use."""
    global _api  # noqa: PLW0603
    if _api is None:
        from chalicelib.wiring.api import ApiRoot

        made = ApiRoot(shared())
        with _lock:
            _api = _api or made
    return _api


def worker_root() -> WorkerRoot:
    """The process-wide workers' root, built on first use."""
    global _worker  # noqa: PLW0603
    if _worker is None:
        from chalicelib.wiring.worker import WorkerRoot

        made = WorkerRoot(shared())
        with _lock:
            _worker = _worker or made
    return _worker


def flush_metrics() -> None:
    """Write the counted metrics, if anything was counted (call at the end of an invocation)."""
    if _shared is not None and "metrics" in _shared.__dict__:
        _shared.metrics.flush()


def reset() -> None:
    """Forget the roots (tests and the local stack re-read the environment)."""
    global _shared, _api, _worker  # noqa: PLW0603
    with _lock:
        _shared = _api = _worker = None


def roots(
    settings: Settings, clock: Callable[[], float] = time.time, **parts: Any
) -> tuple[ApiRoot, WorkerRoot]:
    """Both roles' roots over one ``Shared``, as one process playing both has them (tests, benchmarks):
    each part (a fake store, a pinned transport...) goes to every root that has a part of that name."""
    from chalicelib.wiring.api import ApiRoot
    from chalicelib.wiring.base import Shared
    from chalicelib.wiring.worker import WorkerRoot

    unknown = set(parts) - ApiRoot.parts() - WorkerRoot.parts()
    if unknown:
        raise TypeError(f"no root has a part named {sorted(unknown)}")
    common = Shared(settings, clock)
    made = tuple(
        cls(common, **{k: v for k, v in parts.items() if k in cls.parts()}) for cls in (ApiRoot, WorkerRoot)
    )
    return made[0], made[1]  # type: ignore[return-value]
