"""What every aggregate's item layout shares: attribute values, sortable times, write shards, ``KeyKind``.

Single table, generic keys (``pk``, ``sk``) and three keys-only indexes (``gsi1``, ``gsi2``, ``gsi3``, each
``gsiNpk`` / ``gsiNsk``). ``{ts}`` is a time as ``{t:017.6f}`` (so the strings sort like the numbers).
``{s}`` is a write shard, 0 to ``INDEX_SHARDS - 1``: a hash of the message id (of the endpoint id for
``EP_ATTENTION``), so that no index key every message writes takes more than 1/``INDEX_SHARDS`` of the
traffic (``docs/data-model.md`` has the arithmetic). Readers query every shard and merge them, newest
first, plus the key without a shard that stores written before sharding still hold (``shard_partitions``).
Complex fields (options, headers, secrets, metadata, schemas) are stored as JSON strings: read whole, never
queried; secret values inside them arrive already sealed (``chalicelib.sealing``). An absent attribute
decodes as the field's default. Each aggregate module declares its items in ``KEYS``; ``chalicelib.aws.dynamodb.catalogue()`` collects them
and ``docs/data-model.md``'s item table is generated from it (a test checks it).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

_LAST_SECOND = 253_402_300_799.0  # 9999-12-31T23:59:59Z


_SORT_TIME = re.compile(r"([0-9]{1,11}\.[0-9]{6})#")


Item = dict[str, Any]


SUBSCRIPTION_PAGE = 500  # endpoint ids per subscription page, and so per fan-out chunk


def s(value: str) -> dict[str, str]:
    """A DynamoDB string attribute."""
    return {"S": value}


def n(value: float | int) -> dict[str, str]:
    """A DynamoDB number attribute (repr keeps floats exact)."""
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def opt_s(item: Item, name: str) -> str | None:
    attr = item.get(name)
    return attr["S"] if attr else None


def num(item: Item, name: str, default: float | None = None) -> float | None:
    attr = item.get(name)
    return float(attr["N"]) if attr else default


def int_of(item: Item, name: str, default: int | None = None) -> int | None:
    attr = item.get(name)
    return int(attr["N"]) if attr else default


def time_key(at: float) -> str:
    """A time as the sort keys hold it: fixed-width, so the strings sort like the numbers."""
    return f"{at:017.6f}"


def day_of(at: float) -> date:
    """The UTC day a time falls in, as its sort key rounds it (so a sort key alone names its day).

    Times outside 1970 to 9999 count as the first or the last day (a query's bound may be anything).
    """
    return datetime.fromtimestamp(min(max(float(time_key(at)), 0.0), _LAST_SECOND), tz=UTC).date()


# Every time-sorted index key that each message or attempt writes is split into this many partition keys.
# At the design point (10,000 webhooks/s spread, 5,000/s on one source, endpoint or application) the
# busiest key then takes 10,000 / 16 = 625 writes/s (a day) and 5,000 / 16 = 313 (one entity), under
# DynamoDB's 1,000 write units/s per partition key; a listing pays one Query per shard per page.
INDEX_SHARDS = 16


def shard_of(item_id: str) -> int:
    """The write shard of an item: a stable hash of its id (the same in every process)."""
    return zlib.crc32(item_id.encode("utf-8", "surrogateescape")) % INDEX_SHARDS


def sharded(base: str, item_id: str) -> str:
    """The partition key an item's entry under ``base`` is written to."""
    return f"{base}#{shard_of(item_id)}"


def shard_partitions(base: str) -> tuple[str, ...]:
    """Every partition key a reader of ``base`` queries: each shard, then ``base`` itself.

    ``base`` alone is where stores written before sharding keep their entries: read as one more shard,
    so existing state stays listed (its entries expire with their items, 30 days for messages and
    attempts; an endpoint's attention entry moves to a shard at its next change).
    """
    return (*(f"{base}#{i}" for i in range(INDEX_SHARDS)), base)


@dataclass(frozen=True)
class KeyKind:
    """One kind of item in the table: its keys and index entries, as ``docs/data-model.md`` lists them."""

    item: str
    pk: str
    sk: str
    gsi1: str = ""
    gsi2: str = ""
    gsi3: str = ""
    note: str = ""
