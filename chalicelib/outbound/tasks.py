"""The deliveries queue's message: one attempt of one (message, endpoint) delivery."""

from __future__ import annotations

import json
from dataclasses import dataclass

VERSION = 1


class PoisonTaskError(Exception):
    """A delivery task that can never be processed (unreadable)."""


@dataclass(frozen=True)
class Task:
    """One attempt of one delivery, as queued."""

    message_id: str
    endpoint_id: str
    attempt: int = 1
    not_before: float = 0.0
    generation: str = ""

    def encode(self) -> str:
        """The queue's text form."""
        return json.dumps(
            {
                "v": VERSION,
                "message_id": self.message_id,
                "endpoint_id": self.endpoint_id,
                "attempt": self.attempt,
                "not_before": self.not_before,
                "generation": self.generation,
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, text: str) -> Task:
        """Parse the queue's text form, or PoisonTaskError."""
        try:
            doc = json.loads(text)
            task = cls(
                str(doc["message_id"]),
                str(doc["endpoint_id"]),
                int(doc["attempt"]),
                float(doc["not_before"]),
                str(doc.get("generation", "")),
            )
            if doc.get("v") != VERSION or task.attempt < 1:
                raise ValueError("bad version or attempt")
        except (KeyError, TypeError, ValueError, RecursionError) as exc:
            raise PoisonTaskError(f"unreadable delivery task: {type(exc).__name__}") from exc
        return task
