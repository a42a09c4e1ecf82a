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


_EVERY_TYPE: dict[str, Any] = {
    "s": {"S": "text é"},
    "empty": {"S": ""},
    "n": {"N": "-12.50"},
    "b": {"B": b"\x00\xffbytes"},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"\x01", b"\x02\x03"]},
    "null": {"NULL": True},
    "yes": {"BOOL": True},
    "no": {"BOOL": False},
    "m": {"M": {"inner": {"S": "x"}, "deep": {"M": {"b": {"B": b"\x07"}, "l": {"L": [{"N": "1"}]}}}}},
    "l": {"L": [{"S": "x"}, {"BOOL": False}, {"M": {}}, {"L": []}, {"NULL": True}]},
    "empty_m": {"M": {}},
    "empty_l": {"L": []},
}


def test_attribute_values_are_written_as_motos_own_serializer_writes_them() -> None:
    """The fast path (``attribute_value_json``) against moto's model walk, on every attribute type, nested,
    in the form moto's DynamoDB hands its serializer (``dynamo_to_dict`` of its ``DynamoType``)."""
    from moto.core import serialize
    from moto.core.responses import get_service_model
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.utilities import dynamo_to_dict

    from local.moto_speedups import attribute_value_json

    class Walk(serialize.JSONSerializer):
        _serialize = serialize.ResponseSerializer._serialize  # moto's own walk, whatever is installed

    operation = get_service_model("dynamodb").operation_model("GetItem")
    walk = Walk(
        operation_model=operation, value_picker=serialize.XFormedAttributePicker(response_transformers={})
    )
    shape = operation.output_shape.members["Item"].value
    assert shape.name == "AttributeValue"
    for name, wire in _EVERY_TYPE.items():
        value = dynamo_to_dict(DynamoType(wire))
        expected: dict[str, Any] = {}
        walk._serialize(expected, value, shape, name)
        assert attribute_value_json(value, walk._base64) == expected[name], name
    # AND a whole response reads the same both ways
    item = {name: dynamo_to_dict(DynamoType(wire)) for name, wire in _EVERY_TYPE.items()}
    fast = serialize.JSONSerializer(
        operation_model=operation, value_picker=serialize.XFormedAttributePicker()
    )
    from local import moto_speedups

    installed = serialize.BaseJSONSerializer.__dict__.get("_serialize")
    moto_speedups._install_serializer()  # in this process, for this comparison only
    try:
        body = fast.serialize({"Item": item})["body"]
    finally:
        if installed is None:
            del serialize.BaseJSONSerializer._serialize
        else:
            serialize.BaseJSONSerializer._serialize = installed
    assert json.loads(body) == json.loads(walk.serialize({"Item": item})["body"])


def test_items_of_every_type_read_back_whole_and_the_item_size_limit_holds(endpoint: str) -> None:
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
    item = {"pk": {"S": "p"}, "sk": {"S": "1"}, **_EVERY_TYPE}
    db.put_item(TableName=table, Item=item)
    key = {"pk": {"S": "p"}, "sk": {"S": "1"}}

    def same(got: dict[str, Any]) -> bool:
        # sets come back in any order
        norm = {
            k: {t: sorted(v) if t in ("SS", "NS", "BS") else v for t, v in av.items()}
            for k, av in got.items()
        }
        want = {
            k: {t: sorted(v) if t in ("SS", "NS", "BS") else v for t, v in av.items()}
            for k, av in item.items()
        }
        return norm == want

    assert same(db.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"])
    assert same(db.batch_get_item(RequestItems={table: {"Keys": [key]}})["Responses"][table][0])
    [queried] = db.query(
        TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p"}}
    )["Items"]
    assert same(queried)
    # AND an item over 400 KB is refused, built one attribute at a time or in one
    big = {"pk": {"S": "p"}, "sk": {"S": "2"}, **{f"a{i}": {"S": "x" * 100_000} for i in range(5)}}
    with pytest.raises(db.exceptions.ClientError, match="maximum allowed size"):
        db.put_item(TableName=table, Item=big)
    with pytest.raises(db.exceptions.ClientError, match="maximum allowed size"):
        db.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"S": "3"}, "a": {"S": "x" * 410_000}})
    fits = {"pk": {"S": "p"}, "sk": {"S": "4"}, **{f"a{i}": {"S": "x" * 100_000} for i in range(3)}}
    db.put_item(TableName=table, Item=fits)
    assert "Item" not in db.get_item(TableName=table, Key={"pk": {"S": "p"}, "sk": {"S": "2"}})


def test_concurrent_transactions_adding_to_one_counter_lose_no_count(endpoint: str) -> None:
    """moto's server runs a thread per connection and took no lock: concurrent counted endings (a fan-out's
    senders, each a transaction that ADDs to its shard's counter) lost a count now and then."""
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
    counter = {"pk": {"S": "C"}, "sk": {"S": "SUM"}}

    def end(worker: int) -> None:
        client = aws.client("dynamodb", endpoint)
        for number in range(60):
            attempt = {"pk": {"S": f"a{worker}-{number}"}, "sk": {"S": "x"}, "pad": {"S": "y" * 500}}
            client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": table, "Item": attempt}},
                    {
                        "Update": {
                            "TableName": table,
                            "Key": counter,
                            "UpdateExpression": "ADD n :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                ]
            )

    threads = [threading.Thread(target=end, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert db.get_item(TableName=table, Key=counter, ConsistentRead=True)["Item"]["n"] == {"N": "480"}


def test_an_index_query_pages_through_its_partition_in_the_index_order(endpoint: str) -> None:
    """An index Query no longer sorts the table before keeping its partition: it still answers in the
    index's order (its sort key, ties by the table's keys), across pages, with the other partitions out."""
    db = aws.client("dynamodb", endpoint)
    table = f"t-{uuid.uuid4().hex[:10]}"
    db.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "g", "gs")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
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
        item = {"pk": {"S": f"M#{i % 7}"}, "sk": {"S": f"S{i:03d}"}, "n": {"N": str(i)}}
        if i % 3:  # a third of the items are not in the index
            item.update(g={"S": f"D#{i % 2}"}, gs={"S": f"{i % 5}"})  # ties on gs: the table's keys order
        db.put_item(TableName=table, Item=item)
    paged: list[Any] = []
    start: dict[str, Any] = {}
    while True:
        page = db.query(
            TableName=table,
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


def test_expressions_kept_per_string_bind_each_requests_own_names_and_values(endpoint: str) -> None:
    """The emulator keeps a condition's tokens and an update expression's tree per expression string: a
    second request with the same strings and other values (or names) must be judged by its own."""
    db = aws.client("dynamodb", endpoint)
    table = f"t-{uuid.uuid4().hex[:10]}"
    db.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    key = {"pk": {"S": "k"}}

    def add(amount: int, below: int, name: str = "n") -> None:
        db.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="ADD #f :amount",
            ConditionExpression="attribute_not_exists(#f) OR #f < :below",
            ExpressionAttributeNames={"#f": name},
            ExpressionAttributeValues={":amount": {"N": str(amount)}, ":below": {"N": str(below)}},
        )

    # WHEN the same two expressions run with other values and names each time
    add(5, 100)
    add(7, 100)
    with pytest.raises(db.exceptions.ConditionalCheckFailedException):
        add(1, 12)  # n is 12: not below 12
    add(2, 13)
    add(3, 0, name="m")  # another attribute behind the same placeholder
    # THEN each request was judged and applied with its own values and names
    item = db.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert item["n"] == {"N": "14"} and item["m"] == {"N": "3"}
    # AND a malformed expression is still refused, after a valid one was kept
    with pytest.raises(db.exceptions.ClientError):
        db.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="ADD n :amount",
            ConditionExpression="n <",
            ExpressionAttributeValues={":amount": {"N": "1"}},
        )


def test_request_ids_and_receipt_handles_keep_their_shape_and_differ(sqs: Any) -> None:
    url = _queue(sqs)
    for n in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
    received = _receive(sqs, url)
    handles = [m["ReceiptHandle"] for m in received]
    assert len(handles) == 5 and len(set(handles)) == 5
    assert all(len(h) == 185 and h.isalpha() and h.islower() for h in handles)
    ids = {
        sqs.get_queue_url(QueueName=url.rsplit("/", 1)[1])["ResponseMetadata"]["RequestId"] for _ in range(5)
    }
    assert len(ids) == 5 and all(len(i) == 52 and i.isalnum() for i in ids)


def test_attribute_values_are_read_as_motos_own_parser_reads_them() -> None:
    """The fast path (``attribute_value_parsed``) against moto's model-driven parser, on every attribute
    type, nested, in a request's JSON (blobs in base64), and a whole PutItem request both ways."""
    import base64

    from moto.core import parse
    from moto.core.responses import get_service_model

    from local import moto_speedups
    from local.moto_speedups import _GENERIC, attribute_value_parsed

    def wire(value: Any) -> Any:  # the JSON boto3 sends for _EVERY_TYPE's values
        ((kind, inner),) = value.items()
        if kind == "B":
            return {kind: base64.b64encode(inner).decode()}
        if kind == "BS":
            return {kind: [base64.b64encode(v).decode() for v in inner]}
        if kind == "M":
            return {kind: {name: wire(v) for name, v in inner.items()}}
        if kind == "L":
            return {kind: [wire(v) for v in inner]}
        return {kind: inner}

    installed = parse.BaseJSONParser.__dict__["_parse_structure"]
    motos_own = getattr(installed, "original", installed)
    operation = get_service_model("dynamodb").operation_model("PutItem")
    shape = operation.input_shape.members["Item"].value
    assert shape.name == "AttributeValue"
    item = {name: wire(value) for name, value in _EVERY_TYPE.items()}
    body = json.dumps({"TableName": "t", "Item": item, "ConditionExpression": "attribute_not_exists(s)"})
    request = {"method": "POST", "values": {}, "headers": {}, "body": body.encode(), "url_path": "/"}
    parser = parse.JSONParser(operation)
    parse.BaseJSONParser._parse_structure = motos_own  # type: ignore[method-assign]
    try:
        expected = {name: parser._parse_shape(shape, value) for name, value in item.items()}
        whole = parse.JSONParser(operation).parse(request)  # type: ignore[arg-type]
        moto_speedups._install_parser()  # in this process, for this comparison only
        fast = parse.JSONParser(operation).parse(request)  # type: ignore[arg-type]
    finally:
        parse.BaseJSONParser._parse_structure = installed  # type: ignore[method-assign]
    for name, value in item.items():
        assert attribute_value_parsed(value, parser._blob_parser) == expected[name], name
    # AND a whole request reads the same both ways
    assert fast == whole and fast["Item"]["b"] == {"B": b"\x00\xffbytes"}
    # AND what the fast path leaves to the walk: null, two type keys, an unknown key, a wrong JSON type
    for odd in ({"S": None}, {"S": "a", "N": "1"}, {"X": "a"}, {"N": 1}, {"M": []}, {"SS": [1]}):
        assert attribute_value_parsed(odd, parser._blob_parser) is _GENERIC, odd


def test_a_table_query_keeps_its_sort_key_condition_order_and_pages(endpoint: str) -> None:
    """The emulator tests a table Query's sort key condition before ordering the partition: every
    condition, both directions, across pages, answers what the partition's sorted items say."""
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
    sks = [f"ATT#ep{e % 7}#{n:03d}" for e in range(7) for n in range(9)] + ["META", "ATT#", "B", "é"]
    for start in range(0, len(sks), 25):
        db.batch_write_item(
            RequestItems={
                table: [
                    {"PutRequest": {"Item": {"pk": {"S": "P"}, "sk": {"S": sk}}}}
                    for sk in sks[start : start + 25]
                ]
            }
        )
    db.put_item(TableName=table, Item={"pk": {"S": "other"}, "sk": {"S": "ATT#ep1#000"}})
    cases = [
        ("begins_with(sk, :a)", {":a": {"S": "ATT#ep3#"}}, lambda s: s.startswith("ATT#ep3#")),
        (
            "sk BETWEEN :a AND :b",
            {":a": {"S": "ATT#ep1#004"}, ":b": {"S": "ATT#ep4"}},
            lambda s: "ATT#ep1#004" <= s <= "ATT#ep4",
        ),
        ("sk < :a", {":a": {"S": "ATT#ep2"}}, lambda s: s < "ATT#ep2"),
        ("sk >= :a", {":a": {"S": "B"}}, lambda s: s >= "B"),
        ("sk = :a", {":a": {"S": "META"}}, lambda s: s == "META"),
    ]
    for condition, values, keep in cases:
        for forward in (True, False):
            want = sorted((s for s in sks if keep(s)), reverse=not forward)
            got: list[str] = []
            start_key = None
            while True:
                page = db.query(
                    TableName=table,
                    KeyConditionExpression=f"pk = :p AND {condition}",
                    ExpressionAttributeValues={":p": {"S": "P"}, **values},
                    ScanIndexForward=forward,
                    Limit=4,
                    **({"ExclusiveStartKey": start_key} if start_key else {}),
                )
                got += [item["sk"]["S"] for item in page["Items"]]
                start_key = page.get("LastEvaluatedKey")
                if not start_key:
                    break
            assert got == want, (condition, forward)
    newest = db.query(
        TableName=table,
        KeyConditionExpression="pk = :p AND begins_with(sk, :a)",
        ExpressionAttributeValues={":p": {"S": "P"}, ":a": {"S": "ATT#ep5#"}},
        ScanIndexForward=False,
        Limit=1,
    )
    assert [i["sk"]["S"] for i in newest["Items"]] == ["ATT#ep5#008"]
