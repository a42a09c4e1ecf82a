"""Outbound delivery end to end: real receivers on loopback, the local stack's sender workers."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import svix.webhooks
from standardwebhooks.webhooks import Webhook

from testkit.receivers import Receivers, Step
from testkit.stack import Stack, github_headers, wait_until
from tests.conftest import GITHUB_SECRET


def _path() -> str:
    return f"/hook/{uuid.uuid4().hex}"


def _endpoint(stack: Stack, url: str, **doc: Any) -> dict[str, Any]:
    resp = stack.request("POST", "/v1/endpoints", admin=True, json_body={"url": url, **doc})
    assert resp.status == 201, resp.body
    return dict(resp.json())


def _publish(stack: Stack, event_type: str, payload: Any, key: str | None = None) -> str:
    headers = {"Idempotency-Key": key} if key else {}
    resp = stack.request(
        "POST",
        "/v1/messages",
        admin=True,
        json_body={"event_type": event_type, "payload": payload},
        headers=headers,
    )
    assert resp.status == 202, resp.body
    return str(resp.json()["id"])


def _message(stack: Stack, message_id: str) -> dict[str, Any]:
    resp = stack.request("GET", f"/v1/messages/{message_id}", admin=True)
    return dict(resp.json()) if resp.status == 200 else {}


def _delivery(stack: Stack, message_id: str, endpoint_id: str) -> dict[str, Any]:
    for delivery in _message(stack, message_id).get("deliveries", []):
        if delivery["endpoint_id"] == endpoint_id:
            return dict(delivery)
    return {}


def _settled(
    stack: Stack, message_id: str, endpoint_id: str, status: str, timeout: float = 30
) -> dict[str, Any]:
    return dict(
        wait_until(
            lambda: (d := _delivery(stack, message_id, endpoint_id)).get("status") == status and d,
            timeout=timeout,
        )
    )


def _statuses(stack: Stack, message_id: str, endpoint_id: str) -> list[int | None]:
    """Response statuses of a message's attempts to one endpoint, newest first."""
    attempts = stack.request("GET", f"/v1/messages/{message_id}/attempts", admin=True).json()["data"]
    return [a["response_status"] for a in attempts if a["endpoint_id"] == endpoint_id]


def _verify_both(secret: str, received: Any) -> None:
    """The official Standard Webhooks and Svix libraries accept the delivery, unchanged."""
    headers = {k: received.headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    Webhook(secret).verify(received.body, headers)
    svix.webhooks.Webhook(secret).verify(received.body, headers)


def test_inbound_and_published_messages_reach_two_endpoints_verified_by_official_libraries(
    stack: Stack, receivers: Receivers
) -> None:
    # GIVEN a GitHub source and two endpoints subscribed to it (one by source, one by event type)
    sid = stack.github_source()
    a_path, b_path = _path(), _path()
    a = _endpoint(stack, receivers.url(a_path), filter={"sources": [sid, "api"]})
    b = _endpoint(stack, receivers.url(b_path), filter={"event_types": ["push", "order.*"]})
    # WHEN GitHub sends a push and an application publishes an order event
    body = b'{"ref": "refs/heads/main", "caf\\u00e9": 1}'
    resp = stack.request("POST", f"/in/{sid}", body=body, headers=github_headers(body, "gh-delivery-1"))
    inbound_id = resp.json()["id"]
    published_id = _publish(stack, "order.created", {"order": 42})
    # THEN each endpoint gets both, signed so the official libraries verify them, with the original bytes
    wait_until(lambda: len(receivers.at(a_path)) == 2 and len(receivers.at(b_path)) == 2)
    for endpoint, path in ((a, a_path), (b, b_path)):
        got = {r.headers["webhook-id"]: r for r in receivers.at(path)}
        assert set(got) == {inbound_id, published_id}
        for received in got.values():
            _verify_both(endpoint["secret"], received)
        assert got[inbound_id].body == body
        assert got[inbound_id].headers["hookway-source"] == sid
        assert got[inbound_id].headers["hookway-provider-event-id"] == "gh-delivery-1"
        assert got[inbound_id].headers["hookway-event-type"] == "push"
        assert json.loads(got[published_id].body)["data"] == {"order": 42}
        _settled(stack, inbound_id, endpoint["id"], "succeeded")
        _settled(stack, published_id, endpoint["id"], "succeeded")
    attempts = stack.request("GET", f"/v1/endpoints/{a['id']}/attempts", admin=True).json()["data"]
    assert {x["message_id"] for x in attempts} == {inbound_id, published_id}
    assert all(x["response_status"] == 200 for x in attempts)


def test_idempotency_key_returns_the_same_message_and_refuses_another_body(stack: Stack) -> None:
    key = f"order-{uuid.uuid4()}"
    first = _publish(stack, "order.created", {"n": 1}, key)
    assert _publish(stack, "order.created", {"n": 1}, key) == first
    conflict = stack.request(
        "POST",
        "/v1/messages",
        admin=True,
        json_body={"event_type": "order.created", "payload": {"n": 2}},
        headers={"Idempotency-Key": key},
    )
    assert conflict.status == 409 and conflict.json()["error"]["code"] == "idempotency_key_reused"


def test_500_then_200_is_retried_to_success(stack: Stack, receivers: Receivers) -> None:
    path = _path()
    endpoint = _endpoint(
        stack,
        receivers.script(path, Step(500), Step(500)),
        filter={"event_types": ["retry.me"]},
        retry_schedule=[0, 1, 1, 1],
    )
    message_id = _publish(stack, "retry.me", {"x": 1})
    delivery = _settled(stack, message_id, endpoint["id"], "succeeded")
    assert delivery["attempts"] == 3
    seen = receivers.at(path)
    assert len({r.headers["webhook-id"] for r in seen}) == 1
    assert [r.body for r in seen] == [seen[0].body] * 3  # identical body on every attempt
    assert _statuses(stack, message_id, endpoint["id"]) == [200, 500, 500]


def test_timeouts_and_trickling_receivers_fail_and_then_fail_visibly(
    stack: Stack, receivers: Receivers
) -> None:
    slow, trickle = _path(), _path()
    slow_ep = _endpoint(
        stack,
        receivers.script(slow, Step(delay=5), Step(delay=5)),
        timeout=1,
        filter={"event_types": ["slow.one"]},
        retry_schedule=[0, 1],
    )
    trickle_ep = _endpoint(
        stack,
        receivers.script(trickle, Step(trickle=0.3), Step(trickle=0.3)),
        timeout=1,
        filter={"event_types": ["slow.one"]},
        retry_schedule=[0, 1],
    )
    message_id = _publish(stack, "slow.one", {})
    for endpoint in (slow_ep, trickle_ep):
        delivery = _settled(stack, message_id, endpoint["id"], "failed", timeout=40)
        assert delivery["attempts"] == 2 and delivery["last_error_class"] == "timeout"
    attempts = stack.request("GET", f"/v1/messages/{message_id}/attempts", admin=True).json()["data"]
    mine = [a for a in attempts if a["endpoint_id"] in (slow_ep["id"], trickle_ep["id"])]
    # The total deadline (1 s) held, trickle or not: without it an attempt takes 5 s or more; the bound
    # leaves a loaded machine its scheduling delays.
    assert len(mine) == 4 and all(a["duration_ms"] < 4000 for a in mine)


def test_redirect_is_not_followed(stack: Stack, receivers: Receivers) -> None:
    path, canary = _path(), _path()
    endpoint = _endpoint(
        stack,
        receivers.script(path, Step(307, {"Location": receivers.url(canary)})),
        filter={"event_types": ["redirect.me"]},
        retry_schedule=[0, 1],
    )
    message_id = _publish(stack, "redirect.me", {})
    delivery = _settled(stack, message_id, endpoint["id"], "succeeded")
    assert delivery["attempts"] == 2
    assert receivers.at(canary) == []
    assert _statuses(stack, message_id, endpoint["id"]) == [200, 307]


def test_410_disables_the_endpoint_and_tells_the_operator(stack: Stack, receivers: Receivers) -> None:
    gone, ops = _path(), _path()
    endpoint = _endpoint(stack, receivers.script(gone, Step(410)), filter={"event_types": ["gone.test"]})
    ops_ep = _endpoint(stack, receivers.url(ops), filter={"event_types": ["endpoint.disabled"]})
    message_id = _publish(stack, "gone.test", {})
    _settled(stack, message_id, endpoint["id"], "skipped")
    assert stack.request("GET", f"/v1/endpoints/{endpoint['id']}", admin=True).json()["enabled"] is False
    [event] = wait_until(lambda: receivers.at(ops))
    _verify_both(ops_ep["secret"], event)
    doc = json.loads(event.body)
    assert doc["type"] == "endpoint.disabled" and doc["data"]["endpoint_id"] == endpoint["id"]
    # a later message is not sent to it at all
    later = _publish(stack, "gone.test", {})
    wait_until(lambda: _message(stack, later).get("status") == "stored")
    assert endpoint["id"] not in {d["endpoint_id"] for d in _message(stack, later)["deliveries"]}
    assert len(receivers.at(gone)) == 1


def test_429_retry_after_is_honoured(stack: Stack, receivers: Receivers) -> None:
    path = _path()
    endpoint = _endpoint(
        stack,
        receivers.script(path, Step(429, {"Retry-After": "3"})),
        filter={"event_types": ["throttle.me"]},
        retry_schedule=[0, 1, 10],
    )
    message_id = _publish(stack, "throttle.me", {})
    _settled(stack, message_id, endpoint["id"], "succeeded", timeout=30)
    first, second = receivers.at(path)
    assert second.started - first.started >= 2.9  # 1 s scheduled, 3 s asked for


def test_sender_killed_mid_batch_loses_nothing(stack: Stack, receivers: Receivers) -> None:
    path = _path()
    endpoint = _endpoint(stack, receivers.url(path), filter={"event_types": ["kill.test"]})
    receivers.scripts[path] = [Step(delay=0.2) for _ in range(200)]
    stack.kill_workers("deliveries")
    ids = [_publish(stack, "kill.test", {"n": i}) for i in range(30)]
    wait_until(lambda: all(_message(stack, m).get("deliveries") for m in ids))  # routed, waiting to be sent
    # The worker about to be killed holds its claims for 3 s, not the stack's 20 (its POSTs take 0.2 s;
    # a claim is taken just before its POST): the claims it leaves behind expire, and their deliveries
    # go again, 17 s sooner (a claim that ran out under a slow POST could only add a duplicate).
    stack.start_worker("deliveries", env={"HOOKWAY_DELIVERY_LEASE_SECONDS": "3"})
    wait_until(lambda: 0 < len(receivers.at(path)) < 30, interval=0.02)
    stack.kill_workers("deliveries")  # SIGKILL while a batch is in flight
    stack.start_worker("deliveries")
    for message_id in ids:
        _settled(stack, message_id, endpoint["id"], "succeeded", timeout=60)
    assert {r.headers["webhook-id"] for r in receivers.at(path)} == set(ids)


def test_two_workers_never_post_the_same_delivery_at_once(stack: Stack, receivers: Receivers) -> None:
    path = _path()
    endpoint = _endpoint(stack, receivers.url(path), filter={"event_types": ["dup.test"]})
    receivers.scripts[path] = [Step(delay=1.0) for _ in range(50)]
    second = stack.start_worker("deliveries")
    try:
        ids = [_publish(stack, "dup.test", {"n": i}) for i in range(5)]
        wait_until(lambda: all(_message(stack, m).get("deliveries") for m in ids))
        # duplicate every task, as SQS at-least-once (or a re-run router) may
        from chalicelib.outbound.tasks import Task

        for message_id in ids:
            for _ in range(3):
                stack.sqs.send_message(
                    QueueUrl=stack.env["HOOKWAY_DELIVERIES_QUEUE_URL"],
                    MessageBody=Task(message_id, endpoint["id"]).encode(),
                )
        for message_id in ids:
            _settled(stack, message_id, endpoint["id"], "succeeded", timeout=60)
        wait_until(lambda: stack.queue_depth("HOOKWAY_DELIVERIES_QUEUE_URL") == 0, timeout=60)
        assert all(receivers.max_in_flight[f"{path} {m}"] == 1 for m in ids)
        assert sorted({r.headers["webhook-id"] for r in receivers.at(path)}) == sorted(ids)
    finally:
        second.kill()
        stack.workers["deliveries"].remove(second)


def test_bad_endpoint_input_is_a_clear_4xx(stack: Stack) -> None:
    for doc, field in (
        ({"url": "ftp://127.0.0.1/"}, "url"),
        ({"url": "http://127.0.0.1/", "timeout": 99}, "timeout"),
        ({"url": "http://127.0.0.1/", "headers": {"webhook-id": "x"}}, "headers"),
        ({"url": "http://127.0.0.1/", "retry_schedule": [-1]}, "retry_schedule"),
        ({"url": "http://127.0.0.1/", "secret": "whsec_short"}, "secret"),
    ):
        resp = stack.request("POST", "/v1/endpoints", admin=True, json_body=doc)
        assert resp.status == 400, (doc, resp.body)
        assert resp.json()["error"]["field"] == field


def test_provider_format_endpoints_passthrough_and_github_style(stack: Stack, receivers: Receivers) -> None:
    # GIVEN a GitHub source, a Jenkins-like receiver that checks GitHub's own signature (passthrough), and
    # one that checks a GitHub-style signature made with the endpoint's own secret
    sid = stack.github_source()
    passthrough_path, github_path = _path(), _path()
    _endpoint(stack, receivers.url(passthrough_path), signing="passthrough", filter={"sources": [sid]})
    github_ep = _endpoint(stack, receivers.url(github_path), signing="github", filter={"sources": [sid]})
    body = b'{"ref":"refs/heads/main","commits":[]}'
    headers = github_headers(body, "d-42")
    signature = headers["X-Hub-Signature-256"]
    resp = stack.request(
        "POST", f"/in/{sid}", body=body, headers={**headers, "User-Agent": "GitHub-Hookshot/abc"}
    )
    assert resp.status == 202
    [passed] = wait_until(lambda: receivers.at(passthrough_path))
    [styled] = wait_until(lambda: receivers.at(github_path))
    # THEN the passthrough receiver sees GitHub's headers and bytes unchanged: its own check passes
    assert passed.body == body
    assert passed.headers["x-hub-signature-256"] == signature
    assert passed.headers["x-github-event"] == "push" and passed.headers["x-github-delivery"] == "d-42"
    expected = "sha256=" + hmac.new(GITHUB_SECRET.encode(), passed.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(passed.headers["x-hub-signature-256"], expected)
    # AND the GitHub-style receiver verifies with the endpoint's secret
    mine = "sha256=" + hmac.new(github_ep["secret"].encode(), styled.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(styled.headers["x-hub-signature-256"], mine)
    assert styled.headers["x-github-event"] == "push" and styled.body == body


def test_recovery_after_an_endpoint_comes_back(stack: Stack, receivers: Receivers) -> None:
    # GIVEN an endpoint that answered 410 (and so was disabled, its delivery skipped)
    path = _path()
    start = time.time() - 1
    endpoint = _endpoint(stack, receivers.script(path, Step(410)), filter={"event_types": ["recover.me"]})
    message_id = _publish(stack, "recover.me", {"order": 7})
    _settled(stack, message_id, endpoint["id"], "skipped")
    # WHEN the operator fixes the receiver, enables the endpoint and recovers what it missed
    assert stack.request("POST", f"/v1/endpoints/{endpoint['id']}/enable", admin=True).status == 200
    resp = stack.request(
        "POST", f"/v1/endpoints/{endpoint['id']}/recover", admin=True, json_body={"since": start}
    )
    # THEN the answer is a job, which a worker runs to the end: one delivery queued again
    assert resp.status == 202 and resp.json()["kind"] == "endpoint.recover"
    assert resp.headers["Location"] == f"/v1/jobs/{resp.json()['id']}"

    def finished() -> dict[str, Any] | None:
        job = stack.request("GET", resp.headers["Location"], admin=True).json()
        return job if job["state"] in ("succeeded", "failed") else None

    job = wait_until(finished)
    assert (job["id"], job["state"], job["done"], job["total"], job["error"]) == (
        resp.json()["id"],
        "succeeded",
        1,
        1,
        None,
    )
    # AND the same message arrives, under the same webhook-id
    delivery = _settled(stack, message_id, endpoint["id"], "succeeded")
    assert delivery["attempts"] == 2
    assert [r.headers["webhook-id"] for r in receivers.at(path)] == [message_id, message_id]
    # AND a message can be resent on demand
    again = stack.request(
        "POST", f"/v1/messages/{message_id}/resend", admin=True, json_body={"endpoint_ids": [endpoint["id"]]}
    )
    assert again.status == 202
    wait_until(lambda: len(receivers.at(path)) == 3)
