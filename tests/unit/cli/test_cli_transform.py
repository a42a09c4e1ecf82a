"""``hookway endpoints transform``: set, switch off, remove and simulate a transformation."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from tests.unit.cli.fakeapi import FakeApi, run

CODE = "function handler(w) { w.payload = {text: w.payload.action}; return w; }"
ENDPOINT = {"id": "ep_1", "url": "https://r.example/hooks", "transformation": {"code": CODE, "enabled": True}}


def _posted(fake: FakeApi) -> list[tuple[str, str, object]]:
    return [
        (r.method, urlsplit(r.url).path, json.loads(r.body) if r.body else None)
        for r in fake.requests
        if r.method in ("POST", "PATCH")
    ]


def test_simulate_a_file_on_a_payload_prints_the_request(tmp_path: Path) -> None:
    # GIVEN code in a file and an API that answers the simulation
    script = tmp_path / "slack.js"
    script.write_text(CODE)
    answer = {
        "outcome": "request",
        "request": {
            "method": "POST",
            "url": "https://r.example/hooks",
            "headers": {"Content-Type": "application/json"},
            "body": '{"text":"opened"}',
        },
    }
    fake = FakeApi().on("POST", "/v1/endpoints/ep_1/transformation/simulate", (200, answer))
    # WHEN it is simulated on a payload
    ran = run(
        fake,
        "endpoints",
        "transform",
        "ep_1",
        "--simulate",
        "--file",
        str(script),
        "--payload",
        '{"action": "opened"}',
    )
    # THEN the code and payload went to the simulate route and the request is printed
    assert ran.code == 0
    assert _posted(fake) == [
        (
            "POST",
            "/v1/endpoints/ep_1/transformation/simulate",
            {"payload": {"action": "opened"}, "code": CODE},
        )
    ]
    assert "POST https://r.example/hooks" in ran.out and '{"text":"opened"}' in ran.out


def test_simulate_an_error_exits_1_and_a_message_is_named_by_id() -> None:
    answer = {"outcome": "failed", "error_class": "transformation_error", "error": "TypeError: x"}
    fake = FakeApi().on("POST", "/v1/endpoints/ep_1/transformation/simulate", (200, answer))
    ran = run(fake, "endpoints", "transform", "ep_1", "--simulate", "--message", "msg_1")
    assert ran.code == 1 and "transformation_error: TypeError: x" in ran.out
    assert _posted(fake)[0][2] == {"message_id": "msg_1"}


def test_set_disable_and_remove(tmp_path: Path) -> None:
    script = tmp_path / "t.js"
    script.write_text(CODE)
    fake = (
        FakeApi()
        .on("PATCH", "/v1/endpoints/ep_1", (200, ENDPOINT))
        .on("GET", "/v1/endpoints/ep_1", (200, ENDPOINT))
    )
    assert run(fake, "endpoints", "transform", "ep_1", "--file", str(script)).code == 0
    assert run(fake, "endpoints", "transform", "ep_1", "--disable").code == 0
    assert run(fake, "endpoints", "transform", "ep_1", "--remove").code == 0
    assert [doc for _, _, doc in _posted(fake)] == [
        {"transformation": {"code": CODE, "enabled": True}},
        {"transformation": {"code": CODE, "enabled": False}},
        {"transformation": None},
    ]


def test_usage_errors_send_nothing() -> None:
    fake = FakeApi()
    assert run(fake, "endpoints", "transform", "ep_1").code != 0
    assert run(fake, "endpoints", "transform", "ep_1", "--simulate").code != 0
    assert fake.requests == []
