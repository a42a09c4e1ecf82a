"""The API function's handler (``chalicelib.api.entry``): webhooks answered without the Chalice app, exactly
as the app answers them, and everything else handed to the app.

Each case sends one event to the entry (its fallback fails the test if called) and the same event to the
Chalice app (``app.app``, the view ``chalicelib.api.inbound.receive``) on the same in-memory fakes, and
compares the two answers whole: status, headers, body.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import app as app_module
from bench.fixtures import proxy_event
from chalicelib import wiring
from chalicelib.api import entry
from tests.conftest import Services, github_headers, make_services

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def services(monkeypatch: pytest.MonkeyPatch) -> Services:
    made = make_services(stage="test", max_body_bytes=4096)
    monkeypatch.setattr(wiring, "_api", made.api)
    return made


def _not_called(event: Any, context: Any) -> Any:
    raise AssertionError(f"the entry handed a webhook to the Chalice app: {event.get('resource')}")


def _rest(source_id: str, body: bytes, headers: dict[str, str], method: str = "POST") -> dict[str, Any]:
    return proxy_event(
        method,
        "/in/{source_id}",
        f"/in/{source_id}",
        headers=headers,
        body=body,
        path_params={"source_id": source_id},
    )


def _signed(body: bytes, **kw: Any) -> dict[str, str]:
    return {"Host": "h.example", "X-Forwarded-Proto": "https"} | {
        k: v[0] for k, v in github_headers(body, **kw).items()
    }


def _both(event: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    lean = entry.serve(json.loads(json.dumps(event)), None, _not_called)
    chalice = app_module.app(json.loads(json.dumps(event)), None)
    return lean, chalice


def _cases(services: Services) -> dict[str, dict[str, Any]]:
    sid = services.github_source()
    off = services.github_source(name="off", enabled=False)
    body = b'{"zen": "caf\xc3\xa9",  "n": 1.50}'
    encoded = _rest(sid, body, _signed(body, delivery="d-b64"))
    encoded.update(body=base64.b64encode(body).decode(), isBase64Encoded=True)
    http_api = _rest(sid, body, _signed(body, delivery="d-http"))
    http_api.update(version="1.0", routeKey="POST /in/{source_id}")
    return {
        "accepted": _rest(sid, body, _signed(body)),
        "accepted, base64 body": encoded,
        "accepted, HTTP API payload 1.0": http_api,
        "bad signature": _rest(sid, body, _signed(body, secret="wrong")),
        "unsigned": _rest(sid, body, {"Content-Type": "application/json"}),
        "unknown source": _rest("src_nope", body, _signed(body)),
        "disabled source": _rest(off, body, _signed(body)),
        "too large": _rest(sid, b"x" * 5000, _signed(b"x" * 5000)),
        "GET without a handshake": _rest(sid, b"", {}, method="GET"),
    }


def test_every_webhook_answer_is_the_chalice_apps_answer(services: Services) -> None:
    # GIVEN webhooks that are accepted, rejected, refused or malformed, as REST and HTTP API events
    for name, event in _cases(services).items():
        # WHEN the entry and the Chalice app each answer the same event
        lean, chalice = _both(event)
        # THEN the answers are the same, byte for byte
        assert lean == chalice, name
    statuses = {name: _both(event)[0]["statusCode"] for name, event in _cases(services).items()}
    assert statuses["accepted"] == 202 and statuses["bad signature"] == 401
    assert statuses["unknown source"] == 404 and statuses["too large"] == 413
    assert statuses["GET without a handshake"] == 405


def test_an_internal_error_is_a_500_in_the_error_shape_and_logged(
    services: Services, monkeypatch: pytest.MonkeyPatch, logged: list[logging.LogRecord]
) -> None:
    # GIVEN an ingest service with a bug
    sid = services.github_source()

    def broken(_request: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(services.api.ingest, "receive", broken)
    body = b"{}"
    # WHEN a webhook comes
    lean, chalice = _both(_rest(sid, body, _signed(body)))
    # THEN 500 internal_error, as the app answers, and the traceback is logged (never sent)
    assert lean == chalice
    assert lean["statusCode"] == 500 and json.loads(lean["body"])["error"]["code"] == "internal_error"
    assert "boom" not in lean["body"]
    assert any(r.exc_info and "unhandled error" in r.getMessage() for r in logged)


def test_a_function_url_webhook_is_served_here_and_the_rest_by_the_app(services: Services) -> None:
    sid = services.github_source()
    body = b'{"a": 1}'
    url_event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": f"/in/{sid}",
        "rawQueryString": "",
        "headers": {"host": "x.lambda-url.us-east-1.on.aws", **_signed(body)},
        "requestContext": {"http": {"method": "POST", "path": f"/in/{sid}", "sourceIp": "198.51.100.7"}},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }
    lean, chalice = _both(url_event)
    assert lean == chalice and lean["statusCode"] == 202
    # Any other route of the function URL, and any other method on /in, goes to the app.
    called: list[Any] = []
    for event in (
        {**url_event, "rawPath": "/v1/messages"},
        _rest(sid, body, _signed(body), method="PUT"),
        proxy_event("GET", "/v1/health", "/v1/health", headers={}),
        {"Records": [{"eventSource": "aws:sqs"}]},
    ):
        entry.serve(event, None, lambda e, c: called.append(e))
    assert len(called) == 4


def test_the_handler_turns_the_collector_back_on_after_the_first_event(services: Services) -> None:
    import gc

    sid = services.github_source()
    body = b"{}"
    entry._first = True
    try:
        reply = entry.handler(_rest(sid, body, _signed(body)), None)
    finally:
        gc.unfreeze()
    assert reply["statusCode"] == 202 and gc.isenabled() and entry._first is False


def test_serving_a_webhook_imports_neither_chalice_nor_cryptography_nor_the_management_api() -> None:
    # GIVEN a fresh interpreter with no AWS around (the source's read fails: 503, after every import the
    # accept path makes up to its first AWS call) and no KMS key (with one, cryptography is imported to
    # open the source's sealed secret, on the KMS client's thread while the source is read)
    code = """
import json, sys
from chalicelib.api.entry import handler
first = sorted(m for m in sys.modules if m.startswith(("chalicelib", "botocore", "chalice")))
event = json.loads(sys.argv[1])
reply = handler(event, None)
assert reply["statusCode"] == 503, reply
leaked = sorted(m for m in sys.modules if m == "chalice" or m.startswith(("chalice.", "cryptography", "boto3"))
    or m == "app" or m.startswith(("chalicelib.api.", "chalicelib.sources", "chalicelib.endpoints",
    "chalicelib.applications", "chalicelib.messages", "chalicelib.publish", "chalicelib.tokens",
    "chalicelib.sessions", "chalicelib.jobs", "chalicelib.outbound", "chalicelib.transform",
    "chalicelib.filters", "chalicelib.sealing", "jsonschema", "aws_lambda_powertools"))
    and m not in ("chalicelib.api.entry", "chalicelib.api.function_url")
    # the sources' table adapter alone: not every table's module (chalicelib.aws.dynamo)
    or m == "chalicelib.aws.dynamo" or m.startswith("chalicelib.aws.dynamodb.")
    and m.rsplit(".", 1)[1] not in ("core", "keys", "sources")
    # the ingest path's models alone, and no port Protocols (chalicelib.inbound_models, chalicelib.paging)
    or m in ("chalicelib.models", "chalicelib.ports"))
print(json.dumps([first, leaked]))
"""
    body = b"{}"
    event = _rest("src_1", body, _signed(body))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOOKWAY_STAGE": "test",
        "HOOKWAY_ADMIN_KEY": "hk_x",
        "HOOKWAY_TABLE": "t",
        "HOOKWAY_INGEST_QUEUE_URL": "http://127.0.0.1:9/q",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    # WHEN it imports the handler, then serves one webhook
    result = subprocess.run(
        [sys.executable, "-c", code, json.dumps(event)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    first, leaked = json.loads(result.stdout.splitlines()[-1])
    # THEN importing the handler loads nothing of Hookway's but itself (Lambda's init does only that) ...
    assert first == ["chalicelib", "chalicelib.api", "chalicelib.api.entry"]
    # ... and serving the webhook none of Chalice, boto3, cryptography or the management API's modules
    assert leaked == []
