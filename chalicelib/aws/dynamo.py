"""The DynamoDB adapter of the ``Store`` port (item layout in ``chalicelib.aws.codec``)."""

from __future__ import annotations

import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import ports
from chalicelib.aws import codec
from chalicelib.errors import BadRequestError, ConflictError, NotFoundError, StorageError
from chalicelib.models import (
    Application,
    Attempt,
    Endpoint,
    EventType,
    FanoutPage,
    Job,
    Message,
    Pulled,
    Rejection,
    Source,
)
from chalicelib.ports import MessageQuery, Page, decode_cursor, encode_cursor

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

T = TypeVar("T")
log = logging.getLogger("hookway.dynamo")
KEEP_CONCURRENCY = 4  # moto serves one request at a time: more only queues there
QUERY_CHUNK = 100  # index entries per Query of a search, so that a page stops exactly where it should
EMPTY_DAYS = 35  # a search by day stops after this many days without a message (retention is 30 days)
SHARD_CONCURRENCY = 4  # shard Queries of one merge in flight at once (as KEEP_CONCURRENCY: moto queues them)
SESSIONS = "SESSIONS"  # the gsi1 partition of console sessions
ATTEMPT_PAGE_QUERIES = 32  # Queries one page of a sharded message's attempts makes at most (empty shards)


def _start_key(cursor: str | None, index: str, partition: str) -> dict[str, Any] | None:
    """The ExclusiveStartKey a cursor stands for: its position, in the partition the query names."""
    position = decode_cursor(cursor, 3)
    return None if position is None else _key_at(position, index, partition)


def _key_at(position: list[str], index: str, partition: str) -> dict[str, Any]:
    """The index key of a position ``[pk, sk, index sort key]`` in a partition."""
    pk, sk, index_sk = position
    return {
        "pk": codec.s(pk),
        "sk": codec.s(sk),
        f"{index}pk": codec.s(partition),
        f"{index}sk": codec.s(index_sk),
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


def _uid_taken(uid: str) -> ConflictError:
    return ConflictError(f"the uid {uid!r} belongs to another application", code="uid_taken")


def _application_not_found(application_id: str) -> NotFoundError:
    return NotFoundError(f"no application {application_id!r}", code="application_not_found")


def _event_type_not_found(name: str) -> NotFoundError:
    return NotFoundError(f"no event type {name!r}", code="event_type_not_found")


class DynamoStore:
    """The Store on one DynamoDB table (layout in ``chalicelib.aws.codec``)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        clock: Callable[[], float],
        *,
        page_size: int = codec.SUBSCRIPTION_PAGE,
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
        self._call("get_item", Key={"pk": codec.s("HEALTH"), "sk": codec.s("HEALTH")}, ConsistentRead=True)

    def put_source(self, source: Source) -> None:
        """Create or replace a source."""
        self._call("put_item", Item=codec.source_to_item(source))

    def get_source(self, source_id: str) -> Source:
        """The source, or NotFoundError."""
        item = self._call("get_item", Key=codec.source_key(source_id), ConsistentRead=True).get("Item")
        if not item:
            raise NotFoundError(f"no source {source_id!r}", code="source_not_found")
        return codec.item_to_source(item)

    def list_sources(self, *, limit: int, cursor: str | None) -> Page[Source]:
        """Sources, oldest first."""
        return self._query_index("SOURCES", limit, cursor, codec.item_to_source, forward=True)

    def delete_source(self, source_id: str) -> None:
        """Delete a source, or NotFoundError."""
        try:
            self._call(
                "delete_item", Key=codec.source_key(source_id), ConditionExpression="attribute_exists(pk)"
            )
        except ClientError:
            raise NotFoundError(f"no source {source_id!r}", code="source_not_found") from None

    def store_message(self, message: Message, now: float) -> bool:
        """One conditional write: new id, same receipt (an SQS redelivery), or an expired replay window."""
        try:
            self._call(
                "put_item",
                Item=codec.message_to_item(message),
                ConditionExpression="attribute_not_exists(pk) OR receipt_id = :r OR dedupe_until < :now",
                ExpressionAttributeValues={":r": codec.s(message.receipt_id), ":now": codec.n(now)},
            )
        except ClientError:
            return False
        return True

    def get_message(self, message_id: str) -> Message:
        """The message, or NotFoundError (also once its retention has passed but TTL has not run yet)."""
        # Consistent: the sender reads a message the router has just written, and an eventually
        # consistent miss there would drop the delivery as "gone".
        item = self._call("get_item", Key=codec.message_key(message_id), ConsistentRead=True).get("Item")
        if not item or float(item["expires_at"]["N"]) <= self._clock():
            raise NotFoundError(f"no message {message_id!r}", code="message_not_found")
        return codec.item_to_message(item)

    def search_messages(
        self,
        query: MessageQuery,
        *,
        limit: int,
        cursor: str | None,
        keep: Callable[[Message], bool] | None = None,
    ) -> Page[Message]:
        """Messages matching a query, newest first, from the most selective index.

        endpoint: gsi1 ``EP#{id}`` (its first attempts, newest first); else source: gsi1 ``SRC#{id}``;
        else application: gsi3; else gsi2, one day partition at a time from the newest day backwards.
        Each of those keys is sharded (``codec.shard_partitions``): its shards are merged, newest first.
        Every index entry read counts as examined; the cursor is the position of the last one examined
        (a gsi2 cursor names its day through its sort key's time), so the next page starts right after it.
        """
        limit = max(limit, 1)
        now = self._clock()
        position = decode_cursor(cursor, 3)
        by_endpoint = query.endpoint_id is not None
        by_ending = not by_endpoint and query.status in codec.INDEXED_ENDINGS
        by_attempt = by_endpoint or by_ending  # the index holds attempts, sorted by their own time
        low, high = codec.search_bounds(query)  # checked even where they cannot narrow the index
        if by_attempt:
            low = high = None
        if position is not None and not by_attempt:
            if high is not None and position[2] >= high:
                position = None  # above the range: the listing starts at its top
            elif low is not None and position[2] <= low:
                return Page([], None)  # below the range: nothing is left
        if any("#" in x for x in (query.endpoint_id, query.source_id, query.application_id) if x):
            return Page([], None)  # no id has one; a key built from it could name another key's shard
        index, day, last_day, partition = "gsi1", None, None, ""
        if query.endpoint_id is not None:
            partition = codec.endpoint_attempts(query.endpoint_id)
        elif by_ending:
            pass  # gsi2's END# partitions, walked by day below
        elif query.source_id is not None:
            partition = codec.source_messages(query.source_id)
        elif query.application_id is not None:
            index, partition = "gsi3", codec.application_messages(query.application_id)
        if by_ending or partition == "":
            index = "gsi2"
            # A delivery ends after its message arrived, however long before ``before``: from today.
            newest = now if by_ending or query.before is None else min(query.before, now)
            day = codec.day_of(newest)
            last_day = codec.day_of(query.after) if query.after is not None else date.min
            if position is not None:
                resume = codec.day_of_sort_key(position[2])
                if resume is None:
                    raise BadRequestError("the cursor is not valid", code="invalid_cursor")
                if resume > day:
                    position = None
                else:
                    day = resume
            if day < last_day:
                return Page([], None)
            partition = self._day_partition(query, day)
        found: list[Message] = []
        seen: set[str] = set()
        examined = 0
        empty_days = 0

        def read(part: str, want: int, start: dict[str, Any] | None) -> Any:
            return self._query_range(index, part, low, high, want, start)

        while True:
            hit = position is not None  # a resumed day had at least the cursor's entry
            stream = _Merged(read, index, codec.shard_partitions(partition), position)
            position = None
            while True:
                want = min(limit - len(found), ports.MAX_EXAMINED - examined, QUERY_CHUNK)
                entries = stream.take(want)
                hit = hit or bool(entries)
                examined += len(entries)
                found.extend(self._candidates(entries, by_endpoint, by_ending, seen, query, keep, now))
                if entries and (len(found) >= limit or examined >= ports.MAX_EXAMINED):
                    more = stream.more or (day is not None and last_day is not None and day > last_day)
                    return Page(found, _cursor_of(entries[-1], index) if more else None)
                if not stream.more:
                    break
            if day is None or last_day is None:
                return Page(found, None)
            empty_days = 0 if hit else empty_days + 1
            if empty_days >= EMPTY_DAYS or day <= last_day:
                return Page(found, None)
            day -= timedelta(days=1)
            partition = self._day_partition(query, day)

    @staticmethod
    def _day_partition(query: MessageQuery, day: date) -> str:
        if query.endpoint_id is None and query.status in codec.INDEXED_ENDINGS:
            return codec.ending_partition(query.status, day)
        return codec.day_partition(day)

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
        values: dict[str, Any] = {":p": codec.s(partition)}
        if low is not None and high is not None:
            condition += f" AND {index}sk BETWEEN :lo AND :hi"  # no sort key equals high (see bounds)
            values.update({":lo": codec.s(low), ":hi": codec.s(high)})
        elif low is not None:
            condition += f" AND {index}sk >= :lo"
            values[":lo"] = codec.s(low)
        elif high is not None:
            condition += f" AND {index}sk < :hi"
            values[":hi"] = codec.s(high)
        kwargs: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "Limit": limit,
            "ScanIndexForward": False,
        }
        if start:
            kwargs["ExclusiveStartKey"] = start
        return self._call("query", **kwargs)

    def _sharded_page(
        self, index: str, base: str, limit: int, position: list[str] | None
    ) -> tuple[list[codec.Item], str | None]:
        """Up to ``limit`` entries of a sharded index key, newest first, and the cursor after them."""

        def read(part: str, want: int, start: dict[str, Any] | None) -> Any:
            return self._query_range(index, part, None, None, want, start)

        stream = _Merged(read, index, codec.shard_partitions(base), position)
        entries = stream.take(max(limit, 1))
        cursor = _cursor_of(entries[-1], index) if entries and stream.more else None
        items = self._fetch([{"pk": e["pk"], "sk": e["sk"]} for e in entries])
        return items, cursor

    def _candidates(
        self,
        entries: list[codec.Item],
        by_endpoint: bool,
        by_ending: bool,
        seen: set[str],
        query: MessageQuery,
        keep: Callable[[Message], bool] | None,
        now: float,
    ) -> list[Message]:
        """The live messages of some index entries that pass the query's filters and ``keep``."""
        keys: list[codec.Item] = []
        for entry in entries:
            if by_endpoint or by_ending:
                # An attempt entry names its message: once per page (of an endpoint's attempts, only a
                # delivery's first one counts; an ending is one per delivery already).
                # (The attempt's partition may be one of its message's attempt shards.)
                message_pk = codec.message_pk_of(entry["pk"]["S"])
                if (by_endpoint and not entry["sk"]["S"].endswith("#001")) or message_pk in seen:
                    continue
                seen.add(message_pk)
                keys.append({"pk": codec.s(message_pk), "sk": codec.s("META")})
            else:
                keys.append({"pk": entry["pk"], "sk": entry["sk"]})
        matched = [
            message
            for message in (
                codec.item_to_message(i) for i in self._fetch(keys) if float(i["expires_at"]["N"]) > now
            )
            if query.matches(message)
        ]
        if keep is None or not matched:
            return matched
        # ``keep`` usually reads (a message's attempts, for its delivery status): a chunk's reads go out
        # together, so a page costs about one round trip per chunk instead of one per candidate.
        with ThreadPoolExecutor(max_workers=min(KEEP_CONCURRENCY, len(matched))) as pool:
            flags = list(pool.map(keep, matched))
        return [message for message, wanted in zip(matched, flags, strict=True) if wanted]

    def _query_index(
        self,
        partition: str,
        limit: int,
        cursor: str | None,
        decode: Callable[[codec.Item], T],
        *,
        forward: bool,
    ) -> Page[T]:
        kwargs: dict[str, Any] = {
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": codec.s(partition)},
            "Limit": limit,
            "ScanIndexForward": forward,
        }
        start = _start_key(cursor, "gsi1", partition)
        if start:
            kwargs["ExclusiveStartKey"] = start
        result = self._call("query", **kwargs)
        items = self._fetch([{"pk": i["pk"], "sk": i["sk"]} for i in result.get("Items", [])])
        return Page([decode(item) for item in items], _cursor_of(result.get("LastEvaluatedKey"), "gsi1"))

    def _fetch(self, keys: list[codec.Item]) -> list[codec.Item]:
        """Read whole items for keys found in the index, in the index's order.

        The index projects keys only: every write to the table then costs one small index write instead of
        a full copy (the message body included); listings pay with a cheap batch read instead.
        """
        found: dict[tuple[str, str], codec.Item] = {}
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

    def record_rejections(
        self, sample: Rejection, counts: Mapping[str, int], *, slot: int, until: int
    ) -> None:
        """One UpdateItem on the ring slot: the sample replaces what it held, the counts are added to it."""
        wanted = {code: value for code, value in counts.items() if value > 0}
        fields = codec.rejection_fields(sample, until)
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values: dict[str, Any] = {f":f{i}": value for i, value in enumerate(fields.values())}
        names.update({f"#c{i}": f"rejected_{code}" for i, code in enumerate(wanted)})
        values.update({f":c{i}": codec.n(value) for i, value in enumerate(wanted.values())})
        names.update({"#total": "rejected_total", "#ttl": "ttl"})
        values[":total"] = codec.n(sum(wanted.values()))
        added = ", ".join(["#total :total", *(f"#c{i} :c{i}" for i in range(len(wanted)))])
        self._call(
            "update_item",
            Key=codec.rejection_key(sample.source_id, slot),
            # No TTL on a slot (an older one had it): its counters must outlive the sample it shows.
            UpdateExpression="SET "
            + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields)))
            + " REMOVE #ttl ADD "
            + added,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def list_rejections(self, source_id: str) -> list[Rejection]:
        """The recent rejections of a source, newest first (those past their display time skipped)."""
        now = self._clock()
        result = self._call(
            "query",
            KeyConditionExpression="pk = :p AND begins_with(sk, :r)",
            ExpressionAttributeValues={":p": codec.s(f"SRC#{source_id}"), ":r": codec.s("REJ#")},
        )
        items = [i for i in result.get("Items", []) if codec.rejection_shown_until(i) > now]
        return sorted((codec.item_to_rejection(i) for i in items), key=lambda r: r.at, reverse=True)

    def rejection_counts(self, source_id: str) -> dict[str, int]:
        """How many rejections per reason code a source has had: its ring slots' counters added up (and
        the ``STATS`` item's, where counts were kept before); one Query of the source's few items."""
        totals: dict[str, int] = {}
        start: Any = None
        while True:
            kwargs: dict[str, Any] = {
                "KeyConditionExpression": "pk = :p",
                "ExpressionAttributeValues": {":p": codec.s(f"SRC#{source_id}")},
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            result = self._call("query", **kwargs)
            for item in result.get("Items", []):
                if item["sk"]["S"] == "STATS" or item["sk"]["S"].startswith("REJ#"):
                    for code, value in codec.rejection_counts_of(item).items():
                        totals[code] = totals.get(code, 0) + value
            start = result.get("LastEvaluatedKey")
            if not start:
                return totals

    # ------------------------------------------------------------------------------------- endpoints

    def put_endpoint(self, endpoint: Endpoint) -> None:
        """Create or replace an endpoint: join its owner's subscription pages (once), then move the
        owner's version so every router's cache reloads what changed."""
        key = codec.endpoint_key(endpoint.id)
        old = self._call("get_item", Key=key, ConsistentRead=True, ProjectionExpression="pk, sub_page").get(
            "Item"
        )
        if old and "sub_page" in old:
            page = int(old["sub_page"]["N"])
            self._call("put_item", Item={**codec.endpoint_to_item(endpoint), "sub_page": codec.n(page)})
        else:
            # Join before the item is written: a crash in between leaves an id that reads as deleted,
            # never an endpoint that no router can find. The write is conditional on no page recorded
            # meanwhile (the backfill joins legacy endpoints concurrently): the first to record wins,
            # the other leaves its page again, so an endpoint stays in one page.
            page = self._join(endpoint.application_id, endpoint.id, new=not old)
            item = {**codec.endpoint_to_item(endpoint), "sub_page": codec.n(page)}
            try:
                self._call("put_item", Item=item, ConditionExpression="attribute_not_exists(sub_page)")
            except ClientError:
                kept = self._leave_unless_recorded(endpoint.application_id, endpoint.id, page)
                self._call("put_item", Item={**item, "sub_page": codec.n(kept if kept is not None else page)})
        self._bump(endpoint.application_id)

    def _leave_unless_recorded(self, owner: str | None, endpoint_id: str, page: int) -> int | None:
        """After losing the race to record an endpoint's page: leave ``page`` unless it is the one
        recorded; returns the recorded page (None: the endpoint is gone)."""
        item = self._call(
            "get_item",
            Key=codec.endpoint_key(endpoint_id),
            ConsistentRead=True,
            ProjectionExpression="sub_page",
        ).get("Item")
        recorded = int(item["sub_page"]["N"]) if item and "sub_page" in item else None
        if recorded != page:
            self._call(
                "update_item",
                Key=codec.subscription_page_key(owner, page),
                UpdateExpression="DELETE ids :id",
                ExpressionAttributeValues={":id": {"SS": [endpoint_id]}},
            )
        return recorded

    def _bump(self, application_id: str | None) -> None:
        self._call(
            "update_item",
            Key=codec.subscriptions_meta_key(application_id),
            UpdateExpression="ADD version :one",
            ExpressionAttributeValues={":one": codec.n(1)},
        )

    def _join(self, application_id: str | None, endpoint_id: str, *, new: bool = False) -> int:
        """Add an id to the owner's last subscription page with room, opening a new page when it is full.

        Both steps are conditional writes, so concurrent creates never overfill a page or open two. The
        first page of an owner that has no endpoint yet (``new``: this one is not written either) is
        marked ``complete``: its endpoints are all in pages from the start (subscription backfill).
        """
        for _ in range(16):
            _, pages = self.owner_version(application_id)
            if pages:
                try:
                    self._call(
                        "update_item",
                        Key=codec.subscription_page_key(application_id, pages - 1),
                        UpdateExpression="ADD ids :id",
                        ConditionExpression="attribute_not_exists(ids) OR size(ids) < :max "
                        "OR contains(ids, :one)",
                        ExpressionAttributeValues={
                            ":id": {"SS": [endpoint_id]},
                            ":one": codec.s(endpoint_id),
                            ":max": codec.n(self.page_size),
                        },
                    )
                    return pages - 1
                except ClientError:
                    pass  # full: open the next page
            first = not pages and new and not self._has_endpoints(application_id)
            with contextlib.suppress(ClientError):  # another writer opened it: use it
                self._call(
                    "update_item",
                    Key=codec.subscriptions_meta_key(application_id),
                    UpdateExpression="SET pages = :next, complete = :c" if first else "SET pages = :next",
                    ConditionExpression="attribute_not_exists(pages) OR pages = :pages",
                    ExpressionAttributeValues={
                        ":next": codec.n(pages + 1),
                        ":pages": codec.n(pages),
                        **({":c": {"BOOL": True}} if first else {}),
                    },
                )
        raise StorageError("DynamoDB: no subscription page could take the endpoint")

    def _has_endpoints(self, application_id: str | None) -> bool:
        """Whether the owner has any endpoint (one Query of its listing, Limit 1)."""
        result = self._call(
            "query",
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :p",
            ExpressionAttributeValues={":p": codec.s(codec.endpoints_partition(application_id))},
            Limit=1,
        )
        return bool(result.get("Items"))

    def owner_version(self, application_id: str | None) -> tuple[int, int]:
        """One consistent GetItem of ``SUBS#{owner}`` / ``META``."""
        version, pages, _ = self.owner_state(application_id)
        return version, pages

    def owner_state(self, application_id: str | None) -> tuple[int, int, bool]:
        """One consistent GetItem of ``SUBS#{owner}`` / ``META``: version, pages and ``complete``."""
        item = self._call(
            "get_item", Key=codec.subscriptions_meta_key(application_id), ConsistentRead=True
        ).get("Item")
        if not item:
            return 0, 0, False
        return (
            int(item.get("version", {"N": "0"})["N"]),
            int(item.get("pages", {"N": "0"})["N"]),
            bool(item.get("complete", {}).get("BOOL", False)),
        )

    def unjoined_endpoints(self, application_id: str | None, *, limit: int, cursor: str | None) -> Page[str]:
        """One page of the owner's listing (``limit`` endpoints read): the ids of those in no subscription
        page (no ``sub_page``: written before pages existed). The page may be empty and have a cursor."""
        kwargs: dict[str, Any] = {
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": codec.s(codec.endpoints_partition(application_id))},
            "Limit": limit,
            "ScanIndexForward": True,
        }
        start = _start_key(cursor, "gsi1", codec.endpoints_partition(application_id))
        if start:
            kwargs["ExclusiveStartKey"] = start
        result = self._call("query", **kwargs)
        keys = [{"pk": i["pk"], "sk": i["sk"]} for i in result.get("Items", [])]
        ids = [item["pk"]["S"].removeprefix("EP#") for item in self._fetch(keys) if "sub_page" not in item]
        return Page(ids, _cursor_of(result.get("LastEvaluatedKey"), "gsi1"))

    def join_subscription(self, endpoint_id: str, page: int | None = None) -> bool:
        """Put a legacy endpoint (no ``sub_page``) in its owner's subscription pages; False if it has a
        page already or is gone. ``page``: the page that holds its id already (only record it).

        Safe beside live writes: the page is recorded only if none is (a concurrent save wins, and this
        call leaves its page again); an endpoint deleted meanwhile has its id taken out again.
        """
        item = self._call(
            "get_item",
            Key=codec.endpoint_key(endpoint_id),
            ConsistentRead=True,
            ProjectionExpression="pk, application_id, sub_page",
        ).get("Item")
        if not item or "sub_page" in item:
            return False
        owner = item.get("application_id", {}).get("S")
        joined = page is None
        number = self._join(owner, endpoint_id) if page is None else page
        try:
            self._call(
                "update_item",
                Key=codec.endpoint_key(endpoint_id),
                UpdateExpression="SET sub_page = :p",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(sub_page)",
                ExpressionAttributeValues={":p": codec.n(number)},
            )
        except ClientError:
            if joined:
                self._leave_unless_recorded(owner, endpoint_id, number)
            return False
        return True

    def mark_subscriptions_complete(self, application_id: str | None) -> None:
        """Mark every endpoint of the owner as in its pages, and move its version (routers reload)."""
        self._call(
            "update_item",
            Key=codec.subscriptions_meta_key(application_id),
            UpdateExpression="SET complete = :t ADD version :one",
            ExpressionAttributeValues={":t": {"BOOL": True}, ":one": codec.n(1)},
        )

    def subscription_page(self, application_id: str | None, number: int) -> tuple[str, ...]:
        """One GetItem of a subscription page (~20 KB for 500 ids)."""
        item = self._call(
            "get_item", Key=codec.subscription_page_key(application_id, number), ConsistentRead=True
        ).get("Item")
        return tuple(sorted(item["ids"]["SS"])) if item and "ids" in item else ()

    def get_endpoints(self, endpoint_ids: Sequence[str]) -> list[Endpoint]:
        """BatchGetItem of the endpoints, 100 keys a request, the requests of a page in parallel."""
        keys = [codec.endpoint_key(i) for i in dict.fromkeys(endpoint_ids)]
        chunks = [keys[i : i + 100] for i in range(0, len(keys), 100)]
        if len(chunks) <= 1:
            items = self._fetch(keys)
        else:
            with ThreadPoolExecutor(max_workers=min(len(chunks), 5)) as pool:
                items = [item for part in pool.map(self._fetch, chunks) for item in part]
        return [codec.item_to_endpoint(item) for item in items]

    def put_fanout_page(self, page: FanoutPage) -> None:
        """One PutItem of a bounded page."""
        self._call("put_item", Item=codec.fanout_to_item(page))

    def get_fanout_page(self, message_id: str, number: int) -> FanoutPage | None:
        """One consistent GetItem (the page was written just before the tasks that lead here)."""
        item = self._call("get_item", Key=codec.fanout_key(message_id, number), ConsistentRead=True).get(
            "Item"
        )
        return codec.item_to_fanout(item) if item else None

    def count_fanout_page(self, message_id: str, receipt_id: str, number: int, count: int) -> None:
        """One conditional UpdateItem: ADD the count, and the page to the ``fanned`` set, unless it is in."""
        with contextlib.suppress(ClientError):  # counted already, or the id was stored again since
            self._call(
                "update_item",
                Key=codec.message_key(message_id),
                UpdateExpression="ADD endpoint_count :c, fanned :k",
                ConditionExpression="receipt_id = :r AND (attribute_not_exists(fanned) "
                "OR NOT contains(fanned, :n))",
                ExpressionAttributeValues={
                    ":c": codec.n(count),
                    ":k": {"NS": [str(number)]},
                    ":n": codec.n(number),
                    ":r": codec.s(receipt_id),
                },
            )

    def get_endpoint(self, endpoint_id: str) -> Endpoint:
        """The endpoint, or NotFoundError."""
        item = self._call("get_item", Key=codec.endpoint_key(endpoint_id), ConsistentRead=True).get("Item")
        if not item:
            raise NotFoundError(f"no endpoint {endpoint_id!r}", code="endpoint_not_found")
        return codec.item_to_endpoint(item)

    def list_endpoints(self, *, application_id: str | None, limit: int, cursor: str | None) -> Page[Endpoint]:
        """The endpoints of one owner (an application, None: the operator's own), oldest first."""
        return self._query_index(
            codec.endpoints_partition(application_id), limit, cursor, codec.item_to_endpoint, forward=True
        )

    def endpoints_of(self, application_id: str | None) -> list[Endpoint]:
        """Every endpoint of one owner, all pages."""
        out: list[Endpoint] = []
        cursor: str | None = None
        while True:
            page = self.list_endpoints(application_id=application_id, limit=500, cursor=cursor)
            out.extend(page.items)
            if page.cursor is None:
                return out
            cursor = page.cursor

    def delete_endpoint(self, endpoint_id: str) -> None:
        """Delete an endpoint, or NotFoundError."""
        try:
            old = self._call(
                "delete_item",
                Key=codec.endpoint_key(endpoint_id),
                ConditionExpression="attribute_exists(pk)",
                ReturnValues="ALL_OLD",
            ).get("Attributes", {})
        except ClientError:
            raise NotFoundError(f"no endpoint {endpoint_id!r}", code="endpoint_not_found") from None
        owner = old.get("application_id", {}).get("S")
        if "sub_page" in old:
            self._call(
                "update_item",
                Key=codec.subscription_page_key(owner, int(old["sub_page"]["N"])),
                UpdateExpression="DELETE ids :id",
                ExpressionAttributeValues={":id": {"SS": [endpoint_id]}},
            )
        self._bump(owner)

    def set_endpoint_failing(self, endpoint_id: str, since: float | None) -> None:
        """Set (only if unset) or clear ``failing_since``; a deleted endpoint is left alone.

        The endpoint's "needs attention" entry (gsi3) comes with the failure and goes with it, unless the
        endpoint is disabled (then it stays: only enabling it again makes it healthy).
        """
        try:
            if since is None:
                try:
                    self._call(
                        "update_item",
                        Key=codec.endpoint_key(endpoint_id),
                        UpdateExpression="REMOVE failing_since, gsi3pk, gsi3sk",
                        ConditionExpression="attribute_exists(pk) AND attribute_exists(failing_since) "
                        "AND enabled = :true",
                        ExpressionAttributeValues={":true": {"BOOL": True}},
                    )
                except ClientError:
                    # Disabled meanwhile (rare: the sender skips disabled endpoints), or nothing to clear.
                    self._call(
                        "update_item",
                        Key=codec.endpoint_key(endpoint_id),
                        UpdateExpression="REMOVE failing_since",
                        ConditionExpression="attribute_exists(pk) AND attribute_exists(failing_since)",
                    )
            else:
                self._call(
                    "update_item",
                    Key=codec.endpoint_key(endpoint_id),
                    UpdateExpression="SET failing_since = :t, gsi3pk = :p, gsi3sk = :k",
                    ConditionExpression="attribute_exists(pk) AND attribute_not_exists(failing_since)",
                    ExpressionAttributeValues={
                        ":t": codec.n(since),
                        ":p": codec.s(codec.attention_partition(endpoint_id)),
                        ":k": codec.s(codec.attention_sort_key(since, endpoint_id)),
                    },
                )
        except ClientError:
            pass  # already in that state (another worker got there first) or deleted

    def disable_endpoint(self, endpoint_id: str, reason: str, now: float) -> bool:
        """Disable an enabled endpoint; True if this call disabled it."""
        try:
            result = self._call(
                "update_item",
                Key=codec.endpoint_key(endpoint_id),
                UpdateExpression="SET enabled = :f, disabled_reason = :r, updated_at = :t, "
                "gsi3pk = :p, gsi3sk = :k",
                ConditionExpression="attribute_exists(pk) AND enabled = :true",
                ExpressionAttributeValues={
                    ":f": {"BOOL": False},
                    ":true": {"BOOL": True},
                    ":r": codec.s(reason),
                    ":t": codec.n(now),
                    ":p": codec.s(codec.attention_partition(endpoint_id)),
                    ":k": codec.s(codec.attention_sort_key(now, endpoint_id)),
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError:
            return False
        self._bump(result.get("Attributes", {}).get("application_id", {}).get("S"))
        return True

    def attention_endpoints(self, *, limit: int) -> list[Endpoint]:
        """The shards of gsi3 ``EP_ATTENTION`` merged, newest change first, and a BatchGetItem of the endpoints."""
        items, _ = self._sharded_page("gsi3", codec.ATTENTION_PARTITION, limit, None)
        return [codec.item_to_endpoint(item) for item in items]

    def attention_due(
        self, until: float, *, after: float | None, limit: int, cursor: str | None
    ) -> Page[Endpoint]:
        """Range Queries of gsi3 (each attention partition in turn, oldest change first) and a BatchGetItem
        of the endpoints found; the cursor is the partition's position and the last key read in it."""
        partitions = codec.ATTENTION_PARTITIONS
        position = decode_cursor(cursor, 4)
        shard = 0
        start: dict[str, Any] | None = None
        if position is not None:
            if not position[0].isdigit() or int(position[0]) >= len(partitions):
                raise BadRequestError("the cursor is not valid", code="invalid_cursor")
            shard = int(position[0])
            if position[1] != _SHARD_START:
                start = _key_at(position[1:], "gsi3", partitions[shard])
        low, high = codec.attention_range(after, until)
        keys: list[codec.Item] = []
        next_cursor: str | None = None
        while True:
            values: dict[str, Any] = {":p": codec.s(partitions[shard]), ":hi": codec.s(high)}
            condition = "gsi3pk = :p AND gsi3sk <= :hi"
            if low is not None:
                condition = "gsi3pk = :p AND gsi3sk BETWEEN :lo AND :hi"
                values[":lo"] = codec.s(low)
            kwargs: dict[str, Any] = {
                "IndexName": "gsi3",
                "KeyConditionExpression": condition,
                "ExpressionAttributeValues": values,
                "Limit": limit - len(keys),
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            result = self._call("query", **kwargs)
            keys.extend({"pk": i["pk"], "sk": i["sk"]} for i in result.get("Items", []))
            last = result.get("LastEvaluatedKey")
            if last:
                next_cursor = encode_cursor(
                    [str(shard), last["pk"]["S"], last["sk"]["S"], last["gsi3sk"]["S"]]
                )
                break
            if shard + 1 == len(partitions):
                break  # every partition read to the end of the range
            shard, start = shard + 1, None
            if len(keys) >= limit:
                next_cursor = encode_cursor([str(shard), _SHARD_START, _SHARD_START, _SHARD_START])
                break
        return Page([codec.item_to_endpoint(item) for item in self._fetch(keys)], next_cursor)

    def get_checkpoint(self, name: str) -> str | None:
        """One consistent GetItem."""
        item = self._call("get_item", Key=codec.checkpoint_key(name), ConsistentRead=True).get("Item")
        return str(item["value"]["S"]) if item else None

    def put_checkpoint(self, name: str, value: str) -> None:
        """One PutItem."""
        self._call("put_item", Item={**codec.checkpoint_key(name), "value": codec.s(value)})

    # ----------------------------------------------------------------------------- hourly counters

    def add_counts(self, hour: int, counts: Mapping[str, int]) -> None:
        """One UpdateItem of one share of the hour (picked per call, so no item takes every flush):
        ADD each counter, and (re)set the hour's start and its TTL."""
        wanted = {name: value for name, value in counts.items() if value}
        if not wanted:
            return
        names = {f"#c{i}": name for i, name in enumerate(wanted)}
        values: dict[str, Any] = {f":c{i}": codec.n(value) for i, value in enumerate(wanted.values())}
        values.update({":h": codec.n(hour), ":ttl": codec.n(hour + codec.STATS_TTL_SECONDS)})
        self._call(
            "update_item",
            Key=codec.stats_key(hour, self._pick_shard(codec.INDEX_SHARDS)),
            UpdateExpression="SET #hour = :h, #ttl = :ttl ADD " + ", ".join(f"{k} :{k[1:]}" for k in names),
            ExpressionAttributeNames={**names, "#hour": "hour", "#ttl": "ttl"},
            ExpressionAttributeValues=values,
        )

    def get_counts(self, hours: Sequence[int]) -> dict[int, dict[str, int]]:
        """BatchGetItem of every share of the hours (one request per 100 items), summed per hour."""
        keys = [key for hour in dict.fromkeys(hours) for key in codec.stats_keys(hour)]
        out: dict[int, dict[str, int]] = {}
        for item in self._fetch(keys):
            hour, counts = int(item["hour"]["N"]), codec.item_to_counts(item)
            total = out.setdefault(hour, dict.fromkeys(codec.STATS_FIELDS, 0))
            for name, value in counts.items():
                total[name] += value
        return out

    # -------------------------------------------------------------------------------------- attempts

    def claim_attempt(self, attempt: Attempt, now: float) -> bool:
        """One conditional write: a new attempt, or one whose holder's lease ran out (it crashed)."""
        try:
            self._call(
                "put_item",
                Item=codec.attempt_to_item(attempt),
                ConditionExpression="attribute_not_exists(pk) OR (#s = :inflight AND lease_until < :now)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":inflight": codec.s("in_flight"), ":now": codec.n(now)},
            )
        except ClientError:
            return False
        return True

    def get_attempt(
        self, message_id: str, endpoint_id: str, generation: str, number: int, *, shards: int = 0
    ) -> Attempt | None:
        """One attempt, or None (read consistently: it decides whether a task may be dropped)."""
        item = self._call(
            "get_item",
            Key=codec.attempt_key(message_id, endpoint_id, generation, number, shards),
            ConsistentRead=True,
        ).get("Item")
        return codec.item_to_attempt(item) if item else None

    def finish_attempt(self, attempt: Attempt) -> bool:
        """Record the outcome, unless another worker re-claimed the attempt after this one's lease ran out."""
        try:
            self._call(
                "put_item",
                Item=codec.attempt_to_item(attempt),
                ConditionExpression="claim_id = :c",
                ExpressionAttributeValues={":c": codec.s(attempt.claim_id)},
            )
        except ClientError:
            return False
        return True

    def put_pulled(self, pulled: Pulled) -> None:
        """Keep a delivery for a listen session's CLI to pull."""
        self._call("put_item", Item=codec.pulled_to_item(pulled))

    def list_pulled(self, endpoint_id: str, *, after: str | None, limit: int) -> list[Pulled]:
        """A listen session's waiting deliveries after the cursor, oldest first (one consistent query)."""
        start = codec.pulled_key(endpoint_id, after)["sk"] if after is not None else codec.s("Q#")
        result = self._call(
            "query",
            KeyConditionExpression="pk = :p AND sk > :after",
            ExpressionAttributeValues={":p": codec.s(f"LISTEN#{endpoint_id}"), ":after": start},
            ConsistentRead=True,
            Limit=limit,
        )
        now = self._clock()
        items = [i for i in result.get("Items", []) if float(i["ttl"]["N"]) > now]
        return [codec.item_to_pulled(i) for i in items]

    def get_pulled(self, endpoint_id: str, seq: str) -> Pulled | None:
        """One waiting delivery, or None."""
        item = self._call("get_item", Key=codec.pulled_key(endpoint_id, seq), ConsistentRead=True).get("Item")
        return codec.item_to_pulled(item) if item else None

    def delete_pulled(self, endpoint_id: str, seq: str) -> None:
        """Forget a waiting delivery; no error if it is gone."""
        self._call("delete_item", Key=codec.pulled_key(endpoint_id, seq))

    def list_attempts(self, message_id: str, *, shards: int = 0) -> list[Attempt]:
        """Every attempt of a message, newest first (every partition of a sharded one, in turn)."""
        items: list[codec.Item] = []
        for partition in codec.attempt_partitions(message_id, shards):
            kwargs: dict[str, Any] = {
                "KeyConditionExpression": "pk = :p AND begins_with(sk, :a)",
                "ExpressionAttributeValues": {":p": codec.s(partition), ":a": codec.s("ATT#")},
            }
            while True:
                result = self._call("query", **kwargs)
                items.extend(result.get("Items", []))
                if not result.get("LastEvaluatedKey"):
                    break
                kwargs["ExclusiveStartKey"] = result["LastEvaluatedKey"]
        attempts = [codec.item_to_attempt(i) for i in items]
        return sorted(attempts, key=lambda a: (a.started_at, a.number), reverse=True)

    def message_attempts(
        self, message_id: str, *, limit: int, cursor: str | None, shards: int = 0
    ) -> Page[Attempt]:
        """A page of a message's attempts in key order: one Query of ``MSG#{id}`` / ``ATT#...`` from the
        cursor; for a message with attempt shards, its partitions in turn (``MSG#{id}#A0``, ``#A1``, ...,
        then ``MSG#{id}``), in key order within each, at most ``ATTEMPT_PAGE_QUERIES`` Queries a page."""
        if shards <= 0:
            position = decode_cursor(cursor, 1)
            if position is not None and not position[0].startswith("ATT#"):
                raise BadRequestError("the cursor is not valid", code="invalid_cursor")
            return self._attempts_in(
                (f"MSG#{message_id}",), 0, position[0] if position else None, limit, single=True
            )
        partitions = codec.attempt_partitions(message_id, shards)
        position = decode_cursor(cursor, 2)
        number, after = 0, None
        if position is not None:
            digits, sk = position
            if not (digits.isdigit() and int(digits) < len(partitions) and sk.startswith("ATT#")):
                raise BadRequestError("the cursor is not valid", code="invalid_cursor")
            number, after = int(digits), (None if sk == "ATT#" else sk)
        return self._attempts_in(partitions, number, after, limit, single=False)

    def _attempts_in(
        self, partitions: Sequence[str], number: int, after: str | None, limit: int, *, single: bool
    ) -> Page[Attempt]:
        """Up to ``limit`` attempts from partition ``number`` after sort key ``after``, then the next ones."""
        items: list[codec.Item] = []
        queries = 0
        while number < len(partitions) and len(items) < limit and queries < ATTEMPT_PAGE_QUERIES:
            kwargs: dict[str, Any] = {
                "KeyConditionExpression": "pk = :p AND begins_with(sk, :a)",
                "ExpressionAttributeValues": {":p": codec.s(partitions[number]), ":a": codec.s("ATT#")},
                "Limit": limit - len(items),
            }
            if after is not None:
                kwargs["ExclusiveStartKey"] = {"pk": codec.s(partitions[number]), "sk": codec.s(after)}
            result = self._call("query", **kwargs)
            queries += 1
            items.extend(result.get("Items", []))
            last = result.get("LastEvaluatedKey")
            if last:
                after = last["sk"]["S"]
            else:
                number, after = number + 1, None
        attempts = [codec.item_to_attempt(i) for i in items]
        if number >= len(partitions):
            return Page(attempts, None)
        if single:
            return Page(attempts, encode_cursor([after]) if after else None)
        return Page(attempts, encode_cursor([str(number), after or "ATT#"]))

    def count_delivery_ending(
        self,
        message_id: str,
        generation: str,
        endpoint_id: str,
        *,
        shards: int,
        status: str,
        reopened: str | None,
        expires_at: float,
    ) -> None:
        """One UpdateItem of the endpoint's counter item: ADD 1 to ``status`` (and -1 to ``reopened``)."""
        if shards <= 0 or status not in codec.ENDED_STATUSES:
            return
        adds = {f"#{status}": 1}
        if reopened in codec.ENDED_STATUSES and reopened != status:
            adds[f"#{reopened}"] = -1
        elif reopened == status:
            return  # ended as it had: the counts stand
        try:
            self._call(
                "update_item",
                Key=codec.delivery_counter_key(message_id, generation, endpoint_id, shards),
                UpdateExpression="SET #ttl = if_not_exists(#ttl, :t) ADD "
                + ", ".join(f"{name} :{name[1:]}" for name in adds),
                ExpressionAttributeNames={"#ttl": "ttl", **{name: name[1:] for name in adds}},
                ExpressionAttributeValues={
                    ":t": codec.n(int(expires_at)),
                    **{f":{name[1:]}": codec.n(value) for name, value in adds.items()},
                },
            )
        except StorageError:
            log.warning("delivery count lost", extra={"message_id": message_id, "status": status})

    def delivery_counts(self, message_id: str, generation: str, shards: int) -> dict[str, int]:
        """BatchGetItem of the message's counter items (at most 128: 2 requests), summed."""
        totals = dict.fromkeys(codec.ENDED_STATUSES, 0)
        if shards <= 0:
            return totals
        for item in self._fetch(codec.delivery_counter_keys(message_id, generation, shards)):
            for name in codec.ENDED_STATUSES:
                if name in item:
                    totals[name] += int(item[name]["N"])
        return totals

    def latest_attempt(
        self, message_id: str, endpoint_id: str, generation: str, *, shards: int = 0
    ) -> Attempt | None:
        """One Query (of the endpoint's attempt partition), newest attempt number first, Limit 1."""
        result = self._call(
            "query",
            KeyConditionExpression="pk = :p AND begins_with(sk, :a)",
            ExpressionAttributeValues={
                ":p": codec.s(codec.attempt_partition(message_id, endpoint_id, shards)),
                ":a": codec.s(f"ATT#{endpoint_id}#{generation}#"),
            },
            ScanIndexForward=False,
            Limit=1,
        )
        items = result.get("Items", [])
        return codec.item_to_attempt(items[0]) if items else None

    def list_endpoint_attempts(self, endpoint_id: str, *, limit: int, cursor: str | None) -> Page[Attempt]:
        """Attempts to an endpoint, newest first (its sharded gsi1 key, merged)."""
        position = decode_cursor(cursor, 3)
        if "#" in endpoint_id:
            return Page([], None)  # no endpoint id has one (see search_messages)
        items, after = self._sharded_page("gsi1", codec.endpoint_attempts(endpoint_id), limit, position)
        return Page([codec.item_to_attempt(item) for item in items], after)

    # ---------------------------------------------------------------------------------- applications

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

    @staticmethod
    def _claim_uid(uid: str, application_id: str) -> dict[str, Any]:
        """A transaction item: claim a uid for an application, unless another one holds it."""
        return {
            "Put": {
                "Item": codec.uid_to_item(uid, application_id),
                "ConditionExpression": "attribute_not_exists(pk) OR application_id = :a",
                "ExpressionAttributeValues": {":a": codec.s(application_id)},
            }
        }

    @staticmethod
    def _release_uid(uid: str, application_id: str) -> dict[str, Any]:
        """A transaction item: drop an application's claim of a uid (never another application's)."""
        return {
            "Delete": {
                "Key": codec.uid_key(uid),
                "ConditionExpression": "attribute_not_exists(pk) OR application_id = :a",
                "ExpressionAttributeValues": {":a": codec.s(application_id)},
            }
        }

    def create_application(self, application: Application) -> None:
        """Store a new application and claim its uid, in one transaction."""
        if application.uid is None:
            self._call("put_item", Item=codec.application_to_item(application))
            return
        codes = self._transact(
            [
                {"Put": {"Item": codec.application_to_item(application)}},
                self._claim_uid(application.uid, application.id),
            ]
        )
        if codes:
            raise _uid_taken(application.uid)

    def update_application(self, old: Application, new: Application) -> None:
        """Update name, uid, metadata, branding and updated_at, moving the uid claim in the same transaction.

        ``tokens_valid_after`` is left as stored: only ``revoke_tokens`` moves it, so an update racing a
        revocation cannot undo it. A deleted application is not brought back (NotFoundError).
        """
        names = {"#n": "name", "#m": "metadata", "#u": "updated_at", "#uid": "uid", "#b": "branding"}
        values: dict[str, Any] = {
            ":n": codec.s(new.name),
            ":m": codec.s(codec.application_to_item(new)["metadata"]["S"]),
            ":u": codec.n(new.updated_at),
        }
        sets = ["#n = :n", "#m = :m", "#u = :u"]
        removes: list[str] = []
        if new.uid is not None:
            values[":uid"] = codec.s(new.uid)
            sets.append("#uid = :uid")
        else:
            removes.append("#uid")
        if new.branding.empty:
            removes.append("#b")
        else:
            values[":b"] = codec.s(codec.branding_json(new.branding))
            sets.append("#b = :b")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        update: dict[str, Any] = {
            "Update": {
                "Key": codec.application_key(new.id),
                "UpdateExpression": expression,
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }
        items = [update]
        if new.uid != old.uid:
            if new.uid is not None:
                items.append(self._claim_uid(new.uid, new.id))
            if old.uid is not None:
                items.append(self._release_uid(old.uid, old.id))
        codes = self._transact(items)
        if not codes:
            return
        if codes[0] == "ConditionalCheckFailed":
            raise _application_not_found(new.id)
        if new.uid is not None and len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
            raise _uid_taken(new.uid)
        raise ConflictError("the application changed meanwhile; try again", code="conflict")

    def get_application(self, application_id: str) -> Application:
        """The application, or NotFoundError ``application_not_found``."""
        item = self._call("get_item", Key=codec.application_key(application_id), ConsistentRead=True).get(
            "Item"
        )
        if not item:
            raise _application_not_found(application_id)
        return codec.item_to_application(item)

    def application_id_for_uid(self, uid: str) -> str | None:
        """The id of the application with this uid, or None."""
        item = self._call("get_item", Key=codec.uid_key(uid), ConsistentRead=True).get("Item")
        return str(item["application_id"]["S"]) if item else None

    def list_applications(self, *, limit: int, cursor: str | None) -> Page[Application]:
        """Applications, oldest first."""
        return self._query_index("APPS", limit, cursor, codec.item_to_application, forward=True)

    def delete_application(self, application: Application) -> None:
        """Delete an application and its uid claim in one transaction (a missing one is no error)."""
        delete = {"Delete": {"Key": codec.application_key(application.id)}}
        if application.uid is None:
            self._call("delete_item", Key=codec.application_key(application.id))
        elif self._transact([delete, self._release_uid(application.uid, application.id)]):
            # The uid has moved to another application since: delete only this one.
            self._call("delete_item", Key=codec.application_key(application.id))

    def revoke_tokens(self, application_id: str, before: float) -> None:
        """Move ``tokens_valid_after`` forward (never back); NotFoundError for a missing application."""
        try:
            self._call(
                "update_item",
                Key=codec.application_key(application_id),
                UpdateExpression="SET tokens_valid_after = :t",
                ConditionExpression="attribute_exists(pk) AND "
                "(attribute_not_exists(tokens_valid_after) OR tokens_valid_after < :t)",
                ExpressionAttributeValues={":t": codec.n(before)},
            )
        except ClientError:
            self.get_application(application_id)  # NotFoundError, or it is already revoked past ``before``

    # -------------------------------------------------------------------------------- console sessions

    def put_session(self, digest: str, expires_at: float) -> None:
        """One item per session, gone with its TTL after it ends."""
        self._call(
            "put_item",
            Item={
                **codec.session_key(digest),
                "gsi1pk": codec.s(SESSIONS),
                "gsi1sk": codec.s(f"{expires_at:017.6f}#{digest}"),
                "expires_at": codec.n(expires_at),
                "ttl": codec.n(int(expires_at)),
            },
        )

    def session_expires_at(self, digest: str) -> float | None:
        """When the session ends (read consistently: a sign-out is seen at once)."""
        item = self._call("get_item", Key=codec.session_key(digest), ConsistentRead=True).get("Item")
        return float(item["expires_at"]["N"]) if item else None

    def delete_session(self, digest: str) -> None:
        """Sign out."""
        self._call("delete_item", Key=codec.session_key(digest))

    def end_sessions(self) -> int:
        """Delete every session item (a handful: one per sign-in of the last 8 hours), found on gsi1."""
        keys: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": codec.s(SESSIONS)},
        }
        while True:
            page = self._call("query", **request)
            keys.extend({"pk": item["pk"], "sk": item["sk"]} for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        for key in keys:
            self._call("delete_item", Key=key)
        return len(keys)

    # ----------------------------------------------------------------------------------- event types

    def put_event_type(self, event_type: EventType) -> None:
        """Create or replace a catalog entry."""
        self._call("put_item", Item=codec.event_type_to_item(event_type))

    def get_event_type(self, name: str) -> EventType:
        """A catalog entry, or NotFoundError ``event_type_not_found``."""
        item = self._call("get_item", Key=codec.event_type_key(name), ConsistentRead=True).get("Item")
        if not item:
            raise _event_type_not_found(name)
        return codec.item_to_event_type(item)

    def list_event_types(self, *, limit: int, cursor: str | None) -> Page[EventType]:
        """The catalog, by name."""
        return self._query_index("EVENT_TYPES", limit, cursor, codec.item_to_event_type, forward=True)

    def delete_event_type(self, name: str) -> None:
        """Delete a catalog entry, or NotFoundError."""
        try:
            self._call(
                "delete_item", Key=codec.event_type_key(name), ConditionExpression="attribute_exists(pk)"
            )
        except ClientError:
            raise _event_type_not_found(name) from None

    # ------------------------------------------------------------------------------------ idempotency

    def remember_idempotency_key(
        self, key: str, body_sha256: str, message_id: str, now: float, ttl: int
    ) -> tuple[str, str]:
        """One conditional write; on conflict the existing record comes back with the error (no extra read)."""
        item_key = {"pk": codec.s(f"IDEM#{key}"), "sk": codec.s("META")}
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    **item_key,
                    "message_id": codec.s(message_id),
                    "body_sha256": codec.s(body_sha256),
                    "expires_at": codec.n(now + ttl),
                    "ttl": codec.n(int(now + ttl)),
                },
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": codec.n(now)},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise StorageError("DynamoDB put_item failed") from exc
            old: Any = (
                exc.response.get("Item") or self._call("get_item", Key=item_key, ConsistentRead=True)["Item"]
            )
            return str(old["message_id"]["S"]), str(old["body_sha256"]["S"])
        except BotoCoreError as exc:
            raise StorageError(f"DynamoDB put_item failed: {type(exc).__name__}") from exc
        return message_id, body_sha256

    # ------------------------------------------------------------------------------------------- jobs

    def create_job(self, job: Job) -> None:
        """Store a new job (its id is new: no condition)."""
        self._call("put_item", Item=codec.job_to_item(job))

    def get_job(self, job_id: str) -> Job:
        """The job (read consistently: a step reads what the last one committed), or NotFoundError."""
        item = self._call("get_item", Key=codec.job_key(job_id), ConsistentRead=True).get("Item")
        if not item or float(item["expires_at"]["N"]) <= self._clock():
            raise NotFoundError(f"no job {job_id!r}", code="job_not_found")
        return codec.item_to_job(item)

    def save_job(self, job: Job, *, expected_rev: int) -> bool:
        """Replace a job if its stored revision is still ``expected_rev``; False if another write won."""
        try:
            self._call(
                "put_item",
                Item=codec.job_to_item(job),
                ConditionExpression="attribute_exists(pk) AND rev = :rev",
                ExpressionAttributeValues={":rev": codec.n(expected_rev)},
            )
        except ClientError:
            return False
        return True
