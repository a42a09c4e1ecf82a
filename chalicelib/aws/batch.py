"""Batch semantics for the SQS consumers, correct with or without ``ReportBatchItemFailures``.

Chalice cannot switch on partial batch responses, and without them one failed record makes the whole
batch visible again. So a handler processes every record, and if any failed it deletes the ones that
succeeded itself, then raises: the failures come back after the visibility timeout (and reach the DLQ
after ``maxReceiveCount``), the successes do not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

log = logging.getLogger("hookway.sqs")


class Deleter(Protocol):
    """What process_batch needs of a queue."""

    def delete_batch(self, receipt_handles: list[str]) -> None:
        """Delete received messages."""


class BatchFailedError(Exception):
    """Some records of a batch failed; they stay on the queue. The successes were deleted."""

    def __init__(self, failed: list[str]) -> None:
        super().__init__(f"{len(failed)} record(s) failed: {', '.join(failed[:10])}")
        self.failed = failed


def process_batch(records: Iterable[Any], handle: Callable[[str], Any], queue: Deleter) -> dict[str, Any]:
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

    return process_batch_with(records, handle_each, queue)


def process_batch_with(
    records: Iterable[Any], handle_many: Callable[[list[str]], list[BaseException | None]], queue: Deleter
) -> dict[str, Any]:
    """Like process_batch, but the bodies are handled together (``handle_many`` returns each one's error).

    The sender uses it to send a batch concurrently, the router to enqueue a batch's deliveries at once.
    """
    raws = [record.to_dict() if hasattr(record, "to_dict") else record for record in records]
    errors = handle_many([raw["body"] for raw in raws])
    done = [raw["receiptHandle"] for raw, error in zip(raws, errors, strict=True) if error is None]
    failed = [raw.get("messageId", "?") for raw, error in zip(raws, errors, strict=True) if error is not None]
    for raw, error in zip(raws, errors, strict=True):
        if error is not None:
            log.error(
                "record failed: %s",
                type(error).__name__,
                exc_info=error,
                extra={"sqs_message_id": raw.get("messageId")},
            )
    if failed:
        if done:
            queue.delete_batch(done)
        raise BatchFailedError(failed)
    return {"batchItemFailures": []}
