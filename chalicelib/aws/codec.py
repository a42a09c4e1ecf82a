"""Turning models into DynamoDB items and back; the only place that knows the item layout.

Single table, generic keys (``pk``, ``sk``) and three keys-only indexes (``gsi1``, ``gsi2``, ``gsi3``,
each ``gsiNpk`` / ``gsiNsk``). ``{ts}`` is a time as ``{t:017.6f}`` (so the strings sort like the numbers):

    SRC#{id}  / META         a source           gsi1: SOURCES / {created_at}#{id}
    SRC#{id}  / STATS        rejection counters (before the ring held them; still added up on read)
    SRC#{id}  / REJ#{slot}   a sampled recent rejection and the counters its flushes added (ring of N
                             slots; shown until ``until``; no TTL, so the counts stay)
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
    EP#{id}   / META         an endpoint        gsi1: ENDPOINTS / {created_at}#{id}   (the operator's own)
                                                   or APP#{application_id}#EP / {created_at}#{id}
                                                gsi3: EP_ATTENTION#{s} / {changed_at}#{id} (only while it
                                                is failing or disabled: the console's "needs attention")
    SUBS#{owner} / META      an owner's endpoint version (ADD 1 on every change) and subscription page count
    SUBS#{owner} / P#{n:05d} one subscription page: a set of at most 500 of the owner's endpoint ids
                             (``owner``: an application id, or ``-`` for the operator's own)
    STATS#{yyyy-mm-ddThh}#{s} / META   a share of one hour's counters (received, delivered, failed,
                                   rejected; TTL), s random per flush: the hour is the sum of its shares
    APP#{id}  / META         an application     gsi1: APPS / {created_at}#{id}
    APPUID#{uid} / META      the claim of an application's uid (written in one transaction with it)
    ET#{name} / META         an event type      gsi1: EVENT_TYPES / {name}
    LISTEN#{endpoint} / Q#{queued_at}-{claim}   a delivery waiting for a listen session's CLI (TTL)
    IDEM#{key} / META        a publish idempotency key (TTL 24 h)
    JOB#{id}  / META         a background job: state, progress, cursor (TTL a week)
    SESSION#{keyed digest of id} / META   a console session (TTL: its end)
                                                gsi1: SESSIONS / {expires_at}#{digest} ("end all sessions")
    CHECKPOINT#{name} / META   where a scheduled job (the sweep) stopped, for its next run

``{s}`` is a write shard, 0 to ``INDEX_SHARDS - 1``: a hash of the message id (of the endpoint id for
``EP_ATTENTION``), so that no index key every message writes takes more than 1/``INDEX_SHARDS`` of the
traffic (``docs/data-model.md`` has the arithmetic). Readers query every shard and merge them, newest
first, plus the key without a shard that stores written before sharding still hold (``shard_partitions``).

A message's inline body is ``body`` (the bytes) or ``bodyz`` (the bytes deflated, when that pays).
Complex fields (options, headers, secrets, metadata, schemas) are stored as JSON strings: they are read
whole and never queried. Secret values inside them arrive here already sealed (``chalicelib.sealing``). An attribute that is absent decodes as the field's default (``application_id``
None: the operator's own).
"""

from __future__ import annotations

import json
import math
import re
import zlib
from datetime import UTC, date, datetime
from typing import Any

from chalicelib.branding import Branding
from chalicelib.errors import BadRequestError
from chalicelib.models import (
    Application,
    Attempt,
    BodyRef,
    Endpoint,
    EventType,
    FanoutPage,
    Job,
    Message,
    MessageStatus,
    MtlsRule,
    Pulled,
    Rejection,
    Secret,
    Source,
    Verification,
    attempt_status,
    delivery_status,
    job_kind,
    job_state,
    signing_mode,
)
from chalicelib.ports import MessageQuery

Item = dict[str, Any]
_LAST_SECOND = 253_402_300_799.0  # 9999-12-31T23:59:59Z
_SORT_TIME = re.compile(r"([0-9]{1,11}\.[0-9]{6})#")


def s(value: str) -> dict[str, str]:
    """A DynamoDB string attribute."""
    return {"S": value}


def n(value: float | int) -> dict[str, str]:
    """A DynamoDB number attribute (repr keeps floats exact)."""
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def _opt_s(item: Item, name: str) -> str | None:
    attr = item.get(name)
    return attr["S"] if attr else None


def _num(item: Item, name: str, default: float | None = None) -> float | None:
    attr = item.get(name)
    return float(attr["N"]) if attr else default


def _int(item: Item, name: str, default: int | None = None) -> int | None:
    attr = item.get(name)
    return int(attr["N"]) if attr else default


def _message_status(value: str) -> MessageStatus:
    if value != "stored":
        raise ValueError(f"not a message status: {value!r}")
    return "stored"


def time_key(at: float) -> str:
    """A time as the sort keys hold it: fixed-width, so the strings sort like the numbers."""
    return f"{at:017.6f}"


def day_of(at: float) -> date:
    """The UTC day a time falls in, as its sort key rounds it (so a sort key alone names its day).

    Times outside 1970 to 9999 count as the first or the last day (a query's bound may be anything).
    """
    return datetime.fromtimestamp(min(max(float(time_key(at)), 0.0), _LAST_SECOND), tz=UTC).date()


# ------------------------------------------------------------------------------------ write shards

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


def endpoints_partition(application_id: str | None) -> str:
    """The gsi1 partition of one owner's endpoints (None: the operator's own)."""
    return "ENDPOINTS" if application_id is None else f"APP#{application_id}#EP"


def source_key(source_id: str) -> Item:
    """The primary key of a source item."""
    return {"pk": s(f"SRC#{source_id}"), "sk": s("META")}


def message_key(message_id: str) -> Item:
    """The primary key of a message item."""
    return {"pk": s(f"MSG#{message_id}"), "sk": s("META")}


def source_to_item(source: Source) -> Item:
    """Encode a source."""
    v = source.verification
    item: Item = {
        **source_key(source.id),
        "gsi1pk": s("SOURCES"),
        "gsi1sk": s(f"{source.created_at:017.6f}#{source.id}"),
        "name": s(source.name),
        "description": s(source.description),
        "scheme": s(v.scheme),
        "secrets": s(json.dumps([[x.id, x.value, x.created_at, x.expires_at] for x in v.secrets])),
        "options": s(json.dumps(v.options)),
        "ip_allowlist": s(json.dumps(list(source.ip_allowlist))),
        "basic_auth": s(json.dumps(list(source.basic_auth))),
        "rejection_status": n(source.rejection_status),
        "replay_window": n(source.replay_window),
        "enabled": {"BOOL": source.enabled},
        "created_at": n(source.created_at),
        "updated_at": n(source.updated_at),
    }
    if v.tolerance is not None:
        item["tolerance"] = n(v.tolerance)
    if source.mtls is not None:
        item["mtls"] = s(
            json.dumps({"subjects": list(source.mtls.subjects), "issuers": list(source.mtls.issuers)})
        )
    if source.dedupe is not None:
        item["dedupe"] = s(source.dedupe)
    if source.max_body_bytes is not None:
        item["max_body_bytes"] = n(source.max_body_bytes)
    if source.application_id is not None:
        item["application_id"] = s(source.application_id)
    return item


def item_to_source(item: Item) -> Source:
    """Decode a source."""
    secrets = tuple(
        Secret(id=a, value=b, created_at=c, expires_at=d) for a, b, c, d in json.loads(item["secrets"]["S"])
    )
    mtls_raw = _opt_s(item, "mtls")
    mtls = None
    if mtls_raw:
        m = json.loads(mtls_raw)
        mtls = MtlsRule(subjects=tuple(m["subjects"]), issuers=tuple(m["issuers"]))
    return Source(
        id=item["pk"]["S"].removeprefix("SRC#"),
        name=item["name"]["S"],
        description=item.get("description", {"S": ""})["S"],
        verification=Verification(
            scheme=item["scheme"]["S"],
            secrets=secrets,
            tolerance=_int(item, "tolerance"),
            options=json.loads(item["options"]["S"]),
        ),
        created_at=float(item["created_at"]["N"]),
        updated_at=float(item["updated_at"]["N"]),
        ip_allowlist=tuple(json.loads(item["ip_allowlist"]["S"])),
        basic_auth=tuple(json.loads(item["basic_auth"]["S"])),
        mtls=mtls,
        rejection_status=int(item["rejection_status"]["N"]),
        dedupe=_opt_s(item, "dedupe"),
        replay_window=int(item["replay_window"]["N"]),
        max_body_bytes=_int(item, "max_body_bytes"),
        enabled=item["enabled"]["BOOL"],
        application_id=_opt_s(item, "application_id"),
    )


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


SUBSCRIPTION_PAGE = 500  # endpoint ids per subscription page, and so per fan-out chunk


def subscriptions_pk(application_id: str | None) -> str:
    """The partition of one owner's subscription pages and version."""
    return f"SUBS#{application_id or '-'}"


def subscriptions_meta_key(application_id: str | None) -> Item:
    """The primary key of an owner's endpoint version item."""
    return {"pk": s(subscriptions_pk(application_id)), "sk": s("META")}


def subscription_page_key(application_id: str | None, number: int) -> Item:
    """The primary key of one subscription page of an owner."""
    return {"pk": s(subscriptions_pk(application_id)), "sk": s(f"P#{number:05d}")}


def rejection_key(source_id: str, slot: int) -> Item:
    """The primary key of a source's rejection ring slot."""
    return {"pk": s(f"SRC#{source_id}"), "sk": s(f"REJ#{slot:04d}")}


def rejection_fields(rejection: Rejection, until: int) -> Item:
    """The attributes of a sampled rejection (its ring slot's key aside), shown until ``until``."""
    return {
        "at": n(rejection.at),
        "code": s(rejection.code),
        "message": s(rejection.message),
        "source_ip": s(rejection.source_ip or ""),
        "method": s(rejection.method),
        "content_type": s(rejection.content_type),
        "size": n(rejection.size),
        "user_agent": s(rejection.user_agent),
        "header_names": s(json.dumps(rejection.header_names)),
        "until": n(until),
    }


def rejection_shown_until(item: Item) -> float:
    """Until when a ring slot is shown (``ttl`` in slots written before the ring kept counters)."""
    return float((item.get("until") or item["ttl"])["N"])


def rejection_counts_of(item: Item) -> dict[str, int]:
    """The rejection counters an item holds (``rejected_{code}`` and ``rejected_total``)."""
    return {k.removeprefix("rejected_"): int(v["N"]) for k, v in item.items() if k.startswith("rejected_")}


def item_to_rejection(item: Item) -> Rejection:
    """Decode a rejection."""
    return Rejection(
        source_id=item["pk"]["S"].removeprefix("SRC#"),
        at=float(item["at"]["N"]),
        code=item["code"]["S"],
        message=item["message"]["S"],
        source_ip=item["source_ip"]["S"] or None,
        method=item["method"]["S"],
        content_type=item["content_type"]["S"],
        size=int(item["size"]["N"]),
        user_agent=item["user_agent"]["S"],
        header_names=tuple(json.loads(item["header_names"]["S"])) if "header_names" in item else (),
    )


def endpoint_key(endpoint_id: str) -> Item:
    """The primary key of an endpoint item."""
    return {"pk": s(f"EP#{endpoint_id}"), "sk": s("META")}


def _secrets_json(secrets: tuple[Secret, ...]) -> str:
    return json.dumps([[x.id, x.value, x.created_at, x.expires_at] for x in secrets])


def _secrets_from(raw: str) -> tuple[Secret, ...]:
    return tuple(Secret(id=a, value=b, created_at=c, expires_at=d) for a, b, c, d in json.loads(raw))


def endpoint_to_item(endpoint: Endpoint) -> Item:
    """Encode an endpoint."""
    item: Item = {
        **endpoint_key(endpoint.id),
        "gsi1pk": s(endpoints_partition(endpoint.application_id)),
        "gsi1sk": s(f"{endpoint.created_at:017.6f}#{endpoint.id}"),
        "url": s(endpoint.url),
        "description": s(endpoint.description),
        "secrets": s(_secrets_json(endpoint.secrets)),
        "filter_sources": s(json.dumps(list(endpoint.filter_sources))),
        "filter_event_types": s(json.dumps(list(endpoint.filter_event_types))),
        "signing": s(endpoint.signing),
        "headers": s(json.dumps(endpoint.headers)),
        "timeout": n(endpoint.timeout),
        "enabled": {"BOOL": endpoint.enabled},
        "created_at": n(endpoint.created_at),
        "updated_at": n(endpoint.updated_at),
    }
    if endpoint.auth is not None:
        item["auth"] = s(json.dumps(endpoint.auth))
    if endpoint.retry_schedule is not None:
        item["retry_schedule"] = s(json.dumps(list(endpoint.retry_schedule)))
    if endpoint.disabled_reason is not None:
        item["disabled_reason"] = s(endpoint.disabled_reason)
    if endpoint.failing_since is not None:
        item["failing_since"] = n(endpoint.failing_since)
    if endpoint.client_certificate is not None:
        item["client_certificate"] = s(endpoint.client_certificate)
    if endpoint.application_id is not None:
        item["application_id"] = s(endpoint.application_id)
    if endpoint.kind != "http":
        item["kind"] = s(endpoint.kind)
    if endpoint.expires_at is not None:
        item["expires_at"] = n(endpoint.expires_at)
    changed = attention_at(endpoint)
    if changed is not None:
        item["gsi3pk"] = s(attention_partition(endpoint.id))
        item["gsi3sk"] = s(attention_sort_key(changed, endpoint.id))
    return item


# Endpoints that are failing or disabled have an entry here (sparse gsi3): the console lists them across
# every owner without a scan, and a healthy endpoint costs nothing. Sharded by endpoint id (a mass
# incident changes many endpoints at once); read with ``shard_partitions(ATTENTION_PARTITION)``.
ATTENTION_PARTITION = "EP_ATTENTION"
# Every gsi3 partition the attention entries are spread over, in a fixed order (the sweep's cursor
# names one by its position): each shard, then the unsharded key of stores written before sharding.
ATTENTION_PARTITIONS = shard_partitions(ATTENTION_PARTITION)


def attention_range(after: float | None, until: float) -> tuple[str | None, str]:
    """The gsi3 sort-key bounds of entries whose change time is in ``(after, until]``: ``#`` sorts before
    ``$``, so ``{time}$`` comes after every ``{time}#{id}`` of that time."""
    return (None if after is None else f"{time_key(after)}$"), f"{time_key(until)}$"


def attention_partition(endpoint_id: str) -> str:
    """The gsi3 key of an endpoint's "needs attention" entry."""
    return sharded(ATTENTION_PARTITION, endpoint_id)


def attention_at(endpoint: Endpoint) -> float | None:
    """When an endpoint last changed into (or within) needing attention; None while it is healthy."""
    if endpoint.enabled and endpoint.failing_since is None:
        return None
    return max(endpoint.updated_at, endpoint.failing_since or 0.0)


def attention_sort_key(changed_at: float, endpoint_id: str) -> str:
    """The gsi3 sort key of an endpoint that needs attention: newest change last, read backwards."""
    return f"{time_key(changed_at)}#{endpoint_id}"


def item_to_endpoint(item: Item) -> Endpoint:
    """Decode an endpoint."""
    schedule = _opt_s(item, "retry_schedule")
    auth = _opt_s(item, "auth")
    return Endpoint(
        id=item["pk"]["S"].removeprefix("EP#"),
        url=item["url"]["S"],
        created_at=float(item["created_at"]["N"]),
        updated_at=float(item["updated_at"]["N"]),
        secrets=_secrets_from(item["secrets"]["S"]),
        description=item["description"]["S"],
        filter_sources=tuple(json.loads(item["filter_sources"]["S"])),
        filter_event_types=tuple(json.loads(item["filter_event_types"]["S"])),
        signing=signing_mode(item["signing"]["S"]),
        headers=json.loads(item["headers"]["S"]),
        auth=json.loads(auth) if auth else None,
        timeout=float(item["timeout"]["N"]),
        retry_schedule=tuple(json.loads(schedule)) if schedule else None,
        enabled=item["enabled"]["BOOL"],
        disabled_reason=_opt_s(item, "disabled_reason"),
        failing_since=_num(item, "failing_since"),
        client_certificate=_opt_s(item, "client_certificate"),
        application_id=_opt_s(item, "application_id"),
        kind="listen" if _opt_s(item, "kind") == "listen" else "http",
        expires_at=_num(item, "expires_at"),
    )


def pulled_key(endpoint_id: str, seq: str) -> Item:
    """The primary key of a delivery waiting for a listen session."""
    return {"pk": s(f"LISTEN#{endpoint_id}"), "sk": s(f"Q#{seq}")}


def pulled_to_item(pulled: Pulled) -> Item:
    """Encode a delivery waiting for a listen session (expires with the session, by TTL)."""
    return {
        **pulled_key(pulled.endpoint_id, pulled.seq),
        "message_id": s(pulled.message_id),
        "number": n(pulled.number),
        "generation": s(pulled.generation),
        "claim_id": s(pulled.claim_id),
        "queued_at": n(pulled.queued_at),
        "expires_at": n(pulled.expires_at),
        "ttl": n(int(pulled.expires_at) + 86400),
    }


def item_to_pulled(item: Item) -> Pulled:
    """Decode a delivery waiting for a listen session."""
    return Pulled(
        endpoint_id=item["pk"]["S"].removeprefix("LISTEN#"),
        seq=item["sk"]["S"].removeprefix("Q#"),
        message_id=item["message_id"]["S"],
        number=int(item["number"]["N"]),
        generation=item["generation"]["S"],
        claim_id=item["claim_id"]["S"],
        queued_at=float(item["queued_at"]["N"]),
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
    ):
        if text is not None:
            item[name] = s(text)
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
    )


def session_key(digest: str) -> Item:
    """The primary key of a console session item."""
    return {"pk": s(f"SESSION#{digest}"), "sk": s("META")}


def application_key(application_id: str) -> Item:
    """The primary key of an application item."""
    return {"pk": s(f"APP#{application_id}"), "sk": s("META")}


def uid_key(uid: str) -> Item:
    """The primary key of the item that claims an application's uid."""
    return {"pk": s(f"APPUID#{uid}"), "sk": s("META")}


def uid_to_item(uid: str, application_id: str) -> Item:
    """Encode the claim of a uid by an application."""
    return {**uid_key(uid), "application_id": s(application_id)}


def application_to_item(application: Application) -> Item:
    """Encode an application."""
    item: Item = {
        **application_key(application.id),
        "gsi1pk": s("APPS"),
        "gsi1sk": s(f"{time_key(application.created_at)}#{application.id}"),
        "name": s(application.name),
        "metadata": s(json.dumps(application.metadata)),
        "created_at": n(application.created_at),
        "updated_at": n(application.updated_at),
        "tokens_valid_after": n(application.tokens_valid_after),
    }
    if application.uid is not None:
        item["uid"] = s(application.uid)
    if not application.branding.empty:
        item["branding"] = s(branding_json(application.branding))
    return item


def branding_json(branding: Branding) -> str:
    """An application's branding as stored: the fields it sets, as JSON."""
    return json.dumps({k: v for k, v in branding.public().items() if v is not None})


def _branding(raw: str | None) -> Branding:
    doc = json.loads(raw) if raw else {}
    return Branding(name=doc.get("name"), logo_url=doc.get("logo_url"), accent=doc.get("accent"))


def item_to_application(item: Item) -> Application:
    """Decode an application."""
    return Application(
        id=item["pk"]["S"].removeprefix("APP#"),
        name=item["name"]["S"],
        created_at=float(item["created_at"]["N"]),
        updated_at=float(item["updated_at"]["N"]),
        uid=_opt_s(item, "uid"),
        metadata=json.loads(item["metadata"]["S"]),
        tokens_valid_after=_num(item, "tokens_valid_after", 0.0) or 0.0,
        branding=_branding(_opt_s(item, "branding")),
    )


def event_type_key(name: str) -> Item:
    """The primary key of an event type item."""
    return {"pk": s(f"ET#{name}"), "sk": s("META")}


def event_type_to_item(event_type: EventType) -> Item:
    """Encode an event type."""
    item: Item = {
        **event_type_key(event_type.name),
        "gsi1pk": s("EVENT_TYPES"),
        "gsi1sk": s(event_type.name),
        "description": s(event_type.description),
        "deprecated": {"BOOL": event_type.deprecated},
        "created_at": n(event_type.created_at),
        "updated_at": n(event_type.updated_at),
    }
    if event_type.schema is not None:
        item["schema"] = s(json.dumps(event_type.schema))
    return item


def item_to_event_type(item: Item) -> EventType:
    """Decode an event type."""
    schema = _opt_s(item, "schema")
    return EventType(
        name=item["pk"]["S"].removeprefix("ET#"),
        created_at=float(item["created_at"]["N"]),
        updated_at=float(item["updated_at"]["N"]),
        description=item["description"]["S"],
        schema=json.loads(schema) if schema is not None else None,
        deprecated=item["deprecated"]["BOOL"],
    )


# ------------------------------------------------------------------------------------ hourly counters

STATS_FIELDS = ("received", "delivered", "failed", "rejected")
STATS_TTL_SECONDS = 35 * 86400  # the API shows a week at most; a few weeks more for the dashboards


def stats_key(hour: int, shard: int | None) -> Item:
    """The primary key of one share of an hour's counters (``hour``: its start; None: the unsharded
    item stores written before sharding hold, read as one more share)."""
    stamp = datetime.fromtimestamp(hour, tz=UTC).strftime("%Y-%m-%dT%H")
    pk = f"STATS#{stamp}" if shard is None else f"STATS#{stamp}#{shard}"
    return {"pk": s(pk), "sk": s("META")}


def stats_keys(hour: int) -> list[Item]:
    """Every item one hour's counters may be spread over (its shares, then the unsharded one)."""
    return [stats_key(hour, shard) for shard in range(INDEX_SHARDS)] + [stats_key(hour, None)]


def item_to_counts(item: Item) -> dict[str, int]:
    """One hour's counters (a counter never added to is 0)."""
    return {name: int(item[name]["N"]) if name in item else 0 for name in STATS_FIELDS}


def checkpoint_key(name: str) -> Item:
    """The primary key of a scheduled job's checkpoint."""
    return {"pk": s(f"CHECKPOINT#{name}"), "sk": s("META")}


# ------------------------------------------------------------------------------------------- jobs
# JOB#{id} / META   a background job (chalicelib.jobs): its state, progress and cursor; no index (it is
# read by id only); TTL a week after it was created.


def job_key(job_id: str) -> Item:
    """The primary key of a job."""
    return {"pk": s(f"JOB#{job_id}"), "sk": s("META")}


def job_to_item(job: Job) -> Item:
    """Encode a job."""
    item: Item = {
        **job_key(job.id),
        "kind": s(job.kind),
        "state": s(job.state),
        "params": s(json.dumps(job.params, separators=(",", ":"))),
        "done": n(job.done),
        "step": n(job.step),
        "sent": n(job.sent),
        "tries": n(job.tries),
        "rev": n(job.rev),
        "created_at": n(job.created_at),
        "updated_at": n(job.updated_at),
        "expires_at": n(job.expires_at),
        "ttl": n(int(job.expires_at)),
    }
    if job.application_id is not None:
        item["application_id"] = s(job.application_id)
    if job.total is not None:
        item["total"] = n(job.total)
    if job.error is not None:
        item["error"] = s(json.dumps(job.error, separators=(",", ":")))
    if job.cursor is not None:
        item["cursor"] = s(job.cursor)
    return item


def item_to_job(item: Item) -> Job:
    """Decode a job."""
    error = _opt_s(item, "error")
    return Job(
        id=item["pk"]["S"].removeprefix("JOB#"),
        kind=job_kind(item["kind"]["S"]),
        state=job_state(item["state"]["S"]),
        params=json.loads(item["params"]["S"]),
        application_id=_opt_s(item, "application_id"),
        done=int(item["done"]["N"]),
        total=int(item["total"]["N"]) if "total" in item else None,
        error=json.loads(error) if error is not None else None,
        step=int(item["step"]["N"]),
        sent=int(item["sent"]["N"]),
        tries=int(item["tries"]["N"]),
        cursor=_opt_s(item, "cursor"),
        rev=int(item["rev"]["N"]),
        created_at=float(item["created_at"]["N"]),
        updated_at=float(item["updated_at"]["N"]),
        expires_at=float(item["expires_at"]["N"]),
    )
