"""The local emulator's speed-ups (``local/moto_speedups.py``): SQS's semantics kept, big queues held.

Each test runs on the session's emulator (``local.emulator.start_moto``, which installs them), over
HTTP with an ordinary boto3 client, as the local stack's workers use it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import boto3
import pytest

from testkit import aws


@pytest.fixture
def sqs(endpoint: str) -> Any:
    return aws.client("sqs", endpoint)


def _queue(sqs: Any, **attributes: str) -> str:
    url: str = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:10]}", Attributes=attributes)["QueueUrl"]
    return url


def _receive(sqs: Any, url: str, *, wait: int = 0, visibility: int | None = None, n: int = 10) -> list[Any]:
    kwargs: dict[str, Any] = {
        "QueueUrl": url,
        "MaxNumberOfMessages": n,
        "WaitTimeSeconds": wait,
        "AttributeNames": ["All"],
    }
    if visibility is not None:
        kwargs["VisibilityTimeout"] = visibility
    messages: list[Any] = sqs.receive_message(**kwargs).get("Messages", [])
    return messages


def test_a_received_message_comes_back_after_its_visibility_timeout_with_its_receive_count(sqs: Any) -> None:
    url = _queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="a")
    [first] = _receive(sqs, url, visibility=1)
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"
    assert _receive(sqs, url) == []  # in flight
    time.sleep(1.3)
    [again] = _receive(sqs, url, visibility=30)
    assert again["Body"] == "a" and again["Attributes"]["ApproximateReceiveCount"] == "2"
    # AND a visibility change to 0 makes it receivable at once; any handle it had deletes it
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=0)
    [third] = _receive(sqs, url, visibility=30)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=third["ReceiptHandle"])  # already gone: no error
    assert _receive(sqs, url) == []
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")


def test_redrive_to_the_dead_letter_queue_after_max_receive_count(sqs: Any) -> None:
    dlq = _queue(sqs)
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = _queue(sqs, RedrivePolicy=json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 2}))
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    for _ in range(2):
        [message] = _receive(sqs, url, visibility=30)
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    assert _receive(sqs, url) == []  # its third receive moved it
    [dead] = _receive(sqs, dlq)
    assert dead["Body"] == "poison"


def test_a_delayed_message_is_received_only_after_its_delay(sqs: Any) -> None:
    url = _queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    sqs.send_message(QueueUrl=url, MessageBody="now")
    assert [m["Body"] for m in _receive(sqs, url, visibility=30)] == ["now"]
    time.sleep(1.2)
    assert [m["Body"] for m in _receive(sqs, url, visibility=30)] == ["later"]


def test_a_long_poll_wakes_when_a_message_is_sent(sqs: Any) -> None:
    url = _queue(sqs)
    got: list[Any] = []
    waiting = threading.Thread(target=lambda: got.extend(_receive(sqs, url, wait=5)))
    started = time.monotonic()
    waiting.start()
    time.sleep(0.3)
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    waiting.join(timeout=10)
    assert [m["Body"] for m in got] == ["hello"] and time.monotonic() - started < 3


def test_receive_and_delete_do_not_slow_down_with_the_queue_length(sqs: Any) -> None:
    # GIVEN 5,000 queued messages (moto alone walks every one on each receive, delete and send)
    url = _queue(sqs)
    for start in range(0, 5_000, 10):
        entries = [{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    # WHEN drained by batches of 10, as the local stack's workers do
    seen: set[str] = set()
    started = time.monotonic()
    while len(seen) < 5_000 and time.monotonic() - started < 120:
        batch = _receive(sqs, url, visibility=60)
        seen.update(m["Body"] for m in batch)
        if batch:
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )
    elapsed = time.monotonic() - started
    # THEN each came once, and a receive + delete stayed cheap (moto alone: ~0.5-5 s each at this length)
    assert seen == {f"m{i}" for i in range(5_000)}
    print(f"\n500 receive + delete batches over 5,000 messages: {elapsed:.1f} s")
    assert elapsed / 500 < 0.25
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "0"


def test_the_emulator_logs_no_line_per_successful_request_but_keeps_errors() -> None:
    import logging

    from local.moto_speedups import _QuietAccessLog

    def record(code: str) -> logging.LogRecord:
        msg = '127.0.0.1 - - [07/Dec/2026 18:29:17] "%s" %s %s'  # werkzeug's access line, as logged
        return logging.LogRecord("werkzeug", logging.INFO, "", 0, msg, ("POST / HTTP/1.1", code, "-"), None)

    quiet = _QuietAccessLog()
    assert not quiet.filter(record("200"))
    assert quiet.filter(record("400")) and quiet.filter(record("500"))
    announce = logging.LogRecord("werkzeug", logging.INFO, "", 0, " * Running on %s", ("http://x",), None)
    assert quiet.filter(announce)


def test_a_transaction_costs_the_items_it_names_and_a_cancelled_one_leaves_them_as_they_were(
    endpoint: str,
) -> None:
    db = aws.client("dynamodb", endpoint)
    table = f"t-{uuid.uuid4().hex[:10]}"
    db.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    # GIVEN a table of 3,000 items (moto alone deep-copies all of them for every transaction)
    for start in range(0, 3_000, 25):
        db.batch_write_item(
            RequestItems={
                table: [
                    {"PutRequest": {"Item": {"pk": {"S": f"p{i}"}, "sk": {"S": "x"}, "n": {"N": "0"}}}}
                    for i in range(start, start + 25)
                ]
            }
        )

    def add(pk: str, condition: str = "attribute_exists(pk)") -> dict[str, Any]:
        return {
            "Update": {
                "TableName": table,
                "Key": {"pk": {"S": pk}, "sk": {"S": "x"}},
                "UpdateExpression": "ADD n :one",
                "ConditionExpression": condition,
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        }

    # WHEN 200 transactions of two updates run
    started = time.monotonic()
    for i in range(200):
        db.transact_write_items(TransactItems=[add(f"p{i}"), add(f"p{i + 1000}")])
    elapsed = time.monotonic() - started
    # THEN each stayed cheap, and both of its writes were applied
    print(f"\n200 transactions over a table of 3,000 items: {elapsed:.1f} s")
    assert elapsed / 200 < 0.05
    counts = {
        pk: db.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": "x"}})["Item"]["n"]["N"]
        for pk in ("p0", "p1000", "p2999")
    }
    assert counts == {"p0": "1", "p1000": "1", "p2999": "0"}
    # AND a transaction cancelled by its second condition leaves its first item (applied) and a new one
    # (created) as they were
    put = {"Put": {"TableName": table, "Item": {"pk": {"S": "new"}, "sk": {"S": "x"}}}}
    with pytest.raises(db.exceptions.TransactionCanceledException):
        db.transact_write_items(TransactItems=[add("p0"), put, add("p1", "attribute_not_exists(pk)")])
    item = db.get_item(TableName=table, Key={"pk": {"S": "p0"}, "sk": {"S": "x"}})["Item"]
    assert item["n"]["N"] == "1"
    assert "Item" not in db.get_item(TableName=table, Key={"pk": {"S": "new"}, "sk": {"S": "x"}})


def test_dynamodb_item_answers_and_index_queries_are_moto_s_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """In this process (moto's decorator, restored after): every item answer written out directly is the
    one moto's serializer writes (binary, sets, nested, NULL, counts, pages, capacity, missing items), and
    an index Query, which no longer sorts the table first, pages through the index in its order."""
    from moto import mock_aws
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoResult

    from local import moto_speedups

    for cls, name in ((Table, "query"), (Table, "all_items"), (DynamoResult, "execute_result")):
        monkeypatch.setattr(cls, name, getattr(cls, name))  # put back at teardown
    original = DynamoResult.execute_result
    moto_speedups._install_dynamodb()
    shortcut = DynamoResult.execute_result
    compared: list[str] = []

    def both(self: Any, context: Any) -> Any:
        theirs, ours = original(self, context), shortcut(self, context)
        name = context.operation_model.name
        assert (ours[0], json.loads(ours[2])) == (theirs[0], json.loads(theirs[2])), name
        assert ours[1]["Content-Type"] == theirs[1]["Content-Type"]
        compared.append(name)
        return ours

    monkeypatch.setattr(DynamoResult, "execute_result", both)
    with mock_aws():
        db = boto3.client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        keys = ("pk", "sk", "g", "gs")
        db.create_table(
            TableName="t",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in keys],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "gsi",
                    "KeySchema": [
                        {"AttributeName": "g", "KeyType": "HASH"},
                        {"AttributeName": "gs", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        for i in range(40):
            item = {
                "pk": {"S": f"M#{i % 7}"},
                "sk": {"S": f"S{i:03d}"},
                "n": {"N": str(i)},
                "b": {"B": bytes([i, 0, 255])},
                "bs": {"BS": [b"x", bytes([i])]},
                "ss": {"SS": ["a", f"b{i}"]},
                "m": {
                    "M": {"in": {"L": [{"S": "é☃"}, {"NULL": True}, {"BOOL": False}, {"NS": ["1", "2.5"]}]}}
                },
            }
            if i % 3:
                item.update(g={"S": f"D#{i % 2}"}, gs={"S": f"{i % 5}"})  # ties on gs: the table key orders
            db.put_item(TableName="t", Item=item)
        for capacity in ("NONE", "INDEXES"):
            one = {"ExpressionAttributeValues": {":p": {"S": "M#1"}}, "ReturnConsumedCapacity": capacity}
            page = db.query(TableName="t", KeyConditionExpression="pk = :p", Limit=3, **one)
            db.query(
                TableName="t",
                KeyConditionExpression="pk = :p",
                ExclusiveStartKey=page["LastEvaluatedKey"],
                **one,
            )
            db.query(TableName="t", KeyConditionExpression="pk = :p", Select="COUNT", **one)
            db.query(TableName="t", KeyConditionExpression="pk = :p", ProjectionExpression="sk, b", **one)
            db.scan(TableName="t", Limit=5, ReturnConsumedCapacity=capacity)
            for sk in ("S001", "none"):
                db.get_item(
                    TableName="t", Key={"pk": {"S": "M#1"}, "sk": {"S": sk}}, ReturnConsumedCapacity=capacity
                )
            wanted = [{"pk": {"S": f"M#{i % 7}"}, "sk": {"S": f"S{i:03d}"}} for i in range(0, 40, 3)]
            db.batch_get_item(RequestItems={"t": {"Keys": [*wanted, {"pk": {"S": "x"}, "sk": {"S": "y"}}]}})
            db.transact_get_items(
                TransactItems=[
                    {"Get": {"TableName": "t", "Key": k}}
                    for k in (wanted[0], {"pk": {"S": "x"}, "sk": {"S": "y"}})
                ]
            )
        paged: list[Any] = []
        start: dict[str, Any] = {}
        while True:
            page = db.query(
                TableName="t",
                IndexName="gsi",
                KeyConditionExpression="g = :g AND gs > :s",
                ExpressionAttributeValues={":g": {"S": "D#1"}, ":s": {"S": "0"}},
                ScanIndexForward=False,
                Limit=4,
                **start,
            )
            paged += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
        want = sorted(
            (i for i in range(40) if i % 3 and i % 2 == 1 and i % 5 > 0),
            key=lambda i: (str(i % 5), f"M#{i % 7}", f"S{i:03d}"),
            reverse=True,
        )
        assert [int(item["n"]["N"]) for item in paged] == want
        assert paged[0]["b"]["B"] == bytes([want[0], 0, 255])
    assert {"Query", "Scan", "GetItem", "BatchGetItem", "TransactGetItems"} <= set(compared)
