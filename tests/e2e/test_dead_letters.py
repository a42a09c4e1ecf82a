"""A delivery task that fails on every receive reaches the dead-letter queue, and its delivery ends failed.

Its own local stack: the sender's claim lease is 1 s (so each redelivery takes the claim over, as in Lambda
where the visibility timeout, 720 s, outlasts the 150 s lease), the visibility timeout 3 s, and the
dead-letter worker runs beside the ingest and deliveries workers, as the dead_letters Lambda would.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.receivers import Receivers
from testkit.stack import Stack, wait_until


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    # 2 receives, not the template's 80 (an hour of backoff): a failed task comes back after 2 s, fails
    # again, comes back after 4 s and is moved to the dead-letter queue (a third receive: 8 s more).
    running = Stack(tmp_path, visibility_timeout=3, max_receives=2)
    running.env["HOOKWAY_DELIVERY_LEASE_SECONDS"] = "1"
    running.env["HOOKWAY_LOG_LEVEL"] = "INFO"
    for queue in ("ingest", "deliveries", "dead-letters"):
        running.start_worker(queue)
    try:
        yield running
    finally:
        running.close()


def _delivery(stack: Stack, message_id: str) -> dict:  # type: ignore[type-arg]
    resp = stack.request("GET", f"/v1/messages/{message_id}", admin=True)
    if resp.status == 404:  # not routed yet
        return {}
    [delivery] = resp.json()["deliveries"]
    return dict(delivery)


def test_a_task_driven_into_the_dlq_ends_its_delivery_failed_dead_lettered(
    stack: Stack, receivers: Receivers, tmp_path: Path
) -> None:
    # GIVEN an endpoint and a message large enough to be kept in S3, delivered once
    path = f"/hook/{uuid.uuid4().hex}"
    endpoint = stack.request(
        "POST", "/v1/endpoints", admin=True, json_body={"url": receivers.url(path)}
    ).json()
    resp = stack.request(
        "POST", "/v1/messages", admin=True, json_body={"event_type": "big.thing", "payload": "x" * 300_000}
    )
    assert resp.status == 202, resp.body
    message_id = resp.json()["id"]
    wait_until(lambda: _delivery(stack, message_id).get("status") == "succeeded", timeout=30)
    # ... then its payload object disappears from the bucket (a fault no retry can mend)
    bucket = stack.env["HOOKWAY_BUCKET"]
    keys = [o["Key"] for o in stack.s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys
    stack.s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})

    # WHEN it is sent again: the task fails on each of its 2 receives and is moved to the dead-letter queue
    resend = stack.request("POST", f"/v1/messages/{message_id}/resend", admin=True, json_body={})
    assert resend.status == 202, resend.body

    # THEN the dead-letter handler ends the delivery failed, with the reason, visible in the API
    delivery = wait_until(
        lambda: (d := _delivery(stack, message_id)).get("status") == "failed" and d, timeout=90, interval=0.2
    )
    assert delivery["last_error_class"] == "dead_lettered"
    assert delivery["endpoint_id"] == endpoint["id"]
    attempts = stack.request("GET", f"/v1/messages/{message_id}/attempts", admin=True).json()["data"]
    assert [a["error_class"] for a in attempts][:1] == ["dead_lettered"]
    # ... it was counted (the EMF line the dead_letters function writes), and the DLQ is empty again
    wait_until(lambda: stack.queue_depth("HOOKWAY_DELIVERIES_DLQ_URL") == 0, timeout=30)
    log = (tmp_path / "worker-dead-letters.log").read_text()
    assert '"DeadLettered":1' in log
    assert "delivery dead-lettered" in log and message_id in log
