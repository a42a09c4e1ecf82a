"""Parking end to end: a long retry waits in the table, and the local stack's schedule releases it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.receivers import Receivers, Step
from testkit.stack import Stack, wait_until


@pytest.fixture
def parking_stack(tmp_path: Path) -> Iterator[Stack]:
    # Park anything due more than 2 s ahead (deployed default: 900 s), so a test's retry of 6 s parks.
    stack = Stack(tmp_path, env={"HOOKWAY_PARK_AFTER_SECONDS": "2"})
    try:
        stack.start_worker("ingest")
        stack.start_worker("deliveries")
        yield stack
    finally:
        stack.close()


def _parked(stack: Stack) -> list[dict[str, Any]]:
    table = stack.env["HOOKWAY_TABLE"]
    items: list[dict[str, Any]] = []
    for page in stack.dynamodb.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="begins_with(pk, :p)",
        ExpressionAttributeValues={":p": {"S": "PARK#"}},
    ):
        items.extend(page["Items"])
    return items


def test_a_parked_retry_is_released_by_the_local_schedule_and_delivered(
    parking_stack: Stack, receivers: Receivers
) -> None:
    stack = parking_stack
    # GIVEN an endpoint whose receiver fails the first attempt, with a retry 6 s later (past park-after)
    path = f"/park/{uuid.uuid4().hex}"
    receivers.scripts[path] = [Step(503), Step(200)]
    resp = stack.request(
        "POST",
        "/v1/endpoints",
        admin=True,
        json_body={
            "url": receivers.url(path),
            "filter": {"event_types": ["park.test"]},
            "retry_schedule": [0, 6],
        },
    )
    assert resp.status == 201, resp.body
    endpoint_id = resp.json()["id"]
    published = stack.request(
        "POST", "/v1/messages", admin=True, json_body={"event_type": "park.test", "payload": {"n": 1}}
    )
    assert published.status == 202, published.body
    message_id = published.json()["id"]
    # WHEN the first attempt fails THEN its retry is parked in the table (one item under PARK#), not on SQS
    wait_until(lambda: len(receivers.at(path)) == 1, timeout=30)
    [parked] = wait_until(lambda: _parked(stack), timeout=10)
    assert message_id in parked["sk"]["S"] and endpoint_id in parked["sk"]["S"]
    # AND with no schedule running, it stays there past its due time (nothing else would send it): its
    # key starts with the due time
    due = float(parked["sk"]["S"].split("#", 1)[0])
    time.sleep(max(0.0, due + 3 - time.time()))
    assert len(receivers.at(path)) == 1
    assert len(_parked(stack)) == 1
    # WHEN the local stack's schedule runs (as `make dev` and the suites' stack do)
    stack.start_scheduler(every=2)
    # THEN the retry is released and delivered, and nothing is left parked
    wait_until(lambda: len(receivers.at(path)) == 2, timeout=60)

    def delivered() -> bool:
        got = stack.request("GET", f"/v1/messages/{message_id}", admin=True).json()
        return any(
            d["endpoint_id"] == endpoint_id and d["status"] == "succeeded" for d in got.get("deliveries", [])
        )

    wait_until(delivered, timeout=20)
    assert _parked(stack) == []
    ids = {{k.lower(): v for k, v in r.headers.items()}.get("webhook-id") for r in receivers.at(path)}
    assert len(ids) == 1 and None not in ids  # the same delivery, attempted twice
