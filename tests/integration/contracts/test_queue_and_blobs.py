"""The contract of Queue and BlobStore: one behavioural suite, run against the in-memory fake and DynamoDB on moto."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.aws.sqs import SqsQueue
from chalicelib.errors import NotFoundError, StorageError


def _drain(queue: Any) -> list[str]:
    if not isinstance(queue, SqsQueue):
        return list(queue.sent)
    bodies: list[str] = []
    sqs = queue.sqs  # type: ignore[attr-defined]
    while True:
        got = sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not got:
            return bodies
        bodies.extend(m["Body"] for m in got)
        queue.delete_batch([m["ReceiptHandle"] for m in got])


class TestQueue:
    def test_send_and_batch_keep_bodies(self, queue: Any) -> None:
        big = "é" * 300_000  # 600 KB of UTF-8
        queue.send(big)
        queue.send_batch([json.dumps({"n": i}) for i in range(23)])
        bodies = _drain(queue)
        assert big in bodies
        assert sorted(b for b in bodies if b != big) == sorted(json.dumps({"n": i}) for i in range(23))

    def test_oversized_message_is_a_storage_error(self, queue: Any) -> None:
        with pytest.raises(StorageError):
            queue.send("x" * (1024 * 1024 + 1))

    def test_a_failed_record_comes_back_when_its_visibility_says(self, queue: Any) -> None:
        # GIVEN 12 received messages (more than one ChangeMessageVisibilityBatch call)
        queue.send_batch([f"r{i}" for i in range(12)])
        if not isinstance(queue, SqsQueue):
            queue.change_visibility([(f"h{i}", 0) for i in range(12)])
            assert queue.visibility == [(f"h{i}", 0) for i in range(12)]
            return
        sqs = queue.sqs  # type: ignore[attr-defined]
        held: dict[str, str] = {}
        while len(held) < 12:
            for m in sqs.receive_message(
                QueueUrl=queue.url, MaxNumberOfMessages=10, VisibilityTimeout=600
            ).get("Messages", []):
                held[m["Body"]] = m["ReceiptHandle"]
        # WHEN the handler gives 11 of them back now and keeps one for 10 minutes
        queue.change_visibility([(held[f"r{i}"], 0 if i else 600) for i in range(12)])
        # THEN the 11 can be received again at once, the kept one cannot
        assert sorted(_drain(queue), key=lambda b: int(b[1:])) == [f"r{i}" for i in range(1, 12)]
        # ... and a receipt SQS no longer knows is a StorageError (the handler then lets the timeout run)
        with pytest.raises(StorageError):
            queue.change_visibility([("not-a-receipt-handle", 5)])


class TestBlobs:
    def test_put_get_and_missing(self, blobs: Any) -> None:
        data = bytes(range(256)) * 4096
        bucket = blobs.put("a/b", data)
        assert bucket == blobs.bucket
        assert blobs.get("a/b") == data
        with pytest.raises(NotFoundError):
            blobs.get("nope")
