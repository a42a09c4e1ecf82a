"""Applications end to end on the local stack: isolation with real receivers, deletion, schema validation."""

from __future__ import annotations

import json
import uuid
from typing import Any

from standardwebhooks.webhooks import Webhook

from testkit.receivers import Receivers, Step
from testkit.stack import Stack, github_headers, wait_until


def _path() -> str:
    return f"/tenant/{uuid.uuid4().hex}"


def _ok(resp: Any, status: int) -> Any:
    assert resp.status == status, (resp.status, resp.body)
    return resp.json() if resp.body else None


def _app(stack: Stack, name: str, uid: str | None = None) -> dict[str, Any]:
    doc = {"name": name, **({"uid": uid} if uid else {})}
    return dict(_ok(stack.request("POST", "/v1/applications", admin=True, json_body=doc), 201))


def _endpoint(stack: Stack, application: str | None, url: str, **doc: Any) -> dict[str, Any]:
    body = {"url": url, **doc, **({"application": application} if application else {})}
    return dict(_ok(stack.request("POST", "/v1/endpoints", admin=True, json_body=body), 201))


def _publish(stack: Stack, application: str | None, event_type: str, payload: Any = None) -> str:
    doc = {"event_type": event_type, "payload": payload if payload is not None else {"t": event_type}}
    if application:
        doc["application"] = application
    return str(_ok(stack.request("POST", "/v1/messages", admin=True, json_body=doc), 202)["id"])


def _deliveries(stack: Stack, message_id: str) -> dict[str, str]:
    resp = stack.request("GET", f"/v1/messages/{message_id}", admin=True)
    if resp.status != 200:
        return {}
    return {d["endpoint_id"]: d["status"] for d in resp.json()["deliveries"]}


def test_events_reach_only_their_applications_endpoints(stack: Stack, receivers: Receivers) -> None:
    # GIVEN applications A (with a uid) and B, two endpoints each, and an endpoint of the operator
    run = uuid.uuid4().hex[:8]
    a, b = _app(stack, "A", f"cust-a-{run}"), _app(stack, "B")
    paths = {name: _path() for name in ("a1", "a2", "b1", "b2", "ops")}
    eps = {
        "a1": _endpoint(stack, a["id"], receivers.url(paths["a1"])),
        "a2": _endpoint(stack, a["uid"], receivers.url(paths["a2"]), filter={"event_types": ["order.*"]}),
        "b1": _endpoint(stack, b["id"], receivers.url(paths["b1"])),
        "b2": _endpoint(stack, b["id"], receivers.url(paths["b2"])),
        "ops": _endpoint(stack, None, receivers.url(paths["ops"]), filter={"event_types": [f"ops.{run}"]}),
    }
    assert eps["a2"]["application_id"] == a["id"]
    # WHEN events are published to A (by uid and by id), to B, and to the operator's own endpoints
    sent = {
        "a_order": _publish(stack, a["uid"], "order.created"),
        "a_invoice": _publish(stack, a["id"], "invoice.paid"),
        "b_order": _publish(stack, b["id"], "order.created"),
        "ops": _publish(stack, None, f"ops.{run}"),
    }
    expected = {
        "a1": {sent["a_order"], sent["a_invoice"]},
        "a2": {sent["a_order"]},
        "b1": {sent["b_order"]},
        "b2": {sent["b_order"]},
        "ops": {sent["ops"]},
    }
    # THEN each endpoint gets exactly its application's matching events, verifiable with its own secret
    wait_until(lambda: all(len(receivers.at(paths[n])) >= len(ids) for n, ids in expected.items()))
    for name, ids in expected.items():
        got = receivers.at(paths[name])
        assert {r.headers["webhook-id"] for r in got} == ids, name
        for received in got:
            headers = {
                k: received.headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")
            }
            Webhook(eps[name]["secret"]).verify(received.body, headers)
    for key in ("a_order", "a_invoice"):
        assert set(wait_until(lambda k=key: _deliveries(stack, sent[k]))) <= {
            eps["a1"]["id"],
            eps["a2"]["id"],
        }
    # ... and an unknown application is refused before anything is queued
    resp = stack.request(
        "POST",
        "/v1/messages",
        admin=True,
        json_body={"event_type": "x", "payload": {}, "application": "no-such-customer"},
    )
    assert resp.status == 404 and resp.json()["error"]["code"] == "application_not_found"


def test_an_inbound_webhook_on_an_applications_source_reaches_only_that_application(
    stack: Stack, receivers: Receivers
) -> None:
    a, b = _app(stack, "A"), _app(stack, "B")
    a_path, b_path = _path(), _path()
    a_ep = _endpoint(stack, a["id"], receivers.url(a_path))
    _endpoint(stack, b["id"], receivers.url(b_path))
    source = stack.create_source(
        {
            "name": "gh-a",
            "application": a["id"],
            "verification": {"scheme": "github", "secrets": ["It's a Secret to Everybody"]},
        }
    )
    assert source["application_id"] == a["id"]
    body = b'{"zen": "tenancy"}'
    resp = stack.request(
        "POST", f"/in/{source['id']}", body=body, headers=github_headers(body, f"d-{uuid.uuid4()}")
    )
    message_id = _ok(resp, 202)["id"]
    wait_until(lambda: _deliveries(stack, message_id).get(a_ep["id"]) == "succeeded")
    assert [r.body for r in receivers.at(a_path)] == [body]
    assert receivers.at(b_path) == []
    assert (
        _ok(stack.request("GET", f"/v1/messages/{message_id}", admin=True), 200)["application_id"] == a["id"]
    )


def test_deleting_an_application_ends_its_queued_deliveries_skipped(
    stack: Stack, receivers: Receivers
) -> None:
    # GIVEN an application whose endpoint fails once, so its delivery waits for a retry
    app = _app(stack, "doomed")
    path = _path()
    endpoint = _endpoint(stack, app["id"], receivers.script(path, Step(500)), retry_schedule=[0, 6])
    message_id = _publish(stack, app["id"], "order.created")
    wait_until(lambda: len(receivers.at(path)) == 1)
    # WHEN the application is deleted before the retry: at once, its endpoints by a background job
    job = _ok(stack.request("DELETE", f"/v1/applications/{app['id']}", admin=True), 202)
    done = wait_until(lambda: _ok(stack.request("GET", f"/v1/jobs/{job['id']}", admin=True), 200)["total"])
    assert done == 1
    # THEN its endpoint is gone, the waiting delivery ends skipped, and nothing more is sent
    assert stack.request("GET", f"/v1/endpoints/{endpoint['id']}", admin=True).status == 404
    wait_until(lambda: _deliveries(stack, message_id).get(endpoint["id"]) == "skipped", timeout=30)
    assert len(receivers.at(path)) == 1
    assert stack.request("GET", f"/v1/applications/{app['id']}", admin=True).status == 404


def test_a_payload_that_breaks_its_event_types_schema_is_refused(stack: Stack) -> None:
    name = f"invoice.{uuid.uuid4().hex[:8]}"
    schema = {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "integer"}}}
    created = stack.request(
        "POST", "/v1/event-types", admin=True, json_body={"name": name, "description": "d", "schema": schema}
    )
    assert _ok(created, 201)["schema"] == schema
    bad = stack.request(
        "POST", "/v1/messages", admin=True, json_body={"event_type": name, "payload": {"amount": "12"}}
    )
    assert bad.status == 422
    error = bad.json()["error"]
    assert error["code"] == "schema_mismatch" and error["pointer"] == "/amount"
    good = stack.request(
        "POST", "/v1/messages", admin=True, json_body={"event_type": name, "payload": {"amount": 12}}
    )
    assert good.status == 202
    invalid = stack.request(
        "POST", "/v1/event-types", admin=True, json_body={"name": name + "x", "schema": {"type": 5}}
    )
    assert invalid.status == 400 and invalid.json()["error"]["code"] == "invalid_schema"
    listed = _ok(stack.request("GET", "/v1/event-types?limit=200", admin=True), 200)
    assert name in {e["name"] for e in listed["data"]}
    assert json.loads(stack.request("GET", f"/v1/event-types/{name}", admin=True).body)["name"] == name


def _token(stack: Stack, application: str) -> dict[str, str]:
    minted = _ok(
        stack.request("POST", f"/v1/applications/{application}/portal-access", admin=True, json_body={}), 201
    )
    return {"Authorization": f"Bearer {minted['token']}"}


def test_a_tenants_filter_cannot_stall_the_shared_router(stack: Stack, receivers: Receivers) -> None:
    # GIVEN applications A and B, A's portal token, and an endpoint of B
    # (issue 19, security 2: a filter of 20 stars held another tenant's message 8.4 s)
    a, b = _app(stack, "A"), _app(stack, "B")
    token = _token(stack, a["id"])
    b_path = _path()
    b_ep = _endpoint(stack, b["id"], receivers.url(b_path))
    # WHEN A's token saves a filter of 20 stars THEN 400 naming the field
    many = {"url": receivers.url(_path()), "filter": {"event_types": ["a*" * 20 + "b"]}}
    refused = stack.request("POST", "/v1/endpoints", headers=token, json_body=many)
    assert refused.status == 400, refused.body
    assert refused.json()["error"]["field"] == "filter.event_types"
    # WHEN A saves the most complex filters allowed and a long event type that almost matches them is
    # published to A, then a message to B
    worst = {
        "url": receivers.url(_path()),
        "filter": {"event_types": ["*a" * 8 + f"b{i}" for i in range(50)]},
    }
    _ok(stack.request("POST", "/v1/endpoints", headers=token, json_body=worst), 201)
    _publish(stack, a["id"], "a" * 200)
    b_message = _publish(stack, b["id"], "order.created")
    # THEN B's message is delivered at once (the old regex took hours on A's)
    wait_until(lambda: _deliveries(stack, b_message).get(b_ep["id"]) == "succeeded", timeout=20)


def test_the_operators_resend_cannot_send_a_message_to_another_applications_endpoint(
    stack: Stack, receivers: Receivers
) -> None:
    # GIVEN a message of A delivered to A's endpoint, and an endpoint of B
    a, b = _app(stack, "A"), _app(stack, "B")
    a_path, b_path = _path(), _path()
    a_ep = _endpoint(stack, a["id"], receivers.url(a_path))
    b_ep = _endpoint(stack, b["id"], receivers.url(b_path))
    message_id = _publish(stack, a["id"], "order.created")
    wait_until(lambda: _deliveries(stack, message_id).get(a_ep["id"]) == "succeeded")
    # WHEN the operator resends it to B's endpoint (issue 19, security 15)
    resp = stack.request(
        "POST", f"/v1/messages/{message_id}/resend", admin=True, json_body={"endpoint_ids": [b_ep["id"]]}
    )
    # THEN 400 naming the field, and B's receiver gets nothing
    assert resp.status == 400, resp.body
    assert resp.json()["error"]["code"] == "endpoint_of_another_application"
    again = stack.request(
        "POST", f"/v1/messages/{message_id}/resend", admin=True, json_body={"endpoint_ids": [a_ep["id"]]}
    )
    assert again.status in (200, 202), again.body
    wait_until(lambda: len(receivers.at(a_path)) == 2)
    assert receivers.at(b_path) == []


def test_a_portal_tokens_quotas_endpoints_and_actions(stack: Stack, receivers: Receivers) -> None:
    # GIVEN an application and its token (issue 19, security 11: no quota per application)
    app = _app(stack, "quota")
    token = _token(stack, app["id"])
    url = receivers.url(_path())
    # WHEN the token creates endpoints until the stage's cap (100 by default)
    made = [
        stack.request("POST", "/v1/endpoints", headers=token, json_body={"url": url}).status
        for _ in range(100)
    ]
    assert made == [201] * 100
    over = stack.request("POST", "/v1/endpoints", headers=token, json_body={"url": url})
    # THEN the next one is 409 with a reason code, while the operator may still add to the application
    assert over.status == 409 and over.json()["error"]["code"] == "endpoint_quota_exceeded", over.body
    ops = _endpoint(stack, app["id"], url)
    # ... a token's retry schedule may not retry faster than every 5 s
    fast = stack.request(
        "PATCH", f"/v1/endpoints/{ops['id']}", headers=token, json_body={"retry_schedule": [0, 1]}
    )
    assert fast.status == 400 and fast.json()["error"]["field"] == "retry_schedule", fast.body
    # WHEN the token recovers over and over (each call could make Hookway send)
    since = {"since": 0}

    def recover() -> Any:
        return stack.request("POST", f"/v1/endpoints/{ops['id']}/recover", headers=token, json_body=since)

    answers = [recover() for _ in range(30)]
    # THEN the first 30 pass, and then it is 429 with Retry-After (the bucket refills one every 2 s, so a
    # slow machine may see a few more pass first), for test events too; the operator is not limited
    assert [a.status for a in answers] == [202] * 30
    limited = next((a for a in (recover() for _ in range(10)) if a.status == 429), None)
    assert limited is not None and limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    tested = [
        stack.request("POST", f"/v1/endpoints/{ops['id']}/test", headers=token, json_body={})
        for _ in range(3)
    ]
    assert 429 in [t.status for t in tested]
    operator = stack.request("POST", f"/v1/endpoints/{ops['id']}/recover", admin=True, json_body=since)
    assert operator.status == 202
