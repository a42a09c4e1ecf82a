"""One DynamoDB table: the client call and its errors, batched reads, transactions, index pages, cursors,
and the k-way merge of a sharded index key (every aggregate's adapter builds on ``Table``).

Cursors are encoded here and only here: a cursor is a position (the table key and the index sort key of
the last entry handed out), never a partition, so a forged one can move where a listing starts, never
which tenant's items it lists.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.aws.dynamodb.keys import (
    SUBSCRIPTION_PAGE,
    Item,
    s,
    shard_partitions,
)
from chalicelib.errors import StorageError
from chalicelib.paging import Page, decode_cursor, encode_cursor

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


T = TypeVar("T")

SHARD_CONCURRENCY = 4  # shard Queries of one merge in flight at once (as KEEP_CONCURRENCY: moto queues them)


def _start_key(cursor: str | None, index: str, partition: str) -> dict[str, Any] | None:
    """The ExclusiveStartKey a cursor stands for: its position, in the partition the query names."""
    position = decode_cursor(cursor, 3)
    return None if position is None else _key_at(position, index, partition)


def _key_at(position: list[str], index: str, partition: str) -> dict[str, Any]:
    """The index key of a position ``[pk, sk, index sort key]`` in a partition."""
    pk, sk, index_sk = position
    return {
        "pk": s(pk),
        "sk": s(sk),
        f"{index}pk": s(partition),
        f"{index}sk": s(index_sk),
    }


def _cursor_of(last: dict[str, Any] | None, index: str) -> str | None:
    if not last:
        return None
    return encode_cursor([last["pk"]["S"], last["sk"]["S"], last[f"{index}sk"]["S"]])


def _order(entry: dict[str, Any], index: str) -> tuple[str, str, str]:
    """An index entry's place in its partition: its index sort key, then the table key (a tie-break)."""
    return (entry[f"{index}sk"]["S"], entry["pk"]["S"], entry["sk"]["S"])


class _Shard:
    """One partition of a merged read: what it has read but not yet handed out, and where it goes on."""

    def __init__(self, partition: str, start: dict[str, Any] | None) -> None:
        self.partition = partition
        self.start = start
        self.buffered: deque[dict[str, Any]] = deque()
        self.done = False


class _Merged:
    """The shards of one sharded index key, read newest first as one ordered stream (a k-way merge).

    Each shard resumes after the same position (the last entry handed out, wherever it came from), so a
    cursor is one position, as for an unsharded key, and never names a partition. A ``take`` reads the
    shards that need it together (up to ``want`` entries each); every shard is read at least once.
    """

    def __init__(
        self,
        query: Callable[[str, int, dict[str, Any] | None], Any],
        index: str,
        partitions: Sequence[str],
        position: list[str] | None,
    ) -> None:
        self._query = query
        self._index = index
        self._shards = [_Shard(p, _key_at(position, index, p) if position else None) for p in partitions]

    @property
    def more(self) -> bool:
        """Whether an entry may be left (a shard that filled its last chunk exactly may turn out empty)."""
        return any(shard.buffered or not shard.done for shard in self._shards)

    def take(self, want: int) -> list[dict[str, Any]]:
        """The next ``want`` entries, newest first; fewer only at the end of every shard."""
        # A whole ``want`` per shard: keys are small (100 of them cost 1.5 read units), and reading a shard
        # once per take instead of a few times keeps a page near one Query per shard.
        chunk = want
        out: list[dict[str, Any]] = []
        self._fill([s for s in self._shards if not s.done and len(s.buffered) < chunk], chunk)
        while len(out) < want:
            hungry = [s for s in self._shards if not s.buffered and not s.done]
            if hungry:  # its next entry may be the newest: read it before handing out any other
                self._fill(hungry, chunk)
                continue
            live = [s for s in self._shards if s.buffered]
            if not live:
                break
            newest = max(live, key=lambda s: _order(s.buffered[0], self._index))
            out.append(newest.buffered.popleft())
        return out

    def _fill(self, shards: list[_Shard], chunk: int) -> None:
        def read(shard: _Shard) -> None:
            result = self._query(shard.partition, chunk - len(shard.buffered), shard.start)
            shard.buffered.extend(result.get("Items", []))
            shard.start = result.get("LastEvaluatedKey")
            shard.done = not shard.start

        if len(shards) == 1:
            read(shards[0])
        elif shards:
            with ThreadPoolExecutor(max_workers=min(SHARD_CONCURRENCY, len(shards))) as pool:
                list(pool.map(read, shards))


_SHARD_START = "^"  # a cursor position at the start of a partition not read yet


class Table:
    """One DynamoDB table: the client call and its errors, batched reads, index pages and merged shards."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        clock: Callable[[], float],
        *,
        page_size: int = SUBSCRIPTION_PAGE,
        pick_shard: Callable[[int], int] = random.randrange,
    ) -> None:
        self._db = client
        self._table = table
        self._clock = clock
        self.page_size = page_size
        self._pick_shard = pick_shard  # which share of an hour's counters a flush adds to

    def _call(self, op: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._db, op)(TableName=self._table, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                raise
            raise StorageError(f"DynamoDB {op} failed: {code}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"DynamoDB {op} failed: {type(exc).__name__}") from exc

    def ping(self) -> None:
        """One consistent read of a key that never exists: proves the table is there and reachable."""
        self._call("get_item", Key={"pk": s("HEALTH"), "sk": s("HEALTH")}, ConsistentRead=True)

    def _query_range(
        self,
        index: str,
        partition: str,
        low: str | None,
        high: str | None,
        limit: int,
        start: dict[str, Any] | None,
    ) -> Any:
        """One Query of an index partition, newest first, within [low, high) of its sort key."""
        condition = f"{index}pk = :p"
        values: dict[str, Any] = {":p": s(partition)}
        if low is not None and high is not None:
            condition += f" AND {index}sk BETWEEN :lo AND :hi"  # no sort key equals high (see bounds)
            values.update({":lo": s(low), ":hi": s(high)})
        elif low is not None:
            condition += f" AND {index}sk >= :lo"
            values[":lo"] = s(low)
        elif high is not None:
            condition += f" AND {index}sk < :hi"
            values[":hi"] = s(high)
        return self._query_newest(condition, values, limit, start, index=index)

    def _query_packed(
        self, partition: str, floor: str | None, bound: str, limit: int, start: dict[str, Any] | None
    ) -> Any:
        """One Query of a packed listing's partition (``listing``), newest first, sort key in [floor, bound)."""
        condition = "pk = :p AND sk < :hi"
        values: dict[str, Any] = {":p": s(partition), ":hi": s(bound)}
        if floor is not None:
            condition = "pk = :p AND sk BETWEEN :lo AND :hi"  # no item's sort key equals bound (it ends in $)
            values[":lo"] = s(floor)
        return self._query_newest(condition, values, limit, start)

    def _query_newest(
        self,
        condition: str,
        values: dict[str, Any],
        limit: int,
        start: dict[str, Any] | None,
        *,
        index: str | None = None,
    ) -> Any:
        """One Query, newest first, of the table or ``index``, from ``start`` (a page's last key)."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "Limit": limit,
            "ScanIndexForward": False,
        }
        if index is not None:
            kwargs["IndexName"] = index
        if start:
            kwargs["ExclusiveStartKey"] = start
        return self._call("query", **kwargs)

    def _put_many(self, items: Sequence[Item]) -> None:
        """BatchWriteItem of whole items, 25 a call, unprocessed ones retried; StorageError if any is left."""
        self._write_many([{"PutRequest": {"Item": i}} for i in items], "items unwritten")

    def _write_many(self, requests: Sequence[Any], left: str) -> None:
        """BatchWriteItem of put or delete requests, 25 a call, unprocessed ones retried (five calls at
        most); StorageError naming what is ``left`` if any is."""
        for begin in range(0, len(requests), 25):
            pending: Any = {self._table: list(requests[begin : begin + 25])}
            for _ in range(5):
                try:
                    result = self._db.batch_write_item(RequestItems=pending)
                except (ClientError, BotoCoreError) as exc:
                    raise StorageError("DynamoDB batch_write_item failed") from exc
                pending = result.get("UnprocessedItems") or {}
                if not pending:
                    break
            else:
                raise StorageError(f"DynamoDB batch_write_item left {left}")

    def _sharded_page(
        self, index: str, base: str, limit: int, position: list[str] | None
    ) -> tuple[list[Item], str | None]:
        """Up to ``limit`` entries of a sharded index key, newest first, and the cursor after them."""

        def read(part: str, want: int, start: dict[str, Any] | None) -> Any:
            return self._query_range(index, part, None, None, want, start)

        stream = _Merged(read, index, shard_partitions(base), position)
        entries = stream.take(max(limit, 1))
        cursor = _cursor_of(entries[-1], index) if entries and stream.more else None
        items = self._fetch([{"pk": e["pk"], "sk": e["sk"]} for e in entries])
        return items, cursor

    def _query_index(
        self,
        partition: str,
        limit: int,
        cursor: str | None,
        decode: Callable[[Item], T],
        *,
        forward: bool,
    ) -> Page[T]:
        kwargs: dict[str, Any] = {
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": s(partition)},
            "Limit": limit,
            "ScanIndexForward": forward,
        }
        start = _start_key(cursor, "gsi1", partition)
        if start:
            kwargs["ExclusiveStartKey"] = start
        result = self._call("query", **kwargs)
        items = self._fetch([{"pk": i["pk"], "sk": i["sk"]} for i in result.get("Items", [])])
        return Page([decode(item) for item in items], _cursor_of(result.get("LastEvaluatedKey"), "gsi1"))

    def _fetch(self, keys: list[Item]) -> list[Item]:
        """Read whole items for keys found in the index, in the index's order.

        The index projects keys only: every write to the table then costs one small index write instead of
        a full copy (the message body included); listings pay with a cheap batch read instead.
        """
        found: dict[tuple[str, str], Item] = {}
        for start in range(0, len(keys), 100):
            pending: Any = {self._table: {"Keys": keys[start : start + 100]}}
            for _ in range(8):
                try:
                    result = self._db.batch_get_item(RequestItems=pending)
                except (ClientError, BotoCoreError) as exc:
                    raise StorageError("DynamoDB batch_get_item failed") from exc
                for item in result.get("Responses", {}).get(self._table, []):
                    found[(item["pk"]["S"], item["sk"]["S"])] = item
                pending = result.get("UnprocessedKeys") or {}
                if not pending:
                    break
            else:
                raise StorageError("DynamoDB batch_get_item left keys unprocessed")
        # An item deleted between the query and the read is simply left out.
        return [found[k] for k in ((key["pk"]["S"], key["sk"]["S"]) for key in keys) if k in found]

    def _transact(self, items: list[dict[str, Any]]) -> list[str]:
        """One TransactWriteItems; returns the cancellation code of each item ([] when it went through).

        Only a cancellation by conditions comes back; anything else is a StorageError.
        """
        for item in items:
            next(iter(item.values()))["TableName"] = self._table
        try:
            self._db.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except ClientError as exc:
            error = exc.response.get("Error", {})
            reasons: Any = exc.response.get("CancellationReasons") or []
            codes = [str(r.get("Code") or "None") for r in reasons]
            if error.get("Code") == "TransactionCanceledException" and "ConditionalCheckFailed" in codes:
                return codes
            raise StorageError(f"DynamoDB transact_write_items failed: {error.get('Code', '')}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"DynamoDB transact_write_items failed: {type(exc).__name__}") from exc
        return []
