"""What every in-memory fake of a table port shares: the clock, the lock, failure injection, index pages,
and DynamoDB's item size limit."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from chalicelib.aws.dynamodb import keys
from chalicelib.errors import StorageError
from chalicelib.ports import Page, decode_cursor, encode_cursor

Entry = tuple[str, str, str, Any]  # an index entry: (index sort key, pk, sk, what it points at)

MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item size limit: attribute names and values, UTF-8


def item_size(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB counts it (close enough: names, strings, binaries, number digits)."""

    def size(value: Any) -> int:
        ((kind, inner),) = value.items()
        if kind in ("S", "N"):
            return len(str(inner).encode())
        if kind == "B":
            return len(inner)
        if kind in ("SS", "NS"):
            return sum(len(str(v).encode()) for v in inner)
        if kind == "L":
            return 3 + sum(size(v) + 1 for v in inner)
        if kind == "M":
            return 3 + sum(len(k.encode()) + size(v) + 1 for k, v in inner.items())
        return 1

    return sum(len(name.encode()) + size(value) for name, value in item.items())


def check_size(item: Mapping[str, Any]) -> None:
    """Refuse an item over 400 KB, as DynamoDB does (a StorageError)."""
    if item_size(item) > MAX_ITEM_BYTES:
        raise StorageError("DynamoDB put_item failed: ValidationException (item size over 400 KB)")


class MemoryTable:
    """The shared state of the fakes: a clock, a lock, a write count and an injected failure."""

    def __init__(self, clock: Any, *, page_size: int = keys.SUBSCRIPTION_PAGE) -> None:
        self._clock = clock
        self.page_size = page_size
        self._lock = threading.Lock()
        self.writes = 0
        self.fail_with: Exception | None = None

    def _maybe_fail(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    def ping(self) -> None:
        self._maybe_fail()

    def _page(self, entries: list[Entry], limit: int, cursor: str | None, *, forward: bool) -> Page[Any]:
        """One page of an index partition, as a Query with Limit and ExclusiveStartKey reads it."""
        position = decode_cursor(cursor, 3)
        ordered = sorted(entries, key=lambda e: (e[0], e[1], e[2]), reverse=not forward)
        if position is not None:
            start = (position[2], position[0], position[1])
            ordered = [
                e for e in ordered if ((e[0], e[1], e[2]) > start if forward else (e[0], e[1], e[2]) < start)
            ]
        chunk = ordered[:limit]
        more = len(ordered) > limit
        last = chunk[-1] if chunk and more else None
        return Page([e[3] for e in chunk], encode_cursor([last[1], last[2], last[0]]) if last else None)
