"""EventBridge event patterns (chalicelib.filters.pattern): each operator's documented semantics, as test
vectors written from EventBridge's documentation (the pattern nested under "payload", the field Hookway
matches a message's JSON body under), validation, and properties: matching never raises and is linear."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.filters.pattern import (
    BUDGET_PATH,
    MAX_DEPTH,
    MAX_MATCH_STEPS,
    PatternError,
    compile_pattern,
    document,
)


def doc(payload: Any, **others: Any) -> dict[str, Any]:
    return {"event_type": "order.created", "source": "api", "application": None, "headers": {}, **others,
            "payload": payload}  # fmt: skip


def matches(payload_pattern: dict[str, Any], payload: Any) -> bool:
    return compile_pattern({"payload": payload_pattern}).matches(doc(payload))


# ------------------------------------------------------------------------ documented operator semantics


def test_exact_values_and_arrays_of_alternatives() -> None:
    # GIVEN a pattern with alternatives for one field and a value for another (AND across fields)
    pattern = {"kind": ["ec2", "rds"], "state": ["terminated"]}
    # THEN any alternative matches, every field must
    assert matches(pattern, {"kind": "rds", "state": "terminated"})
    assert not matches(pattern, {"kind": "rds", "state": "running"})
    assert not matches(pattern, {"kind": "s3", "state": "terminated"})
    # AND strings are case-sensitive and exact
    assert not matches(pattern, {"kind": "EC2", "state": "terminated"})


def test_an_array_in_the_message_matches_when_any_element_does() -> None:
    pattern = {"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]}
    assert matches(
        pattern, {"resources": ["arn:other", "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]}
    )
    assert not matches(pattern, {"resources": ["arn:other"]})
    assert not matches(pattern, {"resources": []})


def test_an_array_of_objects_matches_when_one_element_matches_the_whole_object_pattern() -> None:
    pattern = {"items": {"sku": ["A"], "qty": [{"numeric": [">", 10]}]}}
    assert matches(pattern, {"items": [{"sku": "B", "qty": 50}, {"sku": "A", "qty": 11}]})
    # the sku of one element and the quantity of another do not combine
    assert not matches(pattern, {"items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 50}]})


def test_nested_fields_and_missing_fields() -> None:
    pattern = {"detail": {"state": ["terminated"]}}
    assert matches(pattern, {"detail": {"state": "terminated", "other": 1}})
    assert not matches(pattern, {"detail": {}})
    assert not matches(pattern, {})
    assert not matches(pattern, "not an object")


def test_null_and_empty_string_are_distinct_and_null_is_not_missing() -> None:
    assert matches({"eventVersion": [""]}, {"eventVersion": ""})
    assert not matches({"eventVersion": [""]}, {"eventVersion": None})
    assert matches({"responseElements": [None]}, {"responseElements": None})
    assert not matches({"responseElements": [None]}, {"responseElements": ""})
    assert not matches({"responseElements": [None]}, {})


def test_numbers_compare_as_numbers_and_never_as_strings_or_booleans() -> None:
    assert matches({"amount": [300]}, {"amount": 300.0})
    assert matches({"amount": [3.018e2]}, {"amount": 301.8})
    assert not matches({"amount": [300]}, {"amount": "300"})
    assert not matches({"flag": [1]}, {"flag": True})
    assert matches({"flag": [True]}, {"flag": True})
    assert not matches({"flag": [True]}, {"flag": 1})


def test_prefix_and_prefix_ignoring_case() -> None:
    assert matches({"time": [{"prefix": "2017-10-02"}]}, {"time": "2017-10-02T18:43:48Z"})
    assert not matches({"time": [{"prefix": "2017-10-02"}]}, {"time": "2017-10-03T00:00:00Z"})
    assert not matches({"time": [{"prefix": "20"}]}, {"time": 2017})  # strings only
    ignoring = {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}
    assert matches(ignoring, {"service": "eventbridge"})
    assert matches(ignoring, {"service": "EVENTBRIDGE"})
    assert not matches(ignoring, {"service": "SQS"})


def test_suffix_and_suffix_ignoring_case() -> None:
    assert matches({"FileName": [{"suffix": ".png"}]}, {"FileName": "image.png"})
    assert not matches({"FileName": [{"suffix": ".png"}]}, {"FileName": "image.PNG"})
    assert matches({"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}, {"FileName": "image.PNG"})
    assert not matches({"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}, {"FileName": "png.txt"})


def test_equals_ignore_case() -> None:
    assert matches({"name": [{"equals-ignore-case": "alice"}]}, {"name": "ALICE"})
    assert matches({"name": [{"equals-ignore-case": "alice"}]}, {"name": "aLiCe"})
    assert not matches({"name": [{"equals-ignore-case": "alice"}]}, {"name": "alice2"})


def test_wildcard() -> None:
    assert matches({"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]},
                   {"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/default"})  # fmt: skip
    assert matches({"key": [{"wildcard": "dir/*.png"}]}, {"key": "dir/abc.png"})
    assert not matches({"key": [{"wildcard": "dir/*.png"}]}, {"key": "dir/abc.txt"})
    assert matches({"region": [{"wildcard": "us-*-1"}]}, {"region": "us-east-1"})
    assert not matches({"region": [{"wildcard": "us-*-1"}]}, {"region": "eu-west-1"})
    # a star also stands for nothing; escapes make literal stars and backslashes
    assert matches({"k": [{"wildcard": "a*b"}]}, {"k": "ab"})
    assert matches({"k": [{"wildcard": "a\\*b"}]}, {"k": "a*b"})
    assert not matches({"k": [{"wildcard": "a\\*b"}]}, {"k": "axxb"})
    assert matches({"k": [{"wildcard": "a\\\\b"}]}, {"k": "a\\b"})
    # the leftmost choice of a middle segment never loses a match that exists
    assert matches({"k": [{"wildcard": "*ab*abc"}]}, {"k": "xabababc"})


def test_anything_but_values() -> None:
    assert matches({"state": [{"anything-but": "initializing"}]}, {"state": "running"})
    assert not matches({"state": [{"anything-but": "initializing"}]}, {"state": "initializing"})
    assert matches({"x-limit": [{"anything-but": 123}]}, {"x-limit": 456})
    assert not matches({"x-limit": [{"anything-but": 123}]}, {"x-limit": 123.0})
    listed = {"state": [{"anything-but": ["stopped", "overloaded"]}]}
    assert matches(listed, {"state": "running"})
    assert not matches(listed, {"state": "overloaded"})
    numbers = {"x-limit": [{"anything-but": [100, 200, 300]}]}
    assert matches(numbers, {"x-limit": 150})
    assert not matches(numbers, {"x-limit": 200})
    # a missing field is not "anything but"
    assert not matches({"state": [{"anything-but": "initializing"}]}, {})


def test_anything_but_prefix_suffix_ignore_case_and_wildcard() -> None:
    assert matches({"state": [{"anything-but": {"prefix": "init"}}]}, {"state": "running"})
    assert not matches({"state": [{"anything-but": {"prefix": "init"}}]}, {"state": "initializing"})
    assert matches({"FileName": [{"anything-but": {"suffix": ".txt"}}]}, {"FileName": "a.png"})
    assert not matches({"FileName": [{"anything-but": {"suffix": ".txt"}}]}, {"FileName": "a.txt"})
    ignoring = {"state": [{"anything-but": {"equals-ignore-case": ["initializing", "stopped"]}}]}
    assert matches(ignoring, {"state": "running"})
    assert not matches(ignoring, {"state": "STOPPED"})
    wild = {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}
    assert matches(wild, {"FilePath": "/usr/bin/python"})
    assert not matches(wild, {"FilePath": "/usr/lib/python"})


def test_numeric_ranges() -> None:
    pattern = {"c-count": [{"numeric": [">", 0, "<=", 5]}]}
    assert matches(pattern, {"c-count": 5})
    assert matches(pattern, {"c-count": 0.5})
    assert not matches(pattern, {"c-count": 0})
    assert not matches(pattern, {"c-count": 6})
    assert not matches(pattern, {"c-count": "3"})  # only numbers
    assert matches({"d-count": [{"numeric": ["<", 10]}]}, {"d-count": -1e9})
    assert matches({"x-limit": [{"numeric": ["=", 3.018e2]}]}, {"x-limit": 301.8})
    assert matches({"n": [{"numeric": [">=", 10]}]}, {"n": 10})
    assert not matches({"n": [{"numeric": [">", 10]}]}, {"n": 10})
    assert not matches({"n": [{"numeric": [">", 10]}]}, {"n": True})


def test_exists() -> None:
    assert matches({"c-count": [{"exists": True}]}, {"c-count": 4})
    assert matches({"c-count": [{"exists": True}]}, {"c-count": None})  # null is a value
    assert not matches({"c-count": [{"exists": True}]}, {})
    assert matches({"c-count": [{"exists": False}]}, {})
    assert not matches({"c-count": [{"exists": False}]}, {"c-count": 4})
    # exists concerns leaf values: an object or an empty array holds none
    assert not matches({"c-count": [{"exists": True}]}, {"c-count": {"a": 1}})
    assert matches({"c-count": [{"exists": False}]}, {"c-count": []})
    # under a missing parent, a field does not exist either
    assert matches({"detail": {"c-count": [{"exists": False}]}}, {})


def test_cidr() -> None:
    pattern = {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}
    assert matches(pattern, {"sourceIPAddress": "10.0.0.255"})
    assert not matches(pattern, {"sourceIPAddress": "10.0.1.1"})
    assert not matches(pattern, {"sourceIPAddress": "not an address"})
    assert not matches(pattern, {"sourceIPAddress": 167772161})
    assert matches({"ip": [{"cidr": "2001:db8::/32"}]}, {"ip": "2001:db8::1"})
    assert not matches({"ip": [{"cidr": "2001:db8::/32"}]}, {"ip": "10.0.0.1"})


def test_or_across_fields() -> None:
    pattern = {
        "$or": [
            {"c-count": [{"numeric": [">", 0, "<=", 5]}]},
            {"d-count": [{"numeric": ["<", 10]}]},
            {"x-limit": [{"numeric": ["=", 3.018e2]}]},
        ]
    }
    assert matches(pattern, {"c-count": 3})
    assert matches(pattern, {"d-count": 2})
    assert matches(pattern, {"x-limit": 301.8})
    assert not matches(pattern, {"c-count": 30, "d-count": 20})
    # $or beside a field: the field AND one of the alternatives
    both = {"source": ["aws.ec2"], "$or": [{"a": [1]}, {"b": [2]}]}
    assert matches(both, {"source": "aws.ec2", "b": 2})
    assert not matches(both, {"source": "aws.s3", "b": 2})


def test_the_top_level_names_the_message_fields_and_headers_by_lower_cased_name() -> None:
    # GIVEN a pattern on the event type, source, application and a header written in any case
    pattern = compile_pattern(
        {
            "event_type": [{"prefix": "order."}],
            "source": ["github"],
            "application": ["app_1"],
            "headers": {"X-GitHub-Event": ["push"]},
        }
    )
    message = document(
        event_type="order.created", source="github", application="app_1", payload={},
        headers={"X-Github-Event": "push"},
    )  # fmt: skip
    # THEN it matches, and a different header value is reported by its path
    assert pattern.matches(message)
    other = {**message, "headers": {"x-github-event": "issues"}}
    assert pattern.mismatch(other) == "headers.x-github-event"


def test_mismatch_names_the_first_part_that_did_not_match() -> None:
    pattern = compile_pattern({"payload": {"order": {"total": [{"numeric": [">", 100]}]}}})
    assert pattern.mismatch(doc({"order": {"total": 50}})) == "payload.order.total"
    assert pattern.mismatch(doc({"order": {"total": 150}})) is None
    either = compile_pattern({"payload": {"$or": [{"a": [1]}, {"b": [1]}]}})
    assert either.mismatch(doc({"a": 2})) == "payload.$or"


def test_an_empty_pattern_matches_everything() -> None:
    assert compile_pattern({}).matches(doc(None))


# ---------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("pattern", "code", "field"),
    [
        ([], "invalid_pattern", "filter.payload"),
        ({"amount": [1]}, "invalid_pattern", "filter.payload.amount"),
        ({"payload": {"a": "x"}}, "invalid_pattern", "filter.payload.payload.a"),
        ({"payload": {"a": []}}, "invalid_pattern", "filter.payload.payload.a"),
        ({"payload": {"a": [{"contains": "x"}]}}, "unknown_pattern_operator", "filter.payload.payload.a[0].contains"),
        ({"payload": {"$and": []}}, "unknown_pattern_operator", "filter.payload.payload.$and"),
        ({"payload": {"a": [{"prefix": "x", "suffix": "y"}]}}, "invalid_pattern", "filter.payload.payload.a[0]"),
        ({"payload": {"a": [{"numeric": [">", "1"]}]}}, "invalid_pattern", "filter.payload.payload.a[0].numeric"),
        ({"payload": {"a": [{"numeric": [">", 5, "<", 1]}]}}, "invalid_pattern", "filter.payload.payload.a[0].numeric"),
        ({"payload": {"a": [{"numeric": [">", 1, ">", 2]}]}}, "invalid_pattern", "filter.payload.payload.a[0].numeric"),
        ({"payload": {"a": [{"wildcard": "a**b"}]}}, "invalid_pattern", "filter.payload.payload.a[0].wildcard"),
        ({"payload": {"a": [{"wildcard": "a\\b"}]}}, "invalid_pattern", "filter.payload.payload.a[0].wildcard"),
        ({"payload": {"a": [{"cidr": "10.0.0.0/33"}]}}, "invalid_pattern", "filter.payload.payload.a[0].cidr"),
        ({"payload": {"a": [{"exists": "yes"}]}}, "invalid_pattern", "filter.payload.payload.a[0].exists"),
        ({"payload": {"a": [{"anything-but": {"contains": "x"}}]}}, "unknown_pattern_operator",
         "filter.payload.payload.a[0].anything-but.contains"),
        ({"payload": {"a": [{"anything-but": []}]}}, "invalid_pattern", "filter.payload.payload.a[0].anything-but"),
        ({"payload": {"$or": [{"a": [1]}]}}, "invalid_pattern", "filter.payload.payload.$or"),
        ({"payload": {"a": ["x" * 300]}}, "invalid_pattern", "filter.payload.payload.a[0]"),
        ({"payload": {"a": [float("nan")]}}, "invalid_pattern", "filter.payload"),
        ({"payload": {f"k{i}": ["v" * 200] for i in range(30)}}, "pattern_too_large", "filter.payload"),
    ],
)  # fmt: skip
def test_invalid_patterns_are_refused_with_a_stable_code_naming_the_field(
    pattern: Any, code: str, field: str
) -> None:
    with pytest.raises(PatternError) as caught:
        compile_pattern(pattern)
    assert (caught.value.code, caught.value.field) == (code, field)


def test_a_pattern_deeper_than_the_bound_is_refused() -> None:
    pattern: dict[str, Any] = {"leaf": [1]}
    for _ in range(MAX_DEPTH):
        pattern = {"n": pattern}
    with pytest.raises(PatternError) as caught:
        compile_pattern({"payload": pattern})
    assert caught.value.code == "pattern_too_deep"
    nested: list[Any] = []
    for _ in range(100_000):
        nested = [nested]
    with pytest.raises(PatternError):  # deeper than json can write: refused, not a RecursionError
        compile_pattern({"payload": {"a": nested}})


# ---------------------------------------------------------------------------------------- properties

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12))
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from("abcxyz"), inner, max_size=4),
    max_leaves=30,
)
OPERATORS = st.one_of(
    st.text(max_size=6),
    st.integers(-5, 5),
    st.none(),
    st.booleans(),
    st.builds(lambda s: {"prefix": s}, st.text(max_size=4)),
    st.builds(lambda s: {"suffix": {"equals-ignore-case": s}}, st.text(max_size=4)),
    st.builds(lambda s: {"equals-ignore-case": s}, st.text(max_size=4)),
    st.builds(lambda s: {"wildcard": s}, st.text(alphabet="ab*\\", max_size=8)),
    st.builds(
        lambda s: {"anything-but": s}, st.one_of(st.text(max_size=4), st.lists(st.integers(), max_size=3))
    ),
    st.builds(lambda a, b: {"numeric": [">", min(a, b), "<=", max(a, b)]}, st.integers(), st.integers()),
    st.builds(lambda b: {"exists": b}, st.booleans()),
    st.builds(lambda s: {"cidr": s}, st.sampled_from(["10.0.0.0/8", "::/0", "bad"])),
)
PATTERNS = st.recursive(
    st.lists(OPERATORS, min_size=1, max_size=4),
    lambda inner: st.dictionaries(st.sampled_from("abcxyz"), inner, min_size=1, max_size=3),
    max_leaves=12,
)


@settings(max_examples=200)
@given(pattern=PATTERNS, payload=JSON)
def test_matching_never_raises(pattern: Any, payload: Any) -> None:
    # GIVEN any pattern the generators make: it compiles or is refused with a PatternError only
    try:
        compiled = compile_pattern({"payload": {"a": pattern} if isinstance(pattern, list) else pattern})
    except PatternError:
        return
    # THEN matching any JSON message answers a boolean, and mismatch agrees with it
    result = compiled.matches(doc(payload))
    assert result is (compiled.mismatch(doc(payload)) is None)


@settings(max_examples=30)
@given(stars=st.integers(1, 40), length=st.integers(1_000, 20_000))
def test_wildcard_matching_is_linear_not_backtracking(stars: int, length: int) -> None:
    # GIVEN the classic backtracking trap: many stars and a long text that almost matches
    # (its first and last segments match, so every middle one is searched; "b" never is found)
    compiled = compile_pattern({"payload": {"k": [{"wildcard": "x*" + "a*" * stars + "b*y"}]}})
    message = doc({"k": "x" + "a" * length + "y"})
    # WHEN matched THEN it answers at once, however many stars (a backtracking matcher takes ages)
    started = time.perf_counter()
    assert not compiled.matches(message)
    assert time.perf_counter() - started < 0.5


def test_matching_time_grows_linearly_with_the_message() -> None:
    # GIVEN a pattern on an array of objects, and messages 10x and 100x the size of the first
    compiled = compile_pattern(
        {"payload": {"items": {"sku": [{"prefix": "Z"}], "qty": [{"numeric": [">", 5]}]}}}
    )

    def cost(n: int) -> float:
        message = doc({"items": [{"sku": f"A{i}", "qty": i} for i in range(n)]})
        best = float("inf")
        for _ in range(3):  # the best of three: a loaded machine only ever adds time
            started = time.perf_counter()
            assert not compiled.matches(message)
            best = min(best, time.perf_counter() - started)
        return best

    small, large = cost(1_000), cost(100_000)
    # THEN 100x the message costs about 100x, far from quadratic (10,000x)
    assert large < small * 400


def test_a_match_that_would_take_too_many_steps_refuses_the_message_at_once() -> None:
    # GIVEN the costliest leaf the size bound allows (about 150 wildcard alternatives) and a message
    # with a 20,000-element array (some 3,000,000 tests without a bound)
    alternatives = [{"wildcard": f"*{i}*x"} for i in range(150)]
    compiled = compile_pattern({"payload": {"k": alternatives}})
    message = doc({"k": ["a" * 10] * 20_000})
    # WHEN matched THEN it stops within its step budget: no match, named, in milliseconds
    started = time.perf_counter()
    assert compiled.mismatch(message) == BUDGET_PATH
    assert not compiled.matches(message)
    assert time.perf_counter() - started < 0.1
    # AND arrays of objects are bounded the same way
    objects = compile_pattern({"payload": {"items": {"sku": [{"wildcard": "*z*"}] * 20}}})
    assert objects.mismatch(doc({"items": [{"sku": "a"}] * 20_000})) == BUDGET_PATH


def test_a_big_array_within_the_budget_still_matches_anywhere() -> None:
    # exact values, prefixes, suffixes and equals-ignore-case are tested at once, one step per value
    pattern = compile_pattern(
        {"payload": {"k": ["needle", {"prefix": "pre-"}, {"suffix": "-suf"}, {"equals-ignore-case": "CaSe"}]}}
    )
    for last in ("needle", "pre-x", "x-suf", "CASE"):
        assert pattern.matches(doc({"k": ["hay"] * (MAX_MATCH_STEPS // 2) + [last]}))
    assert not pattern.matches(doc({"k": ["hay"] * (MAX_MATCH_STEPS // 2)}))


def test_deep_messages_do_not_exhaust_the_stack() -> None:
    deep: Any = "x"
    for _ in range(50_000):
        deep = [deep]
    assert matches({"a": ["x"]}, {"a": deep})


def test_fuzz_100000_patterns_and_messages_without_a_crash() -> None:
    # GIVEN 100,000 random (pattern, message) pairs from a seeded generator, valid and invalid patterns
    rng = random.Random(18)
    keys = ["a", "b", "c"]
    values: list[Any] = [
        "",
        "a",
        "ab",
        "A",
        "10.0.0.1",
        "::1",
        0,
        1,
        -1,
        2.5,
        True,
        False,
        None,
        [],
        {},
        [1, "a"],
    ]

    def operator() -> Any:
        kind = rng.randrange(14)
        s = rng.choice(["", "a", "*", "a*b", "\\*", "**", "\\", "A"])
        return [
            lambda: rng.choice(values),
            lambda: {"prefix": s},
            lambda: {"suffix": rng.choice([s, {"equals-ignore-case": s}])},
            lambda: {"equals-ignore-case": s},
            lambda: {"wildcard": s},
            lambda: {
                "anything-but": rng.choice([s, [s, 1], {"prefix": s}, {"wildcard": s}, {"suffix": s}, []])
            },
            lambda: {"numeric": rng.choice([[">", 0], ["<=", 1, ">", -1], ["=", 2.5], [">", "x"], ["<"]])},
            lambda: {"exists": rng.choice([True, False, 1])},
            lambda: {"cidr": rng.choice(["10.0.0.0/8", "::/0", "x", "1.2.3.4/40"])},
            lambda: {"unknown": 1},
            dict,
            lambda: [1],
            lambda: {"prefix": s, "suffix": s},
            lambda: rng.choice(values),
        ][kind]()

    def pattern(depth: int) -> Any:
        out: dict[str, Any] = {}
        for key in rng.sample(keys, rng.randrange(1, 3)):
            roll = rng.random()
            if roll < 0.2 and depth < 3:
                out[key] = pattern(depth + 1)
            elif roll < 0.25 and depth < 3:
                out["$or"] = [pattern(depth + 1) for _ in range(rng.randrange(1, 4))]
            elif roll < 0.28:
                out[key] = rng.choice(["x", 1, None, []])
            else:
                out[key] = [operator() for _ in range(rng.randrange(1, 4))]
        return out

    def message(depth: int) -> Any:
        roll = rng.random()
        if depth > 3 or roll < 0.5:
            return rng.choice(values)
        if roll < 0.75:
            return [message(depth + 1) for _ in range(rng.randrange(0, 4))]
        return {k: message(depth + 1) for k in rng.sample(keys, rng.randrange(0, 3))}

    patterns: list[Any] = []
    refused = 0
    for _ in range(2_000):
        try:
            patterns.append(compile_pattern({"payload": pattern(0)}))
        except PatternError:
            refused += 1
    messages = [doc(message(0)) for _ in range(500)]
    started = time.perf_counter()
    matched = 0
    for index in range(100_000):
        matched += patterns[index % len(patterns)].matches(messages[index % len(messages)])
    # THEN no case raised, both answers occur, and the whole run takes a few seconds at most
    assert refused and patterns and 0 < matched < 100_000
    assert time.perf_counter() - started < 10
