"""The hourly counters and the scheduled jobs' checkpoints (``STATS#``, ``CHECKPOINT#``): item layout and the
DynamoDB adapter of ``CounterStore`` and ``CheckpointStore``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.aws.dynamodb.core import Table
from chalicelib.aws.dynamodb.keys import (
    INDEX_SHARDS,
    Item,
    KeyKind,
    n,
    s,
)

if TYPE_CHECKING:
    pass


STATS_FIELDS = ("received", "delivered", "failed", "rejected")


STATS_TTL_SECONDS = 35 * 86400  # the API shows a week at most; a few weeks more for the dashboards


def stats_key(hour: int, shard: int | None) -> Item:
    """The primary key of one share of an hour's counters (``hour``: its start; None: the unsharded
    item stores written before sharding hold, read as one more share)."""
    stamp = datetime.fromtimestamp(hour, tz=UTC).strftime("%Y-%m-%dT%H")
    pk = f"STATS#{stamp}" if shard is None else f"STATS#{stamp}#{shard}"
    return {"pk": s(pk), "sk": s("META")}


def stats_keys(hour: int) -> list[Item]:
    """Every item one hour's counters may be spread over (its shares, then the unsharded one)."""
    return [stats_key(hour, shard) for shard in range(INDEX_SHARDS)] + [stats_key(hour, None)]


def item_to_counts(item: Item) -> dict[str, int]:
    """One hour's counters (a counter never added to is 0)."""
    return {name: int(item[name]["N"]) if name in item else 0 for name in STATS_FIELDS}


def checkpoint_key(name: str) -> Item:
    """The primary key of a scheduled job's checkpoint."""
    return {"pk": s(f"CHECKPOINT#{name}"), "sk": s("META")}


KEYS = (
    KeyKind(
        "hourly counters",
        "STATS#{yyyy-mm-ddThh}#{s}",
        "META",
        note="one of 16 shares, picked at random per flush (`received`, `delivered`, `failed`, `rejected`, `hour`; TTL 35 days)",
    ),
    KeyKind(
        "a scheduled job's checkpoint",
        "CHECKPOINT#{name}",
        "META",
        note='`value`: the sweep\'s `{"done", "until", "cursor"}`',
    ),
)


class CounterTable(Table):
    """The counters of the table (see the module docstring)."""

    def get_checkpoint(self, name: str) -> str | None:
        """One consistent GetItem."""
        item = self._call("get_item", Key=checkpoint_key(name), ConsistentRead=True).get("Item")
        return str(item["value"]["S"]) if item else None

    def put_checkpoint(self, name: str, value: str) -> None:
        """One PutItem."""
        self._call("put_item", Item={**checkpoint_key(name), "value": s(value)})

    def add_counts(self, hour: int, counts: Mapping[str, int]) -> None:
        """One UpdateItem of one share of the hour (picked per call, so no item takes every flush):
        ADD each counter, and (re)set the hour's start and its TTL."""
        wanted = {name: value for name, value in counts.items() if value}
        if not wanted:
            return
        names = {f"#c{i}": name for i, name in enumerate(wanted)}
        values: dict[str, Any] = {f":c{i}": n(value) for i, value in enumerate(wanted.values())}
        values.update({":h": n(hour), ":ttl": n(hour + STATS_TTL_SECONDS)})
        self._call(
            "update_item",
            Key=stats_key(hour, self._pick_shard(INDEX_SHARDS)),
            UpdateExpression="SET #hour = :h, #ttl = :ttl ADD " + ", ".join(f"{k} :{k[1:]}" for k in names),
            ExpressionAttributeNames={**names, "#hour": "hour", "#ttl": "ttl"},
            ExpressionAttributeValues=values,
        )

    def get_counts(self, hours: Sequence[int]) -> dict[int, dict[str, int]]:
        """BatchGetItem of every share of the hours (one request per 100 items), summed per hour."""
        keys = [key for hour in dict.fromkeys(hours) for key in stats_keys(hour)]
        out: dict[int, dict[str, int]] = {}
        for item in self._fetch(keys):
            hour, counts = int(item["hour"]["N"]), item_to_counts(item)
            total = out.setdefault(hour, dict.fromkeys(STATS_FIELDS, 0))
            for name, value in counts.items():
                total[name] += value
        return out
