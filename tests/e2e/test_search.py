"""Message search on the local stack: every filter alone and combined, over 120 messages (each listing
of an owner or event type more than one page of 37, so cursors are followed).

The test keeps its own record of what it sent (owner, source, event type, provider id, expected delivery
status, time) and compares every search, all pages followed, with that record: same set, no duplicates,
newest first.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest

from testkit.receivers import Receivers, Step
from testkit.stack import Stack, github_headers, running, wait_until


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of this module's own: searches scatter-gather over 16 write shards per key, and moto's index
    Query reads its whole table, so on the session's stack (thousands of items from the other suites by
    now) each unfiltered walk took minutes; here the table holds only what these tests sent."""
    with running(tmp_path_factory.mktemp("search-stack")) as stack_:
        yield stack_


@dataclass
class Sent:
    id: str
    application: str | None
    source: str
    event_type: str
    statuses: frozenset[str]  # the states its deliveries end in (one per endpoint)
    provider_id: str | None = None
    at: float = 0.0


def _ok(resp: Any, status: int) -> Any:
    assert resp.status == status, (resp.status, resp.body)
    return resp.json()


def _search(stack: Stack, **filters: Any) -> list[dict[str, Any]]:
    """Every page of a search (37 at a time, so cursors are followed)."""
    out: list[dict[str, Any]] = []
    cursor = None
    for _ in range(200):
        query = {**filters, "limit": 37, **({"cursor": cursor} if cursor else {})}
        page = _ok(stack.request("GET", f"/v1/messages?{urlencode(query)}", admin=True), 200)
        out.extend(page["data"])
        cursor = page["next_cursor"]
        if not cursor:
            ids = [m["id"] for m in out]
            assert len(ids) == len(set(ids)), "a message appeared on two pages"
            # Through an attempt index (endpoint, failed, skipped) the order is the attempts' own time,
            # which need not follow the messages' (a later message can fail first).
            by_attempt = "endpoint" in filters or filters.get("status") in ("failed", "skipped")
            times = [m["received_at"] for m in out]
            assert by_attempt or times == sorted(times, reverse=True), "not newest first"
            return out
    raise AssertionError("the search never ended")


@pytest.fixture(scope="module")
def world(stack: Stack, receivers: Receivers) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    prefix = f"s{run}"

    def app(name: str) -> str:
        return str(
            _ok(stack.request("POST", "/v1/applications", admin=True, json_body={"name": name}), 201)["id"]
        )

    def endpoint(application: str | None, path: str, **doc: Any) -> str:
        body = {"url": receivers.url(path), **doc, **({"application": application} if application else {})}
        return str(_ok(stack.request("POST", "/v1/endpoints", admin=True, json_body=body), 201)["id"])

    a, b, c = app("A"), app("B"), app("C")
    paths = {n: f"/search/{run}/{n}" for n in ("a_ok", "a_bad", "b_slow", "c_skip", "ops")}
    receivers.script(paths["a_bad"], *[Step(500)] * 100)
    receivers.script(paths["b_slow"], *[Step(500)] * 200)
    receivers.script(paths["c_skip"], *[Step(500)] * 20)
    eps = {
        "a_ok": endpoint(a, paths["a_ok"]),
        # Its 20 invoices each fail their one attempt: a breaker that opens after 10 would hold the
        # other 10 for its probes (a minute apart) instead of ending them failed within the test.
        "a_bad": endpoint(
            a,
            paths["a_bad"],
            filter={"event_types": [f"{prefix}.invoice.*"]},
            retry_schedule=[0],
            circuit_breaker={"failures": 1000, "probe_seconds": 60},
        ),
        "b_slow": endpoint(b, paths["b_slow"], retry_schedule=[0, 3600]),  # stays pending
        "c_skip": endpoint(c, paths["c_skip"], retry_schedule=[0, 3600]),
        "ops": endpoint(None, paths["ops"], filter={"event_types": [f"{prefix}.push"]}),
    }
    source = stack.create_source(
        {"name": "gh", "verification": {"scheme": "github", "secrets": ["It's a Secret to Everybody"]}}
    )["id"]
    sent: list[Sent] = []

    def publish(application: str, event_type: str, *statuses: str) -> Sent:
        doc = {"event_type": event_type, "payload": {"n": uuid.uuid4().hex}, "application": application}
        message_id = _ok(stack.request("POST", "/v1/messages", admin=True, json_body=doc), 202)["id"]
        return Sent(message_id, application, "api", event_type, frozenset(statuses), at=time.time())

    def publish_a(n: int) -> Sent:
        kind = kinds[n % 3]
        # Every A message reaches a_ok; invoices also reach a_bad, which fails them.
        return publish(
            a, f"{prefix}.{kind}", "succeeded", *(["failed"] if kind.startswith("invoice") else [])
        )

    def together(calls: list[Any]) -> None:
        """Send a phase's requests a few at a time (the API serves each on its own thread), in order."""
        with ThreadPoolExecutor(max_workers=4) as pool:
            sent.extend(pool.map(lambda call: call(), calls))

    kinds = ("order.created", "order.paid", "invoice.paid")
    start = time.time() - 1
    together([lambda n=n: publish_a(n) for n in range(30)])
    time.sleep(1.2)
    middle = time.time()
    time.sleep(0.2)
    together(
        [lambda n=n: publish_a(n) for n in range(30, 60)]
        + [lambda n=n: publish(b, f"{prefix}.{kinds[n % 2]}", "pending") for n in range(40)]
        + [lambda: publish(c, f"{prefix}.order.created", "skipped") for _ in range(5)]
    )
    # C's endpoint fails once per message and is then disabled: a resend meets it disabled and is skipped.
    wait_until(lambda: len(receivers.at(paths["c_skip"])) >= 5, timeout=60)
    _ok(stack.request("POST", f"/v1/endpoints/{eps['c_skip']}/disable", admin=True), 200)
    for s in sent[-5:]:
        _ok(stack.request("POST", f"/v1/messages/{s.id}/resend", admin=True, json_body={}), 202)

    def push(n: int) -> Sent:
        body = f'{{"n": {n}}}'.encode()
        delivery = f"gh-{run}-{n}"
        headers = github_headers(body, delivery, event=f"{prefix}.push")
        message_id = _ok(stack.request("POST", f"/in/{source}", body=body, headers=headers), 202)["id"]
        return Sent(
            message_id, None, source, f"{prefix}.push", frozenset({"succeeded"}), provider_id=delivery
        )

    together([lambda n=n: push(n) for n in range(15)])
    end = time.time() + 1
    wait_until(lambda: len(_search(stack, event_type=f"{prefix}.*", after=start)) == len(sent), timeout=120)

    def unsettled() -> dict[str, int]:
        """How many of our messages do not show their final status yet, by status."""
        missing = {}
        for status in ("succeeded", "failed", "skipped"):
            want = {s.id for s in sent if status in s.statuses}
            got = {m["id"] for m in _search(stack, status=status, after=start)}
            if want - got:
                missing[status] = len(want - got)
        return missing

    deadline = time.monotonic() + 120
    while (missing := unsettled()) and time.monotonic() < deadline:
        time.sleep(1)
    assert not missing, f"deliveries did not settle: {missing}"
    return {
        "sent": sent,
        "a": a,
        "b": b,
        "c": c,
        "source": source,
        "eps": eps,
        "prefix": prefix,
        "start": start,
        "middle": middle,
        "end": end,
    }


def _ids(results: list[dict[str, Any]]) -> set[str]:
    """The ids found, less Hookway's own operational events (A's failing endpoint causes some: they
    belong to A too, and are checked on their own)."""
    return {m["id"] for m in results if m["source_id"] != "hookway"}


def _want(world: dict[str, Any], keep: Any) -> set[str]:
    return {s.id for s in world["sent"] if keep(s)}


def test_each_filter_alone(stack: Stack, world: dict[str, Any]) -> None:
    p, a, b = world["prefix"], world["a"], world["b"]
    assert _ids(_search(stack, application=a)) == _want(world, lambda s: s.application == a)
    assert _ids(_search(stack, application=b)) == _want(world, lambda s: s.application == b)
    # A's failed invoice deliveries were announced as operational events of A, found under A.
    ops = _search(stack, application=a, source="hookway")
    assert ops and {m["event_type"] for m in ops} <= {"message.attempt.exhausted", "message.attempt.failing"}
    assert all(m["application_id"] == a for m in ops)
    assert _ids(_search(stack, source=world["source"])) == _want(world, lambda s: s.source == world["source"])
    assert _ids(_search(stack, endpoint=world["eps"]["a_bad"])) == _want(
        world, lambda s: s.application == a and ".invoice." in s.event_type
    )
    assert _ids(_search(stack, event_type=f"{p}.order.paid")) == _want(
        world, lambda s: s.event_type == f"{p}.order.paid"
    )
    assert _ids(_search(stack, event_type=f"{p}.order.*")) == _want(
        world, lambda s: ".order." in s.event_type
    )
    assert _ids(_search(stack, provider_id=world["sent"][-1].provider_id)) == {world["sent"][-1].id}
    # Filters that other tests' messages may also match: ours are all there, and every result matches.
    for status in ("succeeded", "failed", "pending", "skipped"):
        results = _search(stack, status=status, after=world["start"])
        assert _want(world, lambda s, st=status: st in s.statuses) <= _ids(results), status
        ours = {s.id: s for s in world["sent"]}
        assert all(status in ours[m["id"]].statuses for m in results if m["id"] in ours)
    window = _search(stack, after=world["start"], before=world["end"])
    assert _ids(window) >= _want(world, lambda s: True)
    assert all(world["start"] <= m["received_at"] < world["end"] for m in window)
    everything = _search(stack)
    assert _ids(everything) >= _want(world, lambda s: True)


def test_filters_combined(stack: Stack, world: dict[str, Any]) -> None:
    p, a, middle = world["prefix"], world["a"], world["middle"]
    assert _ids(_search(stack, application=a, event_type=f"{p}.order.*")) == _want(
        world, lambda s: s.application == a and ".order." in s.event_type
    )
    assert _ids(_search(stack, application=a, status="failed")) == _want(
        world, lambda s: s.application == a and "failed" in s.statuses
    )
    assert _ids(_search(stack, application=a, before=middle)) == _want(
        world, lambda s: s.application == a and s.at < middle
    )
    assert _ids(_search(stack, application=a, after=middle, event_type=f"{p}.invoice.paid")) == _want(
        world, lambda s: s.application == a and s.at >= middle and s.event_type == f"{p}.invoice.paid"
    )
    assert _ids(_search(stack, endpoint=world["eps"]["a_ok"], status="succeeded", after=middle)) == _want(
        world, lambda s: s.application == a and s.at >= middle
    )
    last = world["sent"][-1]
    assert _ids(_search(stack, source=world["source"], provider_id=last.provider_id)) == {last.id}
    assert _ids(_search(stack, source=world["source"], provider_id="nope")) == set()
    assert _ids(_search(stack, application=world["b"], status="succeeded")) == set()
    assert _ids(
        _search(stack, application=world["c"], status="skipped", event_type=f"{p}.order.created")
    ) == _want(world, lambda s: s.application == world["c"])


def test_a_token_searches_only_its_application(stack: Stack, world: dict[str, Any]) -> None:
    token = _ok(
        stack.request("POST", f"/v1/applications/{world['b']}/portal-access", admin=True, json_body={}), 201
    )["token"]
    resp = stack.request(
        "GET",
        f"/v1/messages?limit=200&event_type={world['prefix']}.*",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert _ids(_ok(resp, 200)["data"]) == _want(world, lambda s: s.application == world["b"])
    other = stack.request(
        "GET", f"/v1/messages?application={world['a']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert other.status == 403


@pytest.mark.parametrize(
    "query",
    [
        "status=lost",
        "after=yesterday",
        "before=-1",
        "event_type=a%20b",
        "limit=0",
        "cursor=%21%21",
        "colour=red",
    ],
)
def test_bad_filters_are_400_with_a_code(stack: Stack, query: str) -> None:
    resp = stack.request("GET", f"/v1/messages?{query}", admin=True)
    assert resp.status == 400
    assert resp.json()["error"]["code"] in ("invalid_filter", "invalid_limit", "invalid_cursor")


def test_a_message_accepted_but_not_yet_stored_says_so(stack: Stack) -> None:
    # GIVEN the ingest workers stopped, so an accepted message stays queued
    stack.kill_workers("ingest")
    try:
        resp = stack.request(
            "POST", "/v1/messages", admin=True, json_body={"event_type": "later.stored", "payload": {}}
        )
        message_id = _ok(resp, 202)["id"]
        early = stack.request("GET", f"/v1/messages/{message_id}", admin=True)
        assert early.status == 404 and early.json()["error"]["code"] == "message_not_yet_stored"
        never = stack.request("GET", "/v1/messages/msg_" + "0" * 32, admin=True)
        assert never.status == 404 and never.json()["error"]["code"] == "message_not_found"
    finally:
        stack.start_worker("ingest")
    wait_until(lambda: stack.request("GET", f"/v1/messages/{message_id}", admin=True).status == 200)
