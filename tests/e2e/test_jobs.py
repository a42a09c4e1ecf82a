"""Bulk operations as background jobs on the local stack: the request answers 202 at once, a worker does
the work in bounded steps, ``GET /v1/jobs/{id}`` shows it advance."""

from __future__ import annotations

import time
from typing import Any

from chalicelib.aws.dynamo import DynamoStore
from chalicelib.ids import new_id
from chalicelib.models import Endpoint
from testkit import aws
from testkit.receivers import Receivers
from testkit.stack import Stack, wait_until

ENDPOINTS = 250  # more than two steps of the stack's 100 (HOOKWAY_JOB_STEP_ITEMS)


def _follow(stack: Stack, location: str, timeout: float = 180) -> tuple[dict[str, Any], list[int]]:
    """Poll a job until it ends; the job and every ``done`` seen on the way."""
    seen: list[int] = []

    def ended() -> dict[str, Any] | None:
        job = dict(stack.request("GET", location, admin=True).json())
        seen.append(int(job["done"]))
        return job if job["state"] in ("succeeded", "failed") else None

    return wait_until(ended, timeout=timeout, interval=0.2), seen


def test_deleting_an_application_of_250_endpoints_is_a_job_that_deletes_them_all(stack: Stack) -> None:
    # GIVEN an application with 250 endpoints (one made through the API, the rest written alongside it)
    app = stack.request("POST", "/v1/applications", admin=True, json_body={"name": "big"}).json()
    first = stack.request(
        "POST",
        "/v1/endpoints",
        admin=True,
        json_body={"url": "http://127.0.0.1:9/big", "enabled": False, "application": app["id"]},
    ).json()
    store = DynamoStore(aws.client("dynamodb", stack.endpoint), stack.env["HOOKWAY_TABLE"], time.time)
    now = time.time()
    for i in range(ENDPOINTS - 1):
        store.put_endpoint(
            Endpoint(
                id=new_id("ep"),
                url=f"http://127.0.0.1:9/big/{i}",
                created_at=now + i / 1000,
                updated_at=now,
                enabled=False,
                application_id=app["id"],
            )
        )
    assert store.list_endpoints(application_id=app["id"], limit=1, cursor=None).items
    # WHEN the operator deletes the application
    started = time.monotonic()
    resp = stack.request("DELETE", f"/v1/applications/{app['id']}", admin=True)
    # THEN the answer comes at once: 202 with a queued job, and the application is gone already
    assert resp.status == 202, resp.body
    assert time.monotonic() - started < 5
    job = resp.json()
    assert (job["kind"], job["state"], job["done"], job["total"]) == ("application.delete", "queued", 0, None)
    assert resp.headers["Location"] == f"/v1/jobs/{job['id']}"
    assert stack.request("GET", f"/v1/applications/{app['id']}", admin=True).status == 404
    # AND the job deletes every endpoint, its progress only going up, and ends succeeded
    ended, seen = _follow(stack, resp.headers["Location"])
    assert (ended["state"], ended["done"], ended["total"], ended["error"]) == (
        "succeeded",
        ENDPOINTS,
        ENDPOINTS,
        None,
    )
    assert seen == sorted(seen)
    assert store.list_endpoints(application_id=app["id"], limit=10, cursor=None).items == []
    assert stack.request("GET", f"/v1/endpoints/{first['id']}", admin=True).status == 404


def test_a_replay_is_a_job_and_the_messages_arrive_again(stack: Stack, receivers: Receivers) -> None:
    # GIVEN three messages of an application delivered to its endpoint
    path = f"/replay-{new_id('r')}"
    app = stack.request("POST", "/v1/applications", admin=True, json_body={"name": "replay"}).json()
    endpoint = stack.request(
        "POST", "/v1/endpoints", admin=True, json_body={"url": receivers.url(path), "application": app["id"]}
    ).json()
    since = time.time() - 1
    ids = [
        stack.request(
            "POST",
            "/v1/messages",
            admin=True,
            json_body={"event_type": "replay.me", "payload": {"n": n}, "application": app["id"]},
        ).json()["id"]
        for n in range(3)
    ]
    wait_until(lambda: len(receivers.at(path)) == 3)
    # WHEN they are replayed to it with the application's own token
    token = stack.request(
        "POST", f"/v1/applications/{app['id']}/portal-access", admin=True, json_body={}
    ).json()["token"]
    resp = stack.request(
        "POST",
        f"/v1/endpoints/{endpoint['id']}/replay",
        headers={"Authorization": f"Bearer {token}"},
        json_body={"since": since, "source": "api"},
    )
    # THEN the job (which that token may follow) queues the three again, and they arrive again
    assert resp.status == 202, resp.body
    followed = stack.request("GET", resp.headers["Location"], headers={"Authorization": f"Bearer {token}"})
    assert followed.status == 200 and followed.json()["id"] == resp.json()["id"]
    job, _ = _follow(stack, resp.headers["Location"])
    assert (job["state"], job["done"]) == ("succeeded", 3)
    wait_until(lambda: len(receivers.at(path)) == 6)
    assert sorted(r.headers["webhook-id"] for r in receivers.at(path)[3:]) == sorted(ids)
