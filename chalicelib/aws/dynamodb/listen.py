"""Deliveries waiting for a listen session's CLI (``LISTEN#``): item layout and the DynamoDB adapter of
``ListenStore``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.aws.dynamodb.core import Table
from chalicelib.aws.dynamodb.keys import (
    Item,
    KeyKind,
    n,
    s,
)
from chalicelib.models import (
    Pulled,
)

if TYPE_CHECKING:
    pass


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


KEYS = (
    KeyKind(
        "a delivery waiting for a listen session", "LISTEN#{endpoint}", "Q#{queued_at}-{claim}", note="TTL"
    ),
)


class ListenTable(Table):
    """The listen of the table (see the module docstring)."""

    def put_pulled(self, pulled: Pulled) -> None:
        """Keep a delivery for a listen session's CLI to pull."""
        self._call("put_item", Item=pulled_to_item(pulled))

    def list_pulled(self, endpoint_id: str, *, after: str | None, limit: int) -> list[Pulled]:
        """A listen session's waiting deliveries after the cursor, oldest first (one consistent query)."""
        start = pulled_key(endpoint_id, after)["sk"] if after is not None else s("Q#")
        result = self._call(
            "query",
            KeyConditionExpression="pk = :p AND sk > :after",
            ExpressionAttributeValues={":p": s(f"LISTEN#{endpoint_id}"), ":after": start},
            ConsistentRead=True,
            Limit=limit,
        )
        now = self._clock()
        items = [i for i in result.get("Items", []) if float(i["ttl"]["N"]) > now]
        return [item_to_pulled(i) for i in items]

    def get_pulled(self, endpoint_id: str, seq: str) -> Pulled | None:
        """One waiting delivery, or None."""
        item = self._call("get_item", Key=pulled_key(endpoint_id, seq), ConsistentRead=True).get("Item")
        return item_to_pulled(item) if item else None

    def delete_pulled(self, endpoint_id: str, seq: str) -> None:
        """Forget a waiting delivery; no error if it is gone."""
        self._call("delete_item", Key=pulled_key(endpoint_id, seq))
