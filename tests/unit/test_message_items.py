"""The packed layout of a message item (``chalicelib.aws.dynamodb.messages``): one write unit for a 1 KB
webhook, every field back as it was, and items of the layout before still read."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace

import pytest

from bench.fixtures import github_headers, json_body
from chalicelib.aws.dynamodb import messages
from chalicelib.aws.limits import item_size
from chalicelib.ids import new_id
from chalicelib.models import BodyRef, Message


def _webhook(body: bytes, **changes: object) -> Message:
    delivery = str(uuid.uuid4())
    source_id = new_id("src")
    headers = {k.lower(): v for k, v in github_headers(body, delivery).items()}
    message = Message(
        id=new_id("msg"),
        source_id=source_id,
        event_type="push",
        event_type_verified=False,
        status="stored",
        received_at=1_796_676_528.0102205,
        size=len(body),
        body_sha256=hashlib.sha256(body).hexdigest(),
        content_type="application/json",
        receipt_id=new_id("rcpt"),
        path=f"/in/{source_id}",
        headers=headers,
        source_ip="192.0.2.10",
        delivery_id=delivery,
        dedupe_key=f"header:{delivery}",
        body=body,
        endpoints=(new_id("ep"),),
        dedupe_until=1_796_935_728.0102205,
        expires_at=1_799_268_528.0102205,
    )
    return replace(message, **changes)  # type: ignore[arg-type]


def test_a_1_kb_webhook_is_one_write_unit_for_the_operator_and_for_an_application() -> None:
    # GIVEN the bench's 1 KB GitHub webhook (figure 8's scope)
    for owner in (None, new_id("app")):
        message = _webhook(json_body(1024), application_id=owner)
        # THEN its item is under 1 KB (the layout before took 1.2-1.4 KB: two units)
        assert item_size(messages.message_to_item(message)) <= 1024, owner
        assert item_size(messages.message_to_item_v1(message)) > 1024


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"body": b"\x00\xff" * 300, "size": 600},  # binary with NUL bytes
        {"body": b""},
        {"body": None, "body_ref": BodyRef("bucket", "key", "abc", 9), "size": 9},
        {"payload": {"a": [1, None, "x"]}, "path": "/v1/publish", "method": "POST", "query": "a=1"},
        {"event_type": None, "event_type_verified": None, "event_type_invalid": True, "source_ip": None},
        {"delivery_id": None, "dedupe_key": None, "signed_timestamp": 1_700_000_000, "headers": {}},
        {"fanout_pages": 3, "attempt_shards": 3, "endpoints": ()},
    ],
)
def test_every_field_comes_back_in_both_layouts(changes: dict[str, object]) -> None:
    message = _webhook(json_body(700))
    message = replace(message, **changes)  # type: ignore[arg-type]
    for encode in (messages.message_to_item, messages.message_to_item_v1):
        assert messages.item_to_message(encode(message)) == message, encode.__name__


def test_an_incompressible_message_is_stored_as_it_is() -> None:
    import os

    message = _webhook(os.urandom(2000), size=2000)
    item = messages.message_to_item(message)
    assert "m" in item and "mz" not in item
    assert messages.item_to_message(item) == message
