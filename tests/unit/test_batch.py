"""Batch semantics: a failed record comes back after a short backoff, never after the visibility timeout."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from chalicelib.aws.batch import (
    MAX_RETRY_SECONDS,
    BatchFailedError,
    process_batch,
    process_batch_with,
    retry_delay,
    retry_window,
)
from chalicelib.errors import StorageError
from infra.stack import MAX_RECEIVES, TIMEOUTS
from testkit.fakes import MemoryQueue


def _record(n: int, body: str, receives: int = 1) -> dict[str, Any]:
    return {
        "messageId": f"m{n}",
        "receiptHandle": f"h{n}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": str(receives)},
    }


def _fail_bad(body: str) -> None:
    if body == "bad":
        raise StorageError("DynamoDB put_item failed: ProvisionedThroughputExceededException")


def test_the_backoff_doubles_from_2_s_to_a_minute_with_jitter() -> None:
    # GIVEN the middle of the jitter THEN 2, 4, 8, 16, 32, then 60 s for ever
    assert [retry_delay(n, lambda: 0.5) for n in range(1, 9)] == [2, 4, 8, 16, 32, 60, 60, 60]
    # ... jittered by at most 20 % either way, never 0, and sane for odd receive counts
    assert [retry_delay(n, lambda: 0.0) for n in (1, 6)] == [2, 48]
    assert [retry_delay(n, lambda: 1.0) for n in (1, 6)] == [2, 72]
    assert retry_delay(0, lambda: 0.0) >= 1 and retry_delay(10**9, lambda: 1.0) <= 1.2 * MAX_RETRY_SECONDS


def test_failed_records_come_back_after_seconds_and_the_successes_are_deleted() -> None:
    # GIVEN a batch where two records fail, one on its first receive and one on its fourth
    queue = MemoryQueue()
    records = [_record(1, "ok"), _record(2, "bad"), _record(3, "ok"), _record(4, "bad", receives=4)]
    # WHEN it is processed
    with pytest.raises(BatchFailedError) as err:
        process_batch(records, _fail_bad, queue, rand=lambda: 0.5)
    # THEN the invocation fails (nothing relies on a partial-batch response), the successes are deleted
    assert err.value.failed == ["m2", "m4"]
    assert queue.deleted == ["h1", "h3"]
    # ... and the failures are visible again after 2 s and 16 s, not the queue's 360-720 s timeout
    assert queue.visibility == [("h2", 2), ("h4", 16)]


def test_a_batch_without_failures_changes_nothing() -> None:
    queue = MemoryQueue()
    assert process_batch([_record(1, "a")], lambda body: None, queue) == {"batchItemFailures": []}
    assert queue.deleted == [] and queue.visibility == []


def test_the_backoff_is_best_effort() -> None:
    # GIVEN a queue whose ChangeMessageVisibility fails (throttled, or the receipt handle expired)
    class NoVisibility(MemoryQueue):
        def change_visibility(self, entries: Any) -> None:
            raise StorageError("SQS ChangeMessageVisibilityBatch failed: RequestThrottled")

    queue = NoVisibility()
    # WHEN a record fails THEN the successes are still deleted and the batch still fails: the failed
    # record comes back after the visibility timeout instead
    with pytest.raises(BatchFailedError):
        process_batch_with(
            [_record(1, "ok"), _record(2, "bad")],
            lambda bodies: [StorageError("x") if b == "bad" else None for b in bodies],
            queue,
        )
    assert queue.deleted == ["h1"]


def test_a_throttling_storm_logs_one_traceback_per_batch(logged: list[logging.LogRecord]) -> None:
    # GIVEN ten records that all fail the same way
    queue = MemoryQueue()
    with pytest.raises(BatchFailedError):
        process_batch([_record(i, "bad") for i in range(10)], _fail_bad, queue)
    # THEN each is logged, with one traceback for the kind of error, not ten
    failed = [r for r in logged if r.getMessage().startswith("record failed")]
    assert len(failed) == 10
    assert sum(1 for r in failed if r.exc_info) == 1


def test_a_record_rides_out_an_hour_of_failures_before_its_dead_letter_queue() -> None:
    # GIVEN the template's maxReceiveCount THEN even with the shortest jitter a record that fails on every
    # receive stays on its queue for an hour (the old 5 x 360-720 s windows were 30 and 60 min)
    assert retry_window(MAX_RECEIVES) >= 3600
    # ... and every retry comes back well inside the shortest consumer's visibility timeout
    shortest = 6 * min(TIMEOUTS["route_ingest"], TIMEOUTS["deliver"])
    assert shortest > 1.2 * MAX_RETRY_SECONDS


class _Sqs:
    """A boto3 SQS client as the local worker uses it, recording calls."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.messages = messages
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def get_queue_attributes(self, **kwargs: Any) -> dict[str, Any]:
        return {"Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:123456789012:q"}}

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("receive_message", kwargs))
        return {"Messages": self.messages}

    def __getattr__(self, name: str) -> Any:
        return lambda **kwargs: self.calls.append((name, kwargs)) or {}


def _messages() -> list[dict[str, Any]]:
    return [
        {
            "MessageId": f"m{i}",
            "ReceiptHandle": f"h{i}",
            "Body": "x",
            "Attributes": {"ApproximateReceiveCount": "1"},
        }
        for i in range(3)
    ]


def test_the_local_worker_deletes_a_successful_invoke_and_nothing_else() -> None:
    from local.worker import Worker

    # GIVEN a worker whose invoke succeeds THEN it deletes the records, as Lambda's mapping does
    sqs = _Sqs(_messages())
    Worker(sqs, "q", lambda event, ctx: None).poll_once()
    assert [name for name, _ in sqs.calls] == ["receive_message", "delete_message_batch"]
    # ... and asks for the receive count the handler's backoff needs
    assert sqs.calls[0][1]["AttributeNames"] == ["All"]


def test_the_local_worker_leaves_a_failed_invoke_alone() -> None:
    from local.worker import Worker

    # GIVEN a handler that shortened its failed record's visibility and raised, as process_batch does
    def handler(event: dict[str, Any], ctx: Any) -> None:
        assert event["Records"][0]["attributes"]["ApproximateReceiveCount"] == "1"
        raise BatchFailedError(["m0"])

    sqs = _Sqs(_messages())
    Worker(sqs, "q", handler).poll_once()
    # THEN the worker neither deletes nor resets any visibility (that would undo the handler's backoff)
    assert [name for name, _ in sqs.calls] == ["receive_message"]


def test_the_local_deliveries_worker_runs_a_batch_while_another_waits_on_a_slow_receiver(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading
    import time

    from local.worker import Worker, concurrency

    # GIVEN a queue holding a warm-up batch, then one whose invoke waits (a slow receiver), then another
    class Batches(_Sqs):
        def __init__(self, batches: list[str]) -> None:
            super().__init__([])
            self.batches = batches
            self.lock = threading.Lock()

        def receive_message(self, **kwargs: Any) -> dict[str, Any]:
            with self.lock:
                body = self.batches.pop(0) if self.batches else None
            if body is None:
                time.sleep(0.02)
                return {}
            return {"Messages": [{"MessageId": body, "ReceiptHandle": body, "Body": body}]}

    release = threading.Event()
    invoked: list[str] = []

    def handler(event: dict[str, Any], ctx: Any) -> None:
        body = event["Records"][0]["body"]
        invoked.append(body)
        if body == "slow":
            release.wait(5)

    monkeypatch.delenv("HOOKWAY_SENDER_MAX_CONCURRENCY", raising=False)
    worker = Worker(Batches(["warm", "slow", "fast"]), "q", handler, concurrency=concurrency("deliveries"))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        # WHEN the worker runs THEN the third batch is invoked while the second still waits, as Lambda's
        # event source mapping runs batches concurrently
        deadline = time.monotonic() + 3
        while "fast" not in invoked and time.monotonic() < deadline:
            time.sleep(0.01)
        assert invoked == ["warm", "slow", "fast"]
        assert not release.is_set()
    finally:
        release.set()
        worker.stop()
        thread.join(5)
    assert not thread.is_alive()
    # AND it is a setting: the stage's cap on the senders' concurrency, else two; one for other queues
    assert concurrency("deliveries") == 2 and concurrency("ingest") == 1
    monkeypatch.setenv("HOOKWAY_SENDER_MAX_CONCURRENCY", "3")
    assert concurrency("deliveries") == 3 and concurrency("deliveries", 1) == 1
