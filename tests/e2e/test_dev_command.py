"""The README's run command: ``python -m local dev`` (what ``make dev`` runs) starts the whole pipeline."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.stack import wait_until

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
        assert re.search(rf"stored     {message_id}  from {source['id']}, 1 deliveries", log), log
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
