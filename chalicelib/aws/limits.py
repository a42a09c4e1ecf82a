"""DynamoDB's request and item limits that Hookway's data model must stay within, and the item-size rule.

The in-memory fake (``testkit/fakes.py``) enforces them, so a unit test fails where AWS would; the contract
suite checks them against moto too. Current AWS values (DynamoDB service quotas):

* an item, attribute names and values together: 400 KB (409,600 bytes);
* ``TransactWriteItems`` / ``TransactGetItems``: 100 actions (raised from 25 in 2022), 4 MB in all;
* ``BatchGetItem``: 100 keys and a 16 MB response (beyond it, ``UnprocessedKeys``);
* ``BatchWriteItem``: 25 puts or deletes, 16 MB;
* ``Query`` / ``Scan``: 1 MB read per page (beyond it, ``LastEvaluatedKey``).

moto (5.x) differs in ways a test must not lean on: it refuses transactions over 25 actions, takes
``BatchWriteItem`` requests over 25, and counts a binary value by its base64 text (4/3 of its bytes) against
a 405,000-byte item limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from chalicelib.errors import StorageError

MAX_ITEM_BYTES = 400 * 1024
MAX_TRANSACT_ITEMS = 100
MAX_TRANSACT_BYTES = 4 * 1024 * 1024
MAX_BATCH_GET_KEYS = 100
MAX_BATCH_WRITE_ITEMS = 25
MAX_BATCH_RESPONSE_BYTES = 16 * 1024 * 1024
MAX_QUERY_PAGE_BYTES = 1024 * 1024


def _number_size(text: str) -> int:
    """A number's size: 1 byte per two significant digits, plus 1 (at most 21 bytes)."""
    try:
        digits = "".join(map(str, Decimal(text).normalize().as_tuple().digits))
    except InvalidOperation:
        digits = "".join(c for c in text if c.isdigit())
    significant = digits.strip("0") or "0"
    return min(21, (len(significant) + 1) // 2 + 1)


def value_size(value: Mapping[str, Any]) -> int:
    """The size DynamoDB counts for one attribute value in its wire form (``{"S": ...}``, ``{"M": ...}``...)."""
    [(kind, inner)] = value.items()
    if kind == "S":
        return len(str(inner).encode("utf-8"))
    if kind == "N":
        return _number_size(str(inner))
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(v).encode("utf-8")) for v in inner)
    if kind == "NS":
        return sum(_number_size(str(v)) for v in inner)
    if kind == "BS":
        return sum(len(v) for v in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + value_size(v) for k, v in inner.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """An item's size as DynamoDB counts it: each attribute's UTF-8 name plus its value."""
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def check_item(item: Mapping[str, Mapping[str, Any]]) -> None:
    """StorageError (as the adapter raises for AWS's ValidationException) if the item is over 400 KB."""
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise StorageError(f"DynamoDB put_item failed: ValidationException (item of {size} bytes > 400 KB)")


def check_count(operation: str, count: int) -> None:
    """StorageError if one request of ``operation`` carries more items or keys than DynamoDB takes."""
    limit = {
        "TransactWriteItems": MAX_TRANSACT_ITEMS,
        "TransactGetItems": MAX_TRANSACT_ITEMS,
        "BatchGetItem": MAX_BATCH_GET_KEYS,
        "BatchWriteItem": MAX_BATCH_WRITE_ITEMS,
    }[operation]
    if count > limit:
        raise StorageError(f"DynamoDB {operation} failed: ValidationException ({count} > {limit})")
