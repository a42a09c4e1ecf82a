"""Figure 21's isolation arithmetic (bench/isolation.py, bench/report.py): percentiles and ratios on fixed
latencies; no stack, no timing."""

from __future__ import annotations

import pytest

from bench import isolation
from bench.report import nearest_rank


def test_nearest_rank_takes_a_measured_value_without_interpolating() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100, shuffled order must not matter
    shuffled = values[::-1]
    assert nearest_rank(shuffled, 0.5) == 51.0  # round(0.5 * 99) = 50 (banker's rounding), index 50
    assert nearest_rank(shuffled, 0.99) == 99.0  # round(98.01) = 98
    assert nearest_rank(shuffled, 1.0) == 100.0
    assert nearest_rank(shuffled, 0.0) == 1.0
    # 90 deliveries (30 messages x 3 endpoints): the p99 is the second largest
    ninety = [float(v) for v in range(90)]
    assert nearest_rank(ninety, 0.99) == 88.0
    assert nearest_rank([7.0], 0.99) == 7.0


def test_nearest_rank_refuses_no_values() -> None:
    with pytest.raises(ValueError):
        nearest_rank([], 0.5)


def test_latencies_are_per_message_and_path_in_publish_order_in_ms() -> None:
    # GIVEN two messages published at t=10 and t=11 and their arrivals at two healthy paths
    sent = {"m2": 11.0, "m1": 10.0}
    received = {("/a", "m1"): 10.05, ("/b", "m1"): 10.2, ("/a", "m2"): 11.01, ("/b", "m2"): 11.5}
    # WHEN measured THEN one latency per pair, in publish order, in milliseconds
    got = isolation.latencies(sent, received, ["/a", "/b"])
    assert got == pytest.approx([50.0, 200.0, 10.0, 500.0])


def test_a_healthy_delivery_that_never_arrived_is_an_error_not_a_fast_one() -> None:
    sent = {"m1": 10.0, "m2": 11.0}
    received = {("/a", "m1"): 10.05, ("/a", "m2"): 11.01, ("/b", "m1"): 10.2}
    with pytest.raises(AssertionError, match="1 healthy deliveries never arrived"):
        isolation.latencies(sent, received, ["/a", "/b"])


def test_the_rows_are_beside_over_alone_for_p50_and_p99_against_the_target() -> None:
    # GIVEN 100 deliveries alone (1..100 ms) and beside (twice as slow, and a slow tail)
    alone = isolation.Phase("alone", [float(v) for v in range(1, 101)])
    beside = isolation.Phase("beside", [2.0 * v for v in range(1, 100)] + [5000.0])
    # WHEN the rows are made
    p50, p99 = isolation.ratio_rows(alone, beside, note="n")
    # THEN each compares beside (ours) with alone (reference), as a ratio against 1.2x
    assert (p50.ours, p50.reference) == (102.0, 51.0)
    assert p50.ratio == pytest.approx(2.0)
    assert (p99.ours, p99.reference) == (198.0, 99.0)  # nearest rank: the 5 s outlier is the p100
    assert p50.target == p99.target == isolation.TARGET == 1.2
    assert p50.verdict == "MISSED"  # reported, never raised
    assert isolation.ratio_rows(alone, alone, note="n")[0].verdict == "met"


def test_a_phases_halves_split_its_deliveries_in_publish_order() -> None:
    phase = isolation.Phase("alone", [1.0, 2.0, 3.0, 4.0, 5.0])
    first, second = phase.halves()
    assert first.latencies == [1.0, 2.0]
    assert second.latencies == [3.0, 4.0, 5.0]


def test_the_hanging_receiver_accepts_and_never_answers() -> None:
    import socket

    hanging = isolation.HangingReceiver()
    try:
        with socket.create_connection(("127.0.0.1", hanging.port), timeout=2) as conn:
            conn.sendall(b"POST /hang HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            conn.settimeout(0.3)
            with pytest.raises(TimeoutError):
                conn.recv(1)  # connected, and no byte comes back
            assert hanging.accepted == 1  # accepted (not merely queued by the kernel) before the wait ended
    finally:
        hanging.close()
