"""Attempts (``MSG#`` / ``ATT#``) and a fanned-out message's delivery counters (``MSG#{id}#C{k}``): item
layout and the DynamoDB adapter of ``AttemptStore``.

    MSG#{id}  / ATT#{endpoint}#{generation}#{n}   an attempt (and the claim on it); a message that
                                                fanned out in pages keeps it under MSG#{id}#A{k}
                                                (k = hash of the endpoint id % attempt_shards)
                                                gsi1: EP#{endpoint}#{s} / {started_at}#{message}#{n}
                                                gsi2: END#{failed|skipped}#{yyyy-mm-dd}#{s} / same (only the
                                                attempt that ended its delivery failed or skipped)
    MSG#{id}#C{k} / SUM#{generation}              ended deliveries of attempt shard k (ADD; TTL)
    RES#{batch}   / R                           the outcomes of one sender batch's attempts (TTL)

A sender batch records its successful first-time outcomes in one ``RES#`` item instead of one write per
attempt: each claim names its batch (``rb``), and a reader of an attempt still in flight that names one
takes its outcome from there if it holds one for that claim (``_resolved``). So a 1 KB webhook's attempt
costs its claim and a tenth of a result item. An outcome written on the attempt's own item wins.
A router batch records its own first attempts' successes the same way; they have no attempt item: the
message's claim (``fc``) stands for each, read with the result item (``first_attempts``), and their
packed endpoint lines carry the claim id (``listed_first_claim``).
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.aws.dynamodb import listing
from chalicelib.aws.dynamodb.core import Table, _cursor_of, _Merged
from chalicelib.aws.dynamodb.keys import (
    Item,
    KeyKind,
    day_of,
    n,
    s,
    shard_partitions,
    sharded,
    time_key,
)
from chalicelib.aws.dynamodb.keys import int_of as _int
from chalicelib.aws.dynamodb.keys import num as _num
from chalicelib.aws.dynamodb.keys import opt_s as _opt_s
from chalicelib.errors import BadRequestError
from chalicelib.models import (
    Attempt,
    Message,
    attempt_status,
    delivery_status,
    first_attempt,
    generation_of,
)
from chalicelib.ports import Page, decode_cursor, encode_cursor

log = logging.getLogger("hookway.dynamo")
ATTEMPT_PAGE_QUERIES = 32  # Queries one page of a sharded message's attempts makes at most (empty shards)

KEYS = (
    KeyKind(
        "attempt (also the claim)",
        "MSG#{id}",
        "ATT#{endpoint}#{generation}#{n}",
        gsi1="EP#{endpoint}#{s} / {started}#{message}#{n} (not while a claim that names a sender batch is in flight: `LIST#EP#` lists it)",
        gsi2="END#{failed|skipped}#{yyyy-mm-dd}#{s} / {started}#{message}#{n} (only the attempt that ended its delivery failed or skipped)",
    ),
    KeyKind(
        "attempt of a message that fanned out in pages",
        "MSG#{id}#A{k}",
        "ATT#{endpoint}#{generation}#{n}",
        note="k = CRC-32 of the endpoint id % the message's attempt_shards (its page count, at most 128)",
        gsi1="EP#{endpoint}#{s} / {started}#{message}#{n} (as above)",
        gsi2="END#{failed|skipped}#{yyyy-mm-dd}#{s} / {started}#{message}#{n} (as above)",
    ),
    KeyKind(
        "outcomes of one sender batch's attempts",
        "RES#{batch}",
        "R",
        note="deflated JSON by claim id: status, duration, response; read with the claims that name it (rb) or a message's router claim (fc); TTL",
    ),
    KeyKind(
        "ended deliveries of a message that fanned out in pages",
        "MSG#{id}#C{k}",
        "SUM#{generation}",
        note="succeeded, failed, skipped: ADD per ended delivery of attempt shard k; TTL",
    ),
)


def endpoint_attempts(endpoint_id: str) -> str:
    """The unsharded gsi1 key of an endpoint's attempts."""
    return f"EP#{endpoint_id}"


# the states a search by status looks for among many messages that are not in them.
INDEXED_ENDINGS = ("failed", "skipped")


def ending_partition(status: str, day: date) -> str:
    """The unsharded gsi2 key of one day's attempts that ended their delivery ``status``."""
    return f"END#{status}#{day.isoformat()}"


def attempt_partition(message_id: str, endpoint_id: str, shards: int = 0) -> str:
    """The partition key of an endpoint's attempts at a message: ``MSG#{id}``, or for a message whose
    attempts are spread over ``shards`` partitions (a fan-out in pages) ``MSG#{id}#A{k}``, ``k`` a stable
    hash of the endpoint id: one delivery's attempts always share a partition (one Query reads them)."""
    if shards <= 0:
        return f"MSG#{message_id}"
    return f"MSG#{message_id}#A{zlib.crc32(endpoint_id.encode('utf-8', 'surrogateescape')) % shards}"


def attempt_partitions(message_id: str, shards: int) -> tuple[str, ...]:
    """Every partition a reader of all a message's attempts queries: each shard in turn, then the
    message's own key (attempts written there before the message's were sharded, e.g. during a deploy)."""
    if shards <= 0:
        return (f"MSG#{message_id}",)
    return (*(f"MSG#{message_id}#A{k}" for k in range(shards)), f"MSG#{message_id}")


ENDED_STATUSES = ("succeeded", "failed", "skipped")


def delivery_counter_key(message_id: str, generation: str, endpoint_id: str, shards: int) -> Item:
    """The counter of ended deliveries that one endpoint's delivery of a message with attempt shards
    adds to: one per attempt shard (``MSG#{id}#C{k}``, its own partition key, so the attempt
    partitions' writes stay as they are), per storing (``SUM#{generation}``)."""
    k = attempt_partition(message_id, endpoint_id, shards).rsplit("#A", 1)[1]
    return {"pk": s(f"MSG#{message_id}#C{k}"), "sk": s(f"SUM#{generation}")}


def delivery_counter_keys(message_id: str, generation: str, shards: int) -> list[Item]:
    """Every counter item of one storing of a message with ``shards`` attempt shards."""
    return [{"pk": s(f"MSG#{message_id}#C{k}"), "sk": s(f"SUM#{generation}")} for k in range(shards)]


def message_pk_of(partition: str) -> str:
    """The message's own partition key (``MSG#{id}``) from one of its attempt partitions."""
    return partition.split("#A", 1)[0]


def attempt_key(message_id: str, endpoint_id: str, generation: str, number: int, shards: int = 0) -> Item:
    """The primary key of an attempt item."""
    return {
        "pk": s(attempt_partition(message_id, endpoint_id, shards)),
        "sk": s(f"ATT#{endpoint_id}#{generation}#{number:03d}"),
    }


def attempt_to_item(attempt: Attempt) -> Item:
    """Encode an attempt."""
    item: Item = {
        **attempt_key(
            attempt.message_id, attempt.endpoint_id, attempt.generation, attempt.number, attempt.shards
        ),
        "claim_id": s(attempt.claim_id),
        "started_at": n(attempt.started_at),
        "status": s(attempt.status),
        "delivery_status": s(attempt.delivery_status),
        "lease_until": n(attempt.lease_until),
        "expires_at": n(attempt.expires_at),
        "ttl": n(int(attempt.expires_at)),
    }
    if not (attempt.batch and attempt.status == "in_flight"):
        # Sharded by message, so every attempt of one delivery shares a shard (and a cursor's tie-break).
        # A claim that names a sender batch has none: its batch lists it (``endpoint_listing_items``) when
        # it records its success, and any other outcome written on the item brings the entry.
        item["gsi1pk"] = s(sharded(endpoint_attempts(attempt.endpoint_id), attempt.message_id))
        item["gsi1sk"] = s(endpoint_sort_key(attempt))
    if attempt.status != "in_flight" and attempt.delivery_status in INDEXED_ENDINGS:
        # The attempt that ended its delivery failed or skipped: one index write on that (rare) outcome.
        item["gsi2pk"] = s(
            sharded(ending_partition(attempt.delivery_status, day_of(attempt.started_at)), attempt.message_id)
        )
        item["gsi2sk"] = s(f"{time_key(attempt.started_at)}#{attempt.message_id}#{attempt.number:03d}")
    for name, text in (
        ("error_class", attempt.error_class),
        ("error", attempt.error),
        ("response_body", attempt.response_body),
        ("reopens", attempt.reopens or None),
    ):
        if text is not None:
            item[name] = s(text)
    if attempt.count_due:
        item["count_due"] = {"BOOL": True}
    if attempt.batch:
        item["rb"] = s(attempt.batch)
    for name, number in (
        ("duration_ms", attempt.duration_ms),
        ("response_status", attempt.response_status),
        ("next_attempt_at", attempt.next_attempt_at),
        ("shards", attempt.shards or None),
    ):
        if number is not None:
            item[name] = n(number)
    return item


def endpoint_sort_key(attempt: Attempt) -> str:
    """An attempt's place in its endpoint's listing: ``{started}#{message}#{n}``."""
    return f"{time_key(attempt.started_at)}#{attempt.message_id}#{attempt.number:03d}"


def endpoint_listing_items(batch: str, attempts: Sequence[Attempt]) -> list[Item]:
    """The packed endpoint listing items of a sender batch's attempts: one per endpoint (and shard of the
    batch), each line ``{started}#{message}#{n}|{generation}|{shards}``, and ``|{claim}`` for a router's
    first claim (``{batch}.{n}``: it has no attempt item, the line and the result item stand for it)."""
    groups: dict[str, list[tuple[float, str, float]]] = {}
    for a in attempts:
        line = f"{endpoint_sort_key(a)}|{a.generation}|{a.shards}"
        if a.batch and a.claim_id.startswith(f"{a.batch}."):
            line += f"|{a.claim_id}"
        groups.setdefault(a.endpoint_id, []).append((a.started_at, line, a.expires_at))
    return [
        item
        for endpoint_id, entries in groups.items()
        for item in listing.pack(listing.endpoint_listing(endpoint_id), batch, entries)
    ]


def endpoint_entry(endpoint_id: str) -> Callable[[str], Item]:
    """How a packed endpoint line reads as an entry of the endpoint attempt index (gsi1)."""

    def decode(line: str) -> Item:
        sort_key, generation, shards, *claim = line.split("|")
        _, message_id, number = sort_key.split("#")
        key = attempt_key(message_id, endpoint_id, generation, int(number), int(shards))
        entry = {**key, "gsi1sk": s(sort_key)}
        if claim:
            entry["fc"] = s(f"{claim[0]}|{generation}|{shards}")
        return entry

    return decode


def listed_first_claim(entry: Item, endpoint_id: str) -> Attempt:
    """The router's first claim a packed endpoint line stands for (``endpoint_entry``), in flight: its
    outcome is in its batch's result item."""
    claim_id, generation, shards = entry["fc"]["S"].split("|")
    started, message_id, number = entry["gsi1sk"]["S"].split("#")
    return Attempt(
        message_id=message_id,
        endpoint_id=endpoint_id,
        number=int(number),
        claim_id=claim_id,
        started_at=float(started),
        status="in_flight",
        delivery_status="pending",
        generation=generation,
        shards=int(shards),
        batch=claim_id.rpartition(".")[0],
    )


def item_to_attempt(item: Item) -> Attempt:
    """Decode an attempt."""
    _, endpoint_id, generation, number = item["sk"]["S"].split("#")
    return Attempt(
        message_id=message_pk_of(item["pk"]["S"]).removeprefix("MSG#"),
        endpoint_id=endpoint_id,
        number=int(number),
        claim_id=item["claim_id"]["S"],
        started_at=float(item["started_at"]["N"]),
        status=attempt_status(item["status"]["S"]),
        delivery_status=delivery_status(item["delivery_status"]["S"]),
        lease_until=float(item["lease_until"]["N"]),
        duration_ms=_int(item, "duration_ms"),
        response_status=_int(item, "response_status"),
        error_class=_opt_s(item, "error_class"),
        error=_opt_s(item, "error"),
        response_body=_opt_s(item, "response_body"),
        next_attempt_at=_num(item, "next_attempt_at"),
        expires_at=float(item["expires_at"]["N"]),
        generation=generation,
        shards=_int(item, "shards", 0) or 0,
        reopens=_opt_s(item, "reopens") or "",
        count_due="count_due" in item,
        batch=_opt_s(item, "rb") or "",
    )


def batch_key(batch: str) -> Item:
    """The primary key of a sender batch's result item."""
    return {"pk": s(f"RES#{batch}"), "sk": s("R")}


# The outcome fields a result item keeps per claim, in this order (absent ones as null).
_RESULT_FIELDS = (
    "status",
    "delivery_status",
    "duration_ms",
    "response_status",
    "response_body",
    "error_class",
    "error",
)


def batch_to_item(batch: str, attempts: Sequence[Attempt]) -> Item:
    """Encode the outcomes of a sender batch's attempts (by claim id)."""
    results = {a.claim_id: [getattr(a, name) for name in _RESULT_FIELDS] for a in attempts}
    return {
        **batch_key(batch),
        "r": {"B": zlib.compress(json.dumps(results, separators=(",", ":")).encode(), 6)},
        "ttl": n(int(max((a.expires_at for a in attempts), default=0))),
    }


def resolved(attempt: Attempt, result_item: Item | None) -> Attempt:
    """An attempt with its outcome from its batch's result item, if that holds one for its claim."""
    if result_item is None or attempt.status != "in_flight":
        return attempt
    fields = json.loads(zlib.decompress(bytes(result_item["r"]["B"]))).get(attempt.claim_id)
    if fields is None:
        return attempt
    outcome = dict(zip(_RESULT_FIELDS, fields, strict=True))
    return replace(
        attempt,
        status=attempt_status(outcome.pop("status")),
        delivery_status=delivery_status(outcome.pop("delivery_status")),
        **outcome,
    )


# ------------------------------------------------------------------------------------ hourly counters


# ------------------------------------------------------------------------------------------- jobs
# JOB#{id} / META   a background job (chalicelib.jobs): its state, progress and cursor; no index (it is
# read by id only); TTL a week after it was created.


class AttemptTable(Table):
    """Attempts and delivery counters of the table (see the module docstring)."""

    def claim_attempt(self, attempt: Attempt, now: float) -> bool:
        """One conditional write: a new attempt, or one whose holder's lease ran out (it crashed).

        A claim that names a sender batch may have its outcome in the batch's result item while it still
        reads in flight: it is taken over only after that item was read (consistently) and holds none.
        """
        try:
            self._call(
                "put_item",
                Item=attempt_to_item(attempt),
                ConditionExpression="attribute_not_exists(pk) OR "
                "(#s = :inflight AND lease_until < :now AND attribute_not_exists(rb))",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":inflight": s("in_flight"), ":now": n(now)},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            old: Item | None = exc.response.get("Item")  # type: ignore[assignment]
            if not old or "rb" not in old:
                return False
            held = item_to_attempt(old)
            if held.status != "in_flight" or held.lease_until >= now:
                return False
            if resolved(held, self._result_item(held.batch)).status != "in_flight":
                return False  # its batch recorded it: finished
            try:
                self._call(
                    "put_item",
                    Item=attempt_to_item(attempt),
                    ConditionExpression="claim_id = :c AND #s = :inflight AND lease_until < :now",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        ":c": s(held.claim_id),
                        ":inflight": s("in_flight"),
                        ":now": n(now),
                    },
                )
            except ClientError:
                return False
        return True

    def finish_batch(self, batch: str, attempts: Sequence[Attempt]) -> None:
        """One BatchWriteItem: the batch's result item and its endpoint listing items (StorageError if
        any is left: the caller records each on its own item, which lists it too)."""
        self._put_many([batch_to_item(batch, attempts), *endpoint_listing_items(batch, attempts)])

    def list_batch_attempts(self, batch: str, attempts: Sequence[Attempt]) -> None:
        """List attempts claimed with ``batch`` (their items carry no endpoint index entry) in their
        endpoints' listings: one packed item per endpoint, one BatchWriteItem for up to 25 endpoints."""
        self._put_many(endpoint_listing_items(batch, attempts))

    def _result_item(self, batch: str) -> Item | None:
        """A batch's result item, read consistently (it decides whether a claim may be taken over)."""
        got: Item | None = self._call("get_item", Key=batch_key(batch), ConsistentRead=True).get("Item")
        return got

    def _resolved(self, items: Sequence[Item]) -> list[Attempt]:
        """Decode attempts, each claim in flight that names a batch with its outcome from there."""
        return self._resolve([item_to_attempt(i) for i in items])

    def _resolve(self, decoded: list[Attempt]) -> list[Attempt]:
        """Each claim in flight that names a batch with its outcome from its result item, if any."""
        batches = sorted({a.batch for a in decoded if a.batch and a.status == "in_flight"})
        if not batches:
            return decoded
        found = {i["pk"]["S"].removeprefix("RES#"): i for i in self._fetch([batch_key(b) for b in batches])}
        return [resolved(a, found.get(a.batch)) if a.batch else a for a in decoded]

    def first_attempts(self, message: Message, attempts: Sequence[Attempt]) -> list[Attempt]:
        """``attempts`` with attempt 1 of each delivery the router claimed in the message that has no
        attempt item: from the claim and its router batch's result item (one consistent GetItem)."""
        claim = message.first_claim
        if claim is None or not claim.batch:
            return list(attempts)
        generation = generation_of(message)
        have = {a.endpoint_id for a in attempts if a.number == 1 and a.generation == generation}
        missing = [first_attempt(message, claim, e) for e in claim.endpoint_ids if e not in have]
        if not missing:
            return list(attempts)
        result = self._result_item(claim.batch)
        return sorted(
            [*attempts, *(resolved(a, result) for a in missing)],
            key=lambda a: (a.started_at, a.number),
            reverse=True,
        )

    def get_attempt(
        self, message_id: str, endpoint_id: str, generation: str, number: int, *, shards: int = 0
    ) -> Attempt | None:
        """One attempt, or None (read consistently: it decides whether a task may be dropped)."""
        item = self._call(
            "get_item",
            Key=attempt_key(message_id, endpoint_id, generation, number, shards),
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        attempt = item_to_attempt(item)
        if attempt.batch and attempt.status == "in_flight":
            attempt = resolved(attempt, self._result_item(attempt.batch))
        return attempt

    def finish_attempt(self, attempt: Attempt) -> bool:
        """Record the outcome, unless another worker re-claimed the attempt after this one's lease ran out
        (one with its count due: only while in flight, never over an outcome ``finish_counted`` wrote).

        An attempt with no item yet is one the router claimed in its message's item (``first_claim``):
        its outcome creates the item, unless someone claimed it since (after that lease ran out)."""
        condition, names = "attribute_not_exists(pk) OR claim_id = :c", {}
        values = {":c": s(attempt.claim_id)}
        if attempt.count_due:
            condition, names = "claim_id = :c AND #s = :f", {"#s": "status"}
            values[":f"] = s("in_flight")
        try:
            self._call(
                "put_item",
                Item=attempt_to_item(attempt),
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
                "Item": attempt_to_item(replace(attempt, count_due=False)),
                "ConditionExpression": "claim_id = :c AND #s = :f",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":c": s(attempt.claim_id), ":f": s("in_flight")},
            }
        }
        return not self._transact([put, _count_update(attempt)])

    def list_attempts(self, message_id: str, *, shards: int = 0) -> list[Attempt]:
        """Every attempt of a message, newest first (every partition of a sharded one, in turn)."""
        items: list[Item] = []
        for partition in attempt_partitions(message_id, shards):
            kwargs: dict[str, Any] = {
                "KeyConditionExpression": "pk = :p AND begins_with(sk, :a)",
                "ExpressionAttributeValues": {":p": s(partition), ":a": s("ATT#")},
            }
            while True:
                result = self._call("query", **kwargs)
                items.extend(result.get("Items", []))
                if not result.get("LastEvaluatedKey"):
                    break
                kwargs["ExclusiveStartKey"] = result["LastEvaluatedKey"]
        attempts = self._resolved(items)
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
        partitions = attempt_partitions(message_id, shards)
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
        items: list[Item] = []
        queries = 0
        while number < len(partitions) and len(items) < limit and queries < ATTEMPT_PAGE_QUERIES:
            kwargs: dict[str, Any] = {
                "KeyConditionExpression": "pk = :p AND begins_with(sk, :a)",
                "ExpressionAttributeValues": {":p": s(partitions[number]), ":a": s("ATT#")},
                "Limit": limit - len(items),
            }
            if after is not None:
                kwargs["ExclusiveStartKey"] = {"pk": s(partitions[number]), "sk": s(after)}
            result = self._call("query", **kwargs)
            queries += 1
            items.extend(result.get("Items", []))
            last = result.get("LastEvaluatedKey")
            if last:
                after = last["sk"]["S"]
            else:
                number, after = number + 1, None
        attempts = self._resolved(items)
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
                "Key": attempt_key(
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
        totals = dict.fromkeys(ENDED_STATUSES, 0)
        if shards <= 0:
            return totals
        for item in self._fetch(delivery_counter_keys(message_id, generation, shards)):
            for name in ENDED_STATUSES:
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
                ":p": s(attempt_partition(message_id, endpoint_id, shards)),
                ":a": s(f"ATT#{endpoint_id}#{generation}#"),
            },
            ScanIndexForward=False,
            Limit=1,
        )
        items = result.get("Items", [])
        return self._resolved(items[:1])[0] if items else None

    def list_endpoint_attempts(self, endpoint_id: str, *, limit: int, cursor: str | None) -> Page[Attempt]:
        """Attempts to an endpoint, newest first (its sharded gsi1 key, merged)."""
        position = decode_cursor(cursor, 3)
        if "#" in endpoint_id:
            return Page([], None)  # no endpoint id has one (see search_messages)

        def read(part: str, want: int, start: dict[str, Any] | None) -> Any:
            return self._query_range("gsi1", part, None, None, want, start)

        stream = listing.Union(
            [
                listing.packed_stream(
                    self._query_packed,
                    "gsi1",
                    listing.endpoint_listing(endpoint_id),
                    endpoint_entry(endpoint_id),
                    position,
                ),
                _Merged(read, "gsi1", shard_partitions(endpoint_attempts(endpoint_id)), position),
            ],
            "gsi1",
        )
        entries = stream.take(max(limit, 1))
        after = _cursor_of(entries[-1], "gsi1") if entries and stream.more else None
        keys = {(e["pk"]["S"], e["sk"]["S"]): {"pk": e["pk"], "sk": e["sk"]} for e in entries}
        found = {(i["pk"]["S"], i["sk"]["S"]): i for i in self._fetch(list(keys.values()))}
        listed: list[Attempt] = []
        for entry in entries:
            item = found.get((entry["pk"]["S"], entry["sk"]["S"]))
            if item is None and "fc" in entry:
                # a router's first claim recorded by its batch: no attempt item, the result item holds it
                listed.append(listed_first_claim(entry, endpoint_id))
                continue
            # a listed claim that lost its lease to a later claim names the later attempt's item
            if item is not None and endpoint_sort_key(item_to_attempt(item)) == entry["gsi1sk"]["S"]:
                listed.append(item_to_attempt(item))
        attempts = self._resolve(listed)
        # a router claim whose batch wrote no outcome for it (its result item lost) is not shown
        shown = [
            a
            for a in attempts
            if not (a.status == "in_flight" and a.claim_id.startswith(f"{a.batch}.") and a.batch)
        ]
        return Page(shown, after)


def _count_update(attempt: Attempt) -> dict[str, Any]:
    """The counter item's part of a transaction: ADD 1 to the attempt's delivery status (and -1 to the
    status its resend reopened) in ``MSG#{id}#C{k}`` / ``SUM#{generation}``."""
    adds = {f"#{attempt.delivery_status}": 1}
    if attempt.reopens in ENDED_STATUSES:
        adds[f"#{attempt.reopens}"] = -1
    return {
        "Update": {
            "Key": delivery_counter_key(
                attempt.message_id, attempt.generation, attempt.endpoint_id, attempt.shards
            ),
            "UpdateExpression": "SET #ttl = if_not_exists(#ttl, :t) ADD "
            + ", ".join(f"{name} :{name[1:]}" for name in adds),
            "ExpressionAttributeNames": {"#ttl": "ttl", **{name: name[1:] for name in adds}},
            "ExpressionAttributeValues": {
                ":t": n(int(attempt.expires_at)),
                **{f":{name[1:]}": n(value) for name, value in adds.items()},
            },
        }
    }
