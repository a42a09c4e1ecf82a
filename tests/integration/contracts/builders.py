"""What the contract suites build their objects with, and the fixture of a port's suite (contract_store)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from chalicelib.ids import new_id
from chalicelib.models import (
    Application,
    Attempt,
    Endpoint,
    Message,
    MtlsRule,
    Secret,
    Source,
    Verification,
)
from chalicelib.ports import MessageQuery
from testkit.fakes import FakeClock

DAY = 86400.0


def contract_store(fakes: type | tuple[type, ...], tables: type | tuple[type, ...]) -> Any:
    """The ``store`` fixture of a port's contract suite: the port's own fake, or its own DynamoDB adapter
    on a fresh table of moto's server (not the whole Store). A contract that reads another aggregate's
    items (a search by endpoint reads the attempts' index; counting a fan-out page updates its message)
    names those ports' fakes and adapters too, and runs on them together."""
    fake = type("Fakes", fakes if isinstance(fakes, tuple) else (fakes,), {})
    table = type("Tables", tables if isinstance(tables, tuple) else (tables,), {})

    @pytest.fixture(params=["memory", "dynamodb"], name="store")
    def store(request: pytest.FixtureRequest, clock: FakeClock) -> Any:
        if request.param == "memory":
            return fake(clock)
        from testkit import aws

        endpoint = request.getfixturevalue("endpoint")
        return table(aws.client("dynamodb", endpoint), aws.create_state_table(endpoint), clock)

    return store


def _source(clock: FakeClock, **changes: Any) -> Source:
    now = clock()
    base = Source(
        id=new_id("src"),
        name="n",
        created_at=now,
        updated_at=now,
        verification=Verification("stripe", (Secret("sec_1", "whsec_x", now, None),), 300, {"a": [1, "b"]}),
        ip_allowlist=("10.0.0.0/8",),
        basic_auth=("u:p:w",),
        mtls=MtlsRule(("CN=a",), ()),
        rejection_status=403,
        dedupe="json:/id",
        replay_window=60,
        max_body_bytes=10,
        description="d",
        enabled=False,
        application_id="app_owner",
    )
    return base.with_changes(**changes)


def _message(clock: FakeClock, **changes: Any) -> Message:
    base = Message(
        id=new_id("msg"),
        source_id="src_a",
        event_type="push",
        event_type_verified=False,
        status="stored",
        received_at=clock(),
        size=3,
        body_sha256="abc",
        content_type="application/json",
        receipt_id="r1",
        headers={"x-a": "1"},
        source_ip="203.0.113.1",
        delivery_id="d",
        dedupe_key="id:d",
        signed_timestamp=5,
        body=b"\x00\xffz",
        dedupe_until=clock() + 60,
        expires_at=clock() + 40 * DAY,
        application_id="app_owner",
    )
    return replace(base, **changes)


def _endpoint(clock: FakeClock, **changes: Any) -> Endpoint:
    now = clock()
    base = Endpoint(
        id=new_id("ep"),
        url="https://example.com/hook",
        created_at=now,
        updated_at=now,
        secrets=(Secret("s1", "whsec_abc", now, now + 60),),
        description="d",
        filter_sources=("src_a",),
        filter_event_types=("order.*",),
        signing="github",
        headers={"x-a": "1"},
        auth={"type": "bearer", "token": "t"},
        timeout=5.0,
        retry_schedule=(5, 60),
        enabled=False,
        disabled_reason="failing",
        failing_since=now - 5,
        application_id=None,
    )
    return replace(base, **changes)


def _application(clock: FakeClock, **changes: Any) -> Application:
    now = clock()
    base = Application(
        id=new_id("app"),
        name="Acme",
        created_at=now,
        updated_at=now,
        uid=None,
        metadata={"plan": "pro"},
    )
    return replace(base, **changes)


def _pages(store: Any, method: str, limit: int = 2, **kwargs: Any) -> tuple[list[Any], int]:
    """Every item of a listing, page by page (and how many pages it took)."""
    items: list[Any] = []
    cursor = None
    for pages in range(1, 1000):
        page = getattr(store, method)(limit=limit, cursor=cursor, **kwargs)
        assert len(page.items) <= limit
        items.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            return items, pages
    raise AssertionError("the listing never ended")


def _attempt(
    message: Message, endpoint_id: str, number: int, started_at: float, generation: str = "g1"
) -> Attempt:
    return Attempt(
        message_id=message.id,
        endpoint_id=endpoint_id,
        number=number,
        claim_id=new_id("clm"),
        started_at=started_at,
        status="failed",
        delivery_status="pending",
        lease_until=started_at + 30,
        expires_at=started_at + 40 * DAY,
        generation=generation,
    )


def _search(store: Any, query: MessageQuery, limit: int = 2, keep: Any = None) -> list[str]:
    """The ids of a whole search, page by page; no id may come twice."""
    found, _ = _pages(store, "search_messages", limit=limit, query=query, keep=keep)
    ids = [m.id for m in found]
    assert len(ids) == len(set(ids))
    return ids


def _stage_began(store: Any, at: float) -> None:
    """The store's stage was created at ``at`` (its listing era: a day walk stops at that day), as a new
    stage's table records it; the fake walks no days."""
    if hasattr(store, "record_era"):
        from chalicelib.aws.dynamodb.listing import Era

        store.record_era(Era.fresh(at), replace_it=True)


def _store_all(store: Any, messages: list[Message], clock: FakeClock) -> list[Message]:
    for message in messages:
        assert store.store_message(message, clock()) is True
    return messages


def _newest_first(messages: list[Message]) -> list[str]:
    return [m.id for m in sorted(messages, key=lambda m: (m.received_at, m.id), reverse=True)]


def _search_raw(store: Any, query: MessageQuery, limit: int) -> list[str]:
    found, _ = _pages(store, "search_messages", limit=limit, query=query)
    return [m.id for m in found]
