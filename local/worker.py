"""A local stand-in for Lambda's SQS event source mapping.

It long-polls the (emulated) queue, builds the SQS event Lambda would (unique messageIds, receipt
handles, attributes, eventSourceARN), splits a batch so no invoke passes Lambda's 6 MB payload limit,
invokes the Chalice handler, deletes the records of an invoke that succeeded and leaves the rest to the
visibility timeout and the queue's redrive policy, exactly as Lambda does without
``ReportBatchItemFailures``. Like the mapping, it may run several batches at once (``concurrency``: that
many pollers, each receiving a batch and invoking the handler with it), so a batch that waits on a slow
receiver does not hold the batches behind it. The pollers share one process, as one container's
invocations never do on Lambda: the handler code is the same, and the sender is safe to share.

Run it alone (``python -m local worker --queue ingest``) so a test can kill it mid-batch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("hookway.local.worker")

MAX_INVOKE_BYTES = 6 * 1024 * 1024
# Batches the deliveries worker runs at once, as the event source mapping does (a stage's
# sender_max_concurrency caps it; 2 is the mapping's least cap): a batch waiting on a slow receiver holds
# no other. Two, not more, on a shared test machine: five pollers cost enough CPU to widen every latency
# and to bunch a throttled endpoint's late slots (tests/e2e/test_flow_control.py's throttle test failed
# 3 runs of 3 with five, passed with two).
DELIVERIES_CONCURRENCY = 2


def concurrency(queue: str, given: int | None = None) -> int:
    """How many batches a queue's worker runs at once: ``given`` (``--concurrency``), else for the
    deliveries queue the stage's ``HOOKWAY_SENDER_MAX_CONCURRENCY`` or ``DELIVERIES_CONCURRENCY``, else 1."""
    if given is not None:
        return given
    if queue != "deliveries":
        return 1
    return int(os.environ.get("HOOKWAY_SENDER_MAX_CONCURRENCY") or 0) or DELIVERIES_CONCURRENCY


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The Lambda SQS event for received messages."""
    records = []
    for m in messages:
        body = m["Body"]
        records.append(
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": body,
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def split_for_invoke(
    messages: list[dict[str, Any]], limit: int = MAX_INVOKE_BYTES
) -> list[list[dict[str, Any]]]:
    """Group messages into invokes whose events stay under Lambda's payload limit."""
    groups: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 20
    for m in messages:
        record_size = len(json.dumps(m)) + 600
        if current and size + record_size > limit:
            groups.append(current)
            current, size = [], 20
        current.append(m)
        size += record_size
    if current:
        groups.append(current)
    return groups


class Worker:
    """Polls one queue and invokes one handler, until stopped."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: Callable[[dict[str, Any], Any], Any],
        *,
        batch_size: int = 10,
        wait_seconds: int = 1,
        region: str = "us-east-1",
        on_invoke: Callable[[int, bool], None] | None = None,
        concurrency: int = 1,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency is at least 1")
        self._concurrency = concurrency
        self._invoked = threading.Event()
        self._sqs = sqs
        self._url = queue_url
        self._handler = handler
        self._batch = batch_size
        self._wait = wait_seconds
        self._region = region
        self._on_invoke = on_invoke
        self._stop = threading.Event()
        self._arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    def stop(self) -> None:
        """Finish the current poll and stop."""
        self._stop.set()

    def poll_once(self) -> int:
        """Receive one batch and invoke the handler for it; returns how many messages were received."""
        response = self._sqs.receive_message(
            QueueUrl=self._url,
            MaxNumberOfMessages=self._batch,
            WaitTimeSeconds=self._wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        for group in split_for_invoke(messages):
            event = sqs_event(group, self._arn, self._region)
            from chalice.local import LambdaContext

            try:
                self._handler(event, LambdaContext("worker", 512, max_runtime_ms=120_000))
            except Exception:
                self._invoked.set()
                log.info("invoke failed; %d record(s) return after the visibility timeout", len(group))
                if self._on_invoke:
                    self._on_invoke(len(group), False)
                continue
            self._invoked.set()
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(group)]
            self._sqs.delete_message_batch(QueueUrl=self._url, Entries=entries)
            if self._on_invoke:
                self._on_invoke(len(group), True)
        return len(messages)

    def run(self) -> None:
        """Poll until stopped, with ``concurrency`` pollers; the others start after the first invoke (the
        handler's container is built once, as on a cold start)."""
        others: list[threading.Thread] = []
        if self._concurrency > 1:

            def start_others() -> None:
                while not self._invoked.wait(0.5):
                    if self._stop.is_set():
                        return
                for n in range(1, self._concurrency):
                    thread = threading.Thread(target=self._poll, name=f"poller-{n}", daemon=True)
                    thread.start()
                    others.append(thread)

            threading.Thread(target=start_others, name="pollers", daemon=True).start()
        self._poll()
        for thread in others:
            thread.join()

    def _poll(self) -> None:
        """Poll until stopped; a failing poll (emulator restarting) is retried after a pause."""
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("poll failed")
                time.sleep(0.5)
