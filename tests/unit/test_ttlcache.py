"""The one TTL cache every read-through cache uses."""

from __future__ import annotations

import pytest

from chalicelib.ttlcache import TtlCache
from testkit.fakes import FakeClock


def test_a_value_is_kept_for_its_ttl_then_loaded_again() -> None:
    # GIVEN a cache of 10 s and a loader that counts its calls
    clock = FakeClock()
    loads: list[str] = []
    cache: TtlCache[str, str] = TtlCache(clock, 10.0)

    def load(key: str) -> str:
        loads.append(key)
        return key.upper()

    # WHEN the same key is read within the TTL, and again once it has passed
    first = cache.get("a", load)
    clock.advance(9.9)
    second = cache.get("a", load)
    clock.advance(0.1)
    third = cache.get("a", load)

    # THEN it is loaded once per TTL
    assert (first, second, third) == ("A", "A", "A")
    assert loads == ["a", "a"]


def test_none_is_cached_a_failed_load_is_not_and_ttl_zero_keeps_nothing() -> None:
    clock = FakeClock()
    calls: list[str] = []

    def absent(key: str) -> None:
        calls.append(key)

    def broken(key: str) -> str:
        calls.append(key)
        raise LookupError(key)

    cache: TtlCache[str, None] = TtlCache(clock, 10.0)
    cache.get("gone", absent)
    cache.get("gone", absent)
    assert calls == ["gone"]  # an absence is remembered

    failing: TtlCache[str, str] = TtlCache(clock, 10.0)
    for _ in range(2):
        with pytest.raises(LookupError):
            failing.get("x", broken)
    assert calls == ["gone", "x", "x"]  # a failure is not

    never: TtlCache[str, None] = TtlCache(clock, 0.0)
    never.get("k", absent)
    never.get("k", absent)
    assert calls[-2:] == ["k", "k"] and len(never) == 0


def test_pop_and_clear_forget_and_the_limit_bounds_memory() -> None:
    clock = FakeClock()
    cache: TtlCache[int, int] = TtlCache(clock, 60.0, limit=3)
    for key in range(5):
        cache.get(key, lambda k: k * 2)
    assert len(cache) == 3  # the least recently used went first
    seen: list[int] = []
    cache.pop(4)
    cache.get(4, lambda k: seen.append(k) or k)
    cache.clear()
    cache.get(3, lambda k: seen.append(k) or k)
    assert seen == [4, 3]


def test_a_value_put_by_this_process_is_served_without_a_load_for_the_ttl() -> None:
    # GIVEN a value this process made itself (a data key it generated), put rather than loaded
    clock = FakeClock()
    cache: TtlCache[str, str] = TtlCache(clock, 10.0)
    cache.put("k", "made")
    # WHEN it is read within the TTL, and after THEN it is served, then loaded
    assert cache.get("k", lambda k: "loaded") == "made"
    clock.advance(10)
    assert cache.get("k", lambda k: "loaded") == "loaded"
