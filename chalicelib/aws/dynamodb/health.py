"""An endpoint's health: its failure clock, disabling it, and the "needs attention" index over both
(``EP#`` items, gsi3 ``EP_ATTENTION#{s}``): the DynamoDB adapter of ``EndpointHealthStore``. The layout is
the endpoint's own (``chalicelib.aws.dynamodb.endpoints``): an endpoint item carries its attention entry."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.aws.dynamodb.core import _SHARD_START, _key_at
from chalicelib.aws.dynamodb.endpoints import (
    ATTENTION_PARTITION,
    ATTENTION_PARTITIONS,
    EndpointTable,
    attention_partition,
    attention_range,
    attention_sort_key,
    endpoint_key,
    item_to_endpoint,
)
from chalicelib.aws.dynamodb.keys import Item, n, s
from chalicelib.errors import BadRequestError
from chalicelib.models import Endpoint
from chalicelib.ports import Page, decode_cursor, encode_cursor


class EndpointHealthTable(EndpointTable):
    """Endpoints' health on the table (an endpoint's attention entry moves with its failure and disabling)."""

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
                        Key=endpoint_key(endpoint_id),
                        UpdateExpression="REMOVE failing_since, gsi3pk, gsi3sk",
                        ConditionExpression="attribute_exists(pk) AND attribute_exists(failing_since) "
                        "AND enabled = :true",
                        ExpressionAttributeValues={":true": {"BOOL": True}},
                    )
                except ClientError:
                    # Disabled meanwhile (rare: the sender skips disabled endpoints), or nothing to clear.
                    self._call(
                        "update_item",
                        Key=endpoint_key(endpoint_id),
                        UpdateExpression="REMOVE failing_since",
                        ConditionExpression="attribute_exists(pk) AND attribute_exists(failing_since)",
                    )
            else:
                self._call(
                    "update_item",
                    Key=endpoint_key(endpoint_id),
                    UpdateExpression="SET failing_since = :t, gsi3pk = :p, gsi3sk = :k",
                    ConditionExpression="attribute_exists(pk) AND attribute_not_exists(failing_since)",
                    ExpressionAttributeValues={
                        ":t": n(since),
                        ":p": s(attention_partition(endpoint_id)),
                        ":k": s(attention_sort_key(since, endpoint_id)),
                    },
                )
        except ClientError:
            pass  # already in that state (another worker got there first) or deleted

    def disable_endpoint(self, endpoint_id: str, reason: str, now: float) -> bool:
        """Disable an enabled endpoint; True if this call disabled it."""
        try:
            result = self._call(
                "update_item",
                Key=endpoint_key(endpoint_id),
                UpdateExpression="SET enabled = :f, disabled_reason = :r, updated_at = :t, "
                "gsi3pk = :p, gsi3sk = :k",
                ConditionExpression="attribute_exists(pk) AND enabled = :true",
                ExpressionAttributeValues={
                    ":f": {"BOOL": False},
                    ":true": {"BOOL": True},
                    ":r": s(reason),
                    ":t": n(now),
                    ":p": s(attention_partition(endpoint_id)),
                    ":k": s(attention_sort_key(now, endpoint_id)),
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError:
            return False
        self._bump(result.get("Attributes", {}).get("application_id", {}).get("S"))
        return True

    def attention_endpoints(self, *, limit: int) -> list[Endpoint]:
        """The shards of gsi3 ``EP_ATTENTION`` merged, newest change first, and a BatchGetItem of the endpoints."""
        items, _ = self._sharded_page("gsi3", ATTENTION_PARTITION, limit, None)
        return [item_to_endpoint(item) for item in items]

    def attention_due(
        self, until: float, *, after: float | None, limit: int, cursor: str | None
    ) -> Page[Endpoint]:
        """Range Queries of gsi3 (each attention partition in turn, oldest change first) and a BatchGetItem
        of the endpoints found; the cursor is the partition's position and the last key read in it."""
        partitions = ATTENTION_PARTITIONS
        position = decode_cursor(cursor, 4)
        shard = 0
        start: dict[str, Any] | None = None
        if position is not None:
            if not position[0].isdigit() or int(position[0]) >= len(partitions):
                raise BadRequestError("the cursor is not valid", code="invalid_cursor")
            shard = int(position[0])
            if position[1] != _SHARD_START:
                start = _key_at(position[1:], "gsi3", partitions[shard])
        low, high = attention_range(after, until)
        keys: list[Item] = []
        next_cursor: str | None = None
        while True:
            values: dict[str, Any] = {":p": s(partitions[shard]), ":hi": s(high)}
            condition = "gsi3pk = :p AND gsi3sk <= :hi"
            if low is not None:
                condition = "gsi3pk = :p AND gsi3sk BETWEEN :lo AND :hi"
                values[":lo"] = s(low)
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
        return Page([item_to_endpoint(item) for item in self._fetch(keys)], next_cursor)
