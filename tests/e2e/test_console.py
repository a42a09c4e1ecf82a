"""What the console and the portal read, end to end on a local stack of their own (so counts are exact).

Real traffic goes in (signed webhooks, a forged one, a test event) and out (a loopback receiver that
succeeds, then fails): the hourly counters, the endpoints needing attention, an endpoint's health and the
portal's branding are read back through the API, with the admin key and with a portal token.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.receivers import Receivers, Step
from testkit.stack import Stack, github_headers, wait_until

PORTAL = {"HOOKWAY_PORTAL_NAME": "Platform Hooks", "HOOKWAY_PORTAL_ACCENT": "#123456"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    log_dir: Path = tmp_path_factory.mktemp("console-stack")
    running = Stack(log_dir, env=PORTAL)
    running.start_worker("ingest")
    running.start_worker("deliveries")
    try:
        yield running
    finally:
        running.close()


def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status == status, (resp.status, resp.body)
    return resp.json()


def _stats(stack: Stack) -> dict[str, Any]:
    return dict(_ok(stack.request("GET", "/v1/stats?hours=24", admin=True)))


def _delivery(stack: Stack, message_id: str, endpoint_id: str) -> dict[str, Any]:
    resp = stack.request("GET", f"/v1/messages/{message_id}", admin=True)
    if resp.status != 200:
        return {}
    return next((d for d in resp.json()["deliveries"] if d["endpoint_id"] == endpoint_id), {})


def _settled(stack: Stack, message_id: str, endpoint_id: str, status: str) -> None:
    wait_until(lambda: _delivery(stack, message_id, endpoint_id).get("status") == status, timeout=60)


def _webhook(stack: Stack, source_id: str, body: bytes, **headers: Any) -> Any:
    sent = {**github_headers(body, str(uuid.uuid4())), **headers}
    return stack.request("POST", f"/in/{source_id}", body=body, headers=sent)


def test_real_traffic_is_counted_per_hour_and_a_failing_endpoint_needs_attention(
    stack: Stack, receivers: Receivers
) -> None:
    # GIVEN a source, and an endpoint whose receiver answers 200 once, then 500 (one attempt each)
    before = _stats(stack)
    assert [len(before["hours"]), before["hours"][-1]["start"] % 3600] == [24, 0]
    source = stack.github_source()
    path = f"/console/{uuid.uuid4().hex}"
    url = receivers.script(path, Step(200), Step(500))
    endpoint = _ok(
        stack.request("POST", "/v1/endpoints", admin=True, json_body={"url": url, "retry_schedule": [0]}),
        201,
    )
    # WHEN two signed webhooks arrive one after the other, and one with a forged signature
    first = _ok(_webhook(stack, source, b'{"n": 1}'), 202)["id"]
    _settled(stack, first, endpoint["id"], "succeeded")
    second = _ok(_webhook(stack, source, b'{"n": 2}'), 202)["id"]
    _settled(stack, second, endpoint["id"], "failed")
    forged = _webhook(stack, source, b'{"n": 3}', **{"X-Hub-Signature-256": "sha256=" + "0" * 64})
    assert forged.status == 401
    # THEN the overview counts exactly that: 3 messages stored (the two webhooks and the operational
    # event message.attempt.exhausted about the failed one), 1 delivered, 1 failed, 1 rejected
    expected = {"received": 3, "delivered": 1, "failed": 1, "rejected": 1}

    def counted() -> dict[str, int] | None:
        after = _stats(stack)
        delta = {k: after["totals"][k] - before["totals"][k] for k in expected}
        return delta if delta == expected else None

    wait_until(counted, timeout=30)
    after = _stats(stack)
    assert sum(hour["received"] for hour in after["hours"]) == after["totals"]["received"]
    assert after["hours"][-1]["rejected"] >= 1  # counted in the current hour
    # ... and the endpoint that failed is listed as needing attention, with its failure clock
    [entry] = [e for e in after["attention"] if e["id"] == endpoint["id"]]
    assert entry["enabled"] is True and entry["application_id"] is None
    assert isinstance(entry["failing_since"], float)
    # ... and its health says one of two attempts succeeded, the last one failing with 500
    health = _ok(stack.request("GET", f"/v1/endpoints/{endpoint['id']}/health", admin=True))
    assert (health["window"], health["attempts"], health["succeeded"], health["success_rate"]) == (
        2,
        2,
        1,
        0.5,
    )
    assert health["last_error"]["status_code"] == 500
    assert health["last_error"]["response_excerpt"] == '{"received": true}'
    assert health["last_attempt_at"] == health["last_error"]["at"] > health["last_success_at"]
    assert health["failing_since"] == entry["failing_since"]
    # WHEN the endpoint is disabled THEN it stays listed, now disabled; enabled again, it is healthy
    _ok(stack.request("POST", f"/v1/endpoints/{endpoint['id']}/disable", admin=True))
    listed = {e["id"]: e for e in _stats(stack)["attention"]}
    assert listed[endpoint["id"]]["enabled"] is False
    assert listed[endpoint["id"]]["disabled_reason"] == "disabled by an operator"
    _ok(stack.request("POST", f"/v1/endpoints/{endpoint['id']}/enable", admin=True))
    assert endpoint["id"] not in {e["id"] for e in _stats(stack)["attention"]}


def test_a_test_event_is_delivered_to_its_endpoint_only(stack: Stack, receivers: Receivers) -> None:
    # GIVEN an application with two endpoints, the target filtering on types a test event is not
    application = _ok(stack.request("POST", "/v1/applications", admin=True, json_body={"name": "T"}), 201)
    target_path, sibling_path = f"/t/{uuid.uuid4().hex}", f"/s/{uuid.uuid4().hex}"
    target = _ok(
        stack.request(
            "POST",
            "/v1/endpoints",
            admin=True,
            json_body={
                "url": receivers.url(target_path),
                "application": application["id"],
                "filter": {"event_types": ["invoice.*"]},
            },
        ),
        201,
    )
    _ok(
        stack.request(
            "POST",
            "/v1/endpoints",
            admin=True,
            json_body={"url": receivers.url(sibling_path), "application": application["id"]},
        ),
        201,
    )
    token = _ok(
        stack.request(
            "POST", f"/v1/applications/{application['id']}/portal-access", admin=True, json_body={}
        ),
        201,
    )["token"]
    auth = {"Authorization": f"Bearer {token}"}
    # WHEN the application's portal token sends the target a test event
    sent = _ok(stack.request("POST", f"/v1/endpoints/{target['id']}/test", headers=auth, json_body={}), 202)
    assert sent["endpoint_id"] == target["id"]
    _settled(stack, sent["id"], target["id"], "succeeded")
    # THEN the target got it, signed as any delivery, and the sibling did not
    [got] = receivers.at(target_path)
    assert got.headers["webhook-id"] == sent["id"]
    assert got.headers["hookway-event-type"] == "hookway.test"
    assert b'"endpoint_id":"' + target["id"].encode() in got.body
    # ... and it is an ordinary message of the application: searchable, with its attempt on the endpoint
    found = _ok(stack.request("GET", "/v1/messages?event_type=hookway.test", headers=auth))["data"]
    assert [m["id"] for m in found] == [sent["id"]]
    attempts = _ok(stack.request("GET", f"/v1/endpoints/{target['id']}/attempts", headers=auth))["data"]
    assert [(a["message_id"], a["status"]) for a in attempts] == [(sent["id"], "succeeded")]
    message = _ok(stack.request("GET", f"/v1/messages/{sent['id']}", headers=auth))
    assert [d["endpoint_id"] for d in message["deliveries"]] == [target["id"]]
    assert receivers.at(sibling_path) == []
    # WHEN the target is disabled THEN a test event is refused with a stable code
    _ok(stack.request("POST", f"/v1/endpoints/{target['id']}/disable", headers=auth))
    refused = stack.request("POST", f"/v1/endpoints/{target['id']}/test", headers=auth, json_body={})
    assert (refused.status, refused.json()["error"]["code"]) == (409, "endpoint_disabled")


def test_the_portal_branding_is_the_applications_over_the_deployments(stack: Stack) -> None:
    # GIVEN the deployment's branding (HOOKWAY_PORTAL_*) and an application that sets its own name
    assert _ok(stack.request("GET", "/v1/branding", admin=True)) == {
        "name": "Platform Hooks",
        "logo_url": None,
        "accent": "#123456",
    }
    application = _ok(
        stack.request(
            "POST",
            "/v1/applications",
            admin=True,
            json_body={
                "name": "B",
                "branding": {"name": "<b>Acme</b>", "logo_url": "https://acme.example/l.svg"},
            },
        ),
        201,
    )
    assert application["branding"] == {
        "name": "<b>Acme</b>",
        "logo_url": "https://acme.example/l.svg",
        "accent": None,
    }
    token = _ok(
        stack.request(
            "POST",
            f"/v1/applications/{application['id']}/portal-access",
            admin=True,
            json_body={"read_only": True},
        ),
        201,
    )["token"]
    # WHEN its read-only token asks THEN its own values win, the deployment's fill the rest
    mine = _ok(stack.request("GET", "/v1/branding", headers={"Authorization": f"Bearer {token}"}))
    assert mine == {"name": "<b>Acme</b>", "logo_url": "https://acme.example/l.svg", "accent": "#123456"}
    # ... and a logo that is not https is refused, naming the field
    refused = stack.request(
        "PATCH",
        f"/v1/applications/{application['id']}",
        admin=True,
        json_body={"branding": {"logo_url": "javascript:alert(1)"}},
    )
    assert refused.status == 400
    assert (refused.json()["error"]["code"], refused.json()["error"]["field"]) == (
        "invalid_branding",
        "branding.logo_url",
    )
    # ... and the overview stays the operator's: a token is refused before anything runs
    forbidden = stack.request("GET", "/v1/stats", headers={"Authorization": f"Bearer {token}"})
    assert (forbidden.status, forbidden.json()["error"]["code"]) == (403, "forbidden")
