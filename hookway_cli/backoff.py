"""Capped exponential backoff with jitter, and which errors are worth trying again (``hookway listen``
rides out a laptop's lost connections with them)."""

from __future__ import annotations

import random
from collections.abc import Callable

from hookway_cli.errors import ApiError, CliError, ConnectionFailed


class Backoff:
    """Capped exponential backoff with jitter: step ``base * 2**n`` up to ``cap``; each wait is drawn
    between half the step and the step, so many CLIs cut off together do not come back together."""

    def __init__(
        self, *, base: float = 0.5, cap: float = 30.0, rand: Callable[[], float] = random.random
    ) -> None:
        self.base, self.cap, self.rand = base, cap, rand
        self.failures = 0

    def next(self) -> float:
        """The wait before the next try (and count one more failure)."""
        step: float = min(self.cap, self.base * 2.0**self.failures)
        self.failures += 1
        return step / 2 + self.rand() * step / 2

    def reset(self) -> None:
        """A call worked: the next failure starts from the base again."""
        self.failures = 0


def transient(exc: CliError) -> bool:
    """Whether trying again later may work: the API unreachable, or a 5xx/429 (or a garbled answer)."""
    if isinstance(exc, ConnectionFailed):
        return True
    return isinstance(exc, ApiError) and (
        exc.status >= 500 or exc.status == 429 or exc.code == "invalid_response"
    )
