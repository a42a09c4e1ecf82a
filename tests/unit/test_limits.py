"""DynamoDB's limits: the item-size rule, and the fake refusing what AWS refuses."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from chalicelib.aws import limits
from chalicelib.aws.dynamodb import messages
from chalicelib.errors import StorageError
from chalicelib.models import Endpoint, Message
from testkit.fakes import FakeClock, MemoryStore


def test_the_size_rule_counts_names_and_values_as_dynamodb_does() -> None:
    # Strings and binary by their bytes, names in UTF-8
    assert limits.item_size({"pk": {"S": "abc"}}) == 2 + 3
    assert limits.item_size({"é": {"S": "é"}, "b": {"B": b"\x00\x01"}}) == 2 + 2 + 1 + 2
    # Numbers: 1 byte per two significant digits, plus 1; leading and trailing zeros do not count
    assert limits.value_size({"N": "7"}) == 2
    assert limits.value_size({"N": "1234"}) == 3
    assert limits.value_size({"N": "12345"}) == 4
    assert limits.value_size({"N": "1000000"}) == limits.value_size({"N": "0.001"}) == 2
    assert limits.value_size({"N": "1800000000.123456"}) == 1 + 16 // 2  # 16 significant digits
    # Booleans and null 1 byte; a list or map 3 bytes, plus 1 per element (and a map's keys)
    assert limits.value_size({"BOOL": True}) == limits.value_size({"NULL": True}) == 1
    assert limits.value_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (1 + 2) + (1 + 2)
    assert limits.value_size({"M": {"k": {"S": "v"}}}) == 3 + 1 + 1 + 1
    assert limits.value_size({"SS": ["a", "bc"]}) == 3


def test_the_limits_are_the_current_aws_ones() -> None:
    assert limits.MAX_ITEM_BYTES == 409_600
    assert limits.MAX_TRANSACT_ITEMS == 100  # 25 until 2022; moto 5 still says 25
    assert (limits.MAX_BATCH_GET_KEYS, limits.MAX_BATCH_WRITE_ITEMS) == (100, 25)
    for operation, limit in (
        ("TransactWriteItems", 100),
        ("TransactGetItems", 100),
        ("BatchGetItem", 100),
        ("BatchWriteItem", 25),
    ):
        limits.check_count(operation, limit)
        with pytest.raises(StorageError, match="ValidationException"):
            limits.check_count(operation, limit + 1)


def _message(clock: FakeClock, body: bytes) -> Message:
    return Message(
        id="msg_big",
        source_id="src_a",
        event_type="push",
        status="stored",
        received_at=clock(),
        size=len(body),
        body_sha256="abc",
        content_type="application/octet-stream",
        receipt_id="r1",
        headers={},
        body=body,
        dedupe_until=clock() + 60,
        expires_at=clock() + 86400,
    )


def test_the_fake_refuses_an_item_over_400_kb_as_dynamodb_does() -> None:
    clock = FakeClock()
    store = MemoryStore(clock)
    # GIVEN a message whose inline body does not compress: 420 KB in the item
    big = _message(clock, os.urandom(420_000))
    assert limits.item_size(messages.message_to_item(big)) > limits.MAX_ITEM_BYTES
    # WHEN it is stored THEN it is refused (a StorageError, as the adapter raises for ValidationException)
    with pytest.raises(StorageError, match="ValidationException"):
        store.store_message(big, clock())
    assert store.messages == {}
    # ... and one that fits is kept
    assert store.store_message(replace(big, body=os.urandom(390_000)), clock())


def test_the_fake_refuses_an_endpoint_item_over_400_kb() -> None:
    clock = FakeClock()
    store = MemoryStore(clock)
    endpoint = Endpoint(id="ep_1", url="https://x.example/", created_at=0, updated_at=0)
    with pytest.raises(StorageError):
        store.put_endpoint(replace(endpoint, headers={"X-Big": "a" * 410_000}))
    store.put_endpoint(replace(endpoint, headers={"X-Big": "a" * 300_000}))
