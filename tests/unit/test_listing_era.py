"""The read cost of a message listing page, by the stage's listing era (``listing.Era``): the index entries
of the layout before the packed listings are queried only while some can exist and the listing reaches
back to them. The adapter runs on a client that answers from memory and records every Query's partition.
"""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.aws.dynamodb import listing
from chalicelib.aws.dynamodb.keys import INDEX_SHARDS, s, time_key
from chalicelib.aws.dynamodb.messages import MessageTable
from chalicelib.ports import MessageQuery
from testkit.fakes import FakeClock

DAY = 86400.0


class EraClient:
    """A DynamoDB client with only the era item (or none): every Query is recorded and finds nothing."""

    def __init__(self, era: listing.Era | None) -> None:
        self.era = era.to_item() if era is not None else None
        self.queried: list[str] = []
        self.gets = 0
        self.puts: list[dict[str, Any]] = []

    def get_item(self, **params: Any) -> dict[str, Any]:
        self.gets += 1
        return {"Item": self.era} if self.era is not None else {}

    def put_item(self, **params: Any) -> dict[str, Any]:
        self.puts.append(params["Item"])
        self.era = params["Item"]
        return {}

    def query(self, **params: Any) -> dict[str, Any]:
        self.queried.append(params["ExpressionAttributeValues"][":p"]["S"])
        return {"Items": []}

    def batch_get_item(self, **params: Any) -> dict[str, Any]:
        return {"Responses": {}}


def _table(era: listing.Era | None, clock: FakeClock) -> tuple[MessageTable, EraClient]:
    client = EraClient(era)
    return MessageTable(client, "t", clock), client  # type: ignore[arg-type]


def _old(partitions: list[str]) -> list[str]:
    return [p for p in partitions if not p.startswith("LIST#")]


QUERIES = [
    (MessageQuery(source_id="src_a"), "SRC#src_a"),
    (MessageQuery(application_id="app_a"), "APP#app_a#MSG"),
]


@pytest.mark.parametrize(("query", "old_key"), QUERIES, ids=["source", "application"])
def test_a_fresh_stage_reads_only_the_packed_shards(query: MessageQuery, old_key: str) -> None:
    # GIVEN a stage created by this layout (its era: no old entry)
    clock = FakeClock()
    table, client = _table(listing.Era.fresh(clock() - DAY), clock)
    # WHEN a listing page is read THEN it is one Query per packed shard, none of the old index
    table.search_messages(query, limit=50, cursor=None)
    assert len(client.queried) == INDEX_SHARDS and _old(client.queried) == []


@pytest.mark.parametrize(("query", "old_key"), QUERIES, ids=["source", "application"])
def test_an_upgraded_stage_reads_the_old_index_until_its_entries_expired(
    query: MessageQuery, old_key: str
) -> None:
    # GIVEN a table without an era item (deployed by a pipeline, or holding the layouts before)
    clock = FakeClock()
    table, client = _table(None, clock)
    # WHEN a page is read THEN the era is recorded as upgraded now (one write, once) ...
    table.search_messages(query, limit=50, cursor=None)
    [written] = client.puts
    era = listing.Era.of_item(written)
    assert era.legacy_until == clock() + listing.LEGACY_MARGIN and era.since == 0
    # ... and the old index's 17 keys are queried besides the 16 packed shards
    old = [f"{old_key}#{i}" for i in range(INDEX_SHARDS)] + [old_key]
    assert sorted(_old(client.queried)) == sorted(old) and len(client.queried) == 2 * INDEX_SHARDS + 1
    # AND a range that starts after the last instant an old entry can have reads none of them
    client.queried.clear()
    table.search_messages(
        MessageQuery(**{**_filters(query), "after": era.legacy_until + 1}), limit=50, cursor=None
    )
    assert _old(client.queried) == [] and len(client.queried) == INDEX_SHARDS
    # AND once every old entry has expired (the longest retention past it), neither does any page
    fresh_table, fresh_client = _table(era, clock)
    clock.advance(listing.LEGACY_MARGIN + listing.LEGACY_KEPT)
    fresh_table.search_messages(query, limit=50, cursor=None)
    assert _old(fresh_client.queried) == [] and len(fresh_client.queried) == INDEX_SHARDS
    # AND the era is read once per table (a container), not per page
    assert client.gets == 1 and fresh_client.gets == 1


def _filters(query: MessageQuery) -> dict[str, Any]:
    return {k: v for k, v in (("source_id", query.source_id), ("application_id", query.application_id)) if v}


def test_a_day_walk_stops_at_the_stage_s_first_day() -> None:
    # GIVEN a stage created a day ago, and one whose first message is unknown
    clock = FakeClock()
    table, client = _table(listing.Era.fresh(clock() - DAY), clock)
    unknown, unknown_client = _table(listing.Era(0.0, 0.0), clock)
    # WHEN an unfiltered search finds nothing THEN the walk reads today and yesterday only ...
    assert table.search_messages(MessageQuery(), limit=50, cursor=None).items == []
    days = {p.rsplit("#", 1)[0] for p in client.queried}
    assert len(days) == 2 and len(client.queried) == 2 * INDEX_SHARDS
    # ... where, without a first day, it walks the 35 empty days that end a search
    unknown.search_messages(MessageQuery(), limit=50, cursor=None)
    assert len(unknown_client.queried) == 35 * INDEX_SHARDS and _old(unknown_client.queried) == []


def test_a_rare_status_walk_stops_at_the_stage_s_first_day_too() -> None:
    clock = FakeClock()
    table, client = _table(listing.Era.fresh(clock() - 3 * DAY), clock)
    table.search_messages(MessageQuery(status="failed"), limit=50, cursor=None)
    # 4 days of the ending index (16 shards and the key from before sharding: still written)
    assert len(client.queried) == 4 * (INDEX_SHARDS + 1)


class _Stream:
    """An ordered stream of entries (``gsi2sk`` only) that records whether it was read."""

    def __init__(self, keys: list[str]) -> None:
        self._entries = [{"pk": s(f"MSG#{k}"), "sk": s("META"), "gsi2sk": s(k)} for k in keys]
        self.read = False

    @property
    def more(self) -> bool:
        return bool(self._entries)

    def take(self, want: int) -> list[dict[str, Any]]:
        self.read = True
        out, self._entries = self._entries[:want], self._entries[want:]
        return out


def test_the_old_index_is_read_only_once_a_listing_reaches_back_to_it() -> None:
    # GIVEN packed entries on both sides of the last instant an old entry can have, and old entries
    cut = 1_800_000_000.0
    ceiling = listing.Era(cut, 0.0).ceiling
    newer = [f"{time_key(cut + 10 - i)}#n{i}" for i in range(5)]
    older = [f"{time_key(cut - 5 - i)}#p{i}" for i in range(3)]
    old = [f"{time_key(cut - 1 - 2 * i)}#o{i}" for i in range(3)]

    def union() -> tuple[listing.Union, _Stream]:
        legacy = _Stream(old)
        return listing.Union([_Stream(newer + older), legacy], "gsi2", [None, ceiling]), legacy

    # WHEN a page holds only entries newer than that instant THEN the old index is not read
    stream, legacy = union()
    assert [e["gsi2sk"]["S"] for e in stream.take(5)] == newer and not legacy.read
    # WHEN the listing goes on THEN the old entries come in their place, newest first, each once
    rest = [e["gsi2sk"]["S"] for e in stream.take(20)]
    assert legacy.read and rest == sorted(older + old, reverse=True)
    assert not stream.more


class _NewTableClient:
    """A DynamoDB client whose conditional put of an existing key fails, as DynamoDB's does."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def put_item(self, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        item = params["Item"]
        key = (item["pk"]["S"], item["sk"]["S"])
        if "ConditionExpression" in params and key in self.items:
            raise ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "PutItem")
        self.items[key] = item
        return {}


def test_make_deploy_records_a_new_table_s_era_once() -> None:
    from infra.deploy import record_new_table

    # GIVEN a stage's new table WHEN the deploy records it THEN its era is fresh: no old index, ever
    db = _NewTableClient()
    record_new_table(db, "t")
    era = listing.Era.of_item(db.items[("STAGE", "LISTINGS")])
    assert era.legacy_until == 0 and era.since > 0
    # AND a rerun (a deploy that failed after it) keeps the era the table already has
    db.items[("STAGE", "LISTINGS")] = listing.Era(5.0, 0.0).to_item()
    record_new_table(db, "t")
    assert listing.Era.of_item(db.items[("STAGE", "LISTINGS")]).legacy_until == 5.0


def test_a_day_walk_reads_the_old_day_index_only_on_days_that_began_before_the_era() -> None:
    from chalicelib.aws.dynamodb.keys import day_of

    # GIVEN an upgraded stage whose last old entry can be two days old
    clock = FakeClock()
    table, client = _table(listing.Era(clock() - 2 * DAY, 0.0), clock)
    # WHEN an unfiltered search walks its days
    table.search_messages(MessageQuery(), limit=50, cursor=None)
    old_days = {p.split("#")[1] for p in _old(client.queried)}
    # THEN today and yesterday read their packed shards only; the era's day and before read the old too
    today = day_of(clock())
    assert today.isoformat() not in old_days
    assert day_of(clock() - DAY).isoformat() not in old_days
    assert day_of(clock() - 2 * DAY).isoformat() in old_days
