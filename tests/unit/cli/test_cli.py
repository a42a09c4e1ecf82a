"""The ``hookway`` CLI against a fake transport: what each verb sends, prints and exits with."""

from __future__ import annotations

import base64
import itertools
import json
import os
import stat
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from chalicelib.verification import REGISTRY, verify
from hookway_cli.transport import Request
from tests.unit.cli.fakeapi import BASE, KEY, NOW, FakeApi, Tty, run

SOURCE = {
    "id": "src_1",
    "name": "gh",
    "application_id": None,
    "enabled": True,
    "ingest_url": f"{BASE}/in/src_1",
    "verification": {"scheme": "github", "tolerance": None, "options": {}, "secrets": [{"id": "sec_1"}]},
}
ENDPOINT = {
    "id": "ep_1",
    "url": "https://r.example/hooks",
    "application_id": "app_1",
    "enabled": True,
    "filter": {"sources": [], "event_types": ["order.*", "invoice.paid"]},
}
MESSAGE = {
    "id": "msg_1",
    "received_at": NOW,
    "source_id": "src_1",
    "event_type": "push",
    "status": "succeeded",
    "deliveries": [{"endpoint_id": "ep_1", "status": "succeeded", "attempts": 1}],
}
ATTEMPT = {
    "message_id": "msg_1",
    "endpoint_id": "ep_1",
    "attempt": 1,
    "status": "succeeded",
    "response_status": 200,
    "duration_ms": 12,
    "started_at": NOW,
    "error": None,
}
APPLICATION = {"id": "app_1", "uid": "acme", "name": "Acme", "created_at": NOW}
EVENT_TYPE = {"name": "order.created", "description": "an order", "deprecated": False}


def listing(*items: object) -> tuple[int, object]:
    return 200, {"data": list(items), "next_cursor": None}


def api() -> FakeApi:
    return (
        FakeApi()
        .on("GET", "/v1/sources", listing(SOURCE))
        .on("GET", "/v1/sources/src_1", (200, SOURCE))
        .on("GET", "/v1/endpoints", listing(ENDPOINT))
        .on("GET", "/v1/endpoints/ep_1", (200, ENDPOINT))
        .on("GET", "/v1/applications", listing(APPLICATION))
        .on("GET", "/v1/event-types", listing(EVENT_TYPE))
        .on("GET", "/v1/messages", listing(MESSAGE))
        .on("GET", "/v1/messages/msg_1", (200, MESSAGE))
        .on("GET", "/v1/messages/msg_1/attempts", listing(ATTEMPT))
    )


# ------------------------------------------------------------------------------- listings and output

LISTINGS = [
    (["sources", "list"], "/v1/sources", "src_1"),
    (["endpoints", "list"], "/v1/endpoints", "ep_1"),
    (["applications", "list"], "/v1/applications", "app_1"),
    (["event-types", "list"], "/v1/event-types", "order.created"),
    (["messages", "list"], "/v1/messages", "msg_1"),
    (["messages", "attempts", "msg_1"], "/v1/messages/msg_1/attempts", "ep_1"),
]


@pytest.mark.parametrize(("argv", "route", "shown"), LISTINGS)
def test_listings_print_plain_rows_when_piped_and_the_api_answer_with_json(argv, route, shown):
    # GIVEN an API with one item behind each listing
    fake = api()
    # WHEN the listing is run piped, then with --json
    plain = run(fake, *argv)
    as_json = run(fake, *argv, "--json")
    # THEN piped output is a header line and tab-separated rows, with no escape code
    assert plain.code == 0, plain.err
    assert "\x1b" not in plain.out
    header, *rows = plain.out.splitlines()
    assert "\t" in header and len(rows) == 1 and shown in rows[0]
    # AND --json is the API's own listing, parseable, with the same item
    assert as_json.code == 0
    assert as_json.json()["data"][0] == fake.routes[("GET", route)][1]["data"][0]
    # AND every call carried the admin key
    assert all(r.headers["Authorization"] == f"Bearer {KEY}" for r in fake.requests)


def test_a_terminal_gets_a_table_and_pipes_never_get_colour():
    # GIVEN a stdout that is a terminal
    tty = Tty()
    # WHEN sources are listed there
    ran = run(api(), "sources", "list", stdout=tty, env={"TERM": "xterm-256color"})
    # THEN rich draws a table (box-drawing rule, bold header), not tab-separated text
    assert ran.code == 0
    assert "src_1 │ gh" in ran.out and "\x1b[1m" in ran.out
    # AND NO_COLOR brings back plain text on the same terminal
    plain = run(api(), "sources", "list", stdout=Tty(), env={"NO_COLOR": "1"})
    assert "\x1b" not in plain.out and "\t" in plain.out


def test_pagination_follows_next_cursor_until_the_end():
    # GIVEN a listing in two pages
    pages = iter(
        [
            (200, {"data": [SOURCE], "next_cursor": "c2"}),
            (200, {"data": [{**SOURCE, "id": "src_2"}], "next_cursor": None}),
        ]
    )
    fake = FakeApi().on("GET", "/v1/sources", lambda request: next(pages))
    # WHEN listed as JSON
    ran = run(fake, "sources", "list", "--json")
    # THEN both pages are there and the second call sent the cursor
    assert [s["id"] for s in ran.json()["data"]] == ["src_1", "src_2"]
    assert fake.query(1)["cursor"] == "c2"


@pytest.mark.parametrize(
    ("argv", "method", "route"),
    [
        (["sources", "show", "src_1"], "GET", "/v1/sources/src_1"),
        (["endpoints", "show", "ep_1"], "GET", "/v1/endpoints/ep_1"),
        (["endpoints", "enable", "ep_1"], "POST", "/v1/endpoints/ep_1/enable"),
        (["endpoints", "disable", "ep_1"], "POST", "/v1/endpoints/ep_1/disable"),
        (["messages", "show", "msg_1"], "GET", "/v1/messages/msg_1"),
        (["event-types", "show", "order.created"], "GET", "/v1/event-types/order.created"),
    ],
)
def test_single_item_verbs_call_their_route_and_print_the_answer(argv, method, route):
    # GIVEN a route answering one item
    doc = {"id": "x_1", "marker": "here"}
    fake = FakeApi().on(method, route, (200, doc))
    # WHEN the verb runs, piped and with --json
    plain = run(fake, *argv)
    as_json = run(fake, *argv, "--json")
    # THEN it called that route, printed the item as text, and --json is the item itself
    assert plain.code == 0, plain.err
    assert fake.last().method == method and fake.last().url == BASE + route
    assert "here" in plain.out and "\x1b" not in plain.out
    assert as_json.json() == doc


def test_ids_are_percent_encoded_so_they_cannot_change_the_route():
    # GIVEN an id with a slash and a query character
    fake = FakeApi()
    # WHEN shown
    ran = run(fake, "sources", "show", "../v1/applications?x")
    # THEN the request stays on /v1/sources/{id} and the 404 is reported as one sentence with exit 1
    assert fake.last().url == f"{BASE}/v1/sources/..%2Fv1%2Fapplications%3Fx"
    assert ran.code == 1 and ran.err == "hookway: no such route.\n"


# -------------------------------------------------------------------------------------- creating


def test_sources_create_sends_the_verification_and_options():
    fake = FakeApi().on("POST", "/v1/sources", (201, SOURCE))
    ran = run(
        fake,
        "sources",
        "create",
        "--name",
        "gh",
        "--scheme",
        "github",
        "--secret",
        "s1",
        "--secret",
        "s2",
        "--option",
        "allow_sha1=true",
        "--application",
        "acme",
        "--json",
    )
    assert ran.code == 0
    assert fake.sent_json() == {
        "name": "gh",
        "application": "acme",
        "verification": {"scheme": "github", "secrets": ["s1", "s2"], "options": {"allow_sha1": True}},
    }
    assert ran.json()["id"] == "src_1"


def test_sources_secret_rotation_and_rejections():
    fake = (
        FakeApi()
        .on(
            "POST",
            "/v1/sources/src_1/secrets",
            (201, {"source_id": "src_1", "secret": {"id": "sec_2"}, "secrets": []}),
        )
        .on("DELETE", "/v1/sources/src_1/secrets/sec_1", (204, None))
        .on(
            "GET",
            "/v1/sources/src_1/rejections",
            (
                200,
                {
                    "counts": {"signature_mismatch": 3},
                    "data": [
                        {
                            "at": NOW,
                            "code": "signature_mismatch",
                            "source_ip": "203.0.113.7",
                            "message": "no match",
                        }
                    ],
                },
            ),
        )
    )
    added = run(fake, "sources", "add-secret", "src_1", "--secret", "new", "--retire-others-after", "60")
    assert added.code == 0 and "sec_2" in added.out
    assert fake.sent_json() == {"secret": "new", "retire_others_after": 60}
    retired = run(fake, "sources", "retire-secret", "src_1", "sec_1", "--json")
    assert retired.json() == {"source_id": "src_1", "secret_id": "sec_1", "retired": True}
    rejections = run(fake, "sources", "rejections", "src_1")
    assert "signature_mismatch 3" in rejections.out and "203.0.113.7" in rejections.out
    assert run(fake, "sources", "rejections", "src_1", "--json").json()["counts"] == {"signature_mismatch": 3}


def test_endpoints_create_and_rotate_secret():
    fake = (
        FakeApi()
        .on("POST", "/v1/endpoints", (201, {**ENDPOINT, "secret": "whsec_x"}))
        .on("POST", "/v1/endpoints/ep_1/secret/rotate", (201, {"secret": "whsec_y"}))
    )
    created = run(
        fake,
        "endpoints",
        "create",
        "https://r.example/hooks",
        "--event-type",
        "order.*",
        "--application",
        "acme",
        "--signing",
        "github",
        "--secret",
        "a-github-secret-of-16+",
        "--json",
    )
    assert created.json()["secret"] == "whsec_x"
    assert fake.sent_json() == {
        "url": "https://r.example/hooks",
        "application": "acme",
        "signing": "github",
        "secret": "a-github-secret-of-16+",
        "filter": {"event_types": ["order.*"], "sources": []},
    }
    rotated = run(fake, "endpoints", "rotate-secret", "ep_1", "--retire-old-after", "30", "--json")
    assert rotated.json() == {"secret": "whsec_y"} and fake.sent_json() == {"retire_old_after": 30}


def test_endpoints_test_sends_to_the_one_endpoint_and_waits():
    # GIVEN an endpoint and a test delivery that succeeds
    fake = (
        api()
        .on("POST", "/v1/endpoints/ep_1/test", (202, {"id": "msg_t", "endpoint_id": "ep_1"}))
        .on("GET", "/v1/messages/msg_t", (200, MESSAGE))
    )
    ticks = itertools.count(NOW)
    # WHEN it is tested with a type, waiting for the outcome
    ran = run(
        fake,
        "endpoints",
        "test",
        "ep_1",
        "--event-type",
        "invoice.paid",
        "--wait",
        "5",
        "--json",
        clock=lambda: next(ticks),
    )
    # THEN the event went through the one-endpoint route with that type, and the outcome is shown
    sent = json.loads(next(r.body for r in fake.requests if r.method == "POST"))
    assert sent["event_type"] == "invoice.paid" and sent["payload"]["endpoint_id"] == "ep_1"
    assert [urlsplit(r.url).path for r in fake.requests if r.method == "POST"] == ["/v1/endpoints/ep_1/test"]
    assert ran.code == 0
    assert ran.json() == {
        "message_id": "msg_t",
        "endpoint_id": "ep_1",
        "event_type": "invoice.paid",
        "delivery": {"endpoint_id": "ep_1", "status": "succeeded", "attempts": 1},
    }


def test_endpoints_test_exits_1_when_the_delivery_failed():
    failed = {**MESSAGE, "deliveries": [{"endpoint_id": "ep_1", "status": "failed", "attempts": 8}]}
    fake = (
        api()
        .on("POST", "/v1/endpoints/ep_1/test", (202, {"id": "msg_t", "endpoint_id": "ep_1"}))
        .on("GET", "/v1/messages/msg_t", (200, failed))
    )
    ticks = itertools.count(NOW)
    ran = run(fake, "endpoints", "test", "ep_1", "--wait", "5", clock=lambda: next(ticks))
    assert ran.code == 1 and "failed" in ran.out
    assert json.loads(next(r.body for r in fake.requests if r.method == "POST")).get("event_type") is None


def test_applications_create_and_portal_url():
    fake = (
        FakeApi()
        .on("POST", "/v1/applications", (201, APPLICATION))
        .on(
            "POST",
            "/v1/applications/acme/portal-access",
            (201, {"token": "hkt_1", "url": f"{BASE}/portal#token=hkt_1", "expires_at": 1}),
        )
    )
    created = run(
        fake, "applications", "create", "--name", "Acme", "--uid", "acme", "--metadata", "plan=pro", "--json"
    )
    assert created.json()["id"] == "app_1"
    assert fake.sent_json() == {"name": "Acme", "uid": "acme", "metadata": {"plan": "pro"}}
    portal = run(fake, "applications", "portal-url", "acme", "--read-only", "--expires-in", "600")
    assert portal.out == f"{BASE}/portal#token=hkt_1\n"
    assert fake.sent_json() == {"expires_in": 600, "read_only": True}


def test_event_types_create_reads_the_schema_file(tmp_path: Path):
    schema = tmp_path / "schema.json"
    schema.write_text('{"type": "object"}')
    fake = FakeApi().on("POST", "/v1/event-types", (201, EVENT_TYPE))
    ran = run(
        fake, "event-types", "create", "order.created", "--description", "an order", "--schema", f"@{schema}"
    )
    assert ran.code == 0
    assert fake.sent_json() == {
        "name": "order.created",
        "description": "an order",
        "schema": {"type": "object"},
    }


# ------------------------------------------------------------------------------------------ send


def test_send_publishes_the_data_file_with_application_and_idempotency_key(tmp_path: Path):
    data = tmp_path / "order.json"
    data.write_text('{"id": 42}')
    fake = FakeApi().on("POST", "/v1/messages", (202, {"id": "msg_9"}))
    ran = run(
        fake,
        "send",
        "--application",
        "acme",
        "--event-type",
        "order.created",
        "--data",
        f"@{data}",
        "--idempotency-key",
        "order-42",
    )
    assert ran.code == 0 and ran.out == "msg_9\n"
    assert fake.sent_json() == {"event_type": "order.created", "payload": {"id": 42}, "application": "acme"}
    assert fake.last().headers["Idempotency-Key"] == "order-42"


def test_send_reads_stdin_and_reports_the_api_refusal_as_one_sentence():
    fake = FakeApi().on(
        "POST",
        "/v1/messages",
        (422, {"error": {"code": "schema_mismatch", "message": "payload /id: not an integer"}}),
    )
    ran = run(fake, "send", "--event-type", "order.created", "--data", "@-", stdin='{"id": "x"}')
    assert fake.sent_json()["payload"] == {"id": "x"}
    assert ran.code == 1 and ran.err == "hookway: payload /id: not an integer.\n" and ran.out == ""


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["send", "--event-type", "a", "--data", "@/nonexistent/file.json"],
            "cannot read /nonexistent/file.json",
        ),
        (["send", "--event-type", "a", "--data", "{not json"], "--data is not valid JSON"),
        (
            ["sources", "create", "--name", "n", "--scheme", "github", "--option", "novalue"],
            "is not KEY=VALUE",
        ),
        (["messages", "list", "--after", "yesterday-ish"], "is not a time"),
        (
            ["replay", "--source", "s", "--endpoint", "e", "--since", "1h", "--until", "2h"],
            "--until must be later",
        ),
        (["trigger", "no-such-scheme", "--source", "src_1", "--secret", "x"], "trigger knows"),
    ],
)
def test_bad_input_is_a_usage_error_with_exit_2_and_no_traceback(argv, said):
    ran = run(api(), *argv)
    assert ran.code == 2
    assert said in ran.err and "Traceback" not in ran.err and ran.err.count("\n") == 1


def test_argparse_usage_errors_exit_2():
    assert run(api(), "sources", "frobnicate").code == 2
    assert run(api(), "send").code == 2
    assert run(api(), "sources").code == 2  # a group without its verb prints help


def test_an_unreachable_api_is_exit_1_with_one_sentence():
    def refuse(request: Request):
        from hookway_cli.errors import ConnectionFailed

        raise ConnectionFailed("cannot reach http://api.test/v1/sources: connection refused")

    ran = run(refuse, "sources", "list")  # type: ignore[arg-type]
    assert (
        ran.code == 1 and ran.err == "hookway: cannot reach http://api.test/v1/sources: connection refused.\n"
    )


def test_an_error_answer_that_is_not_hookways_shape_still_reads_as_a_sentence():
    fake = FakeApi().on("GET", "/v1/sources", (502, b"<html>bad gateway</html>"))
    ran = run(fake, "sources", "list")
    assert ran.code == 1 and ran.err == "hookway: the API answered HTTP 502.\n"


# -------------------------------------------------------------------------------------- messages


def test_messages_list_sends_every_search_filter():
    fake = api()
    ran = run(
        fake,
        "messages",
        "list",
        "--application",
        "acme",
        "--source",
        "src_1",
        "--endpoint",
        "ep_1",
        "--event-type",
        "order.*",
        "--status",
        "failed",
        "--provider-id",
        "d-1",
        "--after",
        "2h",
        "--before",
        "2023-11-14T22:13:20Z",
        "--limit",
        "5",
    )
    assert ran.code == 0
    assert fake.query() == {
        "application": "acme",
        "source": "src_1",
        "endpoint": "ep_1",
        "event_type": "order.*",
        "status": "failed",
        "provider_id": "d-1",
        "after": str(int(NOW - 7200)),
        "before": str(int(NOW)),
        "limit": "5",
    }


def test_messages_body_writes_the_exact_bytes_and_json_carries_them_in_base64(tmp_path: Path):
    raw = b"\x00\xffHello"
    fake = FakeApi().on("GET", "/v1/messages/msg_1/body", (200, raw))
    target = tmp_path / "body.bin"
    assert run(fake, "messages", "body", "msg_1", "-o", str(target)).code == 0
    assert target.read_bytes() == raw
    assert base64.b64decode(run(fake, "messages", "body", "msg_1", "--json").json()["body_base64"]) == raw


def test_messages_tail_prints_each_new_message_once_in_arrival_order():
    # GIVEN a search that first shows one message, then two (newest first)
    second = {**MESSAGE, "id": "msg_2"}
    answers = iter([listing(MESSAGE), listing(second, MESSAGE)])
    fake = FakeApi().on("GET", "/v1/messages", lambda request: next(answers))
    # WHEN tailed as JSON lines until two messages were shown
    ran = run(fake, "messages", "tail", "--source", "src_1", "--count", "2", "--json")
    # THEN each appears once, oldest first, and the search kept the filter and a start time
    assert [json.loads(line)["id"] for line in ran.out.splitlines()] == ["msg_1", "msg_2"]
    assert fake.query(0)["source"] == "src_1" and fake.query(0)["after"] == str(int(NOW))


# -------------------------------------------------------------------------------------- recovery


def test_resend_to_chosen_endpoints():
    fake = FakeApi().on("POST", "/v1/messages/msg_1/resend", (202, {"id": "msg_1", "endpoint_ids": ["ep_1"]}))
    ran = run(fake, "resend", "msg_1", "--endpoint", "ep_1")
    assert ran.code == 0 and "ep_1" in ran.out
    assert fake.sent_json() == {"endpoint_ids": ["ep_1"]}


def _job(state: str, done: int, total: int | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "job_1",
        "kind": "endpoint.recover",
        "state": state,
        "done": done,
        "total": total,
        "created_at": NOW,
        "updated_at": NOW,
        "error": None,
        **extra,
    }


def test_recover_sends_since_as_unix_time_and_follows_the_job_with_progress():
    # GIVEN a recovery job that advances over three polls and ends succeeded
    polls = iter([_job("running", 500), _job("running", 1000), _job("succeeded", 1200, 1200)])
    fake = (
        FakeApi()
        .on("POST", "/v1/endpoints/ep_1/recover", (202, _job("queued", 0)))
        .on("GET", "/v1/jobs/job_1", lambda request: (200, next(polls)))
    )
    ticks = itertools.count(NOW)
    # WHEN recovered since 2h, waiting
    ran = run(
        fake, "recover", "--endpoint", "ep_1", "--since", "2h", "--wait", "60", clock=lambda: next(ticks)
    )
    # THEN since was two hours before now, the progress went to stderr, the outcome is summed up
    assert ran.code == 0, ran.err
    assert fake.sent_json() == {"since": int(NOW - 7200)}
    assert ran.err.splitlines() == ["hookway: 500/? done", "hookway: 1000/? done", "hookway: 1200/1200 done"]
    assert ran.out == "job_1 endpoint.recover succeeded: 1200/1200 deliveries to ep_1 queued again\n"


def test_recover_without_wait_prints_the_job_and_a_failed_job_exits_1():
    fake = FakeApi().on("POST", "/v1/endpoints/ep_1/recover", (202, _job("queued", 0)))
    as_json = run(fake, "recover", "--endpoint", "ep_1", "--since", "2h", "--json")
    assert as_json.code == 0 and as_json.json() == _job("queued", 0)
    assert not [r for r in fake.requests if r.method == "GET"]
    error = {"code": "endpoint_not_found", "message": "no endpoint 'ep_1'"}
    fake.on("GET", "/v1/jobs/job_1", (200, _job("failed", 0, error=error)))
    ran = run(fake, "jobs", "show", "job_1")
    assert ran.code == 1
    assert ran.out == "job_1 endpoint.recover failed: 0 done (endpoint_not_found: no endpoint 'ep_1')\n"


def test_applications_delete_answers_with_its_job():
    deleting = {**_job("queued", 0), "kind": "application.delete"}
    fake = FakeApi().on("DELETE", "/v1/applications/app_1", (202, deleting))
    ran = run(fake, "applications", "delete", "app_1")
    assert ran.code == 0
    assert ran.out == "job_1 application.delete queued: 0 endpoints of app_1 deleted\n"


def test_replay_dry_run_counts_and_sends_nothing():
    fake = api()
    ran = run(
        fake, "replay", "--source", "src_1", "--since", "1d", "--endpoint", "ep_1", "--dry-run", "--json"
    )
    assert ran.code == 0
    assert ran.json()["count"] == 1 and ran.json()["dry_run"] is True
    assert not [r for r in fake.requests if r.method == "POST"]
    assert fake.query(-1)["source"] == "src_1" and fake.query(-1)["after"] == str(int(NOW - 86400))


def test_replay_counts_then_starts_a_job_for_the_range():
    older = {**MESSAGE, "id": "msg_0"}
    fake = api().on("GET", "/v1/messages", listing(MESSAGE, older))
    replaying = {**_job("queued", 0), "kind": "endpoint.replay"}
    fake.on("POST", "/v1/endpoints/ep_1/replay", (202, replaying))
    ran = run(fake, "replay", "--source", "src_1", "--since", "1d", "--until", "1h", "--endpoint", "ep_1")
    assert ran.code == 0, ran.err
    assert fake.sent_json() == {"since": int(NOW - 86400), "until": int(NOW - 3600), "source": "src_1"}
    assert ran.out.splitlines() == [
        "2 messages from src_1 in that range",
        "job_1 endpoint.replay queued: 0 messages queued to ep_1",
    ]


def test_replay_to_an_unknown_endpoint_stops_before_any_work():
    fake = api()
    ran = run(fake, "replay", "--source", "src_1", "--since", "1d", "--endpoint", "ep_missing")
    assert ran.code == 1 and "no such route" in ran.err
    assert not [r for r in fake.requests if "/v1/messages" in r.url]


# --------------------------------------------------------------------------------------- trigger


@pytest.mark.parametrize("spec", REGISTRY, ids=lambda spec: spec.name)
def test_trigger_posts_a_sample_the_gateways_verifier_accepts(spec):
    # GIVEN a source of any registered scheme, with the options its sample needs
    scheme = spec.name
    secret, held = spec.sample_keys(spec.example_key)
    options = dict(spec.sample_options)
    verification = {**SOURCE["verification"], "scheme": scheme, "options": options}
    source = {**SOURCE, "verification": verification}
    fake = (
        FakeApi()
        .on("GET", "/v1/sources/src_1", (200, source))
        .on("POST", "/in/src_1", (202, {"id": "msg_7"}))
    )
    # WHEN a sample is triggered
    ran = run(
        fake,
        "trigger",
        scheme,
        "--source",
        "src_1",
        "--secret",
        secret,
        "--json",
        clock=lambda: float(int(NOW)),
    )
    # THEN it went to the ingest URL without the admin key, and the verifier accepts what was sent
    assert ran.code == 0, ran.err
    sent = fake.last("POST")
    assert sent.url == f"{BASE}/in/src_1"
    assert "Authorization" not in sent.headers or scheme in ("basic", "token")  # their credential is one
    verify(
        scheme,
        secrets=[held],
        method="POST",
        url=sent.url,
        headers=sent.headers,
        body=sent.body or b"",
        now=int(NOW),
        options=options,
    )
    assert ran.json()["message_id"] == "msg_7" and ran.json()["status"] == 202
    assert ran.json()["event"] == spec.sample_event


def test_trigger_refuses_a_secret_its_scheme_cannot_sign_with():
    source = {**SOURCE, "verification": {**SOURCE["verification"], "scheme": "svix"}}
    fake = FakeApi().on("GET", "/v1/sources/src_1", (200, source))
    ran = run(fake, "trigger", "standard", "--source", "src_1", "--secret", "not base64!")
    assert ran.code == 2 and "whsec_ followed by base64" in ran.err and "not base64!" not in ran.err
    assert not [r for r in fake.requests if r.method == "POST"]


def test_trigger_reports_a_rejection_with_its_reason_and_exit_1():
    fake = (
        FakeApi()
        .on("GET", "/v1/sources/src_1", (200, SOURCE))
        .on(
            "POST",
            "/in/src_1",
            (401, {"error": {"code": "signature_mismatch", "message": "no signature matched"}}),
        )
    )
    ran = run(fake, "trigger", "github", "--source", "src_1", "--secret", "wrong")
    assert ran.code == 1 and "signature_mismatch" in ran.err and ran.err.count("\n") == 1


def test_trigger_refuses_a_scheme_the_source_does_not_verify():
    ran = run(api(), "trigger", "stripe", "--source", "src_1", "--secret", "x")
    assert ran.code == 2 and "verifies 'github'" in ran.err


# ---------------------------------------------------------------------------------------- verify

GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_DUMP = (
    b"POST /in/src_1 HTTP/1.1\r\nHost: hooks.example.com\r\nX-GitHub-Event: ping\r\nX-GitHub-Delivery: 1\r\n"
    b"X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17\r\n\r\nHello, World!"
)


def test_verify_accepts_githubs_documented_example_from_a_raw_dump(tmp_path: Path):
    dump = tmp_path / "req.http"
    dump.write_bytes(GITHUB_DUMP)
    ran = run(
        FakeApi(), "verify", "--scheme", "github", "--secret", GITHUB_SECRET, "--request", str(dump), "--json"
    )
    assert ran.code == 0
    assert ran.json()["valid"] is True and ran.json()["delivery_id"] == "1"


def test_verify_explains_a_tampered_body_without_the_expected_signature(tmp_path: Path):
    # GIVEN GitHub's example with one byte of the body changed, as separate headers and body files
    head, _, body = GITHUB_DUMP.partition(b"\r\n\r\n")
    (tmp_path / "h.txt").write_bytes(head)
    (tmp_path / "b.bin").write_bytes(body.replace(b"World", b"world"))
    # WHEN verified
    ran = run(
        FakeApi(),
        "verify",
        "--scheme",
        "github",
        "--secret",
        GITHUB_SECRET,
        "--headers",
        str(tmp_path / "h.txt"),
        "--body",
        str(tmp_path / "b.bin"),
    )
    # THEN it fails with the reason code and what was compared, and the right signature appears nowhere
    import hashlib
    import hmac

    expected = hmac.new(GITHUB_SECRET.encode(), b"Hello, world!", hashlib.sha256).hexdigest()
    assert ran.code == 1
    assert ran.out.startswith("invalid: signature_mismatch")
    assert "x-hub-signature-256" in ran.out and "13 bytes" in ran.out and "secrets tried: 1" in ran.out
    assert expected not in ran.out and expected[:12] not in ran.out
    doc = run(
        FakeApi(),
        "verify",
        "--scheme",
        "github",
        "--secret",
        GITHUB_SECRET,
        "--headers",
        str(tmp_path / "h.txt"),
        "--body",
        str(tmp_path / "b.bin"),
        "--json",
    ).json()
    assert doc["valid"] is False and doc["reason"] == "signature_mismatch"


def test_verify_tells_an_old_timestamp_from_a_bad_signature(tmp_path: Path):
    from hookway_cli.signers import sign

    sample = sign("stripe", "whsec_s", "invoice.paid", int(NOW), "https://hooks.example.com/in/src_1")
    (tmp_path / "h.txt").write_text("".join(f"{k}: {v}\n" for k, v in sample.headers.items()))
    (tmp_path / "b.bin").write_bytes(sample.body)
    args = [
        "verify",
        "--scheme",
        "stripe",
        "--secret",
        "whsec_s",
        "--headers",
        str(tmp_path / "h.txt"),
        "--body",
        str(tmp_path / "b.bin"),
    ]
    assert run(FakeApi(), *args, "--at", str(NOW + 10)).code == 0
    late = run(FakeApi(), *args, "--at", str(NOW + 3600), "--json").json()
    assert late["reason"] == "timestamp_too_old"
    assert any("3600 s before" in line for line in late["compared"])


def test_verify_needs_a_capture_and_reads_only_well_formed_headers(tmp_path: Path):
    assert run(FakeApi(), "verify", "--scheme", "github", "--secret", "s").code == 2
    (tmp_path / "h.txt").write_text("this is not a header\n")
    (tmp_path / "b.bin").write_bytes(b"")
    bad = run(
        FakeApi(),
        "verify",
        "--scheme",
        "github",
        "--secret",
        "s",
        "--headers",
        str(tmp_path / "h.txt"),
        "--body",
        str(tmp_path / "b.bin"),
    )
    assert bad.code == 2 and "header line 1" in bad.err


# ------------------------------------------------------------------------------------ connection


def test_flags_beat_environment_which_beats_the_profile(tmp_path: Path):
    # GIVEN a saved profile, an environment and flags, each naming another API
    fake = api()
    env = {"HOOKWAY_CONFIG_DIR": str(tmp_path), "HOOKWAY_URL": "", "HOOKWAY_ADMIN_KEY": ""}
    assert run(fake, "login", "--url", "http://profile.test", "--key", "hk_profile_key", env=env).code == 0
    # WHEN whoami runs with each
    from_profile = run(fake, "whoami", "--json", env=env).json()
    from_env = run(fake, "whoami", "--json", env={**env, "HOOKWAY_URL": "http://env.test"}).json()
    from_flag = run(
        fake, "--url", "http://flag.test", "whoami", "--json", env={**env, "HOOKWAY_URL": "http://env.test"}
    ).json()
    # THEN each says where its URL and key came from, and never shows the whole key
    assert (from_profile["url"], from_profile["url_from"], from_profile["key_from"]) == (
        "http://profile.test",
        "profile default",
        "profile default",
    )
    assert (from_env["url"], from_env["url_from"]) == ("http://env.test", "HOOKWAY_URL")
    assert (from_flag["url"], from_flag["url_from"]) == ("http://flag.test", "--url")
    assert from_profile["key"] == "admin key …_key" and from_profile["role"] == "operator"
    assert fake.requests[-1].headers["Authorization"] == "Bearer hk_profile_key"


def test_login_checks_the_key_and_writes_the_profile_readable_by_its_owner_only(tmp_path: Path):
    fake = api()
    env = {"HOOKWAY_CONFIG_DIR": str(tmp_path / "cfg"), "HOOKWAY_ADMIN_KEY": ""}
    ran = run(fake, "login", "--name", "prod", "--key", "hk_prod_1234", "--json", env=env)
    file = tmp_path / "cfg" / "profiles.json"
    assert ran.code == 0 and ran.json()["profile"] == "prod"
    assert stat.S_IMODE(os.stat(file).st_mode) == 0o600
    assert json.loads(file.read_text())["profiles"]["prod"] == {"url": BASE, "key": "hk_prod_1234"}
    # AND a key the API refuses is not saved
    refusing = FakeApi().on(
        "GET", "/v1/event-types", (401, {"error": {"code": "unauthorized", "message": "invalid admin key"}})
    )
    bad = run(refusing, "login", "--name", "bad", "--key", "hk_wrong", env=env)
    assert bad.code == 1 and "bad" not in json.loads(file.read_text())["profiles"]


def test_an_unknown_profile_or_a_broken_profiles_file_is_a_usage_error(tmp_path: Path):
    env = {"HOOKWAY_CONFIG_DIR": str(tmp_path)}
    assert run(api(), "--profile", "nope", "sources", "list", env={**env, "HOOKWAY_ADMIN_KEY": ""}).code == 2
    (tmp_path / "profiles.json").write_text("{broken")
    ran = run(api(), "sources", "list", env={**env, "HOOKWAY_ADMIN_KEY": ""})
    assert ran.code == 2 and "profiles.json is unreadable" in ran.err


def test_whoami_recognises_a_portal_token():
    fake = FakeApi().on("GET", "/v1/sources", (403, {"error": {"code": "forbidden", "message": "no"}}))
    doc = run(fake, "whoami", "--json", env={"HOOKWAY_ADMIN_KEY": "hkt_token_abcd"}).json()
    assert doc["role"] == "application (portal token)" and doc["key"] == "portal token …abcd"


# ---------------------------------------------------------------------------------------- listen


def _listen_api(local_status: int = 200) -> FakeApi:
    item = {
        "id": "d1",
        "message_id": "msg_1",
        "event_type": "order.created",
        "attempt": 1,
        "headers": {"webhook-id": "msg_1", "webhook-signature": "v1,abc", "Content-Type": "application/json"},
        "body_base64": base64.b64encode(b'{"n": 1}').decode(),
        "queued_at": NOW,
    }
    session = {"id": "ep_l", "kind": "listen", "expires_at": NOW + 3600, "secret": "whsec_s"}
    return (
        FakeApi()
        .on("POST", "/v1/listen-sessions", (201, session))
        .on("GET", "/v1/endpoints/ep_l", (200, session))
        .on(
            "GET",
            "/v1/listen-sessions/ep_l/deliveries",
            (200, {"data": [item], "next_cursor": "d1", "expires_at": NOW + 3600}),
        )
        .on("POST", "/hooks", (local_status, {"ok": local_status < 300}))
        .on(
            "POST",
            "/v1/listen-sessions/ep_l/deliveries/d1/result",
            (200, {"id": "d1", "message_id": "msg_1", "attempt": 1, "outcome": "succeeded"}),
        )
    )


def test_listen_opens_a_session_forwards_with_the_original_headers_and_reports_the_answer():
    # GIVEN a session with one waiting delivery and a local receiver answering 200
    fake = _listen_api()
    # WHEN listen runs until one delivery was forwarded
    ran = run(
        fake,
        "listen",
        "--forward",
        "http://127.0.0.1:3000/hooks",
        "--events",
        "order.*",
        "--count",
        "1",
        "--json",
    )
    # THEN the session was opened with the filter, the receiver got the signed headers and the bytes
    assert ran.code == 0, ran.err
    opened = json.loads(fake.requests[0].body or b"")
    assert opened == {"expires_in": 3600, "filter": {"event_types": ["order.*"], "sources": []}}
    forwarded = next(r for r in fake.requests if r.url == "http://127.0.0.1:3000/hooks")
    assert forwarded.body == b'{"n": 1}' and forwarded.headers["webhook-signature"] == "v1,abc"
    assert "Authorization" not in forwarded.headers  # the admin key never goes to the local receiver
    # AND the local status was reported, and printed as one JSON line
    report = json.loads(fake.last("POST").body or b"")
    assert report["status"] == 200 and report["duration_ms"] >= 0
    assert json.loads(ran.out)["status"] == 200 and json.loads(ran.out)["outcome"] == "succeeded"
    assert "ep_l" in ran.err and "whsec_s" in ran.err


def test_listen_reports_an_unreachable_receiver_and_prints_plain_lines_when_piped():
    def refusing(request: Request):
        from hookway_cli.errors import ConnectionFailed

        if request.url.startswith("http://127.0.0.1:3000"):
            raise ConnectionFailed("cannot reach http://127.0.0.1:3000/hooks: connection refused")
        return fake(request)

    fake = _listen_api()
    ran = run(
        refusing, "listen", "--forward", "http://127.0.0.1:3000/hooks", "--session", "ep_l", "--count", "1"
    )  # type: ignore[arg-type]
    assert ran.code == 0, ran.err
    report = json.loads(fake.last("POST").body or b"")
    assert report["status"] is None and report["error_class"] == "connect_error"
    assert "\x1b" not in ran.out and "msg_1  connect_error" in ran.out


def test_listen_ends_with_the_apis_sentence_when_the_session_is_over():
    fake = _listen_api().on(
        "GET",
        "/v1/listen-sessions/ep_l/deliveries",
        (
            410,
            {"error": {"code": "session_expired", "message": "the listen session has ended; open a new one"}},
        ),
    )
    ran = run(fake, "listen", "--forward", "http://127.0.0.1:3000/hooks", "--session", "ep_l")
    assert ran.code == 1 and ran.err.endswith("hookway: the listen session has ended; open a new one.\n")
    assert run(fake, "listen", "--forward", "ftp://x").code == 2


def _listen_twice(fake: FakeApi, config: Path, *extra: str, forward: str = "http://127.0.0.1:3000/hooks"):
    return run(
        fake,
        "listen",
        "--forward",
        forward,
        "--events",
        "order.*",
        "--count",
        "1",
        *extra,
        env={"HOOKWAY_CONFIG_DIR": str(config)},
    )


def test_listen_started_again_with_the_same_command_resumes_its_session(tmp_path: Path):
    # GIVEN a listen that opened a session and was stopped
    fake = _listen_api()
    first = _listen_twice(fake, tmp_path)
    assert first.code == 0, first.err
    assert [r.method for r in fake.requests].count("POST") == 3  # open, forward, report
    remembered = tmp_path / "listen-sessions.json"
    assert stat.S_IMODE(os.stat(remembered).st_mode) == 0o600
    assert "ep_l" in remembered.read_text() and "whsec_s" not in remembered.read_text()
    # WHEN the same command runs again
    fake.requests.clear()
    again = _listen_twice(fake, tmp_path)
    # THEN it resumes that session (no new one is opened) and receives what waited
    assert again.code == 0, again.err
    assert not [r for r in fake.requests if r.url.endswith("/v1/listen-sessions")]
    assert "resumed listen session ep_l" in again.err and "whsec_s" not in again.err
    assert "msg_1" in again.out


def test_listen_opens_a_new_session_for_another_command_with_new_or_when_the_old_one_ended(tmp_path: Path):
    fake = _listen_api()
    assert _listen_twice(fake, tmp_path).code == 0

    def opened(ran) -> bool:
        return "listen session ep_l open until" in ran.err

    # another forward URL, or other filters, is another command: a session of its own
    assert opened(_listen_twice(fake, tmp_path, forward="http://127.0.0.1:4000/hooks"))
    assert opened(_listen_twice(fake, tmp_path, "--events", "invoice.*"))
    # --new starts afresh even for the same command
    assert opened(_listen_twice(fake, tmp_path, "--new"))
    # a remembered session that has ended (or is about to) is not resumed
    fake.on("GET", "/v1/endpoints/ep_l", (200, {"id": "ep_l", "kind": "listen", "expires_at": NOW + 10}))
    ended = _listen_twice(fake, tmp_path)
    assert opened(ended) and "has ended; opening a new one" in ended.err
    fake.on("GET", "/v1/endpoints/ep_l", (404, {"error": {"code": "endpoint_not_found", "message": "no"}}))
    assert opened(_listen_twice(fake, tmp_path))
    # and --session with --new is a usage error
    assert _listen_twice(fake, tmp_path, "--new", "--session", "ep_l").code == 2


def test_listen_rides_out_resets_refusals_and_5xx_with_capped_backoff_and_jitter():
    # GIVEN an API whose long poll fails seven times (reset, refused, 502, 503, timeouts) before answering
    from hookway_cli.errors import ConnectionFailed

    fake = _listen_api()
    failures = [
        ConnectionFailed("cannot reach http://api.test/v1/listen-sessions/ep_l/deliveries: connection reset"),
        ConnectionFailed(
            "cannot reach http://api.test/v1/listen-sessions/ep_l/deliveries: connection refused"
        ),
        (502, {"error": {"code": "bad_gateway", "message": "bad gateway"}}),
        (503, b"<html>unavailable</html>"),
        ConnectionFailed("cannot reach http://api.test/v1/listen-sessions/ep_l/deliveries: timed out"),
        ConnectionFailed("cannot reach http://api.test/v1/listen-sessions/ep_l/deliveries: timed out"),
        ConnectionFailed("cannot reach http://api.test/v1/listen-sessions/ep_l/deliveries: timed out"),
        ConnectionFailed("cannot reach http://api.test/v1/listen-sessions/ep_l/deliveries: timed out"),
        ConnectionFailed("cannot reach http://api.test/v1/listen-sessions/ep_l/deliveries: timed out"),
    ]

    def flaky(request: Request):
        if "/deliveries?" in request.url and failures:
            failure = failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            fake.requests.append(request)
            status, doc = failure
            from hookway_cli.transport import Response

            body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
            return Response(status, {}, body)
        return fake(request)

    slept: list[float] = []
    # WHEN listen runs
    ran = run(
        flaky,  # type: ignore[arg-type]
        "listen",
        "--forward",
        "http://127.0.0.1:3000/hooks",
        "--session",
        "ep_l",
        "--count",
        "1",
        sleep=slept.append,
    )
    # THEN it kept going and delivered once the API answered again
    assert ran.code == 0, ran.err
    assert "msg_1" in ran.out
    # AND it waited between tries: doubling from 0.5 s, capped at 30 s, each between half and all of its step
    steps = [min(30.0, 0.5 * 2**n) for n in range(len(slept))]
    assert len(slept) == 9
    assert all(step / 2 <= wait <= step for wait, step in zip(slept, steps, strict=True)), slept
    assert max(slept) <= 30.0 and slept[-1] >= 15.0
    # AND said so, in sentences, then said it was back
    assert ran.err.count("reconnecting in") == 9 and "connection reset" in ran.err
    assert "hookway: reconnected" in ran.err and "Traceback" not in ran.err


def test_listen_stops_at_once_on_an_answer_that_will_not_change_and_forgets_an_ended_session(tmp_path: Path):
    fake = _listen_api()
    assert _listen_twice(fake, tmp_path).code == 0
    fake.on(
        "GET",
        "/v1/listen-sessions/ep_l/deliveries",
        (401, {"error": {"code": "unauthorized", "message": "invalid admin key"}}),
    )
    slept: list[float] = []
    refused = run(
        fake,
        "listen",
        "--forward",
        "http://127.0.0.1:3000/hooks",
        "--events",
        "order.*",
        env={"HOOKWAY_CONFIG_DIR": str(tmp_path)},
        sleep=slept.append,
    )
    assert refused.code == 1 and not slept and "invalid admin key" in refused.err
    fake.on(
        "GET",
        "/v1/listen-sessions/ep_l/deliveries",
        (
            410,
            {"error": {"code": "session_expired", "message": "the listen session has ended; open a new one"}},
        ),
    )
    ended = _listen_twice(fake, tmp_path)
    assert ended.code == 1 and "ep_l" not in (tmp_path / "listen-sessions.json").read_text()


def test_listen_reports_again_after_a_lost_answer_and_takes_already_reported_as_done():
    from hookway_cli.errors import ConnectionFailed

    fake = _listen_api().on(
        "POST",
        "/v1/listen-sessions/ep_l/deliveries/d1/result",
        (409, {"error": {"code": "delivery_not_pending", "message": "already reported"}}),
    )
    lost = [ConnectionFailed("cannot reach http://api.test/...: connection reset by peer")]

    def losing(request: Request):
        if request.url.endswith("/result") and lost:
            fake.requests.append(request)
            raise lost.pop()
        return fake(request)

    ran = run(
        losing,  # type: ignore[arg-type]
        "listen",
        "--forward",
        "http://127.0.0.1:3000/hooks",
        "--session",
        "ep_l",
        "--count",
        "1",
        "--json",
    )
    assert ran.code == 0, ran.err
    assert [r.url.endswith("/result") for r in fake.requests].count(True) == 2
    assert json.loads(ran.out)["outcome"] == "delivery_not_pending"


def test_listen_interrupted_says_how_to_resume():
    fake = _listen_api()

    def interrupted(request: Request):
        if "/deliveries?" in request.url:
            raise KeyboardInterrupt
        return fake(request)

    ran = run(interrupted, "listen", "--forward", "http://127.0.0.1:3000/hooks")  # type: ignore[arg-type]
    assert ran.code == 130
    assert "run the same command again to receive them" in ran.err and "ep_l" in ran.err


# ------------------------------------------------------------------ login, verify and dates in output


def test_login_accepts_profile_as_the_name_and_the_hint_for_a_missing_profile_works(tmp_path: Path):
    fake = api()
    env = {"HOOKWAY_CONFIG_DIR": str(tmp_path), "HOOKWAY_URL": "", "HOOKWAY_ADMIN_KEY": ""}
    # GIVEN no profile named staging: a command that names it says how to save it
    missing = run(fake, "--profile", "staging", "sources", "list", env=env)
    assert missing.code == 2 and "hookway login --name staging" in missing.err
    # WHEN the user types login with --profile (as the profile flag reads everywhere else), or the hint
    by_profile = run(fake, "login", "--profile", "staging", "--url", BASE, "--key", "hk_staging_1", env=env)
    by_name = run(fake, "login", "--name", "qa", "--url", BASE, "--key", "hk_qa_2", env=env)
    # THEN both save the profile they name, and it is then usable
    assert by_profile.code == 0, by_profile.err
    assert by_name.code == 0, by_name.err
    saved = json.loads((tmp_path / "profiles.json").read_text())["profiles"]
    assert saved["staging"] == {"url": BASE, "key": "hk_staging_1"} and "qa" in saved
    assert run(fake, "--profile", "staging", "sources", "list", env=env).code == 0
    # AND a second login of a saved profile keeps its URL; two different names are a usage error
    assert run(fake, "login", "--profile", "staging", "--key", "hk_staging_3", env=env).code == 0
    assert json.loads((tmp_path / "profiles.json").read_text())["profiles"]["staging"]["url"] == BASE
    assert run(fake, "login", "--name", "a", "--profile", "b", "--key", "k", env=env).code == 2


def test_login_refused_says_so_about_the_key_in_a_sentence(tmp_path: Path):
    refusing = FakeApi().on(
        "GET", "/v1/event-types", (401, {"error": {"code": "unauthorized", "message": "invalid admin key"}})
    )
    env = {"HOOKWAY_CONFIG_DIR": str(tmp_path), "HOOKWAY_ADMIN_KEY": ""}
    ran = run(refusing, "login", "--name", "prod", "--key", "hk_wrong_key_9876", env=env)
    assert ran.code == 1
    assert ran.err == (
        f"hookway: the API at {BASE} did not accept the admin key …9876 (invalid admin key);"
        " check the key and run login again: profile prod was not saved.\n"
    )
    assert not (tmp_path / "profiles.json").exists()


def test_verify_never_prints_none_for_what_the_request_did_not_carry(tmp_path: Path):
    # GIVEN GitHub's documented example without its X-GitHub-Delivery header (no delivery id)
    dump = tmp_path / "req.http"
    dump.write_bytes(GITHUB_DUMP.replace(b"X-GitHub-Delivery: 1\r\n", b""))
    # WHEN verified
    ran = run(FakeApi(), "verify", "--scheme", "github", "--secret", GITHUB_SECRET, "--request", str(dump))
    # THEN it is valid, and the line names what there is, never "None"
    assert ran.code == 0, ran.err
    first = ran.out.splitlines()[0]
    assert first == "valid: github signature matches (event ping)" and "None" not in ran.out


def test_sources_rejections_shows_when_as_a_date():
    at = 1_700_000_123.5
    fake = FakeApi().on(
        "GET",
        "/v1/sources/src_1/rejections",
        (200, {"counts": {"signature_mismatch": 1}, "data": [{"at": at, "code": "signature_mismatch"}]}),
    )
    import time as clock

    ran = run(fake, "sources", "rejections", "src_1")
    assert clock.strftime("%Y-%m-%d %H:%M:%S", clock.localtime(at)) in ran.out
    assert "1700000123" not in ran.out


# ------------------------------------------------------------------ summaries, filters, unmatched


def test_messages_list_and_show_say_where_the_deliveries_stand():
    # GIVEN a message with one delivery succeeded and two pending, and one that matched nothing
    summary = {"pending": 2, "succeeded": 1, "failed": 0, "skipped": 0}
    nothing = {"pending": 0, "succeeded": 0, "failed": 0, "skipped": 0}
    first = {**MESSAGE, "status": "stored", "delivery_summary": summary}
    second = {**MESSAGE, "id": "msg_2", "status": "stored", "delivery_summary": nothing}
    fake = (
        FakeApi()
        .on("GET", "/v1/messages", listing(first, second))
        .on("GET", "/v1/messages/msg_1", (200, first))
    )
    # WHEN listed and shown
    listed = run(fake, "messages", "list").out.splitlines()
    shown = run(fake, "messages", "show", "msg_1").out
    # THEN each line says its deliveries in words, not the constant "stored"
    assert listed[0].split("\t")[-1] == "deliveries"
    assert listed[1].endswith("\t1 succeeded, 2 pending") and listed[2].endswith("\tno endpoint")
    assert "stored" not in "\n".join(listed)
    assert "1 succeeded, 2 pending" in shown
    # ... and the JSON is the API's, unchanged
    assert run(fake, "messages", "list", "--json").json()["data"] == [first, second]


def test_endpoints_list_shows_a_source_only_filter():
    only_sources = {**ENDPOINT, "filter": {"sources": ["src_gh", "src_stripe"], "event_types": []}}
    fake = FakeApi().on("GET", "/v1/endpoints", listing(only_sources))
    lines = run(fake, "endpoints", "list").out.splitlines()
    heading = lines[0].split("\t")
    assert heading[-1] == "sources"
    assert lines[1].split("\t")[heading.index("sources")] == "src_gh,src_stripe"


def test_recover_can_include_the_messages_that_matched_nothing():
    fake = FakeApi().on(
        "POST", "/v1/endpoints/ep_1/recover", (202, {"endpoint_id": "ep_1", "message_ids": [], "count": 0})
    )
    ran = run(fake, "recover", "--endpoint", "ep_1", "--since", "2h", "--include-unmatched")
    assert ran.code == 0
    assert fake.sent_json() == {"since": int(NOW - 7200), "include_unmatched": True}


def test_endpoints_create_and_update_send_the_flow_control_fields():
    # GIVEN an API that accepts endpoints
    fake = (
        FakeApi()
        .on("POST", "/v1/endpoints", (201, {**ENDPOINT, "secret": "whsec_x"}))
        .on("PATCH", "/v1/endpoints/ep_1", (200, ENDPOINT))
    )
    # WHEN one is created with a throttle and its own breaker THEN the body carries them
    run(
        fake,
        "endpoints",
        "create",
        "https://r.example/h",
        "--throttle-rate",
        "5",
        "--circuit-breaker",
        "3/10",
        "--json",
    )
    assert fake.sent_json() == {
        "url": "https://r.example/h",
        "throttle_rate": 5,
        "circuit_breaker": {"failures": 3, "probe_seconds": 10},
    }
    # WHEN it is updated back to the defaults THEN nulls are sent
    ran = run(
        fake,
        "endpoints",
        "update",
        "ep_1",
        "--throttle-rate",
        "none",
        "--circuit-breaker",
        "default",
        "--json",
    )
    assert ran.code == 0 and fake.sent_json("PATCH") == {"throttle_rate": None, "circuit_breaker": None}
    # WHEN a value is not a number THEN a usage error, nothing sent
    calls = len(fake.requests)
    bad = run(fake, "endpoints", "update", "ep_1", "--throttle-rate", "fast")
    assert bad.code == 2 and "--throttle-rate" in bad.err
    assert len(fake.requests) == calls
    nothing = run(fake, "endpoints", "update", "ep_1")
    assert nothing.code == 2


def test_endpoints_test_filter_uses_the_endpoints_filter_and_exits_by_the_answer():
    # GIVEN an endpoint with an event-type filter, and an API that refuses on the payload
    endpoint = {"id": "ep_1", "filter": {"event_types": ["order.*"], "sources": [], "payload": None}}
    answer = {"match": False, "document": {}, "part": "payload", "path": "payload.total"}
    fake = (
        api().on("GET", "/v1/endpoints/ep_1", (200, endpoint)).on("POST", "/v1/filters/test", (200, answer))
    )
    # WHEN a payload filter is tried on that endpoint's filter against a stored message
    pattern = '{"payload": {"total": [{"numeric": [">", 100]}]}}'
    ran = run(fake, "endpoints", "test-filter", "ep_1", "--payload-filter", pattern, "--message-id", "msg_1")
    # THEN the filter sent is the endpoint's with the new payload part, and the refusal is named (exit 1)
    assert fake.sent_json() == {
        "filter": {"event_types": ["order.*"], "sources": [], "payload": json.loads(pattern)},
        "message_id": "msg_1",
    }
    assert ran.code == 1 and "no match: payload (payload.total)" in ran.out


def test_endpoints_test_filter_with_a_message_document_and_no_endpoint():
    fake = api().on("POST", "/v1/filters/test", (200, {"match": True, "document": {}}))
    ran = run(fake, "endpoints", "test-filter", "--event-type", "a.*", "--message", '{"event_type": "a.b"}')
    assert fake.sent_json() == {"filter": {"event_types": ["a.*"]}, "message": {"event_type": "a.b"}}
    assert ran.code == 0 and "match" in ran.out
    refused = run(api(), "endpoints", "test-filter", "--message", "{}", "--message-id", "m")
    assert refused.code != 0


def test_endpoints_create_takes_a_payload_filter():
    fake = api().on("POST", "/v1/endpoints", (201, {"id": "ep_1"}))
    pattern = '{"payload": {"total": [{"numeric": [">", 100]}]}}'
    ran = run(fake, "endpoints", "create", "https://h.example.com", "--payload-filter", pattern, "--json")
    assert ran.code == 0
    assert fake.sent_json()["filter"] == {"event_types": [], "sources": [], "payload": json.loads(pattern)}
