"""The state store: a port (``Store``) and its DynamoDB adapter.

The in-memory fake that unit tests use lives in ``tests/fakes.py``; one contract suite
(``tests/integration/test_store_contract.py``) runs against both, so they cannot drift apart.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import codec
from chalicelib.errors import BadRequestError, NotFoundError, StorageError
from chalicelib.models import Attempt, Endpoint, Message, Rejection, Source

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing and the opaque cursor of the next (None at the end)."""

    items: list[T]
    cursor: str | None


class Store(Protocol):
    """What the services need from durable state."""

    def ping(self) -> None:
        """Raise StorageError unless the table answers."""

    def put_source(self, source: Source) -> None:
        """Create or replace a source."""

    def get_source(self, source_id: str) -> Source:
        """The source, or NotFoundError."""

    def list_sources(self, *, limit: int, cursor: str | None) -> Page[Source]:
        """Sources, oldest first."""

    def delete_source(self, source_id: str) -> None:
        """Delete a source, or NotFoundError."""

    def store_message(self, message: Message, now: float) -> bool:
        """Store a message unless another one with its id is live in its replay window.

        True when stored (a redelivery of the same receipt counts as stored), False for a duplicate.
        """

    def get_message(self, message_id: str) -> Message:
        """The message, or NotFoundError."""

    def list_messages(self, *, source_id: str, limit: int, cursor: str | None) -> Page[Message]:
        """Messages of a source, newest first."""

    def record_rejection(self, rejection: Rejection, *, slot: int, ttl: int) -> None:
        """Keep a rejection in the source's bounded ring and count it."""

    def list_rejections(self, source_id: str) -> list[Rejection]:
        """The recent rejections of a source, newest first."""

    def rejection_counts(self, source_id: str) -> dict[str, int]:
        """How many rejections per reason code a source has had."""

    def put_endpoint(self, endpoint: Endpoint) -> None:
        """Create or replace an endpoint."""

    def get_endpoint(self, endpoint_id: str) -> Endpoint:
        """The endpoint, or NotFoundError."""

    def list_endpoints(self, *, limit: int, cursor: str | None) -> Page[Endpoint]:
        """Endpoints, oldest first."""

    def all_endpoints(self) -> list[Endpoint]:
        """Every endpoint (the router matches against them)."""

    def delete_endpoint(self, endpoint_id: str) -> None:
        """Delete an endpoint, or NotFoundError."""

    def set_endpoint_failing(self, endpoint_id: str, since: float | None) -> None:
        """Record since when an endpoint has failed without a success (None: it is healthy)."""

    def disable_endpoint(self, endpoint_id: str, reason: str, now: float) -> bool:
        """Disable an enabled endpoint; True if this call disabled it."""

    def claim_attempt(self, attempt: Attempt, now: float) -> bool:
        """Create an attempt unless it exists and is finished or still leased; True if claimed."""

    def get_attempt(self, message_id: str, endpoint_id: str, generation: str, number: int) -> Attempt | None:
        """One attempt, or None."""

    def finish_attempt(self, attempt: Attempt) -> bool:
        """Record an attempt's outcome if the caller still holds its claim."""

    def list_attempts(self, message_id: str) -> list[Attempt]:
        """Every attempt of a message, newest first."""

    def list_endpoint_attempts(self, endpoint_id: str, *, limit: int, cursor: str | None) -> Page[Attempt]:
        """Attempts to an endpoint, newest first."""

    def remember_idempotency_key(
        self, key: str, body_sha256: str, message_id: str, now: float, ttl: int
    ) -> tuple[str, str]:
        """Store a publish key unless a live one exists; returns the (message_id, body_sha256) that holds it."""


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    """Make DynamoDB's LastEvaluatedKey an opaque URL-safe cursor."""
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, expected_keys: frozenset[str]) -> dict[str, Any] | None:
    """Read a cursor back; a forged or damaged one is a 400, never a 500."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError):
        raise BadRequestError("the cursor is not valid", code="invalid_cursor") from None
    valid = (
        isinstance(key, dict)
        and set(key) == expected_keys
        and all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in key.values())
    )
    if not valid:
        raise BadRequestError("the cursor is not valid", code="invalid_cursor")
    return dict(key)


_INDEX_KEYS = frozenset({"pk", "sk", "gsi1pk", "gsi1sk"})


class DynamoStore:
    """The Store on one DynamoDB table (layout in ``chalicelib.codec``)."""

    def __init__(self, client: DynamoDBClient, table: str, clock: Callable[[], float]) -> None:
        self._db = client
        self._table = table
        self._clock = clock

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

    def list_messages(self, *, source_id: str, limit: int, cursor: str | None) -> Page[Message]:
        """Messages of a source, newest first."""
        return self._query_index(f"SRC#{source_id}", limit, cursor, codec.item_to_message, forward=False)

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
        start = decode_cursor(cursor, _INDEX_KEYS)
        if start:
            kwargs["ExclusiveStartKey"] = start
        result = self._call("query", **kwargs)
        items = self._fetch([{"pk": i["pk"], "sk": i["sk"]} for i in result.get("Items", [])])
        return Page([decode(item) for item in items], encode_cursor(result.get("LastEvaluatedKey")))

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

    def record_rejection(self, rejection: Rejection, *, slot: int, ttl: int) -> None:
        """Keep a rejection in the source's bounded ring and count it."""
        self._call("put_item", Item=codec.rejection_to_item(rejection, slot, ttl))
        self._call(
            "update_item",
            Key={"pk": codec.s(f"SRC#{rejection.source_id}"), "sk": codec.s("STATS")},
            UpdateExpression="ADD #total :one, #code :one",
            ExpressionAttributeNames={"#total": "rejected_total", "#code": f"rejected_{rejection.code}"},
            ExpressionAttributeValues={":one": codec.n(1)},
        )

    def list_rejections(self, source_id: str) -> list[Rejection]:
        """The recent rejections of a source, newest first (expired ones skipped)."""
        now = self._clock()
        result = self._call(
            "query",
            KeyConditionExpression="pk = :p AND begins_with(sk, :r)",
            ExpressionAttributeValues={":p": codec.s(f"SRC#{source_id}"), ":r": codec.s("REJ#")},
        )
        items = [i for i in result.get("Items", []) if float(i["ttl"]["N"]) > now]
        return sorted((codec.item_to_rejection(i) for i in items), key=lambda r: r.at, reverse=True)

    def rejection_counts(self, source_id: str) -> dict[str, int]:
        """How many rejections per reason code a source has had."""
        item = (
            self._call("get_item", Key={"pk": codec.s(f"SRC#{source_id}"), "sk": codec.s("STATS")}).get(
                "Item"
            )
            or {}
        )
        return {
            k.removeprefix("rejected_"): int(v["N"]) for k, v in item.items() if k.startswith("rejected_")
        }

    # ------------------------------------------------------------------------------------- endpoints

    def put_endpoint(self, endpoint: Endpoint) -> None:
        """Create or replace an endpoint."""
        self._call("put_item", Item=codec.endpoint_to_item(endpoint))

    def get_endpoint(self, endpoint_id: str) -> Endpoint:
        """The endpoint, or NotFoundError."""
        item = self._call("get_item", Key=codec.endpoint_key(endpoint_id), ConsistentRead=True).get("Item")
        if not item:
            raise NotFoundError(f"no endpoint {endpoint_id!r}", code="endpoint_not_found")
        return codec.item_to_endpoint(item)

    def list_endpoints(self, *, limit: int, cursor: str | None) -> Page[Endpoint]:
        """Endpoints, oldest first."""
        return self._query_index("ENDPOINTS", limit, cursor, codec.item_to_endpoint, forward=True)

    def all_endpoints(self) -> list[Endpoint]:
        """Every endpoint, all pages."""
        out: list[Endpoint] = []
        cursor: str | None = None
        while True:
            page = self.list_endpoints(limit=500, cursor=cursor)
            out.extend(page.items)
            if page.cursor is None:
                return out
            cursor = page.cursor

    def delete_endpoint(self, endpoint_id: str) -> None:
        """Delete an endpoint, or NotFoundError."""
        try:
            self._call(
                "delete_item", Key=codec.endpoint_key(endpoint_id), ConditionExpression="attribute_exists(pk)"
            )
        except ClientError:
            raise NotFoundError(f"no endpoint {endpoint_id!r}", code="endpoint_not_found") from None

    def set_endpoint_failing(self, endpoint_id: str, since: float | None) -> None:
        """Set (only if unset) or clear ``failing_since``; a deleted endpoint is left alone."""
        try:
            if since is None:
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
                    UpdateExpression="SET failing_since = :t",
                    ConditionExpression="attribute_exists(pk) AND attribute_not_exists(failing_since)",
                    ExpressionAttributeValues={":t": codec.n(since)},
                )
        except ClientError:
            pass  # already in that state (another worker got there first) or deleted

    def disable_endpoint(self, endpoint_id: str, reason: str, now: float) -> bool:
        """Disable an enabled endpoint; True if this call disabled it."""
        try:
            self._call(
                "update_item",
                Key=codec.endpoint_key(endpoint_id),
                UpdateExpression="SET enabled = :f, disabled_reason = :r, updated_at = :t",
                ConditionExpression="attribute_exists(pk) AND enabled = :true",
                ExpressionAttributeValues={
                    ":f": {"BOOL": False},
                    ":true": {"BOOL": True},
                    ":r": codec.s(reason),
                    ":t": codec.n(now),
                },
            )
        except ClientError:
            return False
        return True

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

    def get_attempt(self, message_id: str, endpoint_id: str, generation: str, number: int) -> Attempt | None:
        """One attempt, or None (read consistently: it decides whether a task may be dropped)."""
        item = self._call(
            "get_item",
            Key=codec.attempt_key(message_id, endpoint_id, generation, number),
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

    def list_attempts(self, message_id: str) -> list[Attempt]:
        """Every attempt of a message, newest first."""
        items: list[codec.Item] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :p AND begins_with(sk, :a)",
            "ExpressionAttributeValues": {":p": codec.s(f"MSG#{message_id}"), ":a": codec.s("ATT#")},
        }
        while True:
            result = self._call("query", **kwargs)
            items.extend(result.get("Items", []))
            if not result.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = result["LastEvaluatedKey"]
        attempts = [codec.item_to_attempt(i) for i in items]
        return sorted(attempts, key=lambda a: (a.started_at, a.number), reverse=True)

    def list_endpoint_attempts(self, endpoint_id: str, *, limit: int, cursor: str | None) -> Page[Attempt]:
        """Attempts to an endpoint, newest first."""
        return self._query_index(f"EP#{endpoint_id}", limit, cursor, codec.item_to_attempt, forward=False)

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
