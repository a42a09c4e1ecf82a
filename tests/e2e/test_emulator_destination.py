"""Attack: a tenant's endpoint aimed at the local stack's AWS emulator (moto server on loopback).

The local stack allows private destinations (demo receivers on 127.0.0.1), and the emulator listens on
127.0.0.1 too: an endpoint at its URL, with ``X-Amz-Target`` among its custom headers, would have the sender
POST each webhook to DynamoDB's API and keep the start of the answer (the table's items) on the attempt,
where the tenant reads it. The emulator's own address and port are never a destination, in any spelling,
at registration (400) and at send (the attempt fails ``blocked_destination``); other loopback receivers
stay reachable.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest

from testkit.receivers import Receivers
from testkit.stack import Stack, wait_until


def _tenant_token(stack: Stack) -> tuple[str, dict[str, str]]:
    app = stack.request("POST", "/v1/applications", admin=True, json_body={"name": "attacker"})
    assert app.status == 201, app.body
    access = stack.request(
        "POST", f"/v1/applications/{app.json()['id']}/portal-access", admin=True, json_body={}
    )
    assert access.status == 201, access.body
    return str(app.json()["id"]), {"Authorization": f"Bearer {access.json()['token']}"}


def _spellings(emulator: str) -> list[str]:
    port = urlsplit(emulator).port
    return [
        f"{emulator}/",
        f"http://localhost:{port}/",
        f"http://127.1:{port}/",
        f"http://2130706433:{port}/",
        f"http://0.0.0.0:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        f"http://[::1]:{port}/",
    ]


@pytest.mark.parametrize("index", range(7))
def test_a_tenant_cannot_register_an_endpoint_at_the_emulator(stack: Stack, index: int) -> None:
    # GIVEN a tenant's portal token on the local stack (private destinations allowed)
    _, token = _tenant_token(stack)
    url = _spellings(stack.endpoint)[index]
    # WHEN it registers an endpoint at the emulator, asking for DynamoDB's Scan
    resp = stack.request(
        "POST",
        "/v1/endpoints",
        headers=token,
        json_body={"url": url, "headers": {"X-Amz-Target": "DynamoDB_20120810.Scan"}},
    )
    # THEN it is refused with a reason code
    assert resp.status == 400, (url, resp.body)
    assert resp.json()["error"]["code"] == "destination_not_allowed", resp.body


def test_an_endpoint_moved_to_the_emulator_later_is_refused_at_send(
    stack: Stack, receivers: Receivers
) -> None:
    # GIVEN a tenant endpoint at a real loopback receiver (still allowed on the local stack)
    application, token = _tenant_token(stack)
    path = f"/hook/{uuid.uuid4().hex}"
    created = stack.request("POST", "/v1/endpoints", headers=token, json_body={"url": receivers.url(path)})
    assert created.status == 201, created.body
    endpoint_id = created.json()["id"]
    # ... whose stored URL now names the emulator (a record from before the check, or DNS that changed)
    stack.dynamodb.update_item(
        TableName=stack.env["HOOKWAY_TABLE"],
        Key={"pk": {"S": f"EP#{endpoint_id}"}, "sk": {"S": "META"}},
        UpdateExpression="SET #u = :u",
        ExpressionAttributeNames={"#u": "url"},
        ExpressionAttributeValues={":u": {"S": f"http://localhost:{urlsplit(stack.endpoint).port}/"}},
    )
    # WHEN a message for that application is published
    resp = stack.request(
        "POST",
        "/v1/messages",
        admin=True,
        json_body={
            "event_type": "probe.scan",
            "payload": {"TableName": stack.env["HOOKWAY_TABLE"]},
            "application": application,
        },
    )
    assert resp.status == 202, resp.body
    message_id = resp.json()["id"]

    # THEN the sender refuses the emulator: the attempt fails blocked_destination, with no answer kept
    def attempts() -> list[dict[str, Any]]:
        got = stack.request("GET", f"/v1/messages/{message_id}/attempts", headers=token)
        data = got.json().get("data", []) if got.status == 200 else []
        return [a for a in data if a["endpoint_id"] == endpoint_id and a["status"] != "in_flight"]

    (first, *_) = wait_until(attempts, timeout=30)
    assert first["error_class"] == "blocked_destination", json.dumps(first)
    assert first["response_status"] is None and not first.get("response_body"), first
    assert receivers.at(path) == []
