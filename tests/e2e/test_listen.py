"""``hookway listen --forward`` on the local stack: no inbound connection, real receiver, real CLI process."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from standardwebhooks.webhooks import Webhook

from testkit.receivers import Receivers
from testkit.stack import ADMIN_KEY, Stack, wait_until

HOOKWAY = Path(sys.executable).with_name("hookway")
ROOT = Path(__file__).resolve().parents[2]


def start_listen(stack: Stack, log: Path, *argv: str) -> subprocess.Popen[bytes]:
    env = {
        "HOOKWAY_URL": stack.base,
        "HOOKWAY_ADMIN_KEY": ADMIN_KEY,
        "PATH": "/usr/bin:/bin",
        "HOME": "/nonexistent",
        # where listen remembers its session: the test's own directory, beside its log
        "HOOKWAY_CONFIG_DIR": str(log.parent / "config"),
        # the checkout the test belongs to, whichever tree the installed script was made from
        "PYTHONPATH": str(ROOT),
    }
    with log.open("ab") as out:
        return subprocess.Popen([str(HOOKWAY), "listen", *argv, "--json"], stdout=out, stderr=out, env=env)


def publish(stack: Stack, event_type: str, payload: dict[str, int]) -> str:
    resp = stack.request(
        "POST", "/v1/messages", admin=True, json_body={"event_type": event_type, "payload": payload}
    )
    assert resp.status == 202, resp.body
    return str(resp.json()["id"])


def test_listen_forwards_published_and_inbound_webhooks_and_survives_a_restart(
    stack: Stack, receivers: Receivers, tmp_path: Path
) -> None:
    # GIVEN a CLI listening for two event types, forwarding to a real local receiver
    tag = uuid.uuid4().hex[:8]
    published_type, github_type = f"listen.{tag}", f"listen_{tag}"
    local = f"/listen-{tag}"
    log = tmp_path / "listen.log"
    cli = start_listen(
        stack,
        log,
        "--forward",
        receivers.url(local),
        "--events",
        published_type,
        "--events",
        github_type,
        "--expires-in",
        "300",
    )
    try:
        opened = wait_until(
            lambda: re.search(r"listen session (ep_\w+) open .* signed with (whsec_\S+)", log.read_text())
        )
        session_id, secret = opened.group(1), opened.group(2)
        # WHEN an event is published and a signed GitHub webhook arrives at a source
        message_id = publish(stack, published_type, {"n": 1})
        source = stack.github_source()
        body = json.dumps({"tag": tag}).encode()
        digest = hmac.new(b"It's a Secret to Everybody", body, hashlib.sha256).hexdigest()
        headers = {
            "X-GitHub-Event": github_type,
            "X-GitHub-Delivery": tag,
            "X-Hub-Signature-256": f"sha256={digest}",
            "Content-Type": "application/json",
        }
        assert stack.request("POST", f"/in/{source}", body=body, headers=headers).status == 202
        # THEN both reach the receiver with the session's Standard Webhooks signature intact
        got = wait_until(lambda: receivers.at(local) if len(receivers.at(local)) >= 2 else None, timeout=60)
        verified = [Webhook(secret).verify(r.body, r.headers) for r in got]
        assert {"data": {"n": 1}} in [
            {"data": v.get("data")} for v in verified if isinstance(v, dict) and "data" in v
        ]
        assert any(r.body == body for r in got)  # the inbound webhook's original bytes
        # AND the attempt shows in the API with the receiver's status
        attempts = wait_until(
            lambda: stack.request("GET", f"/v1/messages/{message_id}/attempts", admin=True).json()["data"]
            or None
        )
        assert attempts[0]["endpoint_id"] == session_id and attempts[0]["response_status"] == 200
        assert attempts[0]["status"] == "succeeded"
    finally:
        cli.send_signal(signal.SIGKILL)
        cli.wait(timeout=10)

    # WHEN events are published while the CLI is away, and it starts again on the same session
    away = [publish(stack, published_type, {"n": n}) for n in (2, 3)]
    before = len(receivers.at(local))
    again = start_listen(stack, log, "--forward", receivers.url(local), "--session", session_id)
    try:
        # THEN they arrive
        wait_until(lambda: len(receivers.at(local)) >= before + 2, timeout=60)
        ids = {r.headers.get("webhook-id") for r in receivers.at(local)}
        assert set(away) <= ids
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(timeout=10)


def test_ctrl_c_then_the_same_command_again_receives_the_backlog(
    stack: Stack, receivers: Receivers, tmp_path: Path
) -> None:
    # GIVEN a CLI listening (no --session), which has received one event
    tag = uuid.uuid4().hex[:8]
    event_type, local = f"again.{tag}", f"/again-{tag}"
    command = ("--forward", receivers.url(local), "--events", event_type, "--expires-in", "300")
    log = tmp_path / "listen.log"
    cli = start_listen(stack, log, *command)
    try:
        opened = wait_until(lambda: re.search(r"listen session (ep_\w+) open", log.read_text()))
        first = publish(stack, event_type, {"n": 1})
        wait_until(lambda: receivers.at(local) or None, timeout=60)
    finally:
        # WHEN the user presses Ctrl-C
        cli.send_signal(signal.SIGINT)
        assert cli.wait(timeout=10) == 130
    assert f"deliveries wait for session {opened.group(1)}" in log.read_text()
    # AND events arrive while it is away, then the same command is run again
    away = [publish(stack, event_type, {"n": n}) for n in (2, 3)]
    again = start_listen(stack, log, *command)
    try:
        # THEN it resumes the same session and receives the backlog
        wait_until(lambda: f"resumed listen session {opened.group(1)}" in log.read_text())
        wait_until(lambda: len(receivers.at(local)) >= 3 or None, timeout=60)
        ids = [r.headers.get("webhook-id") for r in receivers.at(local)]
        assert set(away) <= set(ids) and first in ids
        assert log.read_text().count("listen session") >= 2 and log.read_text().count(" open until ") == 1
    finally:
        again.send_signal(signal.SIGINT)
        again.wait(timeout=10)


def test_a_pull_with_wait_nan_is_refused_at_once_not_held_until_the_session_ends(stack: Stack) -> None:
    # GIVEN a listen session (issue 19, security 12: wait=nan held the request until the session ended)
    resp = stack.request("POST", "/v1/listen-sessions", admin=True, json_body={"expires_in": 120})
    assert resp.status == 201, resp.body
    session_id = resp.json()["id"]
    for wait in ("nan", "inf"):
        # WHEN a pull asks to wait a non-finite time
        got = stack.request(
            "GET", f"/v1/listen-sessions/{session_id}/deliveries?wait={wait}", admin=True, timeout=10
        )
        # THEN 400 naming the field, answered at once (the client gives up after 10 s)
        assert got.status == 400, got.body
        assert got.json()["error"]["field"] == "wait"
