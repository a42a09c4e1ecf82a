"""A big message's fan-out pages (``MSG#`` / ``FAN#``): item layout and the DynamoDB adapter of
``FanoutStore``.

    MSG#{id}  / FAN#{n:05d}  one page of the endpoint ids a big message matched (at most 500; TTL)

Counting a page (``count_fanout_page``) updates the message item itself, once per page and storing.
"""

from __future__ import annotations

import contextlib
import json

from botocore.exceptions import ClientError

from chalicelib.aws.dynamodb.core import Table
from chalicelib.aws.dynamodb.keys import Item, KeyKind, n, s
from chalicelib.aws.dynamodb.messages import message_key
from chalicelib.models import FanoutPage

KEYS = (
    KeyKind(
        "one fan-out page of a big message",
        "MSG#{id}",
        "FAN#{n:05d}",
        note="the endpoint ids it matched, at most 500; TTL",
    ),
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


class FanoutTable(Table):
    """Fan-out pages of the table (see the module docstring)."""

    def put_fanout_page(self, page: FanoutPage) -> None:
        """One PutItem of a bounded page."""
        self._call("put_item", Item=fanout_to_item(page))

    def get_fanout_page(self, message_id: str, number: int) -> FanoutPage | None:
        """One consistent GetItem (the page was written just before the tasks that lead here)."""
        item = self._call("get_item", Key=fanout_key(message_id, number), ConsistentRead=True).get("Item")
        return item_to_fanout(item) if item else None

    def count_fanout_page(self, message_id: str, receipt_id: str, number: int, count: int) -> None:
        """One conditional UpdateItem: ADD the count, and the page to the ``fanned`` set, unless it is in."""
        with contextlib.suppress(ClientError):  # counted already, or the id was stored again since
            self._call(
                "update_item",
                Key=message_key(message_id),
                UpdateExpression="ADD endpoint_count :c, fanned :k",
                ConditionExpression="receipt_id = :r AND (attribute_not_exists(fanned) "
                "OR NOT contains(fanned, :n))",
                ExpressionAttributeValues={
                    ":c": n(count),
                    ":k": {"NS": [str(number)]},
                    ":n": n(number),
                    ":r": s(receipt_id),
                },
            )
