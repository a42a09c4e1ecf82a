"""The packed listing reader (``chalicelib.aws.dynamodb.listing``) on an in-memory partition store: items
written by many batches whose entries overlap in time, tie on time, span more than one item's SPAN and land
in every shard read back newest first, each once, from any cursor position, within any time range."""

from __future__ import annotations

import random
from typing import Any

import pytest

from chalicelib.aws.dynamodb import listing
from chalicelib.aws.dynamodb.keys import time_key
from chalicelib.aws.dynamodb.messages import message_entry

BASE = "LIST#SRC#src_x"


class Partitions:
    """Items by partition key, queried as DynamoDB would: sort key in [floor, bound), newest first, Limit
    items a page, ExclusiveStartKey the last one read."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.queries = 0

    def query(
        self, partition: str, floor: str | None, bound: str, limit: int, start: dict[str, Any] | None
    ) -> dict[str, Any]:
        self.queries += 1
        mine = sorted(
            (
                i
                for i in self.items
                if i["pk"]["S"] == partition
                and i["sk"]["S"] < bound
                and (floor is None or i["sk"]["S"] >= floor)
                and (start is None or i["sk"]["S"] < start["sk"]["S"])
            ),
            key=lambda i: i["sk"]["S"],
            reverse=True,
        )
        page = mine[:limit]
        out: dict[str, Any] = {"Items": page}
        if len(mine) > limit:
            out["LastEvaluatedKey"] = {"pk": page[-1]["pk"], "sk": page[-1]["sk"]}
        return out


def _batches(seed: int) -> tuple[list[dict[str, Any]], list[str]]:
    """60 batches of 1-30 entries: times in a 10-minute window, a few far older (a redelivered message),
    some batches sharing exact times (ties); returns the items and every entry's sort key."""
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    lines: list[str] = []
    for b in range(60):
        at = 1_800_000_000 + rng.uniform(0, 600)
        entries = []
        for i in range(rng.randint(1, 30)):
            when = at - rng.uniform(0, 20) if i % 7 else at - rng.uniform(0, 400)  # spans past SPAN
            if b % 5 == 0:
                when = float(int(at))  # ties with other batches' entries
            line = f"{time_key(when)}#msg_{b:03d}_{i:03d}"
            entries.append((when, line, when + 86400))
            lines.append(line)
        items.extend(listing.pack(BASE, f"lb_{b:04d}", entries))
    return items, lines


def _read(store: Partitions, position: list[str] | None, low: str | None, high: str | None, want: int) -> Any:
    stream = listing.packed_stream(store.query, "gsi1", BASE, message_entry("gsi1"), position, low, high)
    return stream, stream.take(want)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_entry_comes_back_newest_first_once_from_every_cursor(seed: int) -> None:
    items, lines = _batches(seed)
    store = Partitions(items)
    assert len({i["pk"]["S"] for i in items}) == 16  # every shard holds some
    everything = sorted(lines, reverse=True)
    _, got = _read(store, None, None, None, len(lines) + 5)
    assert [e["gsi1sk"]["S"] for e in got] == everything
    # From a cursor at any entry (inside an item), the rest follows exactly
    for k in range(0, len(everything), 7):
        last = got[k]
        position = [last["pk"]["S"], last["sk"]["S"], last["gsi1sk"]["S"]]
        _, rest = _read(store, position, None, None, len(lines))
        assert [e["gsi1sk"]["S"] for e in rest] == everything[k + 1 :]


def test_pages_of_any_size_walk_the_whole_listing() -> None:
    items, lines = _batches(9)
    store = Partitions(items)
    for size in (1, 4, 25):
        position, seen = None, []
        while True:
            stream, page = _read(store, position, None, None, size)
            seen.extend(e["gsi1sk"]["S"] for e in page)
            if not page or not stream.more:
                break
            position = [page[-1]["pk"]["S"], page[-1]["sk"]["S"], page[-1]["gsi1sk"]["S"]]
        assert seen == sorted(lines, reverse=True)


def test_a_time_range_cuts_inside_items() -> None:
    items, lines = _batches(4)
    store = Partitions(items)
    low, high = time_key(1_800_000_200), time_key(1_800_000_450) + "$"
    _, got = _read(store, None, low, high, len(lines))
    assert [e["gsi1sk"]["S"] for e in got] == sorted((x for x in lines if low <= x < high), reverse=True)


def test_an_item_never_spans_more_than_span_nor_holds_more_than_max_entries() -> None:
    entries = [(1000.0 - i, f"{time_key(1000.0 - i)}#m{i:04d}", 2000.0) for i in range(600)]
    items = listing.pack(BASE, "lb_1", entries)
    for item in items:
        times = [float(line[:17]) for line in listing.lines_of(item)]
        assert max(times) - min(times) <= listing.SPAN
        assert len(times) <= listing.MAX_ENTRIES
        assert item["sk"]["S"].startswith(time_key(max(times)))
    assert sum(len(listing.lines_of(i)) for i in items) == 600
