"""Messages, their fan-out pages and their attempts (``MSG#``) as DynamoDB items and back.

The other aggregates' layouts are one module each in ``chalicelib.aws.dynamodb`` (shared primitives in
``chalicelib.aws.dynamodb.keys``, re-exported here); these join them once the attempt key change lands
(issue 15). ``{ts}`` is a time as ``{t:017.6f}``; ``{s}`` a write shard (``keys``):

    MSG#{id}  / META         a message          gsi1: SRC#{source_id}#{s} / {received_at}#{id}
                                                gsi2: DAY#{yyyy-mm-dd of received_at, UTC}#{s} / same
                                                gsi3: APP#{application_id}#MSG#{s} / same (only with an
                                                application)
    MSG#{id}  / FAN#{n:05d}  one page of the endpoint ids a big message matched (at most 500; TTL)
    MSG#{id}  / ATT#{endpoint}#{generation}#{n}   an attempt (and the claim on it); a message that
                                                fanned out in pages keeps it under MSG#{id}#A{k}
                                                (k = hash of the endpoint id % attempt_shards)
                                                gsi1: EP#{endpoint}#{s} / {started_at}#{message}#{n}
                                                gsi2: END#{failed|skipped}#{yyyy-mm-dd}#{s} / same (only the
                                                attempt that ended its delivery failed or skipped)

A message's inline body is ``body`` (the bytes) or ``bodyz`` (the bytes deflated, when that pays).
Headers and metadata are stored as JSON strings: read whole, never queried. An attribute that is absent
decodes as the field's default (``application_id`` None: the operator's own).
"""

from __future__ import annotations

import json
import math
import zlib
from datetime import UTC, date, datetime

from chalicelib.aws.dynamodb.keys import (
    _SORT_TIME,
    INDEX_SHARDS,
    Item,
    KeyKind,
    day_of,
    n,
    s,
    shard_of,
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
    BodyRef,
    FanoutPage,
    Message,
    MessageStatus,
    attempt_status,
    delivery_status,
)
from chalicelib.ports import MessageQuery

KEYS = (
    KeyKind(
        "message",
        "MSG#{id}",
        "META",
        gsi1="SRC#{source}#{s} / {received}#{id}",
        gsi2="DAY#{yyyy-mm-dd}#{s} / {received}#{id}",
        gsi3="APP#{application}#MSG#{s} / {received}#{id} (only with an application)",
    ),
    KeyKind(
        "one fan-out page of a big message",
        "MSG#{id}",
        "FAN#{n:05d}",
        note="the endpoint ids it matched, at most 500; TTL",
    ),
    KeyKind(
        "attempt (also the claim)",
        "MSG#{id}",
        "ATT#{endpoint}#{generation}#{n}",
        gsi1="EP#{endpoint}#{s} / {started}#{message}#{n}",
        gsi2="END#{failed|skipped}#{yyyy-mm-dd}#{s} / {started}#{message}#{n} (only the attempt that ended its delivery failed or skipped)",
    ),
    KeyKind(
        "attempt of a message that fanned out in pages",
        "MSG#{id}#A{k}",
        "ATT#{endpoint}#{generation}#{n}",
        note="k = CRC-32 of the endpoint id % the message's attempt_shards (its page count, at most 128)",
        gsi1="EP#{endpoint}#{s} / {started}#{message}#{n}",
        gsi2="END#{failed|skipped}#{yyyy-mm-dd}#{s} / {started}#{message}#{n} (as above)",
    ),
    KeyKind(
        "ended deliveries of a message that fanned out in pages",
        "MSG#{id}#C{k}",
        "SUM#{generation}",
        note="succeeded, failed, skipped: ADD per ended delivery of attempt shard k; TTL",
    ),
)

# The layout primitives every aggregate shares, re-exported for the message and attempt code's callers.
__all__ = [
    "INDEX_SHARDS",
    "Item",
    "KeyKind",
    "day_of",
    "n",
    "s",
    "shard_of",
    "shard_partitions",
    "sharded",
    "time_key",
]


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


def endpoint_attempts(endpoint_id: str) -> str:
    """The unsharded gsi1 key of an endpoint's attempts."""
    return f"EP#{endpoint_id}"


def day_partition(day: date) -> str:
    """The unsharded gsi2 key of one day's messages."""
    return f"DAY#{day.isoformat()}"


# Deliveries that ended in one of these states are indexed by it (sparse gsi2, next to the day partitions):
# the states a search by status looks for among many messages that are not in them.
INDEXED_ENDINGS = ("failed", "skipped")


def ending_partition(status: str, day: date) -> str:
    """The unsharded gsi2 key of one day's attempts that ended their delivery ``status``."""
    return f"END#{status}#{day.isoformat()}"


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
    """Encode a message (with its inline body or its S3 claim check)."""
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
        # Its ids are in FAN# pages; ``endpoint_count`` and the ``fanned`` set grow as each page is counted.
        item["fanout_pages"] = n(message.fanout_pages)
    if message.attempt_shards:
        item["attempt_shards"] = n(message.attempt_shards)
    return item


def item_to_message(item: Item) -> Message:
    """Decode a message."""
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
        fanout_pages=_int(item, "fanout_pages", 0) or 0,
        fanned_pages=len(item["fanned"]["NS"]) if "fanned" in item else 0,
        endpoint_count=_int(item, "endpoint_count", 0) or 0,
        attempt_shards=_int(item, "attempt_shards", 0) or 0,
        dedupe_until=float(item["dedupe_until"]["N"]),
        expires_at=float(item["expires_at"]["N"]),
        application_id=_opt_s(item, "application_id"),
        event_type_verified=item["event_type_verified"]["BOOL"] if "event_type_verified" in item else None,
        event_type_invalid="event_type_invalid" in item,
    )


def fanout_key(message_id: str, number: int) -> Item:
    """The primary key of one fan-out page of a message."""
    return {"pk": s(f"MSG#{message_id}"), "sk": s(f"FAN#{number:05d}")}


def fanout_to_item(page: FanoutPage) -> Item:
    """Encode a fan-out page (~39 bytes per id: at most ~20 KB for 500)."""
    return {
        **fanout_key(page.message_id, page.number),
        "generation": s(page.generation),
        "ids": s(json.dumps(list(page.endpoint_ids))),
        "expires_at": n(page.expires_at),
        "ttl": n(int(page.expires_at)),
    }


def item_to_fanout(item: Item) -> FanoutPage:
    """Decode a fan-out page."""
    return FanoutPage(
        message_id=item["pk"]["S"].removeprefix("MSG#"),
        number=int(item["sk"]["S"].removeprefix("FAN#")),
        generation=item["generation"]["S"],
        endpoint_ids=tuple(json.loads(item["ids"]["S"])),
        expires_at=float(item["expires_at"]["N"]),
    )


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
        # Sharded by message, so every attempt of one delivery shares a shard (and a cursor's tie-break).
        "gsi1pk": s(sharded(endpoint_attempts(attempt.endpoint_id), attempt.message_id)),
        "gsi1sk": s(f"{attempt.started_at:017.6f}#{attempt.message_id}#{attempt.number:03d}"),
        "claim_id": s(attempt.claim_id),
        "started_at": n(attempt.started_at),
        "status": s(attempt.status),
        "delivery_status": s(attempt.delivery_status),
        "lease_until": n(attempt.lease_until),
        "expires_at": n(attempt.expires_at),
        "ttl": n(int(attempt.expires_at)),
    }
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
    for name, number in (
        ("duration_ms", attempt.duration_ms),
        ("response_status", attempt.response_status),
        ("next_attempt_at", attempt.next_attempt_at),
        ("shards", attempt.shards or None),
    ):
        if number is not None:
            item[name] = n(number)
    return item


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
    )


# ------------------------------------------------------------------------------------ hourly counters


# ------------------------------------------------------------------------------------------- jobs
# JOB#{id} / META   a background job (chalicelib.jobs): its state, progress and cursor; no index (it is
# read by id only); TTL a week after it was created.
