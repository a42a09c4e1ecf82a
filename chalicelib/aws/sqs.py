"""The SQS adapter of the ``Queue`` port."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import StorageError
from chalicelib.paging import MAX_DELAY_SECONDS

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

SQS_BATCH = 10
MAX_VISIBILITY = 12 * 3600  # SQS's limit


def storage_error(service: str, op: str, exc: Exception) -> StorageError:
    code = (
        exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else type(exc).__name__
    )
    return StorageError(f"{service} {op} failed: {code}")


class SqsQueue:
    """A Queue on one SQS queue URL."""

    def __init__(self, client: SQSClient, url: str) -> None:
        self._sqs = client
        self.url = url

    def send(self, body: str, *, delay_seconds: int = 0) -> str:
        """Enqueue one message; returns its SQS message id."""
        try:
            result = self._sqs.send_message(
                QueueUrl=self.url,
                MessageBody=body,
                DelaySeconds=min(max(delay_seconds, 0), MAX_DELAY_SECONDS),
            )
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("SQS", "SendMessage", exc) from exc
        return result["MessageId"]

    def send_batch(self, bodies: Sequence[str], *, delay_seconds: int = 0) -> None:
        """Enqueue many messages, ten per call; any entry SQS refuses is an error."""
        delay = min(max(delay_seconds, 0), MAX_DELAY_SECONDS)
        for start in range(0, len(bodies), SQS_BATCH):
            chunk = bodies[start : start + SQS_BATCH]
            entries = [{"Id": str(i), "MessageBody": b, "DelaySeconds": delay} for i, b in enumerate(chunk)]
            try:
                result = self._sqs.send_message_batch(QueueUrl=self.url, Entries=entries)  # type: ignore[arg-type]
            except (ClientError, BotoCoreError) as exc:
                raise storage_error("SQS", "SendMessageBatch", exc) from exc
            if result.get("Failed"):
                codes = sorted({f.get("Code", "") for f in result["Failed"]})
                raise StorageError(f"SQS SendMessageBatch refused {len(result['Failed'])} entries: {codes}")

    def delete_batch(self, receipt_handles: Sequence[str]) -> None:
        """Delete received messages, ten per call."""
        for start in range(0, len(receipt_handles), SQS_BATCH):
            chunk = receipt_handles[start : start + SQS_BATCH]
            entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(chunk)]
            try:
                self._sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)  # type: ignore[arg-type]
            except (ClientError, BotoCoreError) as exc:
                raise storage_error("SQS", "DeleteMessageBatch", exc) from exc

    def change_visibility(self, entries: Sequence[tuple[str, int]]) -> None:
        """Make received messages visible again after the given seconds, ten per call.

        Raises StorageError if a call fails or SQS refuses an entry (its message then keeps the visibility
        it has); the entries before it are changed.
        """
        for start in range(0, len(entries), SQS_BATCH):
            chunk = entries[start : start + SQS_BATCH]
            batch = [
                {
                    "Id": str(i),
                    "ReceiptHandle": handle,
                    "VisibilityTimeout": max(0, min(seconds, MAX_VISIBILITY)),
                }
                for i, (handle, seconds) in enumerate(chunk)
            ]
            try:
                result = self._sqs.change_message_visibility_batch(
                    QueueUrl=self.url,
                    Entries=batch,  # type: ignore[arg-type]
                )
            except (ClientError, BotoCoreError) as exc:
                raise storage_error("SQS", "ChangeMessageVisibilityBatch", exc) from exc
            if result.get("Failed"):
                codes = sorted({f.get("Code", "") for f in result["Failed"]})
                raise StorageError(
                    f"SQS ChangeMessageVisibilityBatch refused {len(result['Failed'])}: {codes}"
                )
