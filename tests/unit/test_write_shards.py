"""No partition key takes more than its share of a one-entity load: the DynamoDB adapter's writes, recorded.

The adapter runs on a client that only records (``bench.scale.WriteRecorder``, the scale model's own
accounting), so every key it writes is counted by the table or index it lands on.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench.scale import DATA_MODEL_KEYS, WriteRecorder, key_kind, key_rates_markdown, long_run_rate
from chalicelib.aws.dynamo import DynamoStore
from chalicelib.aws.dynamodb import attempts
from chalicelib.aws.dynamodb.keys import INDEX_SHARDS
from chalicelib.models import Attempt, Message
from testkit.fakes import FakeClock

S = INDEX_SHARDS
N = 1600  # webhooks of one source, one application, to one endpoint
DAY = 86400.0


class RecordingClient:
    """A DynamoDB client that accepts every write and records it."""

    def __init__(self, recorder: WriteRecorder) -> None:
        self.recorder = recorder

    def put_item(self, **params: Any) -> dict[str, Any]:
        self.recorder.record("PutItem", params)
        return {}

    def update_item(self, **params: Any) -> dict[str, Any]:
        self.recorder.record("UpdateItem", params)
        return {}

    def batch_write_item(self, **params: Any) -> dict[str, Any]:
        self.recorder.record("BatchWriteItem", params)
        return {}


def _id(prefix: str, i: int) -> str:
    return f"{prefix}_{hashlib.sha256(f'{prefix}{i}'.encode()).hexdigest()[:32]}"


def _message(clock: FakeClock, i: int) -> Message:
    return Message(
        id=_id("msg", i),
        source_id=_id("src", -1),
        event_type="order.paid",
        status="stored",
        received_at=clock() + i / 1000,
        size=2,
        body_sha256="x",
        content_type="application/json",
        receipt_id=f"r{i}",
        body=b"{}",
        dedupe_until=clock() + 60,
        expires_at=clock() + 30 * DAY,
        application_id=_id("app", -1),
    )


def _claim(message: Message, i: int, batch: str) -> Attempt:
    return Attempt(
        message_id=message.id,
        endpoint_id=_id("ep", -1),
        number=1,
        claim_id=f"c{i}",
        started_at=message.received_at + 0.5,
        status="in_flight",
        delivery_status="pending",
        lease_until=message.received_at + 30,
        expires_at=message.received_at + 30 * DAY,
        batch=batch,
    )


def _one_entity_load(*, failing: bool = True) -> WriteRecorder:
    """N webhooks of one source and application to one endpoint, as the pipeline writes them: router
    batches of ten (each message stored, then the batch listed in one call) and sender batches of ten
    (each claimed with its batch; the successes recorded by one ``finish_batch``). With ``failing``, every
    other attempt ends failed on its own item, a flush of the hourly counters per ten, and N endpoints
    turn failing at once (a mass incident)."""
    clock = FakeClock()
    recorder = WriteRecorder()
    store = DynamoStore(RecordingClient(recorder), "t", clock, pick_shard=random.Random(7).randrange)  # type: ignore[arg-type]
    for b in range(N // 10):
        batch = [_message(clock, b * 10 + i) for i in range(10)]
        for message in batch:
            assert store.store_message(message, clock(), defer_listing=True)
        store.list_messages(_id("lb", b), batch)
        sender = _id("rb", b)
        done = []
        for i, message in enumerate(batch):
            claim = _claim(message, b * 10 + i, sender)
            assert store.claim_attempt(claim, clock())
            if failing and i % 2:
                assert store.finish_attempt(replace(claim, status="failed", delivery_status="failed"))
            else:
                done.append(replace(claim, status="succeeded", delivery_status="succeeded"))
        store.finish_batch(sender, done)
        if failing:
            store.add_counts(3600 * 500_000, {"received": 10, "delivered": 10})
            for i in range(10):
                store.set_endpoint_failing(_id("ep", b * 10 + i), clock())
    return recorder


@pytest.fixture(scope="module")
def load() -> WriteRecorder:
    return _one_entity_load()


def test_every_key_of_a_one_entity_load_takes_about_one_shard_of_it(load: WriteRecorder) -> None:
    # GIVEN one source, application and endpoint taking every webhook (and N endpoints failing at once)
    by_base: dict[tuple[str, str], Counter[str]] = {}
    for (target, key), units in load.units.items():
        if target != "table" or key.startswith(("STATS#", "LIST#")):
            base = key.rsplit("#", 1)[0]
            by_base.setdefault((target, base), Counter())[key] = units
    kinds = {(target, key_kind(base)) for target, base in by_base}
    # THEN each index key every message or attempt writes, and the hourly counters, are sharded ...
    assert kinds == {
        ("gsi1", "EP#{endpoint}"),  # the failures, on their own items
        ("gsi2", "END#failed#{day}"),
        ("gsi3", "EP_ATTENTION"),
        ("table", "STATS#{hour}"),
        ("table", "LIST#DAY#{day}"),  # the packed listings: one item per batch and key
        ("table", "LIST#SRC#{source}"),
        ("table", "LIST#APP#{application}"),
        ("table", "LIST#EP#{endpoint}"),
    }
    for (target, base), keys in by_base.items():
        total = sum(keys.values())
        # ... over all S keys, none of which takes much more than 1/S of the base's writes (a hash of
        # the ids spreads them: 800-1,600 per index base, 100 per shard on average; a packed base takes
        # 160 items, one per batch, hashed by batch id: 10 per shard on average, sampled)
        assert len(keys) == S, (target, base)
        spread = 2.2 if base.startswith("LIST#") else 1.5
        assert max(keys.values()) <= spread * total / S, (target, base, keys.most_common(1))


def test_at_the_design_point_no_key_of_a_one_entity_load_nears_the_partition_limit(
    load: WriteRecorder,
) -> None:
    # WHEN the load runs at 5,000 webhooks/s on that one entity
    for target, kind in {(t, key_kind(k)) for t, k in load.units}:
        rate = long_run_rate(load, target, kind, N, 5000, S)
        # THEN no key but a message's own (bounded per message) takes even half of 1,000 units/s
        assert rate is None or rate <= 500, (target, kind, rate)


def test_a_delivered_webhook_costs_at_most_3_write_units_by_key() -> None:
    # GIVEN N webhooks of one source and application, each delivered on its first try, as the pipeline
    # writes them (router and sender batches of ten), every write recorded by the key it lands on
    load = _one_entity_load(failing=False)
    per_webhook: Counter[tuple[str, str]] = Counter()
    for (target, key), units in load.units.items():
        per_webhook[(target, key_kind(key))] += units / N
    # THEN the message and its claim are a unit each, and everything else is packed per batch: the
    # result item and one listing item per key (day, source, application, endpoint), a tenth each
    assert {kind: round(units, 2) for kind, units in per_webhook.items()} == {
        ("table", "MSG#{message}"): 2.0,
        ("table", "RES#{batch}"): 0.1,
        ("table", "LIST#DAY#{day}#{s}"): 0.1,
        ("table", "LIST#SRC#{source}#{s}"): 0.1,
        ("table", "LIST#APP#{application}#{s}"): 0.1,
        ("table", "LIST#EP#{endpoint}#{s}"): 0.1,
    }
    # AND no index entry is written for a delivered webhook: 2.5 write units in all (at most 3)
    total = round(sum(per_webhook.values()), 2)
    assert total == 2.5 and total <= 3


def test_the_recorder_accounts_index_moves_and_removals() -> None:
    recorder = WriteRecorder()
    recorder.record("PutItem", {"Item": {"pk": {"S": "EP#ep_1"}, "sk": {"S": "META"}}})
    recorder.record(
        "UpdateItem",
        {
            "Key": {"pk": {"S": "EP#ep_1"}, "sk": {"S": "META"}},
            "UpdateExpression": "SET failing_since = :t, gsi3pk = :p, gsi3sk = :k",
            "ExpressionAttributeValues": {":t": {"N": "1"}, ":p": {"S": "EP_ATTENTION#3"}, ":k": {"S": "x"}},
        },
    )
    recorder.record(
        "UpdateItem",
        {
            "Key": {"pk": {"S": "EP#ep_1"}, "sk": {"S": "META"}},
            "UpdateExpression": "REMOVE failing_since, gsi3pk, gsi3sk",
        },
    )
    assert recorder.units[("gsi3", "EP_ATTENTION#3")] == 2  # the entry written, then deleted
    assert recorder.units[("table", "EP#ep_1")] == 3
    assert key_kind("END#failed#2027-01-15#12") == "END#failed#{day}#{s}"


def test_the_data_model_document_has_the_generated_rate_table() -> None:
    # GIVEN the rate table as bench/scale.py generates it from the shard count
    doc = (Path(__file__).resolve().parents[2] / "docs" / "data-model.md").read_text()
    begin, end = "<!-- key-rates:begin -->\n", "<!-- key-rates:end -->"
    # THEN docs/data-model.md holds exactly that table (regenerate: python -m bench.scale --doc)
    assert doc.split(begin, 1)[1].split(end, 1)[0] == key_rates_markdown(S)
    # AND no key in it takes 1,000 write units/s at either load
    for row in key_rates_markdown(S).splitlines()[2:]:
        for cell in row.split(" | ")[-2:]:
            number = cell.strip(" |").replace(",", "")
            assert not number.isdigit() or int(number) < 1000, row


def test_the_document_names_every_key_kind_the_adapter_writes(load: WriteRecorder) -> None:
    documented = {key for _, keys, *_ in DATA_MODEL_KEYS for key in keys.split(", ")}
    written = {key_kind(key) for _, key in load.units}
    undocumented = {
        kind
        for kind in written
        if kind.replace("#{s}", "").replace("failed", "{failed\\|skipped}")
        not in {d.replace("#{s}", "") for d in documented}
    }
    assert undocumented == set()


def test_a_big_fan_out_spreads_its_attempt_writes_under_1000_per_key_by_the_model() -> None:
    import hashlib as h
    from collections import Counter as C

    from bench.scale import (
        FANOUT_MODEL_KEY_RATES,
        WARM_DELIVERIES_PER_S,
        cold_peak_rate,
        fanout_attempt_model,
    )
    from chalicelib.models import attempt_shards_for

    # GIVEN the adapter's own claim and result writes of a 1,200-endpoint fan-out (3 pages), recorded
    before, after = fanout_attempt_model(1_200, 0), fanout_attempt_model(1_200)
    # THEN before, one key took all 2,400 units; now 3 keys, each about a third, 2 units per delivery
    assert (before.keys, before.busiest) == (1, 2_400)
    assert after.shards == 3 and after.keys == 3 and after.units == 2_400 and after.busiest < 1_000
    # AND at 50,000 endpoints (100 pages) the busiest of 100 keys stays under 1,000 units/s at the
    # model's rates (what docs/data-model.md states: the same ids, 2 units per delivery)
    ids = ("ep_" + h.sha256(str(i).encode()).hexdigest()[:32] for i in range(50_000))
    busiest = 2 * max(
        C(attempts.attempt_partition("msg_x", e, attempt_shards_for(100)) for e in ids).values()
    )
    cold, warm = (busiest / 50_000 * rate for rate in (cold_peak_rate(50_000), WARM_DELIVERIES_PER_S))
    assert (round(cold), round(warm)) == FANOUT_MODEL_KEY_RATES
    assert warm < 1_000 and 2 * 50_000 / 50_000 * WARM_DELIVERIES_PER_S > 1_000  # (one key: over)


def test_the_delivery_counter_measurement_follows_the_adapters_transactions() -> None:
    """``bench.scale`` prints the delivery counters' contention from the adapter's own writes: every counted
    ending is one transaction on one of the message's counter items (one per attempt shard)."""
    from bench.scale import CounterContention, counter_contention

    model = counter_contention(2_000)
    assert model.transactions == 2_000 and model.items == model.shards == 4
    assert model.transactions / model.items <= model.busiest < model.transactions
    assert model.item_rate(1_000) == model.busiest / 2_000 * 1_000
    assert CounterContention.conflict_share(0, 0.01) == 0
    assert 0.6 < CounterContention.conflict_share(100, 0.01) < 0.7  # 1 - e^-1
