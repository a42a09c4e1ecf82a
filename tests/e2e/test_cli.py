"""The installed ``hookway`` command against the local stack: a real process, real HTTP, piped output."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from testkit.receivers import Receivers
from testkit.stack import ADMIN_KEY, Stack, wait_until

HOOKWAY = Path(sys.executable).with_name("hookway")
ROOT = Path(__file__).resolve().parents[2]
STANDARD_SECRET = "whsec_" + base64.b64encode(b"e2e-standard-key-0123456").decode()


def hookway(stack: Stack, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI, connected through the environment, piped."""
    env = {
        "HOOKWAY_URL": stack.base,
        "HOOKWAY_ADMIN_KEY": ADMIN_KEY,
        "PATH": "/usr/bin:/bin",
        "HOME": "/nonexistent",
        # the checkout the test belongs to, whichever tree the installed script was made from
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [str(HOOKWAY), *argv], check=False, capture_output=True, text=True, env=env, timeout=60
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def as_json(stack: Stack, *argv: str) -> Any:
    return json.loads(hookway(stack, *argv, "--json").stdout)


def test_make_install_puts_hookway_on_the_venvs_path():
    assert HOOKWAY.exists()


@pytest.mark.parametrize(
    ("scheme", "secret"),
    [
        ("github", "gh-e2e"),
        ("stripe", "whsec_stripe_e2e"),
        ("standard", STANDARD_SECRET),
        ("shopify", "shp-e2e"),
        ("slack", "slack-e2e"),
    ],
)
def test_trigger_is_accepted_and_stored(stack: Stack, scheme: str, secret: str):
    # GIVEN a source of that scheme, created with the CLI
    source = as_json(
        stack, "sources", "create", "--name", f"cli-{scheme}", "--scheme", scheme, "--secret", secret
    )
    # WHEN a sample webhook is triggered at it
    sent = as_json(stack, "trigger", scheme, "--source", source["id"], "--secret", secret)
    # THEN the gateway accepted it, and the message is stored under the provider's delivery id
    assert sent["status"] == 202 and sent["message_id"]
    found = wait_until(
        lambda: as_json(
            stack, "messages", "list", "--source", source["id"], "--provider-id", sent["delivery_id"]
        )["data"]
    )
    assert found[0]["id"] == sent["message_id"]
    # AND piped listings carry no escape codes
    assert "\x1b" not in hookway(stack, "messages", "list", "--source", source["id"]).stdout


def test_trigger_with_the_wrong_secret_is_rejected_with_its_reason(stack: Stack):
    source = as_json(
        stack, "sources", "create", "--name", "cli-wrong", "--scheme", "github", "--secret", "right"
    )
    done = hookway(stack, "trigger", "github", "--source", source["id"], "--secret", "wrong", check=False)
    assert done.returncode == 1
    assert "signature_mismatch" in done.stderr and "Traceback" not in done.stderr
    rejections = as_json(stack, "sources", "rejections", source["id"])
    assert "signature_mismatch" in json.dumps(rejections)


def test_send_reaches_an_endpoint_and_its_attempt_shows_the_receivers_status(
    stack: Stack, receivers: Receivers
):
    # GIVEN an endpoint on a real local receiver, created with the CLI
    event_type = f"cli.{uuid.uuid4().hex[:8]}"
    url = receivers.url(f"/cli-{event_type}")
    endpoint = as_json(stack, "endpoints", "create", url, "--event-type", event_type)
    # WHEN an event is published with the CLI
    message_id = hookway(stack, "send", "--event-type", event_type, "--data", '{"n": 1}').stdout.strip()
    # THEN the receiver gets it signed per Standard Webhooks (checked with the official library)
    got = wait_until(lambda: receivers.at(f"/cli-{event_type}"))
    assert Webhook(endpoint["secret"]).verify(got[0].body, got[0].headers)["data"] == {"n": 1}
    # AND the attempt shows in the CLI with the receiver's status
    attempts = wait_until(lambda: as_json(stack, "messages", "attempts", message_id)["data"])
    assert attempts[0]["endpoint_id"] == endpoint["id"] and attempts[0]["response_status"] == 200


def test_verify_explains_a_tampered_request(tmp_path: Path, stack: Stack):
    # GIVEN a GitHub request captured as a raw dump, with its body changed after signing
    dump = tmp_path / "req.http"
    dump.write_bytes(
        b"POST /in/src_x HTTP/1.1\r\nX-GitHub-Delivery: 1\r\n"
        b"X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17\r\n"
        b"\r\nHello, World?"
    )
    # WHEN verified offline
    done = hookway(
        stack,
        "verify",
        "--scheme",
        "github",
        "--secret",
        "It's a Secret to Everybody",
        "--request",
        str(dump),
        check=False,
    )
    # THEN it says which check failed and what was compared
    assert done.returncode == 1
    assert done.stdout.startswith("invalid: signature_mismatch")
    assert "body: 13 bytes" in done.stdout and "x-hub-signature-256" in done.stdout


def test_endpoints_test_filter_answers_against_a_stored_message(stack: Stack):
    # GIVEN an endpoint for big orders and a stored small order
    created = stack.request(
        "POST",
        "/v1/endpoints",
        admin=True,
        json_body={"url": "http://127.0.0.1:9/f", "enabled": False, "filter": {"event_types": ["order.*"]}},
    )
    assert created.status == 201, created.body
    endpoint_id = created.json()["id"]
    doc = {"event_type": "order.created", "payload": {"total": 20}}
    message_id = stack.request("POST", "/v1/messages", admin=True, json_body=doc).json()["id"]
    wait_until(lambda: stack.request("GET", f"/v1/messages/{message_id}", admin=True).status == 200)
    pattern = '{"payload": {"total": [{"numeric": [">", 100]}]}}'
    # WHEN the CLI tests that endpoint's filter with a payload pattern THEN it names the part (exit 1)
    refused = hookway(
        stack, "endpoints", "test-filter", endpoint_id, "--payload-filter", pattern, "--message-id", message_id,
        check=False,
    )  # fmt: skip
    assert refused.returncode == 1 and "no match: payload (payload.total)" in refused.stdout
    # AND without the pattern the endpoint's own filter takes it
    taken = as_json(stack, "endpoints", "test-filter", endpoint_id, "--message-id", message_id)
    assert taken["match"] is True and taken["document"]["payload"] == {"total": 20}
