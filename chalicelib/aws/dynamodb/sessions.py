"""Console sessions (``SESSION#``): item layout and the DynamoDB adapter of ``SessionStore``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.aws.dynamodb.core import Table
from chalicelib.aws.dynamodb.keys import (
    Item,
    KeyKind,
    n,
    s,
)

if TYPE_CHECKING:
    pass


def session_key(digest: str) -> Item:
    """The primary key of a console session item."""
    return {"pk": s(f"SESSION#{digest}"), "sk": s("META")}


SESSIONS = "SESSIONS"  # the gsi1 partition of console sessions


KEYS = (
    KeyKind(
        "console session",
        "SESSION#{keyed digest of its id}",
        "META",
        gsi1='SESSIONS / {expires_at}#{digest} ("end all sessions")',
        note="TTL: its end",
    ),
)


class SessionTable(Table):
    """The sessions of the table (see the module docstring)."""

    def put_session(self, digest: str, expires_at: float) -> None:
        """One item per session, gone with its TTL after it ends."""
        self._call(
            "put_item",
            Item={
                **session_key(digest),
                "gsi1pk": s(SESSIONS),
                "gsi1sk": s(f"{expires_at:017.6f}#{digest}"),
                "expires_at": n(expires_at),
                "ttl": n(int(expires_at)),
            },
        )

    def session_expires_at(self, digest: str) -> float | None:
        """When the session ends (read consistently: a sign-out is seen at once)."""
        item = self._call("get_item", Key=session_key(digest), ConsistentRead=True).get("Item")
        return float(item["expires_at"]["N"]) if item else None

    def delete_session(self, digest: str) -> None:
        """Sign out."""
        self._call("delete_item", Key=session_key(digest))

    def end_sessions(self) -> int:
        """Delete every session item (a handful: one per sign-in of the last 8 hours), found on gsi1."""
        keys: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": s(SESSIONS)},
        }
        while True:
            page = self._call("query", **request)
            keys.extend({"pk": item["pk"], "sk": item["sk"]} for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        for key in keys:
            self._call("delete_item", Key=key)
        return len(keys)
