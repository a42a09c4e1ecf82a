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
from chalicelib.models import Message, Rejection, Source

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
    valid = (isinstance(key, dict) and set(key) == expected_keys
             and all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in key.values()))
    if not valid:
        raise BadRequestError("the cursor is not valid", code="invalid_cursor")
    return key


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
            self._call("delete_item", Key=codec.source_key(source_id),
                       ConditionExpression="attribute_exists(pk)")
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
        item = self._call("get_item", Key=codec.message_key(message_id)).get("Item")
        if not item or float(item["expires_at"]["N"]) <= self._clock():
            raise NotFoundError(f"no message {message_id!r}", code="message_not_found")
        return codec.item_to_message(item)

    def list_messages(self, *, source_id: str, limit: int, cursor: str | None) -> Page[Message]:
        """Messages of a source, newest first."""
        return self._query_index(f"SRC#{source_id}", limit, cursor, codec.item_to_message, forward=False)

    def _query_index(self, partition: str, limit: int, cursor: str | None,
                     decode: Callable[[codec.Item], T], *, forward: bool) -> Page[T]:
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
        return Page([decode(item) for item in result.get("Items", [])],
                    encode_cursor(result.get("LastEvaluatedKey")))

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
        item = self._call("get_item", Key={"pk": codec.s(f"SRC#{source_id}"),
                                           "sk": codec.s("STATS")}).get("Item") or {}
        return {k.removeprefix("rejected_"): int(v["N"]) for k, v in item.items() if k.startswith("rejected_")}
