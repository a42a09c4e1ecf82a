"""The retry schedule, jitter, Retry-After parsing and the per-attempt decision."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.outbound.retry import (
    DEFAULT_SCHEDULE,
    MAX_STEP_SECONDS,
    MAX_STEPS,
    Decision,
    classify,
    next_delay,
    parse_retry_after,
    validate_schedule,
)

NOW = 1_700_000_000.0


def middle() -> float:
    return 0.5


# --- schedule --------------------------------------------------------------------------------------


def test_default_schedule_is_the_standard_webhooks_one() -> None:
    assert DEFAULT_SCHEDULE == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    # about 27 h 35 m from first to last attempt
    assert sum(DEFAULT_SCHEDULE) == 27 * 3600 + 35 * 60 + 5
    assert validate_schedule(DEFAULT_SCHEDULE) == DEFAULT_SCHEDULE


def test_next_delay_walks_the_schedule_then_stops() -> None:
    delays = [next_delay(DEFAULT_SCHEDULE, made, middle) for made in range(len(DEFAULT_SCHEDULE) + 2)]
    assert delays == [float(step) for step in DEFAULT_SCHEDULE] + [None, None]


@pytest.mark.parametrize("sample, expected", [(0.0, 240.0), (0.5, 300.0), (0.999999, 359.99976)])
def test_next_delay_jitters_within_20_percent(sample: float, expected: float) -> None:
    assert next_delay(DEFAULT_SCHEDULE, 2, lambda: sample) == pytest.approx(expected)


@given(
    schedule=st.lists(st.integers(0, MAX_STEP_SECONDS), min_size=1, max_size=MAX_STEPS).map(tuple),
    made=st.integers(0, MAX_STEPS + 2),
    sample=st.floats(0.0, 1.0, exclude_max=True),
)
def test_next_delay_is_always_within_the_jitter_band(
    schedule: tuple[int, ...], made: int, sample: float
) -> None:
    delay = next_delay(schedule, made, lambda: sample)
    if made >= len(schedule):
        assert delay is None
    else:
        assert delay is not None
        assert 0.8 * schedule[made] - 1e-9 <= delay < 1.2 * schedule[made] + 1e-9


@pytest.mark.parametrize("made", [-1, True, 1.0])
def test_next_delay_refuses_bad_attempt_counts(made: object) -> None:
    with pytest.raises(ValueError):
        next_delay(DEFAULT_SCHEDULE, made, middle)  # type: ignore[arg-type]


@pytest.mark.parametrize("sample", [1.0, -0.1, float("nan")])
def test_next_delay_refuses_rand_outside_unit_interval(sample: float) -> None:
    with pytest.raises(ValueError):
        next_delay(DEFAULT_SCHEDULE, 1, lambda: sample)


def test_validate_schedule_accepts_lists_from_config() -> None:
    assert validate_schedule([0, 60, 3600]) == (0, 60, 3600)


@pytest.mark.parametrize(
    "bad, message",
    [
        ([], "at least one"),
        ([0] * (MAX_STEPS + 1), "at most"),
        ([0, -5], "negative"),
        ([0, MAX_STEP_SECONDS + 1], "7 days"),
        ([0, 1.5], "integer"),
        ([0, "60"], "integer"),
        ([0, True], "integer"),
        ("0,5,300", "must be a list"),
    ],
)
def test_validate_schedule_refuses_with_a_clear_message(bad: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_schedule(bad)  # type: ignore[arg-type]


# --- Retry-After -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("-5", 0.0),
        (format_datetime(datetime.fromtimestamp(NOW + 90, tz=UTC), usegmt=True), 90.0),  # IMF-fixdate
        ("Tue, 14 Nov 2023 22:15:20 GMT", 120.0),  # NOW is 22:13:20 that day
        (format_datetime(datetime.fromtimestamp(NOW - 600, tz=UTC), usegmt=True), 0.0),  # in the past
    ],
)
def test_parse_retry_after(value: str, expected: float) -> None:
    assert parse_retry_after(value, NOW) == pytest.approx(expected)


def test_parse_retry_after_understands_all_three_http_date_forms() -> None:
    now = datetime(1994, 11, 6, 8, 48, 37, tzinfo=UTC).timestamp()
    for value in (
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
    ):
        assert parse_retry_after(value, now) == pytest.approx(60.0)


@pytest.mark.parametrize(
    "junk", [None, "", "   ", "soon", "1.5", "1e3", "0x10", "Sun, 99 Foo 1994", "9" * 5000]
)
def test_parse_retry_after_junk_is_none(junk: str | None) -> None:
    assert parse_retry_after(junk, NOW) is None


@given(st.text(max_size=64))
def test_parse_retry_after_never_raises(value: str) -> None:
    result = parse_retry_after(value, NOW)
    assert result is None or result >= 0


# --- classify ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_succeeds(status: int) -> None:
    assert classify(status, None, None, DEFAULT_SCHEDULE) == Decision(
        "succeeded", throttled=False, min_delay=None
    )


@pytest.mark.parametrize("status", [300, 301, 302, 303, 304, 307, 308])
def test_3xx_is_a_failure_to_retry(status: int) -> None:
    assert classify(status, None, None, DEFAULT_SCHEDULE) == Decision("retry")


def test_410_disables_the_endpoint() -> None:
    assert classify(410, None, None, DEFAULT_SCHEDULE).outcome == "disable"


@pytest.mark.parametrize("status", [429, 502, 504])
def test_throttling_statuses(status: int) -> None:
    assert classify(status, None, None, DEFAULT_SCHEDULE) == Decision("retry", throttled=True)


@pytest.mark.parametrize("status", [100, 400, 401, 403, 404, 408, 413, 500, 501, 503, 599, 600, 0])
def test_other_statuses_retry_unthrottled(status: int) -> None:
    assert classify(status, None, None, DEFAULT_SCHEDULE) == Decision("retry")


@pytest.mark.parametrize(
    "error_class",
    ["timeout", "tls_error", "connect_error", "dns_error", "protocol_error", "blocked_destination"],
)
def test_transport_errors_retry(error_class: str) -> None:
    assert classify(None, error_class, None, DEFAULT_SCHEDULE) == Decision("retry")


def test_retry_after_is_honoured_and_capped_at_the_longest_step() -> None:
    assert classify(429, None, 120.0, DEFAULT_SCHEDULE) == Decision("retry", throttled=True, min_delay=120.0)
    assert classify(503, None, 10**9, DEFAULT_SCHEDULE).min_delay == 36000.0
    assert classify(503, None, -3.0, DEFAULT_SCHEDULE).min_delay == 0.0
    assert classify(503, None, float("inf"), DEFAULT_SCHEDULE).min_delay is None


def test_retry_after_does_not_override_success_or_disable() -> None:
    assert classify(200, None, 60.0, DEFAULT_SCHEDULE) == Decision("succeeded")
    assert classify(410, None, 60.0, DEFAULT_SCHEDULE) == Decision("disable")


def test_classify_needs_a_status_or_an_error() -> None:
    with pytest.raises(ValueError):
        classify(None, None, None, DEFAULT_SCHEDULE)


def test_decision_is_frozen() -> None:
    decision = classify(429, None, None, DEFAULT_SCHEDULE)
    with pytest.raises(AttributeError):
        decision.outcome = "succeeded"  # type: ignore[misc]
