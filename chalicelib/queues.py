"""Queues and blobs: ports (``Queue``, ``BlobStore``) and their SQS / S3 adapters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import NotFoundError, StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

SQS_BATCH = 10
MAX_DELAY_SECONDS = 900  # SQS DelaySeconds cap


class Queue(Protocol):
    """A durable queue of text messages."""

    def send(self, body: str, *, delay_seconds: int = 0) -> str:
        """Enqueue one message; returns its id. Raises StorageError if it is not stored."""

    def send_batch(self, bodies: Sequence[str], *, delay_seconds: int = 0) -> None:
        """Enqueue many messages; raises StorageError unless every one is stored."""

    def delete_batch(self, receipt_handles: Sequence[str]) -> None:
        """Delete received messages by receipt handle."""


class BlobStore(Protocol):
    """Large bodies kept outside the queue (the claim check)."""

    def put(self, key: str, data: bytes) -> str:
        """Store bytes under a key; returns the bucket name."""

    def get(self, key: str) -> bytes:
        """The bytes under a key, or NotFoundError."""


def _storage_error(service: str, op: str, exc: Exception) -> StorageError:
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
            raise _storage_error("SQS", "SendMessage", exc) from exc
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
                raise _storage_error("SQS", "SendMessageBatch", exc) from exc
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
                raise _storage_error("SQS", "DeleteMessageBatch", exc) from exc


class S3BlobStore:
    """A BlobStore on one S3 bucket."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._s3 = client
        self.bucket = bucket

    def put(self, key: str, data: bytes) -> str:
        """Store bytes under a key; returns the bucket name."""
        try:
            self._s3.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType="application/octet-stream"
            )
        except (ClientError, BotoCoreError) as exc:
            raise _storage_error("S3", "PutObject", exc) from exc
        return self.bucket

    def get(self, key: str) -> bytes:
        """The bytes under a key, or NotFoundError."""
        try:
            return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise NotFoundError(f"no stored body {key!r}", code="body_not_found") from exc
            raise _storage_error("S3", "GetObject", exc) from exc
        except BotoCoreError as exc:
            raise _storage_error("S3", "GetObject", exc) from exc
