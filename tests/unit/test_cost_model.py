"""Figure 9's arithmetic (bench/cost.py): front doors with their volume tiers, retention, the monthly bill.

The quantities are figure 8's measurements in a run; here they are fixed, so the sums can be checked by hand.
"""

from __future__ import annotations

from collections import Counter

import pytest

from bench import cost
from bench.delivery_calls import Counts, Stage

MONTH_AT_1K = 1_000 * cost.SECONDS_PER_MONTH  # 2.63 B webhooks


def _counts(stored: float = 2_400.0) -> Counts:
    """Ten webhooks: 5 write units and 1 read unit each, one SQS send each way, 100 B of logs each."""
    n = 10
    stages = {
        "api": Stage(sqs_chunks=Counter({"SendMessage": n}), wcu=Counter({"table": 0}), stdout_bytes=0),
        "router": Stage(sqs_chunks=Counter({"SendMessageBatch": 1}), wcu=Counter({"table": 3 * n})),
        "sender": Stage(wcu=Counter({"table": 2 * n}), rcu=Counter({"table": n}), stdout_bytes=100 * n),
    }
    return Counts(
        n=n,
        stages=stages,
        esm_calls=Counter(),
        sizes={"ingest envelope": [1_500] * n, "delivery task": [500] * n},
        stored={"items": stored * 0.8, "index entries": stored * 0.2},
    )


SECONDS = {"api": 0.010, "router": 0.050, "sender": 0.200}


def test_the_front_doors_differ_only_by_their_request_price() -> None:
    base = cost.model(_counts(), seconds=SECONDS)
    doors = cost.doors(base)
    assert set(doors) == {"REST API", "HTTP API", "function URL"}
    assert doors["REST API"].dollars["front door"] == pytest.approx(3.50)
    assert doors["HTTP API"].dollars["front door"] == pytest.approx(1.00)
    assert doors["function URL"].dollars["front door"] == 0.0
    assert doors["REST API"].total - doors["function URL"].total == pytest.approx(3.50)
    # ... and every other line item is the same pipeline's
    for item in ("Lambda", "SQS", "DynamoDB", "CloudWatch Logs"):
        assert len({round(m.dollars[item], 9) for m in doors.values()}) == 1, item


def test_the_lambda_line_prices_the_durations_it_is_given() -> None:
    # GIVEN measured durations (figure 18's) WHEN priced THEN GB-seconds follow them and the memory chosen
    m = cost.model(_counts(), seconds=SECONDS)
    expected = sum(
        share * SECONDS[role] * cost.MEMORY_GB[role]
        for role, share in {"api": 1.0, "router": 0.1, "sender": 0.1}.items()
    )
    assert m.gb_seconds == pytest.approx(expected)
    slower = cost.model(_counts(), seconds={**SECONDS, "sender": 1.0})
    assert slower.dollars["Lambda"] > m.dollars["Lambda"]


def test_volume_tiers_blend_the_front_door_price_over_a_month() -> None:
    # The scale review's figures: REST $2.63/M blended at 2.6 B a month, $2.21/M at 26 B; HTTP $0.91, $0.90
    assert cost.front_door_per_m("REST API", MONTH_AT_1K) == pytest.approx(2.63, abs=0.01)
    assert cost.front_door_per_m("REST API", 10 * MONTH_AT_1K) == pytest.approx(2.21, abs=0.02)
    assert cost.front_door_per_m("HTTP API", MONTH_AT_1K) == pytest.approx(0.91, abs=0.01)
    assert cost.front_door_per_m("HTTP API", 10 * MONTH_AT_1K) == pytest.approx(0.90, abs=0.01)
    assert cost.front_door_per_m("function URL", MONTH_AT_1K) == 0.0
    assert cost.front_door_per_m("REST API", 100e6) == pytest.approx(3.50)  # within the first tier


def test_storage_scales_with_the_retention_the_stage_keeps() -> None:
    # 2.4 KB kept 30 days: the scale review's $0.58 storage and $0.46 PITR per million
    thirty = cost.storage_per_m(2_400, 30)
    assert thirty["DynamoDB storage"] == pytest.approx(0.59, abs=0.01)
    assert thirty["PITR"] == pytest.approx(0.47, abs=0.01)
    seven = cost.storage_per_m(2_400, 7)
    assert seven["DynamoDB storage"] == pytest.approx(thirty["DynamoDB storage"] * 7 / 30)
    # ... and the all-in price carries it, with the data sent to the receiver
    m = cost.model(_counts(), seconds=SECONDS, retention_days=30)
    assert m.all_in == pytest.approx(m.total + sum(thirty.values()) + 2_048 * 1e6 / 1e9 * 0.09)
    shorter = cost.model(_counts(), seconds=SECONDS, retention_days=7)
    assert shorter.total == m.total and shorter.all_in < m.all_in


def test_the_monthly_bill_is_the_all_in_price_times_a_months_webhooks_at_the_tiered_door() -> None:
    m = cost.doors(cost.model(_counts(), seconds=SECONDS))["REST API"]
    month = m.monthly("REST API", 1_000)
    tiered = m.all_in - 3.50 + cost.front_door_per_m("REST API", MONTH_AT_1K)
    assert month == pytest.approx(tiered * MONTH_AT_1K / 1e6)
    url = cost.doors(cost.model(_counts(), seconds=SECONDS))["function URL"]
    assert url.monthly("function URL", 10_000) == pytest.approx(url.all_in * 10 * MONTH_AT_1K / 1e6)


def test_the_default_retention_is_the_settings_own() -> None:
    from chalicelib.config import Settings

    assert cost.default_retention_days() == Settings().retention_seconds / 86400 == 30
