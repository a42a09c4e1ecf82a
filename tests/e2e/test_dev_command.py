"""The README's run command: ``python -m local dev`` (what ``make dev`` runs) starts the whole pipeline."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from testkit.stack import wait_until

ROOT = Path(__file__).resolve().parents[2]


def _call(method: str, url: str, key: str, doc: object | None = None) -> dict[str, object]:
    data = json.dumps(doc).encode() if doc is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return dict(json.loads(resp.read() or b"{}"))


def _start(tmp_path: Path, name: str = "dev", **extra: str) -> tuple[subprocess.Popen[bytes], Path]:
    """``python -m local dev`` as make dev runs it, its output in ``tmp_path/<name>.log``."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HOOKWAY_")},
        "HOOKWAY_ADMIN_KEY": "hk_dev_test_key",
        # Port 0: each server binds a free port itself and the banner says which (no race for a port).
        "HOOKWAY_PORT": "0",
        "HOOKWAY_DEMO_PORT": "0",
        # The state it keeps goes to the test's own directory, not the repo's .local.
        "HOOKWAY_LOCAL_DIR": str(tmp_path / "local"),
        **extra,
    }
    log = tmp_path / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "local", "dev"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, log


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def _api(log: Path) -> str:
    wait_until(lambda: "admin key:  hk_dev_test_key" in log.read_text(), timeout=60)
    found = re.search(r"API:        (http://127\.0\.0\.1:[0-9]+)\n", log.read_text())
    assert found, log.read_text()
    return found.group(1)


def test_make_dev_runs_the_pipeline_end_to_end(tmp_path: Path) -> None:
    key = "hk_dev_test_key"
    proc, _ = _start(tmp_path)
    try:
        base = _api(tmp_path / "dev.log")
        banner = (tmp_path / "dev.log").read_text()
        # the folder that holds the admin key (env.json, keys.json) and the table dump is the user's alone
        local = tmp_path / "local"
        modes = {p: stat.S_IMODE(p.stat().st_mode) for p in (local, local / "state", local / "env.json")}
        assert modes == {local: 0o700, local / "state": 0o700, local / "env.json": 0o600}
        assert stat.S_IMODE((local / "state" / "keys.json").stat().st_mode) == 0o600
        demo = re.search(r"http://127\.0\.0\.1:([0-9]+)/hooks", banner)
        assert demo, banner
        demo_port = int(demo.group(1))
        demo_secret = re.search(r"verifies with (whsec_[A-Za-z0-9+/=]+)", banner)
        assert demo_secret, banner
        assert "destinations: endpoints may be http:// and private addresses (not the AWS emulator)" in banner
        # the banner's example, as a user would paste it
        source = _call(
            "POST",
            f"{base}/v1/sources",
            key,
            {
                "name": "github",
                "verification": {"scheme": "github", "secrets": ["It's a Secret to Everybody"]},
            },
        )
        assert source["ingest_url"] == f"{base}/in/{source['id']}"
        _call(
            "POST",
            f"{base}/v1/endpoints",
            key,
            {"url": f"http://127.0.0.1:{demo_port}/hooks", "secret": demo_secret.group(1)},
        )
        req = urllib.request.Request(
            f"{base}/in/{source['id']}",
            data=b"Hello, World!",
            method="POST",
            headers={
                "X-GitHub-Event": "ping",
                "X-GitHub-Delivery": "1",
                "X-Hub-Signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            },
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 202
            message_id = json.loads(resp.read())["id"]
        wait_until(lambda: f'"webhook_id": "{message_id}"' in (tmp_path / "dev.log").read_text(), timeout=30)
        # the demo receiver checked the signature with the secret it printed
        line = next(
            json.loads(row)
            for row in (tmp_path / "dev.log").read_text().splitlines()
            if f'"webhook_id": "{message_id}"' in row
        )
        assert line["verified"] is True
        # AND the log reads as a person follows it: received, stored, delivered; no metric JSON lines
        log = (tmp_path / "dev.log").read_text()
        assert re.search(rf"received   {message_id}  from {source['id']}", log), log
        assert re.search(rf"stored     {message_id}  from {source['id']}, 1 delivery", log), log
        wait_until(lambda: f"delivered  {message_id} -> " in (tmp_path / "dev.log").read_text(), timeout=30)
        assert '"_aws"' not in (tmp_path / "dev.log").read_text()
        message = _call("GET", f"{base}/v1/messages/{message_id}", key)
        assert message["event_type"] == "ping"
    finally:
        _stop(proc)


def test_a_tunnel_turns_the_local_exceptions_off(tmp_path: Path) -> None:
    # GIVEN make dev with a public URL that is not loopback (a tunnel: the stack is reachable from outside)
    public = "https://tunnel.example.test"
    proc, log = _start(tmp_path, HOOKWAY_PUBLIC_URL=public)
    try:
        base = _api(log)
        banner = log.read_text()
        assert f"public URL: {public}" in banner
        assert "is not loopback: private and plain-http destinations are refused" in banner
        # THEN the URL the user set is the one ingest URLs show (for providers that sign the URL)
        doc = {"name": "github", "verification": {"scheme": "github", "secrets": ["x"]}}
        source = _call("POST", f"{base}/v1/sources", "hk_dev_test_key", doc)
        assert source["ingest_url"] == f"{public}/in/{source['id']}"
        # AND an endpoint on this machine is refused: the exceptions hold only for a stack nobody else reaches
        for url in ("http://127.0.0.1:9/hooks", "https://127.0.0.1:9/hooks"):
            req = urllib.request.Request(
                f"{base}/v1/endpoints",
                data=json.dumps({"url": url}).encode(),
                method="POST",
                headers={"Authorization": "Bearer hk_dev_test_key"},
            )
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(req, timeout=10)
            assert refused.value.code == 400
            assert json.loads(refused.value.read())["error"]["code"] in (
                "invalid_url",
                "destination_not_allowed",
            )
    finally:
        _stop(proc)


def test_a_second_make_dev_on_the_same_state_says_who_holds_it(tmp_path: Path) -> None:
    # GIVEN make dev running on a checkout's state
    first, log = _start(tmp_path)
    try:
        _api(log)
        # WHEN a second one starts on the same state folder
        second = subprocess.run(
            [sys.executable, "-m", "local", "dev"],
            cwd=ROOT,
            env={
                **os.environ,
                "HOOKWAY_LOCAL_DIR": str(tmp_path / "local"),
                "HOOKWAY_PORT": "0",
                "HOOKWAY_DEMO_PORT": "0",
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        # THEN it stops at once, saying which process holds the state, and starts nothing
        assert second.returncode == 1, second.stdout + second.stderr
        assert f"is in use by another make dev (process {first.pid})" in second.stderr, second.stderr
        assert "Traceback" not in second.stderr and "starting the AWS emulator" not in second.stdout
        # AND the first is unharmed
        assert first.poll() is None
    finally:
        _stop(first)


def test_a_busy_port_is_a_sentence_not_a_traceback(tmp_path: Path) -> None:
    # GIVEN another program listening where the API would
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # WHEN make dev starts on that port
        result = subprocess.run(
            [sys.executable, "-m", "local", "dev"],
            cwd=ROOT,
            env={
                **os.environ,
                "HOOKWAY_LOCAL_DIR": str(tmp_path / "local"),
                "HOOKWAY_PORT": str(port),
                "HOOKWAY_DEMO_PORT": "0",
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    # THEN one sentence says which port and how to choose another
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"port {port} on 127.0.0.1, for the API, is in use" in result.stderr, result.stderr
    assert "HOOKWAY_PORT=" in result.stderr and "Traceback" not in result.stderr


def _planned(target: str) -> str:
    """What make would run for a target if nothing were installed yet (``-B``: every prerequisite is
    remade; ``-n``: printed, not run)."""
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", target, "STAGE=dev"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


@pytest.mark.parametrize("target", ["dev", "deploy", "lint", "unit", "e2e"])
def test_make_dev_installs_only_what_it_runs(target: str) -> None:
    # GIVEN a fresh machine (as -B pretends) WHEN make dev (or deploy, lint...) is planned
    plan = _planned(target)
    # THEN it sets up the Python environment and nothing else: no apt-get for Chromium, no npm
    assert "pip install" in plan, plan
    assert "apt-get" not in plan and "npm" not in plan, plan


def test_the_browser_tests_still_get_chromium_and_axe() -> None:
    plan = _planned("test")
    assert "apt-get" in plan and "npm ci" in plan, plan
