"""Transformations end to end: real receivers on loopback, the local stack's API and sender workers."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from standardwebhooks.webhooks import Webhook

from testkit.receivers import Receivers
from testkit.stack import Stack, github_headers, wait_until

SLACK = """
function handler(webhook) {
  const push = webhook.payload;
  const branch = push.ref.replace('refs/heads/', '');
  webhook.payload = {
    text: `${push.pusher.name} pushed ${push.commits.length} commit(s) to ${push.repository.full_name}:${branch}`,
    blocks: push.commits.map(c => ({type: 'section', text: {type: 'mrkdwn', text: `\\u2022 ${c.message}`}})),
  };
  webhook.headers['X-Slack-Style'] = 'yes';
  webhook.url = webhook.url.replace(/\\/in\\/.*$/, '/services/T000/B000?via=hookway');
  return webhook;
}
"""
PUSH = {
    "ref": "refs/heads/main",
    "pusher": {"name": "alice"},
    "repository": {"full_name": "acme/shop"},
    "commits": [{"message": "fix totals"}, {"message": "add tests"}],
}


def _id() -> str:
    return uuid.uuid4().hex


def _ok(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, resp.body
    return dict(resp.json())


def _endpoint(stack: Stack, url: str, **doc: Any) -> dict[str, Any]:
    return _ok(stack.request("POST", "/v1/endpoints", admin=True, json_body={"url": url, **doc}), 201)


def _attempts(stack: Stack, endpoint_id: str) -> list[dict[str, Any]]:
    return list(stack.request("GET", f"/v1/endpoints/{endpoint_id}/attempts", admin=True).json()["data"])


def test_a_transformation_reshapes_a_github_push_into_a_slack_message_signed_over_the_new_body(
    stack: Stack, receivers: Receivers
) -> None:
    # GIVEN a GitHub source and an endpoint whose transformation writes Slack's shape to another path
    sid = stack.github_source()
    run = _id()
    endpoint = _endpoint(
        stack,
        receivers.url(f"/in/{run}"),
        filter={"sources": [sid]},
        transformation={"code": SLACK},
    )
    assert endpoint["transformation"] == {"code": SLACK, "enabled": True}
    # WHEN GitHub sends a push
    body = json.dumps(PUSH).encode()
    _ok(stack.request("POST", f"/in/{sid}", body=body, headers=github_headers(body, f"gh-{run}")), 202)
    # THEN the receiver gets the Slack message at the new path, with the added header
    path = "/services/T000/B000?via=hookway"
    wait_until(lambda: [r for r in receivers.at(path) if r.headers.get("hookway-source") == sid])
    [received] = [r for r in receivers.at(path) if r.headers.get("hookway-source") == sid]
    assert json.loads(received.body) == {
        "text": "alice pushed 2 commit(s) to acme/shop:main",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "\u2022 fix totals"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\u2022 add tests"}},
        ],
    }
    assert received.headers["x-slack-style"] == "yes"
    assert receivers.at(f"/in/{run}") == []
    # AND the Standard Webhooks signature covers the transformed body (the official library verifies it)
    names = ("webhook-id", "webhook-timestamp", "webhook-signature")
    Webhook(endpoint["secret"]).verify(received.body, {k: received.headers[k] for k in names})


def test_a_cancel_is_skipped_visibly_and_an_error_is_a_failed_attempt_with_its_reason(
    stack: Stack, receivers: Receivers
) -> None:
    event = f"tr.{_id()}"
    cancel_path, error_path = f"/c/{_id()}", f"/e/{_id()}"
    cancel = _endpoint(
        stack,
        receivers.url(cancel_path),
        filter={"event_types": [event]},
        transformation={"code": "function handler(w) { w.cancel = w.payload.data.total < 100; return w; }"},
    )
    error = _endpoint(
        stack,
        receivers.url(error_path),
        filter={"event_types": [event]},
        retry_schedule=[0],
        transformation={"code": "function handler(w) { return w.payload.data.missing.field; }"},
    )
    message = _ok(
        stack.request(
            "POST", "/v1/messages", admin=True, json_body={"event_type": event, "payload": {"total": 5}}
        ),
        202,
    )["id"]

    def states() -> dict[str, str]:
        """These two endpoints' deliveries (the operator's unfiltered endpoints of earlier tests get
        every published event too)."""
        doc = stack.request("GET", f"/v1/messages/{message}", admin=True).json()
        ours = (cancel["id"], error["id"])
        return {d["endpoint_id"]: d["status"] for d in doc.get("deliveries", []) if d["endpoint_id"] in ours}

    want = {cancel["id"]: "skipped", error["id"]: "failed"}
    try:  # a minute: the worker's first transformation loads and compiles the engine on a busy machine
        wait_until(lambda: states() == want, timeout=60)
    except AssertionError as exc:
        attempts = {e["id"]: _attempts(stack, e["id"]) for e in (cancel, error)}
        raise AssertionError(f"{exc}: deliveries {states()}, attempts {attempts}") from None
    [skipped] = _attempts(stack, cancel["id"])
    assert (skipped["status"], skipped["error_class"]) == ("skipped", "cancelled_by_transformation")
    [failed] = _attempts(stack, error["id"])
    assert failed["error_class"] == "transformation_error"
    assert failed["error"].startswith("TypeError: cannot read property 'field' of undefined")
    assert receivers.at(cancel_path) == [] and receivers.at(error_path) == []


def test_a_looping_transformation_does_not_delay_another_endpoints_deliveries(
    stack: Stack, receivers: Receivers
) -> None:
    # GIVEN two endpoints on one event type: one loops forever, the other has no transformation
    event = f"loop.{_id()}"
    loop_path, calm_path = f"/l/{_id()}", f"/k/{_id()}"
    looping = _endpoint(
        stack,
        receivers.url(loop_path),
        filter={"event_types": [event]},
        retry_schedule=[0, 1, 1],
        transformation={"code": "function handler(w) { while (true) {} }"},
    )
    calm = _endpoint(stack, receivers.url(calm_path), filter={"event_types": [event]})
    # WHEN ten messages are published at once
    published = {}
    for n in range(10):
        doc = {"event_type": event, "payload": {"n": n}}
        published[_ok(stack.request("POST", "/v1/messages", admin=True, json_body=doc), 202)["id"]] = (
            time.time()
        )
    # THEN the calm endpoint gets every one promptly, while each of the looping one's attempts is stopped
    wait_until(lambda: len(receivers.at(calm_path)) == 10, timeout=30)
    lags = [r.started - published[r.headers["webhook-id"]] for r in receivers.at(calm_path)]
    assert max(lags) < 5.0, lags
    wait_until(lambda: len(_attempts(stack, looping["id"])) >= 10)
    for attempt in _attempts(stack, looping["id"]):
        assert attempt["error_class"] == "transformation_error"
        assert attempt["error"] == "the transformation ran past its time limit (50 ms)"
        assert attempt["duration_ms"] < 3000  # bounded by the engine's limit, whatever the machine's load
    assert receivers.at(loop_path) == []
    assert calm["enabled"]


def test_a_bad_transformation_is_a_400_naming_the_field_and_simulate_keeps_to_its_tenant(
    stack: Stack, receivers: Receivers
) -> None:
    # GIVEN code that does not compile THEN saving it is a 400 naming the field, never a 500
    refused = stack.request(
        "POST",
        "/v1/endpoints",
        admin=True,
        json_body={"url": receivers.url(f"/x/{_id()}"), "transformation": {"code": "function handler(w) {"}},
    )
    error = _ok(refused, 400)["error"]
    assert (error["code"], error["field"]) == ("invalid_transformation", "transformation.code")
    # GIVEN two applications, each with an endpoint, and A's portal token
    apps = [
        _ok(stack.request("POST", "/v1/applications", admin=True, json_body={"name": n}), 201)["id"]
        for n in ("A", "B")
    ]
    endpoints = [
        _endpoint(stack, receivers.url(f"/t/{_id()}"), application=app, transformation={"code": SLACK})
        for app in apps
    ]
    minted = _ok(
        stack.request("POST", f"/v1/applications/{apps[0]}/portal-access", admin=True, json_body={}), 201
    )
    token = {"Authorization": f"Bearer {minted['token']}"}
    simulate = "/v1/endpoints/{}/transformation/simulate"
    # WHEN A's token simulates on its own endpoint THEN it sees the request, unsigned
    own = _ok(
        stack.request(
            "POST", simulate.format(endpoints[0]["id"]), headers=token, json_body={"payload": PUSH}
        ),
        200,
    )
    assert own["outcome"] == "request"
    assert own["request"]["payload"]["text"] == "alice pushed 2 commit(s) to acme/shop:main"
    assert not any(h.lower().startswith("webhook-") for h in own["request"]["headers"])
    # WHEN it names B's endpoint, with code that would copy out what it can see THEN 404, as if absent
    spy = "function handler(w) { w.payload = w; return w; }"
    other = stack.request(
        "POST", simulate.format(endpoints[1]["id"]), headers=token, json_body={"code": spy, "payload": {}}
    )
    assert other.status == 404 and other.json()["error"]["code"] == "endpoint_not_found"
