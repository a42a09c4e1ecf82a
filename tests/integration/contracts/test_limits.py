"""The contract of DynamoDB's item and request limits: one behavioural suite, run against the in-memory fake and DynamoDB on moto."""

from __future__ import annotations

import os
from typing import Any

import pytest

from chalicelib.errors import NotFoundError, StorageError
from testkit.fakes import FakeClock
from tests.integration.contracts.builders import (
    _endpoint,
    _message,
)


class TestLimits:
    """What DynamoDB refuses, the fake refuses too (chalicelib.aws.limits); moto is checked alongside."""

    def test_an_item_over_400_kb_is_refused_and_one_under_is_kept(self, store: Any, clock: FakeClock) -> None:
        # GIVEN a message whose inline body does not compress and makes the item larger than 400 KB
        big = _message(clock, body=os.urandom(420_000), size=420_000)
        # WHEN it is stored THEN both refuse it with a StorageError (DynamoDB's ValidationException)
        with pytest.raises(StorageError):
            store.store_message(big, clock())
        with pytest.raises(NotFoundError):
            store.get_message(big.id)
        # ... and a message well inside the limit is kept (moto counts binary as base64: 250 KB -> 333 KB)
        fits = _message(clock, body=os.urandom(250_000), size=250_000)
        assert store.store_message(fits, clock())
        assert store.get_message(fits.id).body == fits.body
        # ... the same for a string attribute (an endpoint's headers)
        with pytest.raises(StorageError):
            store.put_endpoint(_endpoint(clock, headers={"X-Big": "a" * 420_000}))
        kept = _endpoint(clock, headers={"X-Big": "a" * 300_000})
        store.put_endpoint(kept)
        assert store.get_endpoint(kept.id) == kept

    def test_reads_of_more_than_100_items_are_split_into_batches(self, store: Any, clock: FakeClock) -> None:
        # GIVEN 120 endpoints of one owner (BatchGetItem takes at most 100 keys a call)
        made = {_endpoint(clock, application_id="app_many").id for _ in range(120)}
        for endpoint_id in made:
            store.put_endpoint(_endpoint(clock, id=endpoint_id, application_id="app_many"))
        # WHEN the router's load reads them all THEN every one comes back
        assert {e.id for e in store.endpoints_of("app_many")} == made

    def test_request_limits_as_aws_and_moto_enforce_them(self, endpoint: str) -> None:
        from botocore.exceptions import ClientError

        from chalicelib.aws import limits
        from testkit import aws

        db = aws.client("dynamodb", endpoint)
        table = aws.create_state_table(endpoint)

        def key(i: int) -> dict[str, Any]:
            return {"pk": {"S": f"LIMIT#{i}"}, "sk": {"S": "META"}}

        def refused(call: Any, **kwargs: Any) -> bool:
            try:
                call(**kwargs)
            except ClientError as exc:
                return exc.response["Error"]["Code"] == "ValidationException"
            return False

        # BatchWriteItem: 25 puts, not 26. moto 5 takes 26 as well: only chalicelib.aws.limits (the fake's
        # check) stands for AWS here
        puts = [{"PutRequest": {"Item": key(i)}} for i in range(26)]
        db.batch_write_item(RequestItems={table: puts[:25]})
        with pytest.raises(StorageError):
            limits.check_count("BatchWriteItem", 26)
        # BatchGetItem: 100 keys, not 101
        db.batch_get_item(RequestItems={table: {"Keys": [key(i) for i in range(100)]}})
        assert refused(db.batch_get_item, RequestItems={table: {"Keys": [key(i) for i in range(101)]}})
        with pytest.raises(StorageError):
            limits.check_count("BatchGetItem", 101)
        # TransactWriteItems: AWS takes 100 actions; moto still stops at 25, so no test may lean on 26-100
        actions = [{"Put": {"TableName": table, "Item": key(1000 + i)}} for i in range(101)]
        assert refused(db.transact_write_items, TransactItems=actions)
        with pytest.raises(StorageError):
            limits.check_count("TransactWriteItems", 101)
        limits.check_count("TransactWriteItems", 100)
        # An item over 400 KB by the size rule is refused
        item = {**key(2000), "blob": {"S": "a" * 410_000}}
        assert limits.item_size(item) > limits.MAX_ITEM_BYTES
        assert refused(db.put_item, TableName=table, Item=item)
