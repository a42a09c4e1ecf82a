"""Payload filters end to end on the local stack: real receivers get only the events their pattern takes,
for published events and for signed inbound webhooks; a refused message is no delivery of that endpoint."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from testkit.receivers import Receivers
from testkit.stack import Stack, github_headers, wait_until


def _ok(resp: Any, status: int) -> Any:
    assert resp.status == status, (resp.status, resp.body)
    return resp.json() if resp.body else None


def _endpoint(stack: Stack, url: str, flt: dict[str, Any]) -> dict[str, Any]:
    return dict(
        _ok(stack.request("POST", "/v1/endpoints", admin=True, json_body={"url": url, "filter": flt}), 201)
    )


def _deliveries(stack: Stack, message_id: str) -> dict[str, str] | None:
    resp = stack.request("GET", f"/v1/messages/{message_id}", admin=True)
    if resp.status != 200:
        return None
    return {d["endpoint_id"]: d["status"] for d in resp.json()["deliveries"]}


def test_a_payload_filter_delivers_only_matching_published_events(stack: Stack, receivers: Receivers) -> None:
    # GIVEN an endpoint for big orders of this run, and one for every order of this run
    run = uuid.uuid4().hex[:8]
    big_path, all_path = f"/big-{run}", f"/all-{run}"
    big = _endpoint(
        stack,
        receivers.url(big_path),
        {"event_types": [f"order.{run}"], "payload": {"payload": {"total": [{"numeric": [">", 100]}]}}},
    )
    everything = _endpoint(stack, receivers.url(all_path), {"event_types": [f"order.{run}"]})
    # WHEN orders of 50, 150, "150" (a string) and 1000 are published
    totals: list[Any] = [50, 150, "150", 1000]
    ids = []
    for total in totals:
        doc = {"event_type": f"order.{run}", "payload": {"total": total}}
        ids.append(str(_ok(stack.request("POST", "/v1/messages", admin=True, json_body=doc), 202)["id"]))
    # THEN the receiver behind the filter gets exactly the two numeric ones over 100, the other all four
    wait_until(lambda: len(receivers.at(all_path)) >= 4 and len(receivers.at(big_path)) >= 2, 60)
    time.sleep(1.0)  # nothing more arrives for the filtered endpoint
    got = [json.loads(r.body)["data"]["total"] for r in receivers.at(big_path)]
    assert sorted(got) == [150, 1000]
    assert len(receivers.at(all_path)) == 4
    # AND the refused messages are no delivery of that endpoint: not pending, skipped or succeeded there
    for message_id, total in zip(ids, totals, strict=True):
        deliveries = wait_until(lambda m=message_id: _deliveries(stack, m))
        assert deliveries.get(everything["id"]) is not None
        if total in (150, 1000):
            assert wait_until(lambda m=message_id: _deliveries(stack, m).get(big["id"]) == "succeeded")
        else:
            assert big["id"] not in deliveries


def test_a_payload_filter_on_an_inbound_webhook_body_and_header(stack: Stack, receivers: Receivers) -> None:
    # GIVEN a GitHub source and an endpoint for pushes to main only (a header and the body)
    source_id = stack.github_source()
    path = f"/main-{uuid.uuid4().hex[:8]}"
    pattern = {"headers": {"X-GitHub-Event": ["push"]}, "payload": {"ref": [{"suffix": "/main"}]}}
    _endpoint(stack, receivers.url(path), {"sources": [source_id], "payload": pattern})
    # WHEN a push to main, a push to a branch and an issue event arrive, signed
    sent = []
    for ref, event in [
        ("refs/heads/main", "push"),
        ("refs/heads/dev", "push"),
        ("refs/heads/main", "issues"),
    ]:
        body = json.dumps({"ref": ref}).encode()
        headers = github_headers(body, str(uuid.uuid4()), event=event)
        sent.append(_ok(stack.request("POST", f"/in/{source_id}", body=body, headers=headers), 202)["id"])
    # THEN only the push to main reaches the receiver
    wait_until(lambda: len(receivers.at(path)) >= 1, 60)
    wait_until(lambda: all(_deliveries(stack, m) is not None for m in sent))
    time.sleep(1.0)
    [received] = receivers.at(path)
    assert json.loads(received.body) == {"ref": "refs/heads/main"}
    assert received.headers["webhook-id"] == sent[0]
