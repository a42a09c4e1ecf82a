"""The DynamoDB adapter of every table port: one class per aggregate in ``chalicelib.aws.dynamodb``
(the item layout of each beside its reads and writes), and ``DynamoStore``, all of them on one table.

Messages, fan-out pages and attempts are still here and in ``chalicelib.aws.codec`` (issue 15: they move
last, after the attempt key layout change).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import ports
from chalicelib.aws import codec
from chalicelib.aws.dynamodb.applications import ApplicationTable
from chalicelib.aws.dynamodb.catalog import CatalogTable
from chalicelib.aws.dynamodb.core import _cursor_of, _Merged
from chalicelib.aws.dynamodb.counters import CounterTable
from chalicelib.aws.dynamodb.health import EndpointHealthTable
from chalicelib.aws.dynamodb.idempotency import IdempotencyTable
from chalicelib.aws.dynamodb.jobs import JobTable
from chalicelib.aws.dynamodb.listen import ListenTable
from chalicelib.aws.dynamodb.sessions import SessionTable
from chalicelib.aws.dynamodb.sources import SourceTable
from chalicelib.errors import BadRequestError, NotFoundError, StorageError
from chalicelib.models import Attempt, FanoutPage, Message, kept_attempt_shards
from chalicelib.ports import MessageQuery, Page, decode_cursor, encode_cursor

log = logging.getLogger("hookway.dynamo")
KEEP_CONCURRENCY = 4  # moto serves one request at a time: more only queues there
QUERY_CHUNK = 100  # index entries per Query of a search, so that a page stops exactly where it should
EMPTY_DAYS = 35  # a search by day stops after this many days without a message (retention is 30 days)
ATTEMPT_PAGE_QUERIES = 32  # Queries one page of a sharded message's attempts makes at most (empty shards)


class DynamoStore(
    SourceTable,
    EndpointHealthTable,
    ApplicationTable,
    CatalogTable,
    SessionTable,
    ListenTable,
    CounterTable,
    IdempotencyTable,
    JobTable,
):
    """Every port of the table at once (``ports.Store``), for wiring: one client, one table name."""

    def store_message(self, message: Message, now: float) -> bool:
        """One conditional write for a new id. A duplicate (another receipt within the replay window) is
        refused by it, as before; a redelivery (same receipt) or a new storing (window expired) gets the
        stored item back from the refusal and is written again, over exactly that item, with the
        attempt partitions the id keeps (``models.kept_attempt_shards``)."""
        condition: str = "attribute_not_exists(pk)"
        values: dict[str, Any] = {}
        for _ in range(3):
            try:
                self._call(
                    "put_item",
                    Item=codec.message_to_item(message),
                    ConditionExpression=condition,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    **({"ExpressionAttributeValues": values} if values else {}),
                )
            except ClientError as exc:
                item: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
                if not item:
                    condition, values = "attribute_not_exists(pk)", {}
                    continue  # gone since (TTL): a new id again
                stored = codec.item_to_message(item)
                if stored.receipt_id != message.receipt_id and stored.dedupe_until >= now:
                    return False
                message = replace(message, attempt_shards=kept_attempt_shards(stored, message))
                condition = "attribute_not_exists(pk) OR receipt_id = :r"
                values = {":r": codec.s(stored.receipt_id)}
                continue
            return True
        raise StorageError(f"message {message.id} kept changing while it was stored")

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
        """Record the outcome, unless another worker re-claimed the attempt after this one's lease ran out
        (one with its count due: only while in flight, never over an outcome ``finish_counted`` wrote)."""
        condition, names = "claim_id = :c", {}
        values = {":c": codec.s(attempt.claim_id)}
        if attempt.count_due:
            condition, names = condition + " AND #s = :f", {"#s": "status"}
            values[":f"] = codec.s("in_flight")
        try:
            self._call(
                "put_item",
                Item=codec.attempt_to_item(attempt),
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                **({"ExpressionAttributeNames": names} if names else {}),
            )
        except ClientError:
            return False
        return True

    def finish_counted(self, attempt: Attempt) -> bool:
        """One TransactWriteItems: the outcome (if this claim holds it, in flight) and its count."""
        put = {
            "Put": {
                "Item": codec.attempt_to_item(replace(attempt, count_due=False)),
                "ConditionExpression": "claim_id = :c AND #s = :f",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":c": codec.s(attempt.claim_id), ":f": codec.s("in_flight")},
            }
        }
        return not self._transact([put, _count_update(attempt)])

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

    def count_delivery_ending(self, attempt: Attempt) -> bool:
        """One TransactWriteItems: clear the attempt's ``count_due`` mark (if it is there) and ADD its
        count; False when the mark is gone (counted already), StorageError (throttled, busy) to retry."""
        clear = {
            "Update": {
                "Key": codec.attempt_key(
                    attempt.message_id,
                    attempt.endpoint_id,
                    attempt.generation,
                    attempt.number,
                    attempt.shards,
                ),
                "UpdateExpression": "REMOVE count_due",
                "ConditionExpression": "attribute_exists(count_due)",
            }
        }
        return not self._transact([clear, _count_update(attempt)])

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


def _count_update(attempt: Attempt) -> dict[str, Any]:
    """The counter item's part of a transaction: ADD 1 to the attempt's delivery status (and -1 to the
    status its resend reopened) in ``MSG#{id}#C{k}`` / ``SUM#{generation}``."""
    adds = {f"#{attempt.delivery_status}": 1}
    if attempt.reopens in codec.ENDED_STATUSES:
        adds[f"#{attempt.reopens}"] = -1
    return {
        "Update": {
            "Key": codec.delivery_counter_key(
                attempt.message_id, attempt.generation, attempt.endpoint_id, attempt.shards
            ),
            "UpdateExpression": "SET #ttl = if_not_exists(#ttl, :t) ADD "
            + ", ".join(f"{name} :{name[1:]}" for name in adds),
            "ExpressionAttributeNames": {"#ttl": "ttl", **{name: name[1:] for name in adds}},
            "ExpressionAttributeValues": {
                ":t": codec.n(int(attempt.expires_at)),
                **{f":{name[1:]}": codec.n(value) for name, value in adds.items()},
            },
        }
    }
