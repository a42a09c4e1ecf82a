"""Endpoints and their owners' subscription pages (``EP#``, ``SUBS#``): item layout (the attention entry
included) and the DynamoDB adapter of ``EndpointStore`` and ``SubscriptionStore`` (``health``: the rest).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.aws.dynamodb.core import Table, _cursor_of, _start_key
from chalicelib.aws.dynamodb.flow import flow_attributes, flow_fields
from chalicelib.aws.dynamodb.keys import (
    Item,
    KeyKind,
    n,
    num,
    opt_s,
    s,
    shard_partitions,
    sharded,
    time_key,
)
from chalicelib.errors import NotFoundError, StorageError
from chalicelib.models import (
    Endpoint,
    Secret,
    Transformation,
    signing_mode,
)
from chalicelib.ports import Page

if TYPE_CHECKING:
    pass

log = logging.getLogger("hookway.store")


def endpoints_partition(application_id: str | None) -> str:
    """The gsi1 partition of one owner's endpoints (None: the operator's own)."""
    return "ENDPOINTS" if application_id is None else f"APP#{application_id}#EP"


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
    if endpoint.filter_payload is not None:
        item["filter_payload"] = s(json.dumps(endpoint.filter_payload))
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
    item.update(
        flow_attributes(endpoint.throttle_rate, endpoint.ordering, endpoint.circuit_breaker, endpoint.circuit)
    )
    if endpoint.transformation is not None:
        item["transformation"] = s(json.dumps(asdict(endpoint.transformation)))
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
    schedule = opt_s(item, "retry_schedule")
    auth = opt_s(item, "auth")
    transformation = opt_s(item, "transformation")
    pattern = opt_s(item, "filter_payload")
    return Endpoint(
        id=item["pk"]["S"].removeprefix("EP#"),
        url=item["url"]["S"],
        created_at=float(item["created_at"]["N"]),
        updated_at=float(item["updated_at"]["N"]),
        secrets=_secrets_from(item["secrets"]["S"]),
        description=item["description"]["S"],
        filter_sources=tuple(json.loads(item["filter_sources"]["S"])),
        filter_event_types=tuple(json.loads(item["filter_event_types"]["S"])),
        filter_payload=json.loads(pattern) if pattern else None,
        signing=signing_mode(item["signing"]["S"]),
        headers=json.loads(item["headers"]["S"]),
        auth=json.loads(auth) if auth else None,
        timeout=float(item["timeout"]["N"]),
        retry_schedule=tuple(json.loads(schedule)) if schedule else None,
        enabled=item["enabled"]["BOOL"],
        disabled_reason=opt_s(item, "disabled_reason"),
        failing_since=num(item, "failing_since"),
        client_certificate=opt_s(item, "client_certificate"),
        application_id=opt_s(item, "application_id"),
        kind="listen" if opt_s(item, "kind") == "listen" else "http",
        expires_at=num(item, "expires_at"),
        **flow_fields(item),
        transformation=Transformation(**json.loads(transformation)) if transformation else None,
    )


def subscriptions_pk(application_id: str | None) -> str:
    """The partition of one owner's subscription pages and version."""
    return f"SUBS#{application_id or '-'}"


def subscriptions_meta_key(application_id: str | None) -> Item:
    """The primary key of an owner's endpoint version item."""
    return {"pk": s(subscriptions_pk(application_id)), "sk": s("META")}


def subscription_page_key(application_id: str | None, number: int) -> Item:
    """The primary key of one subscription page of an owner."""
    return {"pk": s(subscriptions_pk(application_id)), "sk": s(f"P#{number:05d}")}


KEYS = (
    KeyKind(
        "endpoint",
        "EP#{id}",
        "META",
        gsi1="ENDPOINTS (the operator's) or APP#{application}#EP / {created}#{id}",
        gsi3="EP_ATTENTION#{s} / {changed}#{id} (only while it is failing or disabled)",
    ),
    KeyKind(
        "an owner's endpoint version and subscription page count",
        "SUBS#{owner}",
        "META",
        note="`owner`: an application id, or `-` for the operator's own; ADD 1 on every change that can alter matching; "
        "`room`: the lowest page below the last with room (compaction)",
    ),
    KeyKind(
        "one subscription page",
        "SUBS#{owner}",
        "P#{n:05d}",
        note="a set of at most 500 of the owner's endpoint ids",
    ),
)


# Trailing empty subscription pages one endpoint delete removes (bounded work per call; the next delete,
# or the next of that owner, goes on where it stopped).
MAX_SHRINK_PAGES = 8


class SubscriptionTable(Table):
    """The subscriptions of the table (see the module docstring).

    Compaction (docs/fanout.md): ids never move between pages (a fan-out in flight reads its pages one
    chunk at a time, so a moved id could be missed or sent twice). Instead a delete that leaves room in a
    page below the last records it as the owner's ``room`` hint (the lowest such page), and a new endpoint
    joins that page before the last one: an owner that churns refills its emptied pages instead of adding
    new ones. A delete that empties the last page removes it (and the empty pages below it, up to
    ``MAX_SHRINK_PAGES``) in a transaction with the owner's page count, conditional on the page being
    empty; a join is a transaction conditional on its page being within the count, so a join and a shrink
    never cross (no id in a page past the count, where no router would read it).
    """

    def _leave_unless_recorded(self, owner: str | None, endpoint_id: str, page: int) -> int | None:
        """After losing the race to record an endpoint's page: leave ``page`` unless it is the one
        recorded; returns the recorded page (None: the endpoint is gone)."""
        item = self._call(
            "get_item",
            Key=endpoint_key(endpoint_id),
            ConsistentRead=True,
            ProjectionExpression="sub_page",
        ).get("Item")
        recorded = int(item["sub_page"]["N"]) if item and "sub_page" in item else None
        if recorded != page:
            self._call(
                "update_item",
                Key=subscription_page_key(owner, page),
                UpdateExpression="DELETE ids :id",
                ExpressionAttributeValues={":id": {"SS": [endpoint_id]}},
            )
        return recorded

    def _bump(self, application_id: str | None) -> None:
        self._call(
            "update_item",
            Key=subscriptions_meta_key(application_id),
            UpdateExpression="ADD version :one",
            ExpressionAttributeValues={":one": n(1)},
        )

    def _join(self, application_id: str | None, endpoint_id: str, *, new: bool = False) -> int:
        """Add an id to the owner's last subscription page with room, opening a new page when it is full.

        Both steps are conditional writes, so concurrent creates never overfill a page or open two. The
        first page of an owner that has no endpoint yet (``new``: this one is not written either) is
        marked ``complete``: its endpoints are all in pages from the start (subscription backfill).
        """
        for _ in range(16):
            _, pages, _, room = self._subscription_meta(application_id)
            if pages:
                target = room if room is not None and room < pages - 1 else pages - 1
                try:
                    codes = self._transact(
                        [
                            {
                                "ConditionCheck": {
                                    "Key": subscriptions_meta_key(application_id),
                                    "ConditionExpression": "pages > :page",
                                    "ExpressionAttributeValues": {":page": n(target)},
                                }
                            },
                            {
                                "Update": {
                                    "Key": subscription_page_key(application_id, target),
                                    "UpdateExpression": "ADD ids :id",
                                    "ConditionExpression": "attribute_not_exists(ids) OR size(ids) < :max "
                                    "OR contains(ids, :one)",
                                    "ExpressionAttributeValues": {
                                        ":id": {"SS": [endpoint_id]},
                                        ":one": s(endpoint_id),
                                        ":max": n(self.page_size),
                                    },
                                }
                            },
                        ]
                    )
                except StorageError:
                    continue  # a concurrent join or shrink of the same items (TransactionConflict): again
                if not codes:
                    return target
                if codes[0] == "ConditionalCheckFailed":
                    continue  # the page count moved (a shrink): read it again
                if target != pages - 1:
                    self._pass_room(application_id, target, pages)  # the hinted page filled up
                    continue
                # the last page is full: open the next page
            first = not pages and new and not self._has_endpoints(application_id)
            with contextlib.suppress(ClientError):  # another writer opened it: use it
                self._call(
                    "update_item",
                    Key=subscriptions_meta_key(application_id),
                    UpdateExpression="SET pages = :next, complete = :c" if first else "SET pages = :next",
                    ConditionExpression="attribute_not_exists(pages) OR pages = :pages",
                    ExpressionAttributeValues={
                        ":next": n(pages + 1),
                        ":pages": n(pages),
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
            ExpressionAttributeValues={":p": s(endpoints_partition(application_id))},
            Limit=1,
        )
        return bool(result.get("Items"))

    def owner_version(self, application_id: str | None) -> tuple[int, int]:
        """One consistent GetItem of ``SUBS#{owner}`` / ``META``."""
        version, pages, _ = self.owner_state(application_id)
        return version, pages

    def owner_state(self, application_id: str | None) -> tuple[int, int, bool]:
        """One consistent GetItem of ``SUBS#{owner}`` / ``META``: version, pages and ``complete``."""
        version, pages, complete, _ = self._subscription_meta(application_id)
        return version, pages, complete

    def _subscription_meta(self, application_id: str | None) -> tuple[int, int, bool, int | None]:
        """One consistent GetItem of ``SUBS#{owner}`` / ``META``: version, pages, complete, room."""
        item = self._call("get_item", Key=subscriptions_meta_key(application_id), ConsistentRead=True).get(
            "Item"
        )
        if not item:
            return 0, 0, False, None
        return (
            int(item.get("version", {"N": "0"})["N"]),
            int(item.get("pages", {"N": "0"})["N"]),
            bool(item.get("complete", {}).get("BOOL", False)),
            int(item["room"]["N"]) if "room" in item else None,
        )

    def _note_room(self, application_id: str | None, page: int) -> None:
        """A delete left room in ``page``: make it the owner's ``room`` hint if it is below the last page
        and below the current hint (one conditional UpdateItem; a lost race leaves the better hint)."""
        with contextlib.suppress(ClientError):
            self._call(
                "update_item",
                Key=subscriptions_meta_key(application_id),
                UpdateExpression="SET room = :p",
                ConditionExpression="pages > :above AND (attribute_not_exists(room) OR room > :p)",
                ExpressionAttributeValues={":p": n(page), ":above": n(page + 1)},
            )

    def _pass_room(self, application_id: str | None, full: int, pages: int) -> None:
        """The hinted page is full: the hint moves to the next page (gone at the last one); conditional on
        the hint being that page, so racing joins move it once."""
        following = full + 1
        with contextlib.suppress(ClientError):
            self._call(
                "update_item",
                Key=subscriptions_meta_key(application_id),
                UpdateExpression="REMOVE room" if following >= pages - 1 else "SET room = :next",
                ConditionExpression="room = :full",
                ExpressionAttributeValues={
                    ":full": n(full),
                    **({} if following >= pages - 1 else {":next": n(following)}),
                },
            )

    def _shrink(self, application_id: str | None) -> int:
        """Remove the owner's empty last pages, at most ``MAX_SHRINK_PAGES``; returns how many went.

        Each is one transaction: delete the page if it holds no id, and lower the page count (and move the
        version) if it is still that page's. Idempotent; stops at the first page that holds an id, at a
        race (a join or another shrink), or at the bound.
        """
        removed = 0
        while removed < MAX_SHRINK_PAGES:
            _, pages, _, _ = self._subscription_meta(application_id)
            if pages <= 0:
                break
            try:
                codes = self._transact(
                    [
                        {
                            "Delete": {
                                "Key": subscription_page_key(application_id, pages - 1),
                                "ConditionExpression": "attribute_not_exists(ids)",
                            }
                        },
                        {
                            "Update": {
                                "Key": subscriptions_meta_key(application_id),
                                "UpdateExpression": "SET pages = :left ADD version :one",
                                "ConditionExpression": "pages = :pages",
                                "ExpressionAttributeValues": {
                                    ":left": n(pages - 1),
                                    ":pages": n(pages),
                                    ":one": n(1),
                                },
                            }
                        },
                    ]
                )
            except StorageError:
                break  # busy (a concurrent join): the next delete of this owner goes on
            if codes:
                break
            removed += 1
        return removed

    def compact_subscriptions(self, application_id: str | None) -> int:
        """Remove the owner's empty last pages (bounded, idempotent); returns how many went."""
        return self._shrink(application_id)

    def unjoined_endpoints(self, application_id: str | None, *, limit: int, cursor: str | None) -> Page[str]:
        """One page of the owner's listing (``limit`` endpoints read): the ids of those in no subscription
        page (no ``sub_page``: written before pages existed). The page may be empty and have a cursor."""
        kwargs: dict[str, Any] = {
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": s(endpoints_partition(application_id))},
            "Limit": limit,
            "ScanIndexForward": True,
        }
        start = _start_key(cursor, "gsi1", endpoints_partition(application_id))
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
            Key=endpoint_key(endpoint_id),
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
                Key=endpoint_key(endpoint_id),
                UpdateExpression="SET sub_page = :p",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(sub_page)",
                ExpressionAttributeValues={":p": n(number)},
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
            Key=subscriptions_meta_key(application_id),
            UpdateExpression="SET complete = :t ADD version :one",
            ExpressionAttributeValues={":t": {"BOOL": True}, ":one": n(1)},
        )

    def subscription_page(self, application_id: str | None, number: int) -> tuple[str, ...]:
        """One GetItem of a subscription page (~20 KB for 500 ids)."""
        item = self._call(
            "get_item", Key=subscription_page_key(application_id, number), ConsistentRead=True
        ).get("Item")
        return tuple(sorted(item["ids"]["SS"])) if item and "ids" in item else ()


class EndpointTable(SubscriptionTable):
    """The endpoints of the table (see the module docstring)."""

    def put_endpoint(self, endpoint: Endpoint) -> None:
        """Create or replace an endpoint: join its owner's subscription pages (once), then move the
        owner's version so every router's cache reloads what changed."""
        key = endpoint_key(endpoint.id)
        old = self._call("get_item", Key=key, ConsistentRead=True, ProjectionExpression="pk, sub_page").get(
            "Item"
        )
        if old and "sub_page" in old:
            page = int(old["sub_page"]["N"])
            self._call("put_item", Item={**endpoint_to_item(endpoint), "sub_page": n(page)})
        else:
            # Join before the item is written: a crash in between leaves an id that reads as deleted,
            # never an endpoint that no router can find. The write is conditional on no page recorded
            # meanwhile (the backfill joins legacy endpoints concurrently): the first to record wins,
            # the other leaves its page again, so an endpoint stays in one page.
            page = self._join(endpoint.application_id, endpoint.id, new=not old)
            item = {**endpoint_to_item(endpoint), "sub_page": n(page)}
            try:
                self._call("put_item", Item=item, ConditionExpression="attribute_not_exists(sub_page)")
            except ClientError:
                kept = self._leave_unless_recorded(endpoint.application_id, endpoint.id, page)
                self._call("put_item", Item={**item, "sub_page": n(kept if kept is not None else page)})
        self._bump(endpoint.application_id)

    def get_endpoints(self, endpoint_ids: Sequence[str]) -> list[Endpoint]:
        """BatchGetItem of the endpoints, 100 keys a request, the requests of a page in parallel."""
        keys = [endpoint_key(i) for i in dict.fromkeys(endpoint_ids)]
        chunks = [keys[i : i + 100] for i in range(0, len(keys), 100)]
        if len(chunks) <= 1:
            items = self._fetch(keys)
        else:
            with ThreadPoolExecutor(max_workers=min(len(chunks), 5)) as pool:
                items = [item for part in pool.map(self._fetch, chunks) for item in part]
        return [item_to_endpoint(item) for item in items]

    def get_endpoint(self, endpoint_id: str) -> Endpoint:
        """The endpoint, or NotFoundError."""
        item = self._call("get_item", Key=endpoint_key(endpoint_id), ConsistentRead=True).get("Item")
        if not item:
            raise NotFoundError(f"no endpoint {endpoint_id!r}", code="endpoint_not_found")
        return item_to_endpoint(item)

    def list_endpoints(self, *, application_id: str | None, limit: int, cursor: str | None) -> Page[Endpoint]:
        """The endpoints of one owner (an application, None: the operator's own), oldest first."""
        return self._query_index(
            endpoints_partition(application_id), limit, cursor, item_to_endpoint, forward=True
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
                Key=endpoint_key(endpoint_id),
                ConditionExpression="attribute_exists(pk)",
                ReturnValues="ALL_OLD",
            ).get("Attributes", {})
        except ClientError:
            raise NotFoundError(f"no endpoint {endpoint_id!r}", code="endpoint_not_found") from None
        owner = old.get("application_id", {}).get("S")
        left: Item | None = None
        if "sub_page" in old:
            page = int(old["sub_page"]["N"])
            left = self._call(
                "update_item",
                Key=subscription_page_key(owner, page),
                UpdateExpression="DELETE ids :id",
                ExpressionAttributeValues={":id": {"SS": [endpoint_id]}},
                ReturnValues="UPDATED_NEW",
            ).get("Attributes", {})
        self._bump(owner)
        if left is not None:
            # Compaction, best effort: the endpoint is deleted whatever happens here.
            try:
                self._note_room(owner, page)
                if "ids" not in left:  # the page is empty now
                    self._shrink(owner)
            except StorageError as exc:
                log.warning(
                    "subscription pages not compacted",
                    extra={"application_id": owner, "reason": type(exc.__cause__ or exc).__name__},
                )
