"""The slow lane end to end: a failing endpoint's retries travel the slow lane's queue, while a healthy
endpoint's deliveries stay on the main queue and keep flowing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.outbound.lanes import FAILING_AFTER
from testkit.receivers import Receivers, Step
from testkit.stack import Stack, wait_until


@pytest.fixture
def lanes_stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path)
    try:
        stack.start_worker("ingest")
        stack.start_worker("deliveries", slow_lane=False)  # the main lane only: the slow one starts later
        yield stack
    finally:
        stack.close()


def _endpoint(stack: Stack, url: str, **doc: Any) -> str:
    resp = stack.request("POST", "/v1/endpoints", admin=True, json_body={"url": url, **doc})
    assert resp.status == 201, resp.body
    return str(resp.json()["id"])


def _publish(stack: Stack, event_type: str, n: int) -> None:
    resp = stack.request(
        "POST", "/v1/messages", admin=True, json_body={"event_type": event_type, "payload": {"n": n}}
    )
    assert resp.status == 202, resp.body


def test_a_failing_endpoints_retries_travel_the_slow_lane_and_a_healthy_ones_stay_on_the_main_queue(
    lanes_stack: Stack, receivers: Receivers
) -> None:
    stack = lanes_stack
    event = f"lane.{uuid.uuid4().hex[:8]}"
    down, up = f"/lane/down/{uuid.uuid4().hex}", f"/lane/up/{uuid.uuid4().hex}"
    receivers.scripts[down] = [Step(503) for _ in range(1000)]
    # GIVEN a failing endpoint (retries a second apart) and a healthy one on the same events
    # (its breaker opens only after 1,000 failures: this is about the lane, not the circuit's hold)
    _endpoint(
        stack,
        receivers.url(down),
        filter={"event_types": [event]},
        retry_schedule=[0, *[1] * 19],
        circuit_breaker={"failures": 1000, "probe_seconds": 60},
    )
    _endpoint(stack, receivers.url(up), filter={"event_types": [event]})
    # WHEN five messages are published, with only the main lane's sender running
    for n in range(5):
        _publish(stack, event, n)
    # THEN the healthy endpoint gets all five from the main lane
    wait_until(lambda: len(receivers.at(up)) == 5, timeout=60)
    # AND the failing one gets the attempts made before it had failed FAILING_AFTER times in a row (at
    # least those; at most its five first attempts and the retries queued before then: how many of the
    # first attempts come before depends on how the router's and the sender's batches fell), then
    # nothing more: its later attempts wait on the slow lane's queue
    wait_until(lambda: stack.queue_depth("HOOKWAY_SLOW_DELIVERIES_QUEUE_URL") >= 3, timeout=60)
    time.sleep(4)  # four of its retry periods
    before = len(receivers.at(down))
    assert FAILING_AFTER <= before <= 5 + FAILING_AFTER - 1, before
    assert stack.queue_depth("HOOKWAY_DELIVERIES_QUEUE_URL") == 0
    # AND more messages still reach the healthy endpoint promptly from the main lane meanwhile
    for n in range(5, 8):
        _publish(stack, event, n)
    wait_until(lambda: len(receivers.at(up)) == 8, timeout=60)
    assert len(receivers.at(down)) <= before + 3  # only the new messages' first attempts, at most
    # WHEN the slow lane's worker starts THEN the failing endpoint's retries are attempted from it
    stack.start_worker("deliveries-slow")
    wait_until(lambda: len(receivers.at(down)) >= before + 10, timeout=60)
