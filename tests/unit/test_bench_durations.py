"""Figure 18's split of a Lambda invocation (bench/memory.py): own CPU time measured, AWS calls and POSTs
counted, the duration modelled on AWS from them. Fixed records, no process, no timing."""

from __future__ import annotations

import pytest

from bench import memory

MAIN, T1, T2 = 1, 2, 3


def _sender_batch() -> dict[str, object]:
    """A sender batch of 2 as the probe records it: the handler's thread reads the endpoints and records the
    batch; each task's thread claims (PutItem) and POSTs; the second task also writes a counter."""
    return {
        "cpu_ms": 30.0,
        "wall_ms": 400.0,
        "main": MAIN,
        "records": [
            [MAIN, "aws", "dynamodb.BatchGetItem", 50.0, 1.0],
            [T1, "aws", "dynamodb.PutItem", 80.0, 1.0],
            [T2, "aws", "dynamodb.PutItem", 90.0, 1.0],
            [T1, "post", "POST", 20.0, 0.5],
            [T2, "post", "POST", 25.0, 0.5],
            [T2, "aws", "dynamodb.UpdateItem", 60.0, 1.0],
            [MAIN, "aws", "dynamodb.PutItem", 70.0, 1.0],
        ],
    }


def test_a_split_counts_every_call_and_the_ones_on_the_critical_path() -> None:
    one = memory.split(_sender_batch())
    assert one.cpu_ms == 30.0 and one.wall_ms == 400.0
    assert one.aws_calls == 5
    # the handler's thread's 2 + the busiest task thread's 2 (T2: PutItem, UpdateItem); T1 overlaps T2
    assert one.aws_path == 4
    assert one.aws_ms == pytest.approx(350.0)
    assert (one.posts, one.post_path, one.post_ms) == (2, 1, pytest.approx(45.0))
    assert one.ops == {"dynamodb.BatchGetItem": 1, "dynamodb.PutItem": 3, "dynamodb.UpdateItem": 1}


def test_calls_all_on_the_handlers_thread_are_all_on_the_path() -> None:
    router = {
        "cpu_ms": 20.0,
        "wall_ms": 300.0,
        "main": MAIN,
        "records": [[MAIN, "aws", "dynamodb.PutItem", 30.0, 1.0]] * 10,
    }
    one = memory.split(router)
    assert (one.aws_calls, one.aws_path, one.posts, one.post_path) == (10, 10, 0, 0)


def test_the_modelled_duration_is_own_cpu_at_the_share_plus_calls_and_posts_at_the_stated_latencies() -> None:
    one = memory.split(_sender_batch())
    # GIVEN a full vCPU (1,769 MB): CPU counts once
    duration, gb_s = memory.modelled(one, memory.FULL_VCPU_MB)
    expected = 30.0 + 4 * memory.AWS_CALL_MS + 1 * memory.RECEIVER_MS
    assert duration == pytest.approx(expected)
    assert gb_s == pytest.approx(expected / 1000 * memory.FULL_VCPU_MB / 1024)
    # GIVEN a quarter of that memory: only the CPU part stretches; the waits on AWS and receivers do not
    quarter = memory.FULL_VCPU_MB / 4
    assert memory.modelled(one, int(quarter))[0] == pytest.approx(
        30.0 / (int(quarter) / memory.FULL_VCPU_MB) + 4 * memory.AWS_CALL_MS + memory.RECEIVER_MS
    )
    # ... and moto's measured waits (350 ms inside calls) are not in it
    assert duration < one.wall_ms


def test_the_stated_latencies_are_the_documented_ones() -> None:
    # DynamoDB's "single-digit millisecond", its top; a receiver answering in 100 ms
    assert memory.AWS_CALL_MS == 10.0
    assert memory.RECEIVER_MS == 100.0
    text = memory.assumptions()
    assert "AWS_CALL_MS" in text and "RECEIVER_MS" in text and "10 ms" in text and "100 ms" in text


def test_a_mean_split_averages_counts_and_operations() -> None:
    a = memory.split(_sender_batch())
    b = memory.Split(
        cpu_ms=10.0,
        wall_ms=100.0,
        aws_calls=1,
        aws_path=1,
        aws_ms=10.0,
        posts=0,
        post_path=0,
        post_ms=0.0,
        ops={"sqs.SendMessage": 1},
    )
    mean = memory.mean_split([a, b])
    assert mean.cpu_ms == 20.0 and mean.aws_calls == 3 and mean.aws_path == 2.5 and mean.post_path == 0.5
    assert mean.ops["dynamodb.PutItem"] == 1.5 and mean.ops["sqs.SendMessage"] == 0.5


def test_warm_invocations_leave_out_the_first() -> None:
    cold = {"cpu_ms": 500.0, "wall_ms": 900.0, "main": MAIN, "records": []}
    found = {"calls": [cold, _sender_batch(), _sender_batch()]}
    assert memory.warm_split(found).cpu_ms == 30.0
    assert memory.warm_split({"calls": [cold]}).cpu_ms == 500.0  # only one: it is all there is


def test_the_cost_figure_prices_the_modelled_durations_and_names_the_raw_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bench import cost
    from infra.stack import MEMORY

    # GIVEN figure 18's measurements (fixed): moto made every wait slow
    cold = {"cpu_ms": 500.0, "wall_ms": 900.0, "main": MAIN, "records": []}
    api = {
        "cpu_ms": 2.0,
        "wall_ms": 40.0,
        "main": MAIN,
        "records": [[MAIN, "aws", "sqs.SendMessage", 37.0, 0.5]],
    }
    found = {
        "api": {"calls": [cold, api]},
        "router": {"calls": [cold, _sender_batch()]},
        "sender": {"calls": [cold, _sender_batch()]},
    }
    monkeypatch.setattr(memory, "_LAST", found)
    # WHEN the cost figure takes its durations
    seconds, where = cost._durations()
    # THEN it prices the modelled ones ...
    api_share = MEMORY["api_handler"] / memory.FULL_VCPU_MB
    assert seconds["api"] == pytest.approx((2.0 / api_share + memory.AWS_CALL_MS) / 1000)
    assert seconds["sender"] == pytest.approx(
        memory.modelled(memory.split(_sender_batch()), MEMORY["deliver"])[0] / 1000
    )
    # ... and says so, with the raw ones (not priced) beside them
    raw_api = memory.estimate(2.0, 40.0, MEMORY["api_handler"])[0]
    assert "modelled on AWS" in where and "AWS_CALL_MS" in where
    assert f"raw on moto, not priced: api {raw_api:.1f} ms" in where
