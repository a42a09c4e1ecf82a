"""Run transformations in QuickJS: no I/O, a time and a memory limit per run, compiled once per thread.

The engine is the ``quickjs-ng`` package (QuickJS-ng; abi3 wheels for x86_64 and aarch64). A context has
no module loader, no ``std``/``os`` modules, no timers and no host callables: the code can compute and
nothing else. Its native module is imported on the first compile, so a process that never meets a
transformation never loads it.

A QuickJS context must be used only from the thread that made it, so each thread (the sender's pool has
ten) keeps its own bounded LRU of compiled contexts keyed by (endpoint id, hash of the code): a new
version of the code is a new key, and the old one ages out. A context whose run hit a limit is dropped
(its heap may be half-built), so the next run starts clean.

Limits: ``time_limit_ms`` is QuickJS's own interrupt check on CPU time (50 ms by default) and
``memory_limit_bytes`` its allocator limit (16 MB by default, the compiled code included), both per run;
the native stack is capped too, so deep recursion is an error rather than a crash.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from typing import Any

from chalicelib.transform.convention import (
    MAX_CODE_CHARS,
    Failed,
    Outcome,
    Request,
    one_line,
    outcome_of,
    webhook_of,
)
from chalicelib.ttlcache import Lru

DEFAULT_TIME_LIMIT_MS = 50
DEFAULT_MEMORY_LIMIT_BYTES = 16 * 1024 * 1024
STACK_LIMIT_BYTES = 256 * 1024
COMPILED_PER_THREAD = 32


class CompileError(ValueError):
    """The code does not compile, or defines no ``handler`` function."""


class _Compiled:
    """One context with the code evaluated and its ``handler`` in hand."""

    def __init__(self, context: Any, handler: Any) -> None:
        self.context = context
        self.handler = handler


def version_of(code: str) -> str:
    """A short hash of the code: with the endpoint id, the key of its compiled form."""
    return hashlib.sha256(code.encode("utf-8", "replace")).hexdigest()[:20]


class Engine:
    """Compiles and runs transformations; thread-safe (each thread has its own contexts)."""

    def __init__(
        self,
        *,
        time_limit_ms: int = DEFAULT_TIME_LIMIT_MS,
        memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT_BYTES,
        compiled_per_thread: int = COMPILED_PER_THREAD,
        on_compile: Callable[[str], None] | None = None,
    ) -> None:
        self._time_limit = time_limit_ms / 1000
        self._memory_limit = memory_limit_bytes
        self._per_thread = compiled_per_thread
        self._local = threading.local()
        self._on_compile = on_compile or (lambda key: None)

    def check(self, code: str) -> None:
        """Compile ``code`` once, as a save does; raises CompileError with a one-line reason."""
        if len(code) > MAX_CODE_CHARS:
            raise CompileError(f"the code is longer than {MAX_CODE_CHARS} characters")
        self._compile(code)

    def run(self, key: str, code: str, request: Request) -> Outcome:
        """The request a transformation makes of ``request``, its cancel, or its failure; never raises.

        ``key`` names the code's owner (an endpoint id): its compiled form is reused while the code is
        the same.
        """
        webhook = webhook_of(request)
        if isinstance(webhook, Failed):
            return webhook
        cache = self._cache()
        slot = f"{key}:{version_of(code)}"
        compiled = cache.get(slot)
        if compiled is None:
            try:
                compiled = self._compile(code)
            except CompileError as exc:
                return Failed(str(exc))
            cache.put(slot, compiled)
            self._on_compile(slot)
        try:
            returned = self._call(compiled, webhook)
        except _RunError as exc:
            if exc.limit:
                cache.pop(slot)
            return Failed(exc.reason)
        return outcome_of(returned, request)

    def _cache(self) -> Lru[str, _Compiled]:
        cache: Lru[str, _Compiled] | None = getattr(self._local, "cache", None)
        if cache is None:
            cache = Lru(self._per_thread)
            self._local.cache = cache
        return cache

    def _compile(self, code: str) -> _Compiled:
        import quickjs  # the native engine: loaded on the first transformation only

        context = quickjs.Context()
        context.set_memory_limit(self._memory_limit)
        context.set_time_limit(self._time_limit)
        context.set_max_stack_size(STACK_LIMIT_BYTES)
        try:
            context.eval(code)
            kind = context.eval("typeof handler")
        except quickjs.JSException as exc:
            raise CompileError(_reason(exc, self._time_limit, self._memory_limit)) from None
        if kind != "function":
            raise CompileError("the code must define function handler(webhook)")
        return _Compiled(context, context.get("handler"))

    def _call(self, compiled: _Compiled, webhook: dict[str, Any]) -> Any:
        import quickjs

        try:
            argument = compiled.context.parse_json(json.dumps(webhook))
            result = compiled.handler(argument)
            if isinstance(result, quickjs.Object):
                text = result.json()
                return None if text is None else json.loads(text)
            return result
        except quickjs.JSException as exc:
            reason = _reason(exc, self._time_limit, self._memory_limit)
            raise _RunError(reason, limit=_hit_limit(exc)) from None
        except (ValueError, TypeError, OverflowError) as exc:
            raise _RunError(
                f"the handler returned something that is not JSON: {one_line(str(exc))}"
            ) from None


class _RunError(Exception):
    def __init__(self, reason: str, *, limit: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.limit = limit


_TIMED_OUT = "InternalError: interrupted"
_OUT_OF_MEMORY = "InternalError: out of memory"


def _hit_limit(exc: Exception) -> bool:
    text = str(exc)
    return text.startswith((_TIMED_OUT, _OUT_OF_MEMORY)) or text.strip() in ("", "null")


def _reason(exc: Exception, time_limit: float, memory_limit: int) -> str:
    """One line for an attempt's error: the limit hit, or the JavaScript error's first line."""
    text = str(exc)
    if text.startswith(_TIMED_OUT):
        return f"the transformation ran past its time limit ({time_limit * 1000:.0f} ms)"
    if text.startswith(_OUT_OF_MEMORY) or text.strip() in ("", "null"):
        return f"the transformation ran past its memory limit ({memory_limit // (1024 * 1024)} MB)"
    if type(exc).__name__ == "StackOverflow" or "call stack size exceeded" in text:
        return "the transformation overflowed its stack (too deep a recursion)"
    return one_line(text.splitlines()[0] if text else type(exc).__name__)
