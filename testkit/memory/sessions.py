"""The in-memory fake of SessionStore (see ``testkit.fakes``)."""

from __future__ import annotations

from typing import Any

from testkit.memory.base import MemoryTable


class MemorySessions(MemoryTable):
    """SessionStore, in dicts, keyed and paged like the DynamoDB layout."""

    def __init__(self, clock: Any, **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        self.sessions: dict[str, float] = {}

    def put_session(self, digest: str, expires_at: float) -> None:
        self._maybe_fail()
        self.sessions[digest] = expires_at
        self.writes += 1

    def session_expires_at(self, digest: str) -> float | None:
        self._maybe_fail()
        return self.sessions.get(digest)

    def delete_session(self, digest: str) -> None:
        self._maybe_fail()
        self.sessions.pop(digest, None)

    def end_sessions(self) -> int:
        self._maybe_fail()
        ended = len(self.sessions)
        self.sessions.clear()
        return ended
