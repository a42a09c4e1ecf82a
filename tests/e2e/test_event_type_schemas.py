"""The review's attacks on event-type schemas, over HTTP on the local stack (issue 19, items 4 and 5).

A loopback HTTP server stands as the ``$ref`` target: it must never be contacted, neither when a schema is
saved nor when a payload is published. Slow schemas answer a 4xx within their budget, and /v1/health
keeps answering meanwhile (the local API is one process).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import pytest

from chalicelib.aws.dynamodb import catalog
from testkit.receivers import Receivers, Step
from testkit.stack import Response, Stack


def _name() -> str:
    return f"schema.{uuid.uuid4().hex[:10]}"


def _save(stack: Stack, name: str, schema: Any) -> Response:
    return stack.request("POST", "/v1/event-types", admin=True, json_body={"name": name, "schema": schema})


def _publish(stack: Stack, name: str, payload: Any, timeout: float = 15) -> Response:
    doc = {"event_type": name, "payload": payload}
    return stack.request("POST", "/v1/messages", admin=True, json_body=doc, timeout=timeout)


def _error(resp: Response, status: int) -> dict[str, Any]:
    assert resp.status == status, (resp.status, resp.body[:300])
    return dict(resp.json()["error"])


def test_a_ref_to_a_loopback_server_or_a_file_is_refused_on_save_and_never_fetched(
    stack: Stack, receivers: Receivers
) -> None:
    # GIVEN a loopback server that would serve a schema (and one path that redirects to it)
    path, hop = f"/schema/{uuid.uuid4().hex}", f"/hop/{uuid.uuid4().hex}"
    receivers.script(hop, *[Step(302, {"Location": receivers.url(path)})] * 5)
    target = receivers.url(path)
    attempts = [
        {"$ref": target},
        {"$ref": receivers.url(hop)},
        {"properties": {"a": {"$ref": target + "#/x"}}},
        {"$id": receivers.url("/schema/"), "properties": {"a": {"$ref": path.rsplit("/", 1)[1]}}},
        {"properties": {"a": {"$id": target, "$ref": "#"}}},
        {"$defs": {"a": {"$dynamicAnchor": "m"}}, "$dynamicRef": target + "#m"},
        {"$schema": target},
        {"$ref": "file:///etc/passwd"},
    ]
    for schema in attempts:
        # WHEN the operator saves a schema whose references leave the document
        name = _name()
        error = _error(_save(stack, name, schema), 400)
        # THEN 400 schema_ref_not_local naming the field, and the type is not in the catalog
        assert error["code"] == "schema_ref_not_local" and error["field"] == "schema", error
        assert stack.request("GET", f"/v1/event-types/{name}", admin=True).status == 404
    # AND the server was never contacted
    time.sleep(0.2)
    assert receivers.at(path) == [] and receivers.at(hop) == []


def test_a_stored_remote_ref_is_never_fetched_on_publish(stack: Stack, receivers: Receivers) -> None:
    # GIVEN an event type whose stored schema (saved before the check existed) names a loopback server
    path = f"/schema/{uuid.uuid4().hex}"
    name = _name()
    assert _save(stack, name, {"type": "object"}).status == 201
    stack.dynamodb.update_item(
        TableName=stack.env["HOOKWAY_TABLE"],
        Key=catalog.event_type_key(name),
        UpdateExpression="SET #s = :s, updated_at = :u",
        ExpressionAttributeNames={"#s": "schema"},
        ExpressionAttributeValues={
            ":s": {"S": json.dumps({"$ref": receivers.url(path)})},
            ":u": {"N": str(time.time())},
        },
    )
    # WHEN a payload of that type is published
    error = _error(_publish(stack, name, {"a": 1}), 422)
    # THEN it is refused with a stable code, and the server was never contacted
    assert error["code"] == "schema_refused", error
    time.sleep(0.2)
    assert receivers.at(path) == []


def test_unique_items_over_40_kb_answers_fast(stack: Stack) -> None:
    # GIVEN uniqueItems over objects and the review's 40 KB payload (11.5 s before)
    name = _name()
    assert _save(stack, name, {"type": "array", "uniqueItems": True}).status == 201
    items = [{"id": i, "name": "n", "tags": ["a"]} for i in range(1300)]
    assert len(json.dumps(items)) > 40_000
    started = time.monotonic()
    # WHEN it is published THEN it is accepted within a second or two, and a late duplicate is found
    assert _publish(stack, name, items, timeout=10).status == 202
    assert _error(_publish(stack, name, [*items, items[0]], timeout=10), 422)["code"] == "schema_mismatch"
    assert time.monotonic() - started < 4


def _health_while(stack: Stack, work: Any) -> tuple[list[float], Any]:
    """Run ``work`` in a thread while polling /v1/health; returns the health latencies and its result."""
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(value=work()), daemon=True)
    thread.start()
    latencies: list[float] = []
    while thread.is_alive() and len(latencies) < 200:
        started = time.monotonic()
        assert stack.request("GET", "/v1/health", timeout=10).status == 200
        latencies.append(time.monotonic() - started)
        time.sleep(0.02)
    thread.join(30)
    return latencies, result.get("value")


@pytest.mark.parametrize(
    ("pattern", "text", "code"),
    [
        ("^(a+)+$", "a" * 27 + "!", "schema_mismatch"),  # the review's: 3.9 s before, at once now
        ("^(a|aa)+$", "a" * 60 + "!", "schema_budget_exceeded"),  # slow even for a guarded engine
    ],
)
def test_a_backtracking_pattern_answers_within_its_budget_and_health_keeps_answering(
    stack: Stack, pattern: str, text: str, code: str
) -> None:
    # GIVEN a schema whose pattern backtracks exponentially on Python's re
    name = _name()
    assert _save(stack, name, {"properties": {"s": {"type": "string", "pattern": pattern}}}).status == 201
    started = time.monotonic()
    # WHEN payloads that make it backtrack are published (three in a row) while /v1/health is polled
    latencies, replies = _health_while(
        stack, lambda: [_publish(stack, name, {"s": text}, timeout=10) for _ in range(3)]
    )
    # THEN each answers 422 with a stable code, all within a few seconds
    assert [_error(r, 422)["code"] for r in replies] == [code] * 3
    assert time.monotonic() - started < 8
    # AND health never waited behind them
    assert latencies and max(latencies) < 1.0, latencies
