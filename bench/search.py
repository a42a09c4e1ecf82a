"""Figure 11: message search with 10,000 stored messages, on moto's server over HTTP.

The messages are written through the real DynamoDB adapter (``store_message``, each listed on its own in
the packed listings, where the router lists a batch of ten at once: the same entries, more items):
12 applications and the operator, 3 sources, 5 event types, spread over three days; one message in ten
has a failed delivery. Then the API Lambda's handler answers ``GET /v1/messages`` in-process for each kind
of search, warm, and every boto3 call it makes is counted and priced in read units by the same rules as
figure 8 (``bench.delivery_calls.CapacityCounter``). The reference is one GetItem round trip to the same
emulator, measured in the same run: a page that costs k round trips should take about k times it.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

from bench.aws_calls import _environment, _wired_app
from bench.delivery_calls import CapacityCounter
from bench.fixtures import ADMIN_KEY, emulated_env, lambda_context, proxy_event
from bench.report import Row, median, quiet, say
from chalicelib.api.applications import parse_create as parse_create_application
from chalicelib.api.endpoints import parse_create as parse_create_endpoint
from chalicelib.ports import MessageQuery

EVENT_TYPES = ("order.created", "order.paid", "order.refunded", "invoice.paid", "customer.updated")


def run(quick: bool) -> list[Row]:
    """Measure and print figure 11; return its table rows."""
    from local import emulator

    n = 2000 if quick else 10_000
    say(f"== 11. Message search with {n:,} stored messages (moto server over HTTP, API handler in-process)")
    port = emulator.free_port()
    moto = emulator.start_moto(port)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        env = emulated_env(endpoint)
        with _environment(env):
            rows = _measure(n, 2 if quick else 5)
        return [*rows, import_cost(quick)]
    finally:
        moto.terminate()
        try:
            moto.wait(timeout=10)
        except subprocess.TimeoutExpired:
            moto.kill()


def _seed(container: Any, n: int) -> dict[str, str]:
    """Write n messages as the router would; returns ids to search by."""
    from chalicelib.ids import new_id
    from chalicelib.models import Attempt, Message, generation_of
    from chalicelib.scope import OPERATOR

    apps = [
        container.applications.create(parse_create_application({"name": f"customer {i}"}), OPERATOR).id
        for i in range(12)
    ]
    sources = [new_id("src") for _ in range(3)]
    endpoint_id = container.endpoints.create(
        parse_create_endpoint({"url": "http://127.0.0.1:9/bench", "enabled": False}), OPERATOR
    )[0].id
    now = time.time()
    store = container.store
    from chalicelib.aws.dynamodb.listing import Era

    # The seed stands for a stage three days old: its first message is then (the emulator's new table
    # records its first instant as its own start, and a day walk stops at that day).
    store.record_era(Era.fresh(now - 3 * 86400 - 1), replace_it=True)

    def one(i: int) -> None:
        at = now - 3 * 86400 * (n - i) / n  # oldest first, over three days
        message = Message(
            id=container.ids.derived(sources[i % 3], f"id:provider-{i}"),  # as ingest names them
            source_id=sources[i % 3],
            event_type=EVENT_TYPES[i % len(EVENT_TYPES)],
            status="stored",
            received_at=at,
            size=1024,
            body_sha256="0" * 64,
            content_type="application/json",
            receipt_id=new_id("rcpt"),
            headers={"x-github-event": "push", "user-agent": "GitHub-Hookshot/abc"},
            delivery_id=f"provider-{i}",
            body=b"x" * 1024,
            endpoints=(endpoint_id,),
            application_id=apps[i % 13] if i % 13 < 12 else None,
            dedupe_until=at + 3 * 86400,
            expires_at=at + 30 * 86400,
        )
        store.store_message(message, at)
        if i % 10 == 0:
            store.claim_attempt(
                Attempt(
                    message_id=message.id,
                    endpoint_id=endpoint_id,
                    number=1,
                    claim_id=new_id("clm"),
                    started_at=at,
                    status="failed",
                    delivery_status="failed",
                    expires_at=message.expires_at,
                    generation=generation_of(message),
                ),
                at,
            )

    begin = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(n)))
    say(f"   seeded {n:,} messages (and {n // 10:,} failed attempts) in {time.perf_counter() - begin:.0f} s")
    middle = n // 2 - (n // 2) % 3 + 1  # a message of sources[1]
    return {
        "application": apps[3],
        "source": sources[1],
        "endpoint": endpoint_id,
        "provider": f"provider-{middle}",
    }


def _measure(n: int, rounds: int) -> list[Row]:
    counter = CapacityCounter()
    app_module, container = _wired_app(counter)
    app, context = app_module.app, lambda_context()
    with quiet():
        ids = _seed(container, n)
    searches = {
        "no filter": {},
        "application": {"application": ids["application"]},
        "source": {"source": ids["source"]},
        "event type prefix": {"event_type": "order.*"},
        "application + event type": {"application": ids["application"], "event_type": "invoice.paid"},
        "status=failed": {"status": "failed"},
        "endpoint + status": {"endpoint": ids["endpoint"], "status": "failed"},
        "provider id + source": {"provider_id": ids["provider"], "source": ids["source"]},
    }

    def page(query: dict[str, str]) -> tuple[float, int]:
        qs = urlencode({**query, "limit": 50})
        event = proxy_event(
            "GET",
            "/v1/messages",
            "/v1/messages",
            headers={"Authorization": f"Bearer {ADMIN_KEY}", "Host": "localhost"},
        )
        event["queryStringParameters"] = {**query, "limit": "50"}
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in event["queryStringParameters"].items()}
        begin = time.perf_counter()
        reply = app(event, context)
        elapsed = time.perf_counter() - begin
        if reply["statusCode"] != 200:
            raise AssertionError(f"search {qs} answered {reply['statusCode']}: {reply['body'][:200]}")
        return elapsed * 1000, len(json.loads(reply["body"])["data"])

    # moto's Query reads its whole table (DynamoDB's reads one partition): at this size one costs a few
    # hundred milliseconds, so the status check's four concurrent Queries would pass the request profile's
    # 1 s read timeout here. The figure reads with the background profile; the work is the same.
    from chalicelib import wiring

    container.use(store=wiring.worker_root().store)
    # The references: one GetItem and one attempts Query round trip to the same emulator.
    store = container.store
    probe = str(uuid.uuid4())
    get_ms = median([_timed(lambda: store.application_id_for_uid(probe)) for _ in range(max(20, rounds * 4))])
    some = store.search_messages(MessageQuery(), limit=1, cursor=None).items[0].id
    query_ms = median([_timed(lambda: store.list_attempts(some)) for _ in range(max(10, rounds * 2))])
    say(f"   one GetItem {get_ms:.1f} ms, one attempts Query {query_ms:.1f} ms on moto at this size")
    rows: list[Row] = []
    with quiet():
        page({})  # warm: clients, caches
    for name, query in searches.items():
        with quiet():
            page(query)
            counter.reset()
            found = page(query)[1]
            calls = dict(counter.calls)
            rcu = sum(counter.rcu.values())
            latencies = [page(query)[0] for _ in range(rounds)]
        ms = median(latencies)
        summary = ", ".join(f"{k.split('.')[-1]} {v}" for k, v in sorted(calls.items()))
        say(f"   {name:<26} {ms:7.1f} ms  {rcu:6.1f} RRU  {found:>2} found  calls: {summary}")
        rows.append(
            Row(
                f"search page: {name}",
                ms,
                get_ms,
                "ms",
                note=f"limit 50 of {n:,} messages, {found} found; {rcu:.1f} read units one page costs "
                f"(eventually consistent; BatchGetItem 0.5 per item of up to 4 KB); calls: {summary}; "
                f"reference: one GetItem round trip to moto ({get_ms:.2f} ms; one attempts Query {query_ms:.1f} ms: "
                "moto's Query reads its whole table, DynamoDB's one partition)",
            )
        )
    return rows


def import_cost(quick: bool) -> Row:
    """What the catalog's validator costs the first payload it checks: ``import jsonschema`` and one
    validation, in a fresh interpreter, against the interpreter's own start-up."""
    import sys

    runs = 3 if quick else 7
    code = (
        "from chalicelib.event_types import schema_errors; "
        "schema_errors({'type': 'object', 'required': ['id']}, {'id': 1})"
    )

    def fresh(source: str) -> float:
        begin = time.perf_counter()
        subprocess.run([sys.executable, "-c", source], check=True, capture_output=True)
        return (time.perf_counter() - begin) * 1000

    fresh(code)  # bytecode caches
    base = median([fresh("pass") for _ in range(runs)])
    cost = median([fresh(code) for _ in range(runs)])
    say(
        f"   jsonschema import and first validation: {cost - base:.1f} ms over a bare interpreter ({base:.1f} ms)"
    )
    return Row(
        "first schema validation, fresh interpreter",
        cost,
        base,
        "ms",
        note=f"python -c with chalicelib.event_types.schema_errors (import jsonschema + one validation), median "
        f"of {runs}, against python -c pass: {cost - base:.1f} ms paid once per Lambda container, by the first "
        "publish of a type that has a schema; no other route imports it",
    )


def _timed(call: Any) -> float:
    begin = time.perf_counter()
    call()
    return (time.perf_counter() - begin) * 1000
