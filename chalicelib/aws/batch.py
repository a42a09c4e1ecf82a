"""Batch semantics for the SQS consumers, correct with or without ``ReportBatchItemFailures``.

Chalice cannot switch on partial batch responses, and without them one failed record makes the whole
batch visible again. So a handler processes every record, and if any failed it deletes the ones that
succeeded itself, then raises: the successes are gone, the failures come back (and reach the DLQ after
``maxReceiveCount`` receives).

A failure comes back after seconds, not after the queue's visibility timeout (6x the function's timeout,
360-720 s): before raising, the handler shortens the failed records' visibility to a backoff on their
receive count (``retry_delay``: 2 s, doubling, at most 60 s, +-20 % jitter). A throttled table or a storage
blip therefore costs a few seconds of delay, and failed records never pile up against SQS's ~120,000
in-flight limit. That call is best effort: if it fails, the records simply come back after the visibility
timeout, as before. Nothing here relies on a partial-batch response.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

log = logging.getLogger("hookway.sqs")

#: The first retry of a failed record, doubled on each receive up to ``MAX_RETRY_SECONDS``.
FIRST_RETRY_SECONDS = 2
MAX_RETRY_SECONDS = 60
JITTER = 0.2


def retry_delay(receive_count: int, rand: Callable[[], float] = random.random) -> int:
    """Seconds until a record that failed on its ``receive_count``-th receive is visible again."""
    exponent = min(max(receive_count, 1) - 1, 16)
    base = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2**exponent)
    return max(1, round(float(base) * (1 - JITTER + 2 * JITTER * rand())))


def retry_window(receives: int) -> float:
    """The shortest time a record that fails every one of ``receives`` receives spends on its queue."""
    return sum(retry_delay(count, lambda: 0.0) for count in range(1, receives))


class Consumed(Protocol):
    """What process_batch needs of the queue it consumes."""

    def delete_batch(self, receipt_handles: Sequence[str]) -> None:
        """Delete received messages."""

    def change_visibility(self, entries: Sequence[tuple[str, int]]) -> None:
        """Make received messages visible again after the given seconds (receipt handle, seconds)."""


class BatchFailedError(Exception):
    """Some records of a batch failed; they come back after a short backoff. The successes were deleted."""

    def __init__(self, failed: list[str]) -> None:
        super().__init__(f"{len(failed)} record(s) failed: {', '.join(failed[:10])}")
        self.failed = failed


def process_batch(
    records: Iterable[Any],
    handle: Callable[[str], Any],
    queue: Consumed,
    rand: Callable[[], float] = random.random,
) -> dict[str, Any]:
    """Run ``handle(body)`` for each record; see the module docstring for what happens on failure."""

    def handle_each(bodies: list[str]) -> list[BaseException | None]:
        errors: list[BaseException | None] = []
        for body in bodies:
            try:
                handle(body)
            except Exception as exc:
                errors.append(exc)
            else:
                errors.append(None)
        return errors

    return process_batch_with(records, handle_each, queue, rand)


def _receive_count(raw: dict[str, Any]) -> int:
    try:
        return int(raw.get("attributes", {}).get("ApproximateReceiveCount", 1))
    except (TypeError, ValueError):
        return 1


def process_batch_with(
    records: Iterable[Any],
    handle_many: Callable[[list[str]], list[BaseException | None]],
    queue: Consumed,
    rand: Callable[[], float] = random.random,
) -> dict[str, Any]:
    """Like process_batch, but the bodies are handled together (``handle_many`` returns each one's error).

    The sender uses it to send a batch concurrently, the router to enqueue a batch's deliveries at once.
    """
    raws = [record.to_dict() if hasattr(record, "to_dict") else record for record in records]
    errors = handle_many([raw["body"] for raw in raws])
    done = [raw["receiptHandle"] for raw, error in zip(raws, errors, strict=True) if error is None]
    failures = [(raw, error) for raw, error in zip(raws, errors, strict=True) if error is not None]
    if not failures:
        return {"batchItemFailures": []}
    logged: set[str] = set()
    for raw, error in failures:
        kind = type(error).__name__
        # One traceback per kind of error per batch: a throttling storm fails every record the same way.
        log.error(
            "record failed: %s",
            kind,
            exc_info=error if kind not in logged else None,
            extra={"sqs_message_id": raw.get("messageId"), "receive_count": _receive_count(raw)},
        )
        logged.add(kind)
    backoff = [(raw["receiptHandle"], retry_delay(_receive_count(raw), rand)) for raw, _ in failures]
    try:
        queue.change_visibility(backoff)
    except Exception as exc:
        # Best effort: the records come back after the queue's visibility timeout instead.
        log.warning("could not shorten the visibility of failed records: %s", type(exc).__name__)
    if done:
        queue.delete_batch(done)
    raise BatchFailedError([raw.get("messageId", "?") for raw, _ in failures])
