"""Transformations: the handler convention's cases in QuickJS, each with its documented outcome."""

from __future__ import annotations

import json
import time

import pytest

from chalicelib.transform.convention import Cancelled, Failed, Request, outcome_of, webhook_of
from chalicelib.transform.engine import CompileError, Engine

URL = "https://hooks.example.com/in?x=1"


def _request(body: bytes = b'{"order": {"total": 120}}', content_type: str = "application/json") -> Request:
    return Request("POST", URL, {"Content-Type": content_type, "Hookway-Source": "src_1"}, body)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def run(engine: Engine, code: str, request: Request | None = None) -> object:
    return engine.run("ep_test", code, request or _request())


def test_modify_the_payload(engine: Engine) -> None:
    # GIVEN a handler that reshapes the payload WHEN it runs THEN the body is the new JSON
    out = run(
        engine, "function handler(w) { w.payload = {text: 'total ' + w.payload.order.total}; return w; }"
    )
    assert isinstance(out, Request)
    assert json.loads(out.body) == {"text": "total 120"}
    assert out.url == URL and out.method == "POST"


def test_add_a_header(engine: Engine) -> None:
    out = run(engine, "function handler(w) { w.headers['X-Team'] = 'billing'; return w; }")
    assert isinstance(out, Request)
    assert out.headers == {"Content-Type": "application/json", "Hookway-Source": "src_1", "X-Team": "billing"}


def test_change_the_path_and_query_of_the_endpoints_own_host(engine: Engine) -> None:
    out = run(
        engine, "function handler(w) { w.url = 'https://hooks.example.com/v2/orders?kind=big'; return w; }"
    )
    assert isinstance(out, Request) and out.url == "https://hooks.example.com/v2/orders?kind=big"


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/in",
        "http://hooks.example.com/in",
        "https://hooks.example.com:8443/in",
        "https://user@hooks.example.com/in",
        "https://hooks.example.com.evil.example/in",
        "//evil.example/in",
        "https://hooks.example.com/a b",
    ],
)
def test_the_scheme_host_and_port_cannot_change(engine: Engine, url: str) -> None:
    out = run(engine, f"function handler(w) {{ w.url = {json.dumps(url)}; return w; }}")
    assert isinstance(out, Failed), url


def test_cancel(engine: Engine) -> None:
    assert (
        run(engine, "function handler(w) { w.cancel = w.payload.order.total < 500; return w; }")
        == Cancelled()
    )


def test_throw_is_a_failure_with_a_one_line_reason(engine: Engine) -> None:
    out = run(engine, "function handler(w) { throw new TypeError('no total\\nsecond line'); }")
    assert out == Failed("TypeError: no total")


def test_loop_forever_stops_at_the_time_limit(engine: Engine) -> None:
    started = time.process_time()
    out = run(engine, "function handler(w) { while (true) {} }")
    assert out == Failed("the transformation ran past its time limit (50 ms)")
    assert time.process_time() - started < 1.0  # CPU time, whatever else the machine runs


def test_allocate_forever_stops_at_the_memory_limit(engine: Engine) -> None:
    for code in (
        "function handler(w) { const a = []; while (true) a.push('x'.repeat(10000)); }",
        "function handler(w) { const a = []; while (true) a.push({b: [1, 2, 3]}); }",
    ):
        assert run(engine, code) == Failed("the transformation ran past its memory limit (16 MB)")


def test_deep_recursion_is_an_error_not_a_crash(engine: Engine) -> None:
    out = run(engine, "function handler(w) { function f(n) { return f(n + 1) + 1; } return f(0); }")
    assert out == Failed("the transformation overflowed its stack (too deep a recursion)")


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("function handler(w) { return 42; }", "it returned int"),
        ("function handler(w) { }", "it returned nothing"),
        ("function handler(w) { return 'text'; }", "it returned str"),
        ("function handler(w) { return [w]; }", "it returned list"),
        ("function handler(w) { return {}; }", "neither a payload nor a body"),
        ("function handler(w) { w.cancel = 'yes'; return w; }", "cancel must be true or false"),
        ("function handler(w) { w.method = 'DELETE'; return w; }", "method cannot be changed"),
        ("function handler(w) { w.headers = 'x'; return w; }", "headers must be an object"),
        ("function handler(w) { w.headers['X-N'] = 5; return w; }", "must be a string on one line"),
        ("function handler(w) { w.headers['X-A'] = 'a\\r\\nX-B: b'; return w; }", "one line"),
        ("function handler(w) { w.headers['Bad Name'] = 'x'; return w; }", "not a header name"),
        ("function handler(w) { w.payload = 10n; return w; }", "BigInt"),
        ("function handler(w) { w.payload = {s: '\\ud800'}; return w; }", "not valid Unicode"),
        ("function handler(w) { const o = {}; o.o = o; w.payload = o; return w; }", "circular"),
        ("async function handler(w) { return w; }", "neither a payload nor a body"),
    ],
)
def test_a_bad_return_is_a_failure_naming_what_is_wrong(engine: Engine, code: str, reason: str) -> None:
    out = run(engine, code)
    assert isinstance(out, Failed) and reason in out.reason, out
    assert "\n" not in out.reason


@pytest.mark.parametrize(
    "name",
    ["Content-Length", "host", "webhook-signature", "Webhook-Id", "webhook-timestamp", "Authorization"],
)
def test_reserved_headers_are_refused(engine: Engine, name: str) -> None:
    out = run(engine, f"function handler(w) {{ w.headers[{json.dumps(name)}] = '1'; return w; }}")
    assert isinstance(out, Failed) and "reserved" in out.reason


def test_a_non_json_body_is_given_as_text_and_may_be_replaced(engine: Engine) -> None:
    request = _request(b"a=1&b=2", "application/x-www-form-urlencoded")
    out = run(engine, "function handler(w) { w.body = w.body.toUpperCase(); return w; }", request)
    assert isinstance(out, Request) and out.body == b"A=1&B=2"
    assert webhook_of(_request(b"\xff\xfe", "application/octet-stream")) == Failed(
        "the body is not UTF-8 text, which a transformation cannot read"
    )


def test_the_sandbox_has_no_io() -> None:
    out = Engine().run(
        "ep",
        "function handler(w) { w.payload = [typeof require, typeof fetch, typeof std, typeof os,"
        " typeof XMLHttpRequest, typeof setTimeout, typeof import_meta]; return w; }",
        _request(),
    )
    assert isinstance(out, Request) and set(json.loads(out.body)) == {"undefined"}


def test_a_failure_leaves_the_engine_usable_and_compiles_once_per_version() -> None:
    compiled: list[str] = []
    engine = Engine(on_compile=compiled.append)
    good = "function handler(w) { w.payload = {n: (globalThis.n = (globalThis.n || 0) + 1)}; return w; }"
    loop = "function handler(w) { while (true) {} }"
    for _ in range(3):
        assert isinstance(engine.run("ep_a", good, _request()), Request)
    assert isinstance(engine.run("ep_b", loop, _request()), Failed)
    assert isinstance(engine.run("ep_b", loop, _request()), Failed)  # dropped after its limit: compiled anew
    out = engine.run("ep_a", good, _request())
    assert isinstance(out, Request) and json.loads(out.body) == {"n": 4}  # the same context all along
    edited = good.replace("n: ", "m: ")
    assert isinstance(engine.run("ep_a", edited, _request()), Request)
    assert [k.split(":")[0] for k in compiled] == ["ep_a", "ep_b", "ep_b", "ep_a"]


def test_the_cache_is_bounded() -> None:
    compiled: list[str] = []
    engine = Engine(compiled_per_thread=2, on_compile=compiled.append)
    code = "function handler(w) { return w; }"
    for key in ("a", "b", "c", "a"):
        engine.run(key, code, _request())
    assert [k.split(":")[0] for k in compiled] == ["a", "b", "c", "a"]


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("function handler(w) {", "SyntaxError"),
        ("var handler = 1;", "must define function handler"),
        ("while (true) {}", "time limit"),
        ("x" * 40_000, "longer than"),
    ],
)
def test_check_refuses_code_that_does_not_compile(code: str, reason: str) -> None:
    with pytest.raises(CompileError, match=reason):
        Engine().check(code)


def test_outcome_of_is_total_on_odd_values() -> None:
    for value in (None, 1, "s", [], {"cancel": None}, {"url": 5}, {"headers": {"a": None}}, {"payload": 1}):
        assert isinstance(outcome_of(value, _request()), (Request, Failed, Cancelled))


def test_outcome_of_never_raises_on_any_json_a_handler_can_return() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
        max_leaves=20,
    )
    webhooks = st.fixed_dictionaries(
        {},
        optional={
            "method": json_values,
            "url": st.text(max_size=60) | st.just(URL),
            "headers": st.dictionaries(st.text(max_size=20), json_values | st.text(max_size=30), max_size=5),
            "payload": json_values,
            "body": json_values,
            "cancel": json_values,
        },
    )

    @settings(max_examples=500, deadline=None)
    @given(st.one_of(json_values, webhooks))
    def check(returned: object) -> None:
        out = outcome_of(returned, _request())
        assert isinstance(out, (Request, Failed, Cancelled))
        if isinstance(out, Request):
            assert out.url.startswith("https://hooks.example.com/") and out.method == "POST"

    check()
