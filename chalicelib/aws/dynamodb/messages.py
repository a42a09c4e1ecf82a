"""Messages (``MSG#`` / ``META``): item layout and the DynamoDB adapter of ``MessageStore``.

``{ts}`` is a time as ``{t:017.6f}``; ``{s}`` a write shard (``keys``):

    MSG#{id}  / META         a message          gsi1: SRC#{source_id}#{s} / {received_at}#{id}
                                                gsi2: DAY#{yyyy-mm-dd of received_at, UTC}#{s} / same
                                                gsi3: APP#{application_id}#MSG#{s} / same (only with an
                                                application)

A message item holds its keys, ``receipt_id`` and ``ttl`` (conditions and TTL read them), the fan-out's
counters, and everything else packed in one binary attribute with the inline body (``m``, or ``mz``
deflated: see ``message_to_item``), so a 1 KB webhook is one write unit. Items of the layout before (each
field an attribute, the body in ``body`` or ``bodyz``) are still read (``item_to_message``) until they expire.
``fc``: the router's claim on first attempts it makes itself (``first_claim_text``), outside the packed
fields so a redelivery's rewrite can keep it (``store_claiming``).
A packed field that is absent decodes as the field's default (``application_id`` None: the operator's own). A search by endpoint or by
an ended status reads the attempts' indexes (``chalicelib.aws.dynamodb.attempts``) and then the messages.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import ports
from chalicelib.aws.dynamodb import listing
from chalicelib.aws.dynamodb.attempts import (
    INDEXED_ENDINGS,
    ending_partition,
    endpoint_attempts,
    endpoint_entry,
    message_pk_of,
)
from chalicelib.aws.dynamodb.core import Table, _cursor_of, _Merged
from chalicelib.aws.dynamodb.keys import (
    _SORT_TIME,
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
from chalicelib.aws.dynamodb.keys import opt_s as _opt_s
from chalicelib.errors import BadRequestError, NotFoundError, StorageError
from chalicelib.ids import new_id
from chalicelib.models import (
    BodyRef,
    FirstClaim,
    Message,
    MessageStatus,
    kept_attempt_shards,
    kept_first_claim,
)
from chalicelib.packing import pack_message, unpacked_fields
from chalicelib.ports import MessageQuery, Page, decode_cursor

KEEP_CONCURRENCY = 4  # moto serves one request at a time: more only queues there
QUERY_CHUNK = 100  # index entries per Query of a search, so that a page stops exactly where it should
EMPTY_DAYS = 35  # a search by day stops after this many days without a message (retention is 30 days)

KEYS = (
    KeyKind(
        "message",
        "MSG#{id}",
        "META",
        note="listed by its router batch's `LIST#` items; items written before them also have the index "
        "entries gsi1 `SRC#{source}#{s}`, gsi2 `DAY#{yyyy-mm-dd}#{s}`, gsi3 `APP#{application}#MSG#{s}` "
        "(still read until they expire)",
    ),
)


def _message_status(value: str) -> MessageStatus:
    if value != "stored":
        raise ValueError(f"not a message status: {value!r}")
    return "stored"


# ------------------------------------------------------------------------------------ write shards


def source_messages(source_id: str) -> str:
    """The unsharded gsi1 key of a source's messages."""
    return f"SRC#{source_id}"


def application_messages(application_id: str) -> str:
    """The unsharded gsi3 key of an application's messages."""
    return f"APP#{application_id}#MSG"


def day_partition(day: date) -> str:
    """The unsharded gsi2 key of one day's messages."""
    return f"DAY#{day.isoformat()}"


# Deliveries that ended in one of these states are indexed by it (sparse gsi2, next to the day partitions):
def day_of_sort_key(sort_key: str) -> date | None:
    """The day of a message sort key (``{received_at}#{id}``), or None if it is not one."""
    match = _SORT_TIME.match(sort_key)
    if match is None:
        return None
    try:
        return datetime.fromtimestamp(float(match.group(1)), tz=UTC).date()
    except (OverflowError, OSError, ValueError):
        return None


def message_sort_key(message: Message) -> str:
    """The sort key of a message in every message index."""
    return f"{time_key(message.received_at)}#{message.id}"


def search_bounds(query: MessageQuery) -> tuple[str | None, str | None]:
    """The sort-key range of a message index that can hold a query's messages: [low, high).

    ``high`` ends in ``$`` (after ``#``), so a message received in the microsecond of ``before`` is still
    a candidate; ``MessageQuery.matches`` then decides exactly, as it does for ``after``.
    """
    for bound in (query.after, query.before):
        if bound is not None and not math.isfinite(bound):
            raise BadRequestError("after and before must be finite times", code="invalid_query")
    low = time_key(query.after) if query.after is not None else None
    high = time_key(query.before) + "$" if query.before is not None else None
    return low, high


def message_key(message_id: str) -> Item:
    """The primary key of a message item."""
    return {"pk": s(f"MSG#{message_id}"), "sk": s("META")}


# Bodies are stored deflated when that makes them at least a tenth smaller: webhook JSON usually shrinks
# to a third, and a DynamoDB write costs one unit per started KB of the item (a 10 KB GitHub push then
# costs 3 or 4 units instead of 11; the sender's read shrinks with it). Below this size it cannot pay.
_PACK_FROM = 512


def _pack(body: bytes) -> bytes:
    """The body deflated, or the body itself (the same object) when deflating does not pay."""
    if len(body) < _PACK_FROM:
        return body
    packed = zlib.compress(body, 6)
    return packed if len(packed) <= len(body) * 0.9 else body


def message_to_item(message: Message) -> Item:
    """Encode a message (with its inline body or its S3 claim check) in the packed layout."""
    item: Item = {
        **message_key(message.id),
        # Outside the packed fields: conditions read it (a redelivery's store, a fan-out page's count).
        # No index entry: the listings read the router batch's packed items (``listing_items``).
        "receipt_id": s(message.receipt_id),
        "ttl": n(int(message.expires_at)),
    }
    data, deflated = pack_message(message)
    item["mz" if deflated else "m"] = {"B": data}
    # Written by the fan-out as its pages are counted (ADD), so not packed:
    if message.fanout_pages:
        item["fanout_pages"] = n(message.fanout_pages)
    if message.attempt_shards:
        item["attempt_shards"] = n(message.attempt_shards)
    if message.first_claim is not None:
        item["fc"] = s(first_claim_text(message.first_claim, message.endpoints))
    return item


def first_claim_text(claim: FirstClaim, endpoints: tuple[str, ...]) -> str:
    """The router's first-attempt claim as one short attribute, ``claim|started|lease seconds|0,2``: its
    endpoints by their places among the message's inline ids (the item stays under 1 KB for a 1 KB body)."""
    places = ",".join(str(endpoints.index(e)) for e in claim.endpoint_ids if e in endpoints)
    return f"{claim.claim_id}|{claim.started_at:.3f}|{claim.lease_until - claim.started_at:.3f}|{places}"


def first_claim_of(item: Item, endpoints: tuple[str, ...]) -> FirstClaim | None:
    """The router's first-attempt claim a message item holds (``endpoints``: its inline ids), or None."""
    text = _opt_s(item, "fc")
    if not text:
        return None
    claim_id, started, lease, places = text.split("|", 3)
    ids = tuple(endpoints[int(p)] for p in places.split(",") if p)
    return FirstClaim(claim_id, float(started), float(started) + float(lease), ids)


def message_to_item_indexed(message: Message) -> Item:
    """Encode a message in the packed layout with the per-message index entries written before the
    packed listings (a deployed table still holds such items until they expire): for the tests."""
    sort_key = message_sort_key(message)
    item = message_to_item(message)
    item.update(
        {
            "gsi1pk": s(sharded(source_messages(message.source_id), message.id)),
            "gsi1sk": s(sort_key),
            "gsi2pk": s(sharded(day_partition(day_of(message.received_at)), message.id)),
            "gsi2sk": s(sort_key),
        }
    )
    if message.application_id is not None:
        item["gsi3pk"] = s(sharded(application_messages(message.application_id), message.id))
        item["gsi3sk"] = s(sort_key)
    return item


def listing_items(batch: str, stored: Sequence[Message]) -> list[Item]:
    """The packed listing items of a router batch's stored messages: one per key (its day, each source,
    each application) and shard of the batch, split only past ``listing.SPAN`` or ``MAX_ENTRIES``."""
    groups: dict[str, list[tuple[float, str, float]]] = {}
    for message in stored:
        entry = (message.received_at, message_sort_key(message), message.expires_at)
        bases = [
            listing.day_listing(day_of(message.received_at).isoformat()),
            listing.source_listing(message.source_id),
        ]
        if message.application_id is not None:
            bases.append(listing.application_listing(message.application_id))
        for base in bases:
            groups.setdefault(base, []).append(entry)
    return [item for base, entries in groups.items() for item in listing.pack(base, batch, entries)]


def message_entry(index: str) -> Callable[[str], Item]:
    """How a packed line (``{received}#{id}``) reads as an entry of a message index."""

    def decode(line: str) -> Item:
        return {"pk": s("MSG#" + line.split("#", 1)[1]), "sk": s("META"), f"{index}sk": s(line)}

    return decode


def message_to_item_v1(message: Message) -> Item:
    """Encode a message in the layout written before the packed one (a deployed table still holds such
    items until they expire): for the tests that prove the reader takes both."""
    sort_key = message_sort_key(message)
    item: Item = {
        **message_key(message.id),
        "gsi1pk": s(sharded(source_messages(message.source_id), message.id)),
        "gsi1sk": s(sort_key),
        "gsi2pk": s(sharded(day_partition(day_of(message.received_at)), message.id)),
        "gsi2sk": s(sort_key),
        "source_id": s(message.source_id),
        "status": s(message.status),
        "received_at": n(message.received_at),
        "size": n(message.size),
        "body_sha256": s(message.body_sha256),
        "content_type": s(message.content_type),
        "receipt_id": s(message.receipt_id),
        "method": s(message.method),
        "path": s(message.path),
        "query": s(message.query),
        "headers": s(json.dumps(message.headers)),
        "dedupe_until": n(message.dedupe_until),
        "expires_at": n(message.expires_at),
        "ttl": n(int(message.expires_at)),
    }
    for name, value in (
        ("event_type", message.event_type),
        ("source_ip", message.source_ip),
        ("delivery_id", message.delivery_id),
        ("dedupe_key", message.dedupe_key),
        ("application_id", message.application_id),
    ):
        if value is not None:
            item[name] = s(value)
    if message.application_id is not None:
        item["gsi3pk"] = s(sharded(application_messages(message.application_id), message.id))
        item["gsi3sk"] = s(sort_key)
    if message.signed_timestamp is not None:
        item["signed_timestamp"] = n(message.signed_timestamp)
    if message.event_type_verified is not None:
        item["event_type_verified"] = {"BOOL": message.event_type_verified}
    if message.event_type_invalid:
        item["event_type_invalid"] = {"BOOL": True}
    if message.body is not None:
        packed = _pack(message.body)
        item["bodyz" if packed is not message.body else "body"] = {"B": packed}
    if message.body_ref is not None:
        r = message.body_ref
        item["body_ref"] = s(
            json.dumps({"bucket": r.bucket, "key": r.key, "sha256": r.sha256, "size": r.size})
        )
    if message.payload is not None:
        item["payload"] = s(json.dumps(message.payload))
    if message.endpoints:
        item["endpoints"] = s(json.dumps(list(message.endpoints)))
    if message.fanout_pages:
        item["fanout_pages"] = n(message.fanout_pages)
    if message.attempt_shards:
        item["attempt_shards"] = n(message.attempt_shards)
    return item


def item_to_message(item: Item) -> Message:
    """Decode a message, in the packed layout or in the one before it."""
    counted: dict[str, Any] = {
        "fanout_pages": _int(item, "fanout_pages", 0) or 0,
        "fanned_pages": len(item["fanned"]["NS"]) if "fanned" in item else 0,
        "endpoint_count": _int(item, "endpoint_count", 0) or 0,
        "attempt_shards": _int(item, "attempt_shards", 0) or 0,
    }
    if "m" in item or "mz" in item:
        fields = unpacked_fields(bytes((item.get("mz") or item["m"])["B"]), deflated="mz" in item)
        return Message(
            id=item["pk"]["S"].removeprefix("MSG#"),
            status="stored",
            receipt_id=item["receipt_id"]["S"],
            **fields,
            **counted,
            first_claim=first_claim_of(item, fields["endpoints"]),
        )
    ref_raw = _opt_s(item, "body_ref")
    payload_raw = _opt_s(item, "payload")
    body_attr = item.get("body")
    if "bodyz" in item:
        body_attr = {"B": zlib.decompress(bytes(item["bodyz"]["B"]))}
    return Message(
        id=item["pk"]["S"].removeprefix("MSG#"),
        source_id=item["source_id"]["S"],
        event_type=_opt_s(item, "event_type"),
        status=_message_status(item["status"]["S"]),
        received_at=float(item["received_at"]["N"]),
        size=int(item["size"]["N"]),
        body_sha256=item["body_sha256"]["S"],
        content_type=item["content_type"]["S"],
        receipt_id=item["receipt_id"]["S"],
        method=item["method"]["S"],
        path=item["path"]["S"],
        query=item["query"]["S"],
        headers=json.loads(item["headers"]["S"]),
        source_ip=_opt_s(item, "source_ip"),
        delivery_id=_opt_s(item, "delivery_id"),
        dedupe_key=_opt_s(item, "dedupe_key"),
        signed_timestamp=_int(item, "signed_timestamp"),
        body=bytes(body_attr["B"]) if body_attr else None,
        body_ref=BodyRef(**json.loads(ref_raw)) if ref_raw else None,
        payload=json.loads(payload_raw) if payload_raw else None,
        endpoints=tuple(json.loads(_opt_s(item, "endpoints") or "[]")),
        dedupe_until=float(item["dedupe_until"]["N"]),
        expires_at=float(item["expires_at"]["N"]),
        application_id=_opt_s(item, "application_id"),
        event_type_verified=item["event_type_verified"]["BOOL"] if "event_type_verified" in item else None,
        event_type_invalid="event_type_invalid" in item,
        **counted,
    )


class MessageTable(Table):
    """Messages of the table (see the module docstring)."""

    _era: listing.Era | None = None  # read once per instance: it never changes once written

    def listing_era(self) -> listing.Era:
        """The stage's listing era (``listing.Era``): its item, read once. A table without one (a stage
        deployed by a pipeline, or one that held the layouts before) gets ``Era.upgraded`` now, written
        once (the first writer wins): the old entries are read until they have expired."""
        if self._era is None:
            item = self._call("get_item", Key=listing.ERA_KEY, ConsistentRead=True).get("Item")
            self._era = (
                listing.Era.of_item(item) if item else self.record_era(listing.Era.upgraded(self._clock()))
            )
        return self._era

    def record_era(self, era: listing.Era, *, replace_it: bool = False) -> listing.Era:
        """Write the era item if the table has none (``replace_it``: whatever it has); returns the era
        the table records then."""
        try:
            if replace_it:
                self._call("put_item", Item=era.to_item())
            else:
                self._call("put_item", Item=era.to_item(), ConditionExpression="attribute_not_exists(pk)")
        except ClientError:  # another process wrote it first: that one holds
            item = self._call("get_item", Key=listing.ERA_KEY, ConsistentRead=True).get("Item")
            return listing.Era.of_item(item) if item else era
        return era

    def store_message(self, message: Message, now: float, *, defer_listing: bool = False) -> bool:
        """One conditional write for a new id. A duplicate (another receipt within the replay window) is
        refused by it, as before; a redelivery (same receipt) or a new storing (window expired) gets the
        stored item back from the refusal and is written again, over exactly that item, with the
        attempt partitions the id keeps (``models.kept_attempt_shards``).

        A stored message is then listed on its own (its ``LIST#`` items, one write each), unless
        ``defer_listing``: the router lists its whole batch with one ``list_messages``."""
        return self.store_claiming(message, now, defer_listing=defer_listing) is not None

    def store_claiming(self, message: Message, now: float, *, defer_listing: bool = False) -> Message | None:
        """``store_message``, returning the message as stored (None for a duplicate): a redelivery of the
        same receipt keeps the router's first-attempt claim the item holds (``kept_first_claim``)."""
        stored = self._store(message, now)
        if stored is not None and not defer_listing:
            self.list_messages(new_id("lb"), [message])
        return stored

    def list_messages(self, batch: str, stored: Sequence[Message]) -> None:
        """Write the packed listing items of a batch's stored messages (``listing_items``): one
        BatchWriteItem for a batch of ten; StorageError if any is left unwritten (the caller fails the
        batch, and its redelivery lists the messages again: the same entries, read once)."""
        self._put_many(listing_items(batch, stored))

    def _store(self, message: Message, now: float) -> Message | None:
        condition: str = "attribute_not_exists(pk)"
        values: dict[str, Any] = {}
        for _ in range(3):
            try:
                self._call(
                    "put_item",
                    Item=message_to_item(message),
                    ConditionExpression=condition,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    **({"ExpressionAttributeValues": values} if values else {}),
                )
            except ClientError as exc:
                item: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
                if not item:
                    condition, values = "attribute_not_exists(pk)", {}
                    continue  # gone since (TTL): a new id again
                stored = item_to_message(item)
                if stored.receipt_id != message.receipt_id and stored.dedupe_until >= now:
                    return None
                message = replace(
                    message,
                    attempt_shards=kept_attempt_shards(stored, message),
                    first_claim=kept_first_claim(stored, message),
                )
                condition = "attribute_not_exists(pk) OR receipt_id = :r"
                values = {":r": s(stored.receipt_id)}
                continue
            return message
        raise StorageError(f"message {message.id} kept changing while it was stored")

    def get_message(self, message_id: str) -> Message:
        """The message, or NotFoundError (also once its retention has passed but TTL has not run yet)."""
        # Consistent: the sender reads a message the router has just written, and an eventually
        # consistent miss there would drop the delivery as "gone".
        item = self._call("get_item", Key=message_key(message_id), ConsistentRead=True).get("Item")
        message = item_to_message(item) if item else None
        if message is None or message.expires_at <= self._clock():
            raise NotFoundError(f"no message {message_id!r}", code="message_not_found")
        return message

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
        Each of those keys is sharded (``shard_partitions``): its shards are merged, newest first.
        Every index entry read counts as examined; the cursor is the position of the last one examined
        (a gsi2 cursor names its day through its sort key's time), so the next page starts right after it.
        """
        limit = max(limit, 1)
        now = self._clock()
        position = decode_cursor(cursor, 3)
        by_endpoint = query.endpoint_id is not None
        by_ending = not by_endpoint and query.status in INDEXED_ENDINGS
        by_attempt = by_endpoint or by_ending  # the index holds attempts, sorted by their own time
        low, high = search_bounds(query)  # checked even where they cannot narrow the index
        if by_attempt:
            low = high = None
        if position is not None and not by_attempt:
            if high is not None and position[2] >= high:
                position = None  # above the range: the listing starts at its top
            elif low is not None and position[2] <= low:
                return Page([], None)  # below the range: nothing is left
        if any("#" in x for x in (query.endpoint_id, query.source_id, query.application_id) if x):
            return Page([], None)  # no id has one; a key built from it could name another key's shard
        index, day, last_day, partition, packed = "gsi1", None, None, "", ""
        if query.endpoint_id is not None:
            partition = endpoint_attempts(query.endpoint_id)
            packed = listing.endpoint_listing(query.endpoint_id)
        elif by_ending:
            pass  # gsi2's END# partitions, walked by day below
        elif query.source_id is not None:
            partition = source_messages(query.source_id)
            packed = listing.source_listing(query.source_id)
        elif query.application_id is not None:
            index, partition = "gsi3", application_messages(query.application_id)
            packed = listing.application_listing(query.application_id)
        era = self.listing_era() if not by_endpoint else None
        if by_ending or partition == "":
            index = "gsi2"
            # A delivery ends after its message arrived, however long before ``before``: from today.
            newest = now if by_ending or query.before is None else min(query.before, now)
            day = day_of(newest)
            last_day = day_of(query.after) if query.after is not None else date.min
            if era is not None and era.since > 0:
                last_day = max(last_day, day_of(era.since))  # the stage held no message before
            if position is not None:
                resume = day_of_sort_key(position[2])
                if resume is None:
                    raise BadRequestError("the cursor is not valid", code="invalid_cursor")
                if resume > day:
                    position = None
                else:
                    day = resume
            if day < last_day:
                return Page([], None)
            partition = self._day_partition(query, day)
            packed = self._day_listing(query, day)
        found: list[Message] = []
        seen: set[str] = set()
        examined = 0
        empty_days = 0

        def read(part: str, want: int, start: dict[str, Any] | None) -> Any:
            return self._query_range(index, part, low, high, want, start)

        # The index entries of the layout before the packed listings, only while some can be listed
        # (and, walking days, only on a day that began before the last of them).
        old_until = era.ceiling if era is not None and era.legacy(now, low) else None
        while True:
            hit = position is not None  # a resumed day had at least the cursor's entry
            legacy = old_until
            if era is not None and day is not None and day > day_of(era.legacy_until):
                legacy = None
            stream = self._stream(read, index, partition, packed, position, low, high, legacy)
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
            packed = self._day_listing(query, day)

    def _stream(
        self,
        read: Callable[[str, int, dict[str, Any] | None], Any],
        index: str,
        partition: str,
        packed: str,
        position: list[str] | None,
        low: str | None,
        high: str | None,
        legacy: str | None,
    ) -> Any:
        """The entries of one listing, newest first: the packed items (``packed``) merged with the index
        entries of ``partition``'s shards. Those are an endpoint's (still written for outcomes on the
        attempt's own item) or an ending's (the only index of it), read always; or a message listing's,
        written only before the packed listings: read only when ``legacy`` (a ceiling above all of them,
        ``listing.Era.ceiling``) is given, and then only once the listing reaches below it."""
        index_entries = _Merged(read, index, shard_partitions(partition), position)
        if not packed:
            return index_entries
        by_endpoint = packed.startswith("LIST#EP#")
        decode = endpoint_entry(packed.removeprefix("LIST#EP#")) if by_endpoint else None
        items = listing.packed_stream(
            self._query_packed, index, packed, decode or message_entry(index), position, low, high
        )
        if by_endpoint:
            return listing.Union([items, index_entries], index)
        if legacy is None:
            return items
        return listing.Union([items, index_entries], index, [None, legacy])

    @staticmethod
    def _day_listing(query: MessageQuery, day: date) -> str:
        if query.endpoint_id is None and query.status in INDEXED_ENDINGS:
            return ""  # the sparse END# index: no packed listing
        return listing.day_listing(day.isoformat())

    @staticmethod
    def _day_partition(query: MessageQuery, day: date) -> str:
        if query.endpoint_id is None and query.status in INDEXED_ENDINGS:
            return ending_partition(query.status, day)
        return day_partition(day)

    def _candidates(
        self,
        entries: list[Item],
        by_endpoint: bool,
        by_ending: bool,
        seen: set[str],
        query: MessageQuery,
        keep: Callable[[Message], bool] | None,
        now: float,
    ) -> list[Message]:
        """The live messages of some index entries that pass the query's filters and ``keep``."""
        keys: list[Item] = []
        for entry in entries:
            if by_endpoint or by_ending:
                # An attempt entry names its message: once per page (of an endpoint's attempts, only a
                # delivery's first one counts; an ending is one per delivery already).
                # (The attempt's partition may be one of its message's attempt shards.)
                message_pk = message_pk_of(entry["pk"]["S"])
                if (by_endpoint and not entry["sk"]["S"].endswith("#001")) or message_pk in seen:
                    continue
                seen.add(message_pk)
                keys.append({"pk": s(message_pk), "sk": s("META")})
            else:
                keys.append({"pk": entry["pk"], "sk": entry["sk"]})
        unique = list({(k["pk"]["S"], k["sk"]["S"]): k for k in keys}.values())  # BatchGetItem refuses twins
        fetched = [item_to_message(i) for i in self._fetch(unique)]
        if not (by_endpoint or by_ending):
            # An entry of an earlier storing of the id (received at another time) names no live message.
            by_pk = {f"MSG#{m.id}": m for m in fetched}
            fetched = []
            for entry in entries:
                message = by_pk.get(entry["pk"]["S"])
                sort_keys = [v["S"] for k, v in entry.items() if k.startswith("gsi") and k.endswith("sk")]
                if message is not None and message_sort_key(message) in sort_keys:
                    fetched.append(message)
        matched = [message for message in fetched if message.expires_at > now and query.matches(message)]
        if keep is None or not matched:
            return matched
        # ``keep`` usually reads (a message's attempts, for its delivery status): a chunk's reads go out
        # together, so a page costs about one round trip per chunk instead of one per candidate.
        with ThreadPoolExecutor(max_workers=min(KEEP_CONCURRENCY, len(matched))) as pool:
            flags = list(pool.map(keep, matched))
        return [message for message, wanted in zip(matched, flags, strict=True) if wanted]
