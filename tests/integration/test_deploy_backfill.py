"""The deploy's two subscription backfill passes (``infra.deploy.backfill``) on moto's server: the same
subprocess (``python -m chalicelib.backfill``, with and without ``--no-mark``) against the table of a stage
stack created as ``make deploy`` creates it, around endpoints written the way the code before subscription
pages wrote them, one of them while the old code still serves between the passes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from chalicelib.aws.dynamo import DynamoStore
from chalicelib.aws.dynamodb import endpoints as endpoint_items
from chalicelib.caches import SubscriptionCache
from chalicelib.models import Endpoint
from chalicelib.names import names
from chalicelib.outbound.routing import EndpointFanout
from infra import deploy
from infra.stack import infrastructure, stage_options
from testkit import aws
from testkit.fakes import FakeClock, MemoryQueue
from tests.integration.contracts.builders import _application, _endpoint, _message

pytestmark = pytest.mark.integration


@pytest.fixture
def stage(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any, dict[str, str], str]]:
    """A fresh emulated account with the dev stage's infrastructure stack, reached as the deploy does."""
    with aws.moto_server() as url:
        for name in [k for k in os.environ if k.startswith(("AWS_", "HOOKWAY_"))]:
            monkeypatch.delenv(name)
        for name, value in {
            "AWS_ENDPOINT_URL": url,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }.items():
            monkeypatch.setenv(name, value)
        n = names("dev")
        opts = stage_options("dev", None)
        outputs = deploy.ensure_stack(
            aws.client("cloudformation", url), n.infra_stack, infrastructure("dev", opts)
        )
        yield n, opts, outputs, url


def _legacy(db: Any, table: str, endpoint: Endpoint) -> None:
    """An endpoint as the code before subscription pages wrote it: the item alone, no page."""
    db.put_item(TableName=table, Item=endpoint_items.endpoint_to_item(endpoint))


def _routed(store: DynamoStore, clock: FakeClock, owner: str | None) -> set[str]:
    """The endpoint ids a fresh router container matches a message of this owner to."""
    cache = SubscriptionCache(store, clock, check_seconds=0, max_endpoints=10_000)
    fanout = EndpointFanout(store, MemoryQueue(), subscriptions=cache, store=store, chunks=MemoryQueue())
    message = _message(clock, application_id=owner, event_type="order.created")
    matched = fanout.match(message)
    if matched.parts:
        return {e for o, pages in matched.parts for n in range(pages) for e in fanout._matched(message, o, n)}
    return set(matched.inline) | {e for page in matched.pages for e in page}


def test_the_deploys_two_backfill_passes_join_every_endpoint_and_mark_owners_only_after_the_update(
    stage: tuple[Any, Any, dict[str, str], str],
) -> None:
    n, opts, outputs, url = stage
    clock = FakeClock()
    db = aws.client("dynamodb", url)
    table = outputs["StateTableName"]
    store = DynamoStore(db, table, clock)
    # GIVEN an application and endpoints of it and of the operator, written by the old code (no pages)
    app = _application(clock)
    store.create_application(app)
    live: dict[str, list[Endpoint]] = {"op": [], app.id: []}
    for owner in (None, app.id):
        for _ in range(4):
            endpoint = replace(_endpoint(clock, application_id=owner), enabled=True, filter_sources=())
            _legacy(db, table, endpoint)
            live[owner or "op"].append(endpoint)
    # WHEN the deploy's first pass runs (before the code update: join only)
    deploy.backfill(n, opts, outputs, mark=False)
    # THEN every endpoint is in its owner's pages, but no owner is marked: routers keep the full listing
    for owner in (None, app.id):
        _, pages, complete = store.owner_state(owner)
        held = sorted(i for p in range(pages) for i in store.subscription_page(owner, p))
        assert held == sorted(e.id for e in live[owner or "op"]) and not complete
    # AND an endpoint the old code writes between the passes (it still serves) is routed from the listing
    late = replace(_endpoint(clock, application_id=app.id), enabled=True, filter_sources=())
    _legacy(db, table, late)
    live[app.id].append(late)
    assert _routed(store, clock, app.id) == {e.id for e in live[app.id]}
    # WHEN the second pass runs (after the update: join and mark), and then again (a rerun: a no-op)
    deploy.backfill(n, opts, outputs, mark=True)
    for owner in (None, app.id):
        _, pages, complete = store.owner_state(owner)
        held = [i for p in range(pages) for i in store.subscription_page(owner, p)]
        # THEN every endpoint is in exactly one page, each item records it, and the owner is marked
        assert sorted(held) == sorted(e.id for e in live[owner or "op"]) and complete
        for endpoint in live[owner or "op"]:
            item = db.get_item(TableName=table, Key=endpoint_items.endpoint_key(endpoint.id))["Item"]
            assert "sub_page" in item
        # AND a router matches the owner from its pages alone, to every endpoint
        assert _routed(store, clock, owner) == {e.id for e in live[owner or "op"]}
    before = {owner: store.owner_state(owner) for owner in (None, app.id)}
    deploy.backfill(n, opts, outputs, mark=True)
    assert {owner: store.owner_state(owner) for owner in (None, app.id)} == before
