"""Publish idempotency keys (``IDEM#``): item layout and the DynamoDB adapter of ``IdempotencyStore``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.aws.dynamodb.core import Table
from chalicelib.aws.dynamodb.keys import (
    KeyKind,
    n,
    s,
)
from chalicelib.errors import StorageError

if TYPE_CHECKING:
    pass


KEYS = (
    KeyKind(
        "idempotency key", "IDEM#{key}", "META", note="an application's: `IDEM#{application}:{key}`; TTL 24 h"
    ),
)


class IdempotencyTable(Table):
    """The idempotency of the table (see the module docstring)."""

    def remember_idempotency_key(
        self, key: str, body_sha256: str, message_id: str, now: float, ttl: int
    ) -> tuple[str, str]:
        """One conditional write; on conflict the existing record comes back with the error (no extra read)."""
        item_key = {"pk": s(f"IDEM#{key}"), "sk": s("META")}
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    **item_key,
                    "message_id": s(message_id),
                    "body_sha256": s(body_sha256),
                    "expires_at": n(now + ttl),
                    "ttl": n(int(now + ttl)),
                },
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": n(now)},
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
