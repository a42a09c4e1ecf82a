"""The deliveries queue's message: one attempt of one (message, endpoint) delivery."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from chalicelib.ids import new_id
from chalicelib.models import Attempt

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


def ending(
    task: Task,
    generation: str,
    now: float,
    *,
    outcome: Literal["failed", "skipped"],
    error_class: str,
    error: str | None = None,
    expires_at: float,
) -> Attempt:
    """The attempt that ends a task's delivery without a request: the endpoint is disabled or gone
    (``skipped``), its listen session is over or the task was dead-lettered (``failed``)."""
    return Attempt(
        message_id=task.message_id,
        endpoint_id=task.endpoint_id,
        number=task.attempt,
        claim_id=new_id("clm"),
        started_at=now,
        status=outcome,
        delivery_status=outcome,
        error_class=error_class,
        error=error,
        expires_at=expires_at,
        generation=generation,
    )
