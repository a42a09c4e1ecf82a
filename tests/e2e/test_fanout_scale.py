"""One message to 11,000 endpoints of one application (issue 14's size; HOOKWAY_FANOUT_TEST_ENDPOINTS sets
another count), end to end on the local stack (figures: docs/fanout.md).

This test is about the fan-out, not about creating endpoints (the API's create is tested elsewhere): the
endpoints are seeded in bulk, written straight into the table through the store's own item layout
(``endpoints.endpoint_to_item`` and the subscription page and owner version keys, as
``DynamoStore.put_endpoint`` leaves them), in BatchWriteItem calls, because 11,000 creates through the API
would take longer than the fan-out itself. They share one receiver, a path each, and each has its own
secret.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from chalicelib.aws.dynamodb import endpoints, keys
from chalicelib.ids import new_id
from chalicelib.models import Endpoint, Secret
from testkit.receivers import Received, Receivers
from testkit.stack import Stack, wait_until

pytestmark = pytest.mark.slow_bounded
ENDPOINTS = int(os.environ.get("HOOKWAY_FANOUT_TEST_ENDPOINTS", "11000"))  # see docs/fanout.md
SEED_THREADS = 4  # BatchWriteItem calls in flight while seeding
SENDERS = 3  # deliveries worker processes (moto, one process, is the bottleneck on 2 cores)


@pytest.fixture(scope="module")
def big_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("fanout-logs"), env={"HOOKWAY_ENDPOINT_CACHE_SECONDS": "60"})
    try:
        stack.start_worker("ingest")
        for _ in range(SENDERS):
            stack.start_worker("deliveries")
        yield stack
    finally:
        stack.close()


def _write_endpoints(stack: Stack, application_id: str, urls: list[str]) -> dict[str, tuple[str, str]]:
    """Every endpoint item, its subscription page and the owner's version, in BatchWriteItem calls (a few
    at once; every item is written before the message is published)."""
    table = stack.env["HOOKWAY_TABLE"]
    now = time.time()
    items: list[dict[str, Any]] = []
    made: dict[str, tuple[str, str]] = {}  # endpoint id -> (url, secret)
    pages: dict[int, list[str]] = {}
    for index, url in enumerate(urls):
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        endpoint = Endpoint(
            id=new_id("ep"),
            url=url,
            created_at=now + index * 1e-6,
            updated_at=now,
            secrets=(Secret(new_id("sec"), secret, now),),
            filter_event_types=("invoice.*",),
            application_id=application_id,
        )
        number = index // keys.SUBSCRIPTION_PAGE
        pages.setdefault(number, []).append(endpoint.id)
        items.append({**endpoints.endpoint_to_item(endpoint), "sub_page": keys.n(number)})
        made[endpoint.id] = (url, secret)
    for number, ids in pages.items():
        items.append({**endpoints.subscription_page_key(application_id, number), "ids": {"SS": ids}})
    # ``complete``: every endpoint of the owner is in its pages (as for an owner created since pages exist),
    # so the router fans out by chunk tasks, not from the owner's full listing.
    items.append(
        {
            **endpoints.subscriptions_meta_key(application_id),
            "version": keys.n(1),
            "pages": keys.n(len(pages)),
            "complete": {"BOOL": True},
        }
    )

    def write(start: int) -> None:
        pending: Any = {table: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
        while pending:
            pending = stack.dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or None

    # A few calls at once: this side builds and signs the next requests while the emulator stores one.
    with ThreadPoolExecutor(SEED_THREADS) as pool:
        list(pool.map(write, range(0, len(items), 25)))
    return made


def _verify_as_received(secret: str, received: Received) -> None:
    """Standard Webhooks' check of one delivery at the moment it arrived, as its receiver ran it.

    ``Webhook.verify`` compares the timestamp with the clock when it is called; the first of 11,000
    deliveries is checked here minutes after it arrived, so the tolerance (5 minutes) is applied to the
    arrival time, and the signature is the library's own ``sign`` of the id, timestamp and body.
    """
    msg_id = received.headers["webhook-id"]
    sent_at = datetime.fromtimestamp(float(received.headers["webhook-timestamp"]), tz=UTC)
    assert abs(sent_at.timestamp() - received.started) <= 5 * 60, (sent_at, received.started)
    expected = Webhook(secret).sign(msg_id=msg_id, timestamp=sent_at, data=received.body.decode())
    offered = received.headers["webhook-signature"].split(" ")
    assert any(hmac.compare_digest(expected, signature) for signature in offered), offered


def _get(stack: Stack, path: str) -> Any:
    """A GET, tried again on a 503 (the API's answer when the busy emulator passes its 1 s timeout)."""
    for _ in range(5):
        answer = stack.request("GET", path, admin=True)
        if answer.status != 503:
            break
    assert answer.status == 200, answer.body
    return answer


def _pages(stack: Stack, path: str, key: str, cursor_key: str, limit: int = 200) -> Iterator[dict[str, Any]]:
    cursor = ""
    while True:
        answer = _get(stack, f"{path}?limit={limit}{cursor}")
        doc = answer.json()
        yield doc
        if not doc[cursor_key]:
            return
        cursor = f"&cursor={doc[cursor_key]}"


@pytest.mark.timeout(max(300, ENDPOINTS // 12))  # the suite's 300 s per test; ~900 s at 11,000
def test_one_message_reaches_every_endpoint_once_signed_for_each(
    big_stack: Stack, receivers: Receivers, tmp_path: Path
) -> None:
    stack = big_stack
    # GIVEN an application with ENDPOINTS endpoints on one receiver, a path and a secret each
    app = stack.request("POST", "/v1/applications", admin=True, json_body={"name": "big"}).json()
    tag = new_id("run")
    paths = {f"/{tag}/{i}" for i in range(ENDPOINTS)}
    setup = time.monotonic()
    made = _write_endpoints(stack, app["id"], [receivers.url(p) for p in sorted(paths)])
    print(f"\n{ENDPOINTS} endpoints written in {time.monotonic() - setup:.1f} s")
    path_of = {receivers.url(p): p for p in paths}
    # WHEN one event is published to the application
    started = time.monotonic()
    resp = stack.request(
        "POST",
        "/v1/messages",
        admin=True,
        json_body={"event_type": "invoice.paid", "payload": {"n": 1}, "application": app["id"]},
    )
    assert resp.status == 202, resp.body
    message_id = resp.json()["id"]

    def arrived() -> int:
        return len([r for r in receivers.received if r.path.startswith(f"/{tag}/")])

    wait_until(lambda: arrived() >= ENDPOINTS, timeout=max(240, ENDPOINTS * 0.06), interval=0.5)
    elapsed = time.monotonic() - started
    print(f"last first attempt {elapsed:.1f} s after the publish")
    time.sleep(2)  # anything extra (a duplicate) would arrive now
    got = [r for r in receivers.received if r.path.startswith(f"/{tag}/")]
    # THEN every endpoint got it exactly once, signed with its own secret
    assert Counter(r.path for r in got) == Counter(paths)
    by_path = {r.path: r for r in got}
    for url, secret in made.values():
        received = by_path[path_of[url]]
        _verify_as_received(secret, received)
        assert received.headers["webhook-id"] == message_id
    # AND the message reads back paged: its deliveries (first pages) and every attempt
    first = _get(stack, f"/v1/messages/{message_id}?limit=200").json()
    assert first["deliveries_total"] == ENDPOINTS and first["fanout"]["written"] == first["fanout"]["pages"]
    assert len(first["deliveries"]) == 200 and first["deliveries_cursor"]  # 600+ deliveries
    # (its summary counts every delivery, from the counters they added to as they ended: a sender records
    # an ending after its POST arrived, so on a busy machine the last counts can land a moment later)
    done = {"pending": 0, "succeeded": ENDPOINTS, "failed": 0, "skipped": 0}
    if first["delivery_summary"] != done:
        wait_until(
            lambda: _get(stack, f"/v1/messages/{message_id}?limit=1").json()["delivery_summary"] == done,
            timeout=30,
            interval=1,
        )
    second = _get(stack, f"/v1/messages/{message_id}?limit=200&cursor={first['deliveries_cursor']}").json()
    shown = [d["endpoint_id"] for d in first["deliveries"] + second["deliveries"]]
    assert len(set(shown)) == 400 and set(shown) <= set(made)
    read_started = time.monotonic()
    attempts = [
        a
        for page in _pages(stack, f"/v1/messages/{message_id}/attempts", "data", "next_cursor")
        for a in page["data"]
    ]
    assert Counter(a["endpoint_id"] for a in attempts) == Counter(made.keys())
    assert all(a["status"] == "succeeded" and a["attempt"] == 1 for a in attempts)
    print(
        f"\nfan-out of {ENDPOINTS} endpoints: last first attempt {elapsed:.1f} s after the publish; "
        f"attempts read back in {time.monotonic() - read_started:.1f} s"
    )
