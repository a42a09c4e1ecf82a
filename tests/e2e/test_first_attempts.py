"""The router's own first attempts end to end (``HOOKWAY_ROUTER_FIRST_ATTEMPT``): real loopback receivers,
the local stack's workers as separate processes, one of them SIGKILLed mid-POST.

The stack starts with no deliveries worker, so what the router puts on the deliveries queue stays there
to be counted; the tests that need retries start one.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from testkit.receivers import Receivers, Step
from testkit.stack import Stack, wait_until

LEASE = 6  # the stack's delivery lease here: a killed router's claim runs out within the test


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(
        tmp_path_factory.mktemp("first-attempt-logs"),
        env={"HOOKWAY_ROUTER_FIRST_ATTEMPT": "true", "HOOKWAY_DELIVERY_LEASE_SECONDS": str(LEASE)},
    )
    try:
        running.start_worker("ingest")
        yield running
    finally:
        running.close()


def _endpoint(stack: Stack, url: str, event_type: str, **doc: Any) -> dict[str, Any]:
    body = {"url": url, "filter": {"event_types": [event_type]}, **doc}
    resp = stack.request("POST", "/v1/endpoints", admin=True, json_body=body)
    assert resp.status == 201, resp.body
    return dict(resp.json())


def _publish(stack: Stack, event_type: str) -> str:
    resp = stack.request(
        "POST", "/v1/messages", admin=True, json_body={"event_type": event_type, "payload": {"n": 1}}
    )
    assert resp.status == 202, resp.body
    return str(resp.json()["id"])


def _deliveries(stack: Stack, message_id: str) -> dict[str, dict[str, Any]]:
    resp = stack.request("GET", f"/v1/messages/{message_id}", admin=True)
    if resp.status != 200:
        return {}
    return {d["endpoint_id"]: d for d in resp.json().get("deliveries", [])}


def _attempts(stack: Stack, message_id: str) -> list[dict[str, Any]]:
    return list(stack.request("GET", f"/v1/messages/{message_id}/attempts", admin=True).json()["data"])


def _queued(stack: Stack) -> int:
    """Every message on the deliveries queue: visible, in flight and delayed."""
    attrs = stack.sqs.get_queue_attributes(
        QueueUrl=stack.env["HOOKWAY_DELIVERIES_QUEUE_URL"], AttributeNames=["All"]
    )["Attributes"]
    names = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
    return sum(int(attrs[n]) for n in (*names, "ApproximateNumberOfMessagesDelayed"))


def _path() -> str:
    return f"/first/{uuid.uuid4().hex}"


def test_a_first_try_success_is_delivered_once_with_no_deliveries_queue_message(
    stack: Stack, receivers: Receivers
) -> None:
    # GIVEN an endpoint and no deliveries worker at all
    path = _path()
    endpoint = _endpoint(stack, receivers.url(path), "first.ok")
    secret = endpoint["secret"]
    before = _queued(stack)
    # WHEN a message is published
    message_id = _publish(stack, "first.ok")
    # THEN the router delivered it, signed, once, and recorded it
    delivery = wait_until(
        lambda: _deliveries(stack, message_id).get(endpoint["id"], {}).get("status") == "succeeded"
    )
    assert delivery
    [received] = receivers.at(path)
    Webhook(secret).verify(
        received.body,
        {k: received.headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")},
    )
    assert received.headers["webhook-id"] == message_id
    [attempt] = _attempts(stack, message_id)
    assert (attempt["status"], attempt["response_status"]) == ("succeeded", 200)
    # AND the endpoint's attempt listing shows it
    listed = stack.request("GET", f"/v1/endpoints/{endpoint['id']}/attempts", admin=True).json()["data"]
    assert [a["message_id"] for a in listed] == [message_id]
    # AND the searches by endpoint and by status find it
    for query in (f"endpoint={endpoint['id']}", f"endpoint={endpoint['id']}&status=succeeded"):
        found = stack.request("GET", f"/v1/messages?{query}", admin=True).json()["data"]
        assert [m["id"] for m in found] == [message_id], query
    # AND nothing went on the deliveries queue
    assert _queued(stack) == before == 0
    time.sleep(0.5)
    assert len(receivers.at(path)) == 1


def test_a_failure_is_retried_through_the_deliveries_queue(stack: Stack, receivers: Receivers) -> None:
    # GIVEN a receiver that fails its first request
    path = _path()
    receivers.script(path, Step(status=503))
    endpoint = _endpoint(stack, receivers.url(path), "first.retry", retry_schedule=[1, 1])
    # WHEN a message is published
    message_id = _publish(stack, "first.retry")
    # THEN the router's attempt fails and its retry waits on the deliveries queue
    wait_until(lambda: len(receivers.at(path)) == 1)
    wait_until(lambda: _queued(stack) == 1)
    # AND a deliveries worker delivers it
    stack.start_worker("deliveries")
    try:
        wait_until(
            lambda: _deliveries(stack, message_id).get(endpoint["id"], {}).get("status") == "succeeded"
        )
    finally:
        stack.kill_workers("deliveries")
    statuses = [a["response_status"] for a in _attempts(stack, message_id)]
    assert sorted(statuses) == [200, 503]
    assert len(receivers.at(path)) == 2


def test_a_hanging_receiver_does_not_delay_the_other_nine_or_the_router(
    stack: Stack, receivers: Receivers
) -> None:
    # GIVEN ten endpoints on one event type, one of whose receivers hangs for 8 s
    paths = [_path() for _ in range(10)]
    receivers.script(paths[0], Step(delay=8.0))
    endpoints = [_endpoint(stack, receivers.url(p), "first.hang") for p in paths]
    other_path = _path()
    other = _endpoint(stack, receivers.url(other_path), "first.next")
    # WHEN a message goes to all ten, and another message right after it to another endpoint
    started = time.time()
    message_id = _publish(stack, "first.hang")
    next_id = _publish(stack, "first.next")

    # THEN the nine are delivered and recorded while the hanging one still hangs
    def nine_recorded() -> bool:
        states = _deliveries(stack, message_id)
        return sum(states.get(e["id"], {}).get("status") == "succeeded" for e in endpoints[1:]) == 9

    wait_until(nine_recorded, timeout=20)
    assert time.time() - started < 5.0
    assert all(receivers.at(p) for p in paths[1:])
    assert max(r.finished for p in paths[1:] for r in receivers.at(p)) - started < 3.0
    # AND the router went on to the next message meanwhile
    wait_until(lambda: _deliveries(stack, next_id).get(other["id"], {}).get("status") == "succeeded")
    assert time.time() - started < 6.0
    # AND the hanging one is recorded by its own thread once it answers, once
    wait_until(
        lambda: _deliveries(stack, message_id).get(endpoints[0]["id"], {}).get("status") == "succeeded",
        timeout=30,
    )
    assert len(receivers.at(paths[0])) == 1


def test_a_router_killed_mid_post_never_has_two_attempts_in_flight(
    stack: Stack, receivers: Receivers
) -> None:
    # GIVEN a receiver that takes 3 s, and a deliveries worker
    path = _path()
    receivers.script(path, Step(delay=3.0))
    endpoint = _endpoint(stack, receivers.url(path), "first.kill")
    stack.start_worker("deliveries")
    try:
        # WHEN the router is SIGKILLed while its POST is on the wire, and a new one starts
        message_id = _publish(stack, "first.kill")
        wait_until(lambda: receivers.at(path))
        stack.kill_workers("ingest")
        stack.start_worker("ingest")
        # THEN the delivery still succeeds: the redelivered batch queued it to wait for the lease, and
        # the second POST went out only after it
        wait_until(
            lambda: _deliveries(stack, message_id).get(endpoint["id"], {}).get("status") == "succeeded",
            timeout=60,
        )
    finally:
        stack.kill_workers("deliveries")
    # (the killed router's POST, then the one after its lease: at least once, never two at a time)
    received = receivers.at(path)
    assert len(received) == 2
    assert receivers.max_in_flight[f"{path} {message_id}"] == 1
    assert received[1].started >= received[0].started + LEASE - 1
    assert all(r.headers["webhook-id"] == message_id for r in received)
    [attempt] = _attempts(stack, message_id)
    assert (attempt["status"], attempt["response_status"]) == ("succeeded", 200)
