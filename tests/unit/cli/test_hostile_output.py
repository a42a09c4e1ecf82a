"""Attack: strings the API hands back (a source name, an event type, an error message, a captured header)
carry rich markup, an OSC 8 hyperlink, screen escapes, C1 controls and a bidi override. Each command's
output is captured as the raw characters a terminal would get (rich forced on through a stdout that says
it is a terminal) and piped; none of them may reach the terminal as anything but visible text."""

from __future__ import annotations

import base64
import itertools
import json
from pathlib import Path

import pytest

from hookway_cli.output import printable
from tests.unit.cli.fakeapi import NOW, FakeApi, Ran, Tty, run

MARKUP = "[link=https://evil.test]click[/link][bold red]"
HOSTILE = (
    MARKUP
    + "\x1b]8;;https://evil.test\x1b\\x\x1b]8;;\x1b\\"  # an OSC 8 hyperlink
    + "\x1b[2J\x1b[H"  # clear the screen, cursor home
    + "\u202egnp.exe"  # right-to-left override
    + "\x9b31m\x90q\x9c"  # C1: CSI, DCS ... ST
    + "\x07\x08\x00\r"  # bell, backspace, NUL, carriage return
    + "\u2028\u200b\u2066"  # line separator, zero width space, bidi isolate
)
# What may never reach the terminal raw (rich's own SGR colours, ESC [ ... m, are fine).
FORBIDDEN = [
    "\x1b]",
    "\x1b\\",
    "\x1b[2J",
    "\x1b[H",
    "\u202e",
    "\u2066",
    "\u2028",
    "\u200b",
    "\x9b",
    "\x90",
    "\x9c",
    "\x07",
    "\x08",
    "\x00",
    "\r",
]

ITEM = {
    "id": HOSTILE,
    "name": HOSTILE,
    "uid": HOSTILE,
    "url": HOSTILE,
    "enabled": True,
    "application_id": HOSTILE,
    "filter": {"event_types": [HOSTILE], "sources": [HOSTILE]},
    "verification": {"scheme": HOSTILE},
    "ingest_url": HOSTILE,
    "description": HOSTILE,
    "deprecated": False,
    "received_at": NOW,
    "created_at": NOW,
    "started_at": NOW,
    "source_id": HOSTILE,
    "event_type": HOSTILE,
    "status": HOSTILE,
    "endpoint_id": HOSTILE,
    "message_id": HOSTILE,
    "attempt": 1,
    "response_status": 500,
    "duration_ms": 3,
    "error": HOSTILE,
}


def listing(*items: object) -> tuple[int, object]:
    return 200, {"data": list(items), "next_cursor": None}


def hostile_api() -> FakeApi:
    delivery = {"endpoint_id": "ep_1", "status": HOSTILE, "attempts": 1, "last_attempt_at": NOW + 5}
    message = {**ITEM, "deliveries": [delivery, {**delivery, "endpoint_id": HOSTILE}]}
    error = {"error": {"code": HOSTILE, "message": HOSTILE}}
    pulled = {
        "id": "d1",
        "message_id": HOSTILE,
        "event_type": HOSTILE,
        "attempt": 1,
        "headers": {"webhook-id": "msg_1"},
        "body_base64": base64.b64encode(b"{}").decode(),
    }
    session = {"id": "ep_l", "kind": "listen", "expires_at": NOW + 3600, "secret": HOSTILE}
    job = {"id": "job_1", "kind": HOSTILE, "state": "queued", "done": 0, "total": None, "error": None}
    return (
        FakeApi()
        .on("GET", "/v1/sources", listing(ITEM))
        .on("GET", "/v1/sources/src_1", (200, ITEM))
        .on(
            "GET",
            "/v1/sources/src_1/rejections",
            (
                200,
                {
                    "counts": {HOSTILE: 1},
                    "data": [{"at": NOW, "code": HOSTILE, "source_ip": HOSTILE, "message": HOSTILE}],
                },
            ),
        )
        .on("POST", "/v1/sources/src_1/secrets", (201, {"source_id": HOSTILE, "secret": {"id": HOSTILE}}))
        .on("GET", "/v1/endpoints", listing(ITEM))
        .on("GET", "/v1/endpoints/ep_1", (200, ITEM))
        .on("GET", "/v1/endpoints/ep_bad", (400, error))
        .on("GET", "/v1/endpoints/ep_1/attempts", listing())
        .on("POST", "/v1/endpoints/ep_1/recover", (202, job))
        .on(
            "GET",
            "/v1/jobs/job_1",
            (200, {**job, "state": "failed", "error": {"code": HOSTILE, "message": HOSTILE}}),
        )
        .on("POST", "/v1/endpoints/ep_1/test", (202, {"id": "msg_1", "endpoint_id": "ep_1"}))
        .on("GET", "/v1/applications", listing(ITEM))
        .on("POST", "/v1/applications/app_1/portal-access", (201, {"url": HOSTILE}))
        .on("GET", "/v1/event-types", listing(ITEM))
        .on("GET", "/v1/event-types/t", (200, ITEM))
        .on("GET", "/v1/messages", listing(ITEM))
        .on("POST", "/v1/messages", (202, {"id": HOSTILE}))
        .on("GET", "/v1/messages/msg_1", (200, message))
        .on("GET", "/v1/messages/msg_1/attempts", listing(ITEM))
        .on("GET", "/v1/messages/msg_1/body", (200, HOSTILE.encode()))
        .on("POST", "/v1/messages/msg_1/resend", (202, {"id": HOSTILE, "endpoint_ids": [HOSTILE]}))
        .on("POST", "/v1/listen-sessions", (201, session))
        .on("GET", "/v1/listen-sessions/ep_l/deliveries", (200, {"data": [pulled], "next_cursor": "d1"}))
        .on("POST", "/hooks", (200, {}))
        .on("POST", "/v1/listen-sessions/ep_l/deliveries/d1/result", (200, {"outcome": HOSTILE}))
    )


COMMANDS = [
    ["sources", "list"],
    ["sources", "show", "src_1"],
    ["sources", "rejections", "src_1"],
    ["sources", "add-secret", "src_1", "--secret", "s"],
    ["trigger", "github", "--source", "src_1", "--secret", "s"],  # refused: the scheme is hostile
    ["endpoints", "list"],
    ["endpoints", "show", "ep_1"],
    ["endpoints", "show", "ep_bad"],  # the API's error message
    ["endpoints", "test", "ep_1", "--wait", "5"],
    ["applications", "list"],
    ["applications", "portal-url", "app_1"],
    ["event-types", "list"],
    ["event-types", "show", "t"],
    ["messages", "list"],
    ["messages", "show", "msg_1"],
    ["messages", "attempts", "msg_1"],
    ["messages", "body", "msg_1"],
    ["messages", "tail", "--count", "1"],
    ["send", "--event-type", "e", "--data", "{}"],
    ["resend", "msg_1"],
    ["recover", "--endpoint", "ep_1", "--since", "1h", "--wait", "5"],
    ["jobs", "show", "job_1"],
    ["listen", "--forward", "http://127.0.0.1:3000/hooks", "--count", "1"],
]


def _assert_inert(ran: Ran) -> None:
    # rich's progress bar redraws its own line with CR + erase-line: that one is ours, not the API's
    written = (ran.out + ran.err).replace("\r\x1b[2K", "")
    for bad in FORBIDDEN:
        assert bad not in written, f"{bad!r} reached the terminal: {written!r}"
    # the hostile text is shown, as visible text: the markup literally, the controls as escapes
    assert MARKUP in written or printable(MARKUP) in written, written
    assert "\\u202e" in written and "\\x1b]8;;https://evil.test" in written, written


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: " ".join(argv[:2]))
def test_hostile_api_strings_reach_a_terminal_only_as_visible_text(argv: list[str]) -> None:
    # GIVEN an API whose every string is hostile, and a stdout that is a terminal (rich on)
    ticks = itertools.count(NOW, 1)
    env = {"TERM": "xterm-256color", "COLUMNS": "4000"}
    # WHEN the command runs on the terminal, then piped
    on_tty = run(hostile_api(), *argv, stdout=Tty(), env=env, clock=lambda: next(ticks))
    piped = run(hostile_api(), *argv, env=env, clock=lambda: next(ticks))
    # THEN neither carries a raw escape, control or bidi character, and the text is still shown
    _assert_inert(on_tty)
    if argv[:2] == ["messages", "body"]:
        assert piped.out == HOSTILE  # piped (or -o), the body is the exact bytes, as documented
    else:
        _assert_inert(piped)


def test_rich_is_really_on_in_the_terminal_runs() -> None:
    # the terminal runs above exercise rich: its table rule and bold header are there
    ran = run(
        hostile_api(), "sources", "list", stdout=Tty(), env={"TERM": "xterm-256color", "COLUMNS": "4000"}
    )
    assert "│" in ran.out and "\x1b[1m" in ran.out


@pytest.mark.parametrize(
    "argv", [["sources", "list"], ["messages", "show", "msg_1"], ["resend", "msg_1"]], ids=str
)
def test_json_output_stays_valid_json_with_every_hostile_character_escaped(argv: list[str]) -> None:
    ran = run(hostile_api(), *argv, "--json", stdout=Tty())
    assert ran.code == 0, ran.err
    assert ran.out.isascii() and "\x1b" not in ran.out and "\x9b" not in ran.out
    assert HOSTILE in strings(json.loads(ran.out))  # the value, intact


def strings(doc: object) -> list[str]:
    """Every string value in a JSON document."""
    if isinstance(doc, str):
        return [doc]
    if isinstance(doc, dict):
        return [s for v in doc.values() for s in strings(v)]
    if isinstance(doc, list):
        return [s for v in doc for s in strings(v)]
    return []


def test_listen_json_lines_escape_hostile_strings() -> None:
    ran = run(hostile_api(), "listen", "--forward", "http://127.0.0.1:3000/hooks", "--count", "1", "--json")
    assert ran.code == 0, ran.err
    assert ran.out.isascii() and json.loads(ran.out)["event_type"] == HOSTILE
    _assert_inert(ran)


def test_a_captured_request_with_hostile_headers_is_shown_inert(tmp_path: Path) -> None:
    # GIVEN a capture whose signature header and event carry escapes (the attacker sent them)
    dump = tmp_path / "req.http"
    value = ("\x1b[2J\u202e" + HOSTILE).replace("\r", "").encode()
    dump.write_bytes(
        b"POST /in/src_1 HTTP/1.1\r\nX-GitHub-Delivery: "
        + value
        + b"\r\nX-Hub-Signature-256: "
        + value
        + b"\r\n\r\nbody"
    )
    # WHEN verified on a terminal
    ran = run(
        FakeApi(),
        "verify",
        "--scheme",
        "github",
        "--secret",
        "s",
        "--request",
        str(dump),
        stdout=Tty(),
        env={"TERM": "xterm-256color", "COLUMNS": "4000"},
    )
    # THEN the header values it reports are escaped
    assert ran.code == 1
    for bad in FORBIDDEN:
        assert bad not in ran.out + ran.err
    assert "\\x1b" in ran.out


def test_a_hostile_login_refusal_is_escaped() -> None:
    refusing = FakeApi().on(
        "GET", "/v1/event-types", (401, {"error": {"code": "unauthorized", "message": HOSTILE}})
    )
    ran = run(refusing, "login", "--key", "hk_wrong_key_0000")
    assert ran.code == 1
    for bad in FORBIDDEN:
        assert bad not in ran.err


def test_printable_escapes_controls_and_bidi_and_keeps_ordinary_text() -> None:
    assert printable("naïve café 東京 🚀 a b") == "naïve café 東京 🚀 a b"
    assert printable("a\x1b[2Jb\u202ec\x9bd") == "a\\x1b[2Jb\\u202ec\\x9bd"
    assert printable("one\ntwo\tthree") == "one\\x0atwo\\x09three"
    assert printable("one\ntwo\tthree\x1b", keep_lines=True) == "one\ntwo\tthree\\x1b"
