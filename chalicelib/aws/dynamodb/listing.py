"""Packed listings (``LIST#``): one item per batch and listing key instead of one index entry per message
or attempt, and the newest-first reader that merges them with the index entries written before.

    LIST#DAY#{yyyy-mm-dd}#{s} / {newest}#{batch}   a router batch's messages received that day
    LIST#SRC#{source}#{s}     / {newest}#{batch}   ... of one source
    LIST#APP#{application}#{s}/ {newest}#{batch}   ... of one application
    LIST#EP#{endpoint}#{s}    / {newest}#{batch}   a sender batch's recorded attempts to one endpoint

An item holds its entries deflated (``e``): one line each, the entry's index sort key as the index it
replaces had it (``{received}#{id}`` for a message, ``{started}#{message}#{n}`` for an attempt) and, for
an attempt, ``|{generation}|{shards}`` so the attempt's key can be rebuilt. ``{s}`` is a hash of the batch
id (``keys.INDEX_SHARDS``): a key of one entity takes at most one item per batch per 16 shards.

Order. The sort key is the item's *newest* entry. Every entry of an item lies within ``SPAN`` seconds
below it (``pack`` splits a group that spans more), so a reader that wants the entries below a time ``t``
reads the items whose newest is below ``t + SPAN``, newest first, and hands an entry out only once every
shard has read past it (``_Packed``). A cursor is the position of the last entry handed out, as an index
cursor is (``[pk, sk, index sort key]``): it may point inside an item; the reader resumes after it.

The stage's listing era (``STAGE`` / ``LISTINGS``, ``Era``): whether index entries of the layout before the
packed listings (gsi1 ``SRC#``, gsi2 ``DAY#``, gsi3 ``APP#``, one per message) can exist, and from when the
stage holds messages at all. A message listing reads those entries only while they can (``Era.legacy``),
so a fresh stage never does and an upgraded one stops once they have expired.
"""

from __future__ import annotations

import heapq
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.aws.dynamodb.keys import INDEX_SHARDS, Item, KeyKind, n, s, time_key

SPAN = 60.0  # seconds between the newest and the oldest entry of one item, at most
MAX_ENTRIES = 250  # entries per item (about 12 KB): a batch's group of more is split
ITEMS_PER_QUERY = 10  # items per Query of one shard (each holds a batch: ten entries or so)
SHARD_CONCURRENCY = 4
_LAST_TIME = 9_999_999_999.0
# How long after the first process of this layout read the era an older one may still write index
# entries: a deploy updates its functions within minutes, and one in flight ends within its timeout.
LEGACY_MARGIN = 900.0
# Every message outlives its index entries by no more than the longest retention a stage may set
# (``config``: 34 days, under the bucket's 35): past ``legacy_until`` + this, every such entry names an
# expired message (TTL removes them), whatever the retention was when it was written.
LEGACY_KEPT = 34 * 86400.0

KEYS = (
    KeyKind(
        "one router batch's messages of one day",
        "LIST#DAY#{yyyy-mm-dd}#{s}",
        "{newest received}#{batch}",
        note="deflated lines `{received}#{id}`; s: a hash of the batch id; TTL",
    ),
    KeyKind(
        "one router batch's messages of one source",
        "LIST#SRC#{source}#{s}",
        "{newest received}#{batch}",
        note="as above",
    ),
    KeyKind(
        "one router batch's messages of one application",
        "LIST#APP#{application}#{s}",
        "{newest received}#{batch}",
        note="as above",
    ),
    KeyKind(
        "one sender batch's recorded attempts to one endpoint",
        "LIST#EP#{endpoint}#{s}",
        "{newest started}#{batch}",
        note="deflated lines `{started}#{message}#{n}|{generation}|{shards}`; TTL",
    ),
    KeyKind(
        "the stage's listing era (written once)",
        "STAGE",
        "LISTINGS",
        note="`legacy_until`: no message index entry of the layout before the packed listings is that "
        "new (0: none exists); `since`: no message was received before (0: unknown)",
    ),
)

ERA_KEY: Item = {"pk": s("STAGE"), "sk": s("LISTINGS")}


class Era:
    """What a stage's table can hold, as its era item records it.

    ``legacy_until``: every message index entry of the layout before the packed listings has a time
    below it (0: the table never held one: a stage created by this layout). ``since``: no message of the
    table was received before it (0: unknown, e.g. a table that held older layouts or restored state).
    """

    __slots__ = ("legacy_until", "since")

    def __init__(self, legacy_until: float, since: float) -> None:
        self.legacy_until = legacy_until
        self.since = since

    @classmethod
    def fresh(cls, now: float) -> Era:
        """A table created by this layout at ``now``: no old entry, no message before."""
        return cls(0.0, now)

    @classmethod
    def upgraded(cls, now: float) -> Era:
        """A table that may hold older layouts' entries until ``now`` (and, for a margin, after it)."""
        return cls(now + LEGACY_MARGIN, 0.0)

    def legacy(self, now: float, low: str | None) -> bool:
        """Whether a message listing over sort keys from ``low`` (None: no bound) must read the index
        entries of the layout before: some can exist, have not expired, and lie in its range."""
        if self.legacy_until <= 0 or now >= self.legacy_until + LEGACY_KEPT:
            return False
        return low is None or low < self.ceiling

    @property
    def ceiling(self) -> str:
        """A sort key above every old index entry's (each ``{time}#{id}``, the time below ``legacy_until``)."""
        return time_key(self.legacy_until) + "~"

    def to_item(self) -> Item:
        """The era item."""
        return {**ERA_KEY, "legacy_until": n(self.legacy_until), "since": n(self.since)}

    @classmethod
    def of_item(cls, item: Item) -> Era:
        """The era an item records."""
        return cls(float(item["legacy_until"]["N"]), float(item["since"]["N"]))


def day_listing(day: str) -> str:
    """The base key of one UTC day's messages (``yyyy-mm-dd``)."""
    return f"LIST#DAY#{day}"


def source_listing(source_id: str) -> str:
    """The base key of a source's messages."""
    return f"LIST#SRC#{source_id}"


def application_listing(application_id: str) -> str:
    """The base key of an application's messages."""
    return f"LIST#APP#{application_id}"


def endpoint_listing(endpoint_id: str) -> str:
    """The base key of an endpoint's recorded attempts."""
    return f"LIST#EP#{endpoint_id}"


def shard_of_batch(batch: str) -> int:
    """The write shard of every item one batch writes."""
    return zlib.crc32(batch.encode("utf-8", "surrogateescape")) % INDEX_SHARDS


def listing_partitions(base: str) -> tuple[str, ...]:
    """Every partition key a reader of a packed listing queries."""
    return tuple(f"{base}#{i}" for i in range(INDEX_SHARDS))


def pack(base: str, batch: str, entries: Iterable[tuple[float, str, float]]) -> list[Item]:
    """The items of one batch's entries under one listing key: ``(time, line, expires_at)`` each, the
    line starting with the entry's index sort key. Split so that no item spans more than ``SPAN`` seconds
    or holds more than ``MAX_ENTRIES``."""
    ordered = sorted(set(entries), key=lambda e: e[1], reverse=True)
    pk = s(f"{base}#{shard_of_batch(batch)}")
    items: list[Item] = []
    group: list[tuple[float, str, float]] = []

    def close() -> None:
        newest = group[0][0]
        data = "\n".join(line for _, line, _ in group).encode()
        items.append(
            {
                "pk": pk,
                "sk": s(f"{time_key(newest)}#{batch}#{len(items)}"),
                "e": {"B": zlib.compress(data, 6)},
                "ttl": n(int(max(e[2] for e in group))),
            }
        )

    for entry in ordered:
        if group and (entry[0] < group[0][0] - SPAN or len(group) >= MAX_ENTRIES):
            close()
            group = []
        group.append(entry)
    if group:
        close()
    return items


def lines_of(item: Item) -> list[str]:
    """The entries of a packed item, as written."""
    return zlib.decompress(bytes(item["e"]["B"])).decode().split("\n")


def _time_of(index_sk: str) -> float:
    return float(index_sk[:17])


class _Packed:
    """The shards of one packed listing read newest first as one ordered stream of index-like entries
    (``{"pk", "sk", "{index}sk"}``), like ``core._Merged`` for index shards.

    ``decode`` turns one line into an entry. Entries at or after ``position`` (``[pk, sk, index sk]``),
    at or above ``high`` or below ``low`` are left out. An entry is handed out once no unread item of any
    shard can hold a newer one (each shard's unread items are no newer than the last it read).
    """

    def __init__(
        self,
        query: Callable[[str, str | None, str, int, dict[str, Any] | None], Any],
        index: str,
        partitions: Sequence[str],
        decode: Callable[[str], Item],
        position: list[str] | None,
        low: str | None,
        high: str | None,
    ) -> None:
        self._query = query
        self._index = index
        self._decode = decode
        self._after = (position[2], position[0], position[1]) if position else None
        self._low = low
        self._high = high
        tops = [x for x in (high, position[2] if position else None) if x]
        # An item that holds an entry under ``top`` has its newest at most SPAN later (``~`` sorts after
        # every time: no bound). Times are 17 characters wide up to the year 2286.
        self._bound = time_key(min(_time_of(min(tops)) + SPAN, _LAST_TIME)) + "$" if tops else "~"
        self._floor = time_key(_time_of(low)) if low is not None else None
        self._shards = [_PackedShard(p) for p in partitions]
        self._heap: list[_Desc] = []
        self._last: tuple[str, str, str] | None = None

    @property
    def more(self) -> bool:
        """Whether an entry may be left."""
        return bool(self._heap) or any(not shard.done for shard in self._shards)

    def _order(self, entry: Item) -> tuple[str, str, str]:
        return (entry[f"{self._index}sk"]["S"], entry["pk"]["S"], entry["sk"]["S"])

    def _blocking(self) -> list[_PackedShard]:
        """The shards that must be read before the newest buffered entry can be handed out."""
        if not self._heap:
            return [shard for shard in self._shards if not shard.done]
        head = self._heap[0].key[0]
        return [
            shard
            for shard in self._shards
            if not shard.done and (shard.frontier is None or head <= shard.frontier + "$")
        ]

    def take(self, want: int) -> list[Item]:
        """The next ``want`` entries, newest first; fewer only at the end of every shard."""
        out: list[Item] = []
        while len(out) < want:
            blocking = self._blocking()
            if blocking:
                self._fill(blocking)
                continue
            if not self._heap:
                break
            entry = heapq.heappop(self._heap).entry
            order = self._order(entry)
            if order == self._last:
                continue  # the same entry written twice (a batch's listing retried)
            self._last = order
            out.append(entry)
        return out

    def _fill(self, shards: list[_PackedShard]) -> None:
        def read(shard: _PackedShard) -> list[Item]:
            result = self._query(shard.partition, self._floor, self._bound, ITEMS_PER_QUERY, shard.start)
            items: list[Item] = result.get("Items", [])
            shard.start = result.get("LastEvaluatedKey")
            shard.done = not shard.start
            if items:
                shard.frontier = items[-1]["sk"]["S"][:17]  # its unread items are no newer than this
            return items

        if len(shards) == 1:
            results = [read(shards[0])]
        else:
            with ThreadPoolExecutor(max_workers=min(SHARD_CONCURRENCY, len(shards))) as pool:
                results = list(pool.map(read, shards))
        for items in results:
            for item in items:
                for line in lines_of(item):
                    entry = self._decode(line)
                    order = self._order(entry)
                    if self._after is not None and order >= self._after:
                        continue
                    if self._high is not None and order[0] >= self._high:
                        continue
                    if self._low is not None and order[0] < self._low:
                        continue
                    heapq.heappush(self._heap, _Desc(order, entry))


class _PackedShard:
    """One partition of a packed listing: where its next Query starts and the newest its unread items
    can be (``frontier``: the time of the oldest item read so far)."""

    __slots__ = ("done", "frontier", "partition", "start")

    def __init__(self, partition: str) -> None:
        self.partition = partition
        self.start: dict[str, Any] | None = None
        self.frontier: str | None = None
        self.done = False


class _Desc:
    """A heap element that pops the newest entry first."""

    __slots__ = ("entry", "key")

    def __init__(self, key: tuple[str, str, str], entry: Item) -> None:
        self.key = key
        self.entry = entry

    def __lt__(self, other: _Desc) -> bool:
        return self.key > other.key


class Union:
    """Two or more ordered streams (``take``/``more``) read as one, newest first, identical entries once:
    a packed listing and the index entries written before it.

    ``ceilings`` (one per stream, None: none): every entry of a stream sorts below its ceiling, so it is
    not read while another stream holds an entry at or above it (the old index entries of an upgraded
    stage are read only once a listing reaches back to them).
    """

    def __init__(
        self, streams: Sequence[Any], index: str, ceilings: Sequence[str | None] | None = None
    ) -> None:
        self._streams = list(streams)
        self._index = index
        self._ceilings = list(ceilings) if ceilings is not None else [None] * len(self._streams)
        self._heads: list[deque[Item]] = [deque() for _ in self._streams]
        self._last: tuple[str, str, str] | None = None

    @property
    def more(self) -> bool:
        """Whether an entry may be left."""
        return any(head or stream.more for head, stream in zip(self._heads, self._streams, strict=True))

    def _order(self, entry: Item) -> tuple[str, str, str]:
        return (entry[f"{self._index}sk"]["S"], entry["pk"]["S"], entry["sk"]["S"])

    def take(self, want: int) -> list[Item]:
        """The next ``want`` entries, newest first."""
        out: list[Item] = []
        while len(out) < want:
            for head, stream, ceiling in zip(self._heads, self._streams, self._ceilings, strict=True):
                if not head and stream.more and ceiling is None:
                    head.extend(stream.take(want - len(out)))
            for head, stream, ceiling in zip(self._heads, self._streams, self._ceilings, strict=True):
                if not head and stream.more and ceiling is not None and not self._above(ceiling):
                    head.extend(stream.take(want - len(out)))
            live = [head for head in self._heads if head]
            if not live:
                break
            best = max(live, key=lambda head: self._order(head[0]))
            entry = best.popleft()
            order = self._order(entry)
            if order == self._last:
                continue
            self._last = order
            out.append(entry)
        return out

    def _above(self, ceiling: str) -> bool:
        """Whether an entry at hand sorts at or above ``ceiling`` (so it comes before any below it)."""
        return any(head and head[0][f"{self._index}sk"]["S"] >= ceiling for head in self._heads)


def packed_stream(
    query: Callable[[str, str | None, str, int, dict[str, Any] | None], Any],
    index: str,
    base: str,
    decode: Callable[[str], Item],
    position: list[str] | None,
    low: str | None = None,
    high: str | None = None,
) -> _Packed:
    """A packed listing's shards as one newest-first stream of index-like entries."""
    return _Packed(query, index, listing_partitions(base), decode, position, low, high)
